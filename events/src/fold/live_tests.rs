//! Given/when/then tests of the live directory fold.

use super::*;
use crate::fold::testkit::*;

fn fold(events: &[Event]) -> Option<StreamEntry> {
    events.iter().fold(None, apply)
}

fn story() -> Vec<Event> {
    vec![
        ev("s1", secs(0), stream_created("studio")),
        ev("s1", secs(1), LiveData::KeyRotated { generation: 1 }),
        ev("s1", secs(10), live_started("sess1")),
        ev("s1", secs(70), live_ended("sess1", 60.0)),
        ev("s1", secs(80), recording_ready("sess1", "v9")),
        ev("s1", secs(100), live_started("sess2")),
    ]
}

#[test]
fn given_nothing_when_a_stream_is_created_then_it_is_listed_with_its_settings_and_not_live() {
    let e = fold(&story()[..1]).unwrap();
    assert_eq!(e.name.as_deref(), Some("studio"));
    assert!(e.record && !e.public);
    assert_eq!(e.key_generation, 0);
    assert!(e.live_session().is_none());
}

#[test]
fn given_a_stream_when_a_session_starts_then_it_is_live_until_that_session_ends() {
    let e = fold(&story()[..3]).unwrap();
    assert_eq!(e.live_session().map(|s| s.id.as_str()), Some("sess1"));
    let e = fold(&story()[..4]).unwrap();
    assert!(e.live_session().is_none());
    let s = &e.sessions["sess1"];
    assert_eq!(
        (s.started_at, s.ended_at, s.duration_secs),
        (Some(secs(10)), Some(secs(70)), Some(60.0))
    );
    assert_eq!(s.protocol.as_deref(), Some("rtmp"));
}

#[test]
fn given_the_whole_story_then_the_recording_and_the_new_session_are_known() {
    let e = fold(&story()).unwrap();
    assert_eq!(e.key_generation, 1);
    assert_eq!(e.sessions["sess1"].recording_video_id.as_ref().map(|v| v.as_str()), Some("v9"));
    assert_eq!(e.live_session().map(|s| s.id.as_str()), Some("sess2"));
}

#[test]
fn given_a_session_when_ended_arrives_before_started_then_it_is_not_live() {
    let evs = [
        ev("s1", secs(0), stream_created("studio")),
        ev("s1", secs(70), live_ended("sess1", 60.0)),
        ev("s1", secs(10), live_started("sess1")),
    ];
    let e = fold(&evs).unwrap();
    assert!(e.live_session().is_none());
    assert_eq!(e.sessions["sess1"].started_at, Some(secs(10)));
}

#[test]
fn given_rotations_when_an_older_generation_arrives_late_then_the_generation_does_not_go_back() {
    let evs = [
        ev("s1", secs(0), stream_created("studio")),
        ev("s1", secs(2), LiveData::KeyRotated { generation: 3 }),
        ev("s1", secs(1), LiveData::KeyRotated { generation: 2 }),
    ];
    assert_eq!(fold(&evs).unwrap().key_generation, 3);
}

#[test]
fn given_a_live_stream_when_it_is_deleted_then_it_is_hidden_and_not_live_and_stays_deleted() {
    let mut evs = story();
    evs.push(ev("s1", secs(200), LiveData::StreamDeleted {}));
    evs.push(ev("s1", secs(201), stream_created("again")));
    let e = fold(&evs).unwrap();
    assert!(!e.is_visible());
    assert!(e.live_session().is_none());
}

#[test]
fn given_many_sessions_then_only_the_most_recent_are_kept() {
    let mut evs = vec![ev("s1", secs(0), stream_created("studio"))];
    for i in 0..(MAX_SESSIONS as i64 + 5) {
        evs.push(ev("s1", secs(10 * i + 1), live_started(&format!("s{i:03}"))));
        evs.push(ev("s1", secs(10 * i + 2), live_ended(&format!("s{i:03}"), 1.0)));
    }
    let e = fold(&evs).unwrap();
    assert_eq!(e.sessions.len(), MAX_SESSIONS);
    assert!(!e.sessions.contains_key("s000") && e.sessions.contains_key("s104"));
}

#[test]
fn given_any_story_when_any_event_is_repeated_later_then_the_state_does_not_change() {
    let mut base = story();
    base.push(ev(
        "s1",
        secs(150),
        LiveData::PublishDenied {
            reason: "bad key".into(),
            server: MediaServer::NginxRtmp,
            protocol: None,
            remote_addr: None,
            suppressed: None,
        },
    ));
    base.push(ev("s1", secs(160), live_ended("sess2", 60.0)));
    base.push(ev("s1", secs(170), LiveData::StreamDeleted {}));
    let want = fold(&base);
    for i in 0..base.len() {
        for j in i + 1..=base.len() {
            let mut evs = base.clone();
            evs.insert(j, base[i].clone());
            assert_eq!(fold(&evs), want, "repeating event {i} at {j}");
        }
    }
}

#[test]
fn given_a_stream_when_video_events_arrive_then_nothing_changes() {
    let e = fold(&story());
    assert_eq!(apply(e.clone(), &ev("s1", secs(300), completed())), e);
}

fn ended_because(session: &str, duration_secs: f64, reason: &str) -> LiveData {
    LiveData::Ended { session_id: session.into(), duration_secs, reason: reason.into() }
}

#[test]
fn given_a_session_whose_media_server_died_when_the_reaper_ends_it_then_it_is_not_live() {
    let reaped = ended_because("sess1", 30.0, "not seen since 2026-11-23T10:00:40Z");
    let e = fold(&[
        ev("s1", secs(0), stream_created("studio")),
        ev("s1", secs(10), live_started("sess1")),
        ev("s1", secs(130), reaped),
    ])
    .unwrap();
    assert!(e.live_session().is_none());
    let s = &e.sessions["sess1"];
    assert_eq!(s.duration_secs, Some(30.0), "billed to the last sight, not to the reap");
    assert!(s.end_reason.as_deref().unwrap().starts_with("not seen since"));
}

#[test]
fn given_a_live_session_when_a_new_one_replaces_it_then_only_the_new_one_is_live() {
    let e = fold(&[
        ev("s1", secs(0), stream_created("studio")),
        ev("s1", secs(10), live_started("sess1")),
        ev("s1", secs(50), ended_because("sess1", 35.0, "replaced by a new session")),
        ev("s1", secs(50), live_started("sess2")),
    ])
    .unwrap();
    assert_eq!(e.live_session().map(|s| s.id.as_str()), Some("sess2"));
    assert_eq!(e.sessions["sess1"].end_reason.as_deref(), Some("replaced by a new session"));
    assert_eq!(e.sessions.values().filter(|s| s.is_live()).count(), 1);
}
