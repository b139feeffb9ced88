//! Given/when/then tests of the QoE fold.

use super::*;
use crate::fold::Deduped;
use crate::fold::testkit::{at, ev, view};
use crate::qoe::QoeSample;

fn qoe(viewer: &str, seq: u32, s: QoeSample) -> ViewData {
    ViewData::Qoe(QoeSample { viewer: viewer.into(), window: 0, seq, ..s })
}

fn watched(watch_ms: u64) -> QoeSample {
    QoeSample { watch_ms, ..Default::default() }
}

fn fold(events: &[Event]) -> QoeTally {
    events.iter().fold(Deduped::new(QoeTally::default()), |d, e| d.apply(e, apply)).state
}

#[test]
fn given_two_sessions_when_folded_then_the_rebuffer_ratio_is_total_stall_over_total_watch() {
    let t = at("2026-11-23T10:00:00Z");
    let events = [
        ev("v1", t, qoe("a", 0, QoeSample { startup_ms: Some(800), ..watched(30_000) })),
        ev(
            "v1",
            t,
            qoe("a", 1, QoeSample { rebuffer_count: 2, rebuffer_ms: 3_000, ..watched(30_000) }),
        ),
        ev(
            "v1",
            t,
            qoe("b", 0, QoeSample { startup_ms: Some(2_500), switches: 3, ..watched(40_000) }),
        ),
    ];
    let r = fold(&events).report();
    assert_eq!((r.views, r.summaries), (2, 3), "a view is a session's first summary");
    assert_eq!(r.watch_secs, 100.0);
    assert_eq!(r.rebuffer_ratio, 0.03, "3 s stalled of 100 s watched");
    assert_eq!((r.rebuffer_count, r.switches, r.errors), (2, 3, 0));
    assert_eq!(r.startup_mean_ms, Some(1_650));
    assert_eq!(r.rebuffers_per_minute, 1.2);
}

#[test]
fn given_startups_in_buckets_then_p50_and_p95_are_the_bounds_of_their_buckets() {
    let t = at("2026-11-23T10:00:00Z");
    // 19 startups of 400 ms, one of 7 s: p50 in the 500 ms bucket, p95 still there (19/20),
    // p99 in the 8 s bucket.
    let mut events: Vec<Event> = (0..19)
        .map(|i| {
            ev("v1", t, qoe(&format!("u{i}"), 0, QoeSample { startup_ms: Some(400), ..watched(1) }))
        })
        .collect();
    events.push(ev("v1", t, qoe("slow", 0, QoeSample { startup_ms: Some(7_000), ..watched(1) })));
    let tally = fold(&events);
    assert_eq!(tally.startup_percentile_ms(0.5), Some(500));
    assert_eq!(tally.startup_percentile_ms(0.95), Some(500));
    assert_eq!(tally.startup_percentile_ms(0.99), Some(8_000));
    assert_eq!(QoeTally::default().startup_percentile_ms(0.5), None);
}

#[test]
fn given_days_merged_then_the_range_equals_the_fold_of_all_their_events() {
    let day1 = at("2026-11-23T10:00:00Z");
    let day2 = at("2026-11-24T10:00:00Z");
    let a = [ev(
        "v1",
        day1,
        qoe("a", 0, QoeSample { startup_ms: Some(300), rebuffer_ms: 500, ..watched(10_000) }),
    )];
    let b = [
        ev("v1", day2, qoe("b", 0, QoeSample { startup_ms: Some(9_000), ..watched(20_000) })),
        ev(
            "v1",
            day2,
            qoe(
                "b",
                1,
                QoeSample { errors: 1, error_code: Some("fragLoadError".into()), ..watched(5_000) },
            ),
        ),
    ];
    let all: Vec<Event> = a.iter().chain(b.iter()).cloned().collect();
    assert_eq!(fold(&a).merge(&fold(&b)), fold(&all));
}

#[test]
fn given_a_repeated_summary_id_then_it_counts_once() {
    let e = ev(
        "v1",
        at("2026-11-23T10:00:00Z"),
        qoe("a", 0, QoeSample { rebuffer_ms: 100, ..watched(1_000) }),
    );
    let t = fold(&[e.clone(), e.clone(), e]);
    assert_eq!((t.summaries, t.watch_ms, t.rebuffer_ms), (1, 1_000, 100));
}

#[test]
fn given_a_forged_sample_written_past_playback_then_the_fold_clamps_it_again() {
    let e = ev(
        "v1",
        at("2026-11-23T10:00:00Z"),
        qoe(
            "x",
            0,
            QoeSample { startup_ms: Some(u64::MAX), rebuffer_ms: u64::MAX, ..watched(u64::MAX) },
        ),
    );
    let r = fold(&[e]).report();
    assert!(r.rebuffer_ratio <= 1.0);
    assert_eq!(r.startup_mean_ms, Some(crate::qoe::MAX_STARTUP_MS));
    assert!(r.watch_secs <= 3_615.0, "{}", r.watch_secs);
}

#[test]
fn given_the_scores_then_they_follow_the_documented_formula() {
    assert_eq!(startup_score_milli(500), 1_000);
    assert_eq!(startup_score_milli(5_500), 500);
    assert_eq!(startup_score_milli(12_000), 0);
    let t = at("2026-11-23T10:00:00Z");
    // Startup 5.5 s (0.5), 2 % stalled (smoothness 0.9), one of two views failed (success 0.5).
    let events = [
        ev(
            "v1",
            t,
            qoe(
                "a",
                0,
                QoeSample { startup_ms: Some(5_500), rebuffer_ms: 2_000, ..watched(100_000) },
            ),
        ),
        ev(
            "v1",
            t,
            qoe(
                "b",
                0,
                QoeSample { errors: 1, error_code: Some("manifestLoadError".into()), ..watched(0) },
            ),
        ),
    ];
    let r = fold(&events).report();
    assert_eq!(r.startup_score, Some(50.0));
    assert_eq!(r.smoothness_score, Some(90.0));
    assert_eq!(r.success_score, Some(50.0));
    assert_eq!(r.score, Some(35.0), "100 × 0.5 × (0.5 + 0.9) / 2");
    assert_eq!(r.error_codes.get("manifestLoadError"), Some(&1));
}

#[test]
fn given_many_error_codes_then_only_sixteen_are_kept_and_the_rest_are_other() {
    let t = at("2026-11-23T10:00:00Z");
    let events: Vec<Event> = (0..40)
        .map(|i| {
            ev(
                "v1",
                t,
                qoe(
                    "a",
                    i + 1,
                    QoeSample { errors: 1, error_code: Some(format!("code{i}")), ..watched(1) },
                ),
            )
        })
        .collect();
    let r = fold(&events).report();
    assert_eq!(r.error_codes.len(), MAX_ERROR_CODES + 1);
    assert_eq!(r.error_codes.get("other"), Some(&24));
    assert_eq!(r.errors, 40);
}

#[test]
fn given_other_view_events_then_the_tally_does_not_change() {
    let t = QoeTally::default();
    let e = ev("v1", at("2026-11-23T10:00:00Z"), view("a"));
    assert_eq!(apply(t.clone(), &e), t);
}
