//! Given/when/then tests of the billing ledger.

use super::*;
use crate::fold::testkit::*;

fn ledger(events: &[Event]) -> Ledger {
    events.iter().fold(Ledger::default(), |l, e| l.apply(e))
}

fn nov() -> Month {
    "2026-11".parse().unwrap()
}

fn dec() -> Month {
    "2026-12".parse().unwrap()
}

#[test]
fn months_parse_only_as_yyyy_mm() {
    assert_eq!(nov(), Month { year: 2026, month: 11 });
    assert_eq!(nov().to_string(), "2026-11");
    for bad in [
        "",
        "2026",
        "2026-13",
        "2026-00",
        "26-11",
        "2026-1",
        "2026/11",
        "2026-11-01",
        "abcd-ef",
        "+202-11",
    ] {
        assert!(bad.parse::<Month>().is_err(), "{bad}");
    }
}

#[test]
fn given_an_upload_and_a_transcode_then_the_month_has_one_upload_cpu_by_profile_and_storage() {
    let l = ledger(&[ev("v1", secs(5), completed()), ev("v1", secs(13), transcoded(40.0))]);
    let m = l.month(nov());
    assert_eq!(m.uploads, 1);
    assert_eq!(m.storage_bytes, 1000 + 100 + 400 + 30, "source, both renditions and the audio");
    // 720p has 4x the pixel rate of 360p: 8 and 32 of the 40 seconds.
    let cpu = &m.transcode_cpu_seconds;
    assert!((cpu["360p"] - 8.0).abs() < 1e-9 && (cpu["720p"] - 32.0).abs() < 1e-9, "{cpu:?}");
}

#[test]
fn given_a_usage_event_repeated_for_the_same_video_then_it_counts_once() {
    let l = ledger(&[
        ev("v1", secs(5), completed()),
        ev("v1", secs(6), completed()),
        ev("v1", secs(13), transcoded(40.0)),
        ev("v1", secs(14), transcoded(99.0)),
    ]);
    let m = l.month(nov());
    assert_eq!(m.uploads, 1);
    let total: f64 = m.transcode_cpu_seconds.values().sum();
    assert!((total - 40.0).abs() < 1e-9);
    assert_eq!(m.storage_bytes, 1530);
}

#[test]
fn given_a_video_stored_in_november_then_december_still_bills_its_storage_but_not_its_upload() {
    let l = ledger(&[ev("v1", secs(5), completed()), ev("v1", secs(13), transcoded(40.0))]);
    let m = l.month(dec());
    assert_eq!((m.uploads, m.storage_bytes), (0, 1530));
    assert!(m.transcode_cpu_seconds.is_empty());
    assert_eq!(l.month("2026-10".parse().unwrap()).storage_bytes, 0);
}

#[test]
fn given_a_deleted_video_then_its_storage_stops_counting_from_the_month_of_deletion() {
    let l =
        ledger(&[ev("v1", secs(5), completed()), ev("v1", at("2026-12-02T00:00:00Z"), deleted())]);
    assert_eq!(l.month(nov()).storage_bytes, 1000);
    assert_eq!(l.month(dec()).storage_bytes, 0);
}

#[test]
fn given_live_sessions_and_egress_then_minutes_and_bytes_land_in_their_months() {
    let l = ledger(&[
        ev("s1", secs(70), live_ended("sess1", 90.0)),
        ev("s1", secs(71), live_ended("sess1", 90.0)),
        ev("s1", at("2026-12-01T00:01:00Z"), live_ended("sess2", 30.0)),
        ev("pb1", secs(0), egress(secs(0), 5000)),
        ev("pb1", secs(1), egress(secs(0), 5000)),
        ev("pb1", secs(60), egress(secs(60), 7)),
    ]);
    let m = l.month(nov());
    assert!((m.live_minutes - 1.5).abs() < 1e-9, "{}", m.live_minutes);
    assert_eq!(m.egress_bytes, 5007);
    assert!((l.month(dec()).live_minutes - 0.5).abs() < 1e-9);
}

#[test]
fn given_a_transcode_without_usable_renditions_then_its_cpu_goes_to_other() {
    let data = TranscodeData::Completed {
        renditions: vec![],
        audio: None,
        more_audio: vec![],
        cpu_seconds: 3.0,
        wall_secs: 1.0,
        source_duration_secs: 1.0,
        encoder: "x".into(),
    };
    let m = ledger(&[ev("v1", secs(1), data)]).month(nov());
    assert_eq!(m.transcode_cpu_seconds.get(OTHER_PROFILE), Some(&3.0));
    let nan = apportion(f64::NAN, &[rendition("360p", 360, 1)]);
    assert_eq!(nan.get(OTHER_PROFILE), Some(&0.0), "a NaN never poisons the ledger");
}

#[test]
fn given_a_transcode_before_the_upload_completed_then_storage_counts_both_once_uploaded() {
    let l = ledger(&[ev("v1", secs(13), transcoded(4.0)), ev("v1", secs(20), completed())]);
    assert_eq!(l.month(nov()).storage_bytes, 1530);
    assert_eq!(l.month(nov()).uploads, 1);
}

#[test]
fn given_any_ledger_story_when_any_event_is_repeated_later_then_the_ledger_does_not_change() {
    let base = vec![
        ev("v1", secs(5), completed()),
        ev("v1", secs(13), transcoded(40.0)),
        ev("s1", secs(70), live_ended("sess1", 90.0)),
        ev("pb1", secs(0), egress(secs(0), 5000)),
        ev("v1", secs(80), deleted()),
    ];
    let want = ledger(&base);
    for i in 0..base.len() {
        for j in i + 1..=base.len() {
            let mut evs = base.clone();
            evs.insert(j, base[i].clone());
            assert_eq!(ledger(&evs), want, "repeating event {i} at {j}");
        }
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

fn month(s: &str) -> Month {
    s.parse().unwrap()
}

#[test]
fn given_a_session_inside_one_month_when_split_then_it_is_one_part() {
    let parts = split_by_month(at("2026-11-10T10:00:00Z"), 3600.0);
    assert_eq!(parts, vec![(nov(), 3600.0)]);
    assert!(split_by_month(at("2026-11-10T10:00:00Z"), 0.0).is_empty());
    assert!(split_by_month(at("2026-11-10T10:00:00Z"), f64::NAN).is_empty());
}

#[test]
fn given_a_session_from_2350_on_the_last_day_to_0020_when_split_then_10_and_20_minutes() {
    let parts = split_by_month(at("2026-11-30T23:50:00Z"), 30.0 * 60.0);
    assert_eq!(parts, vec![(nov(), 600.0), (dec(), 1200.0)]);
    // New year: December into January of the next year.
    let parts = split_by_month(at("2026-12-31T23:50:00Z"), 30.0 * 60.0);
    assert_eq!(parts, vec![(dec(), 600.0), (month("2027-01"), 1200.0)]);
}

#[test]
fn given_a_session_spanning_more_than_one_boundary_when_split_then_every_month_gets_its_part() {
    // 2028 is a leap year: February has 29 days (29 × 86 400 s).
    let start = at("2028-01-31T12:00:00Z");
    let secs = 12.0 * 3600.0 + 29.0 * 86_400.0 + 3600.0;
    let parts = split_by_month(start, secs);
    assert_eq!(
        parts,
        vec![
            (month("2028-01"), 43_200.0),
            (month("2028-02"), 29.0 * 86_400.0),
            (month("2028-03"), 3600.0)
        ]
    );
    // 2027 is not: the same span reaches further into March.
    let parts = split_by_month(at("2027-01-31T12:00:00Z"), secs);
    assert_eq!(parts[1], (month("2027-02"), 28.0 * 86_400.0));
    assert_eq!(parts[2], (month("2027-03"), 86_400.0 + 3600.0));
    let total: f64 = parts.iter().map(|(_, s)| s).sum();
    assert!(close(total, secs));
}

#[test]
fn given_a_started_and_an_ended_across_midnight_when_folded_then_each_month_bills_its_minutes() {
    let start = at("2026-11-30T23:50:00Z");
    let l = ledger(&[
        ev("s1", start, live_started("sess1")),
        // A reaped session: `ended` is written later than its last sight; the duration counts.
        ev("s1", at("2026-12-01T00:21:30Z"), live_ended("sess1", 30.0 * 60.0)),
    ]);
    assert!(close(l.month(nov()).live_minutes, 10.0), "{}", l.month(nov()).live_minutes);
    assert!(close(l.month(dec()).live_minutes, 20.0), "{}", l.month(dec()).live_minutes);
}

#[test]
fn given_ended_before_started_or_repeated_then_the_session_bills_the_same() {
    let a = ev("s1", at("2026-11-30T23:50:00Z"), live_started("sess1"));
    let b = ev("s1", at("2026-12-01T00:20:00Z"), live_ended("sess1", 1800.0));
    let later = ev("s1", at("2026-12-01T09:00:00Z"), live_ended("sess1", 99_999.0));
    let want = ledger(&[a.clone(), b.clone()]);
    assert_eq!(ledger(&[b.clone(), a.clone()]), want);
    assert_eq!(ledger(&[a.clone(), b.clone(), later, a.clone()]), want);
    // A session that has only started bills nothing yet.
    assert_eq!(ledger(&[a]).month(nov()).live_minutes, 0.0);
}

#[test]
fn given_a_session_across_midnight_then_its_meter_shares_are_whole_milliseconds_per_month() {
    let start = at("2026-11-30T23:50:00Z");
    let open = SessionUsage { started_at: Some(start), ended_at: None, duration_secs: 0.0 };
    assert!(session_millis(&open).is_empty(), "an open session bills nothing yet");
    let ended = SessionUsage {
        ended_at: Some(at("2026-12-01T00:21:30Z")),
        duration_secs: 30.0 * 60.0 + 0.0004,
        ..open
    };
    assert_eq!(session_millis(&ended), [(nov(), 600_000), (dec(), 1_200_000)]);
}
