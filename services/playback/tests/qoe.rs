//! QoE beacons: forged summaries (absurd values, many per viewer, many sessions, two replicas)
//! cannot move a video's averages beyond the bounds; an honest one is kept as sent. The
//! published events are folded with the projection's own pure fold.

mod common;

use common::*;
use framelog_events::fold::Deduped;
use framelog_events::fold::qoe::{self, QoeTally};
use framelog_events::qoe::QoeSample;
use framelog_events::{Event, EventData, ViewData};
use framelog_playback::PlaybackSettings;
use serde_json::{Value, json};

async fn post(pb: &Instance, body: &Value) -> (u16, Value) {
    let res = pb.app.http.post(pb.url("/v1/views")).json(body).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn settled(pb: &Instance) {
    let s = pb.st.stats.clone();
    eventually("view acks", || {
        let s = s.clone();
        async move { s.stored.get() + s.duplicates.get() + s.dropped.get() == s.accepted.get() }
    })
    .await;
}

fn samples(events: &[Event]) -> Vec<&QoeSample> {
    events
        .iter()
        .filter_map(|e| match &e.data {
            EventData::View(ViewData::Qoe(s)) => Some(s),
            _ => None,
        })
        .collect()
}

fn tally(events: &[Event]) -> QoeTally {
    events.iter().fold(Deduped::new(QoeTally::default()), |d, e| d.apply(e, qoe::apply)).state
}

fn forged(token: &str, session: &str, seq: u64) -> Value {
    json!({"token": token, "video_id": "vid_1", "session": session, "kind": "qoe", "qoe": {
        "seq": seq, "watch_ms": 1u64 << 60, "startup_ms": 1u64 << 50, "rebuffer_count": 1u64 << 40,
        "rebuffer_ms": 1u64 << 62, "switches": 1_000_000, "errors": 1_000_000,
        "error_code": "<img src=x>", "latency_ms": 99_999_999}})
}

#[tokio::test]
async fn an_honest_summary_is_published_as_sent_and_a_second_in_the_window_is_refused() {
    let mut env = Env::new().await;
    let pb = env.instance().await;
    let token = env.token("acme", "vid_1");
    let body = json!({"token": token, "video_id": "vid_1", "session": "s1", "kind": "qoe", "qoe": {
        "seq": 0, "watch_ms": 28_000, "startup_ms": 900, "rebuffer_count": 1, "rebuffer_ms": 1_500,
        "switches": 2}});
    assert_eq!(post(&pb, &body).await.0, 202);
    let (status, err) = post(&pb, &body).await;
    assert_eq!(status, 429, "{err}");
    assert_eq!(err["error"]["code"], "qoe_already_sent");
    // No object, a negative or fractional number: clear 4xx, nothing published.
    let bare = json!({"token": token, "video_id": "vid_1", "session": "s2", "kind": "qoe"});
    let (status, err) = post(&pb, &bare).await;
    assert_eq!((status, err["error"]["code"].as_str()), (400, Some("invalid_qoe")), "{err}");
    let negative = json!({"token": token, "video_id": "vid_1", "session": "s3", "kind": "qoe",
        "qoe": {"watch_ms": -5}});
    assert_eq!(post(&pb, &negative).await.0, 422);
    // Another tenant's video with this token: refused before anything is counted.
    let foreign =
        json!({"token": token, "video_id": "vid_2", "session": "s4", "kind": "qoe", "qoe": {}});
    assert_eq!(post(&pb, &foreign).await.0, 403);
    settled(&pb).await;
    let events = view_events(&env.platform.js).await;
    let got = samples(&events);
    assert_eq!(got.len(), 1, "{got:?}");
    let s = got[0];
    assert_eq!(
        (s.watch_ms, s.startup_ms, s.rebuffer_count, s.rebuffer_ms, s.switches),
        (28_000, Some(900), 1, 1_500, 2)
    );
    assert_eq!(events[0].subject.as_str(), "vid_1");
    assert_eq!(events[0].tenant.as_str(), "acme");
    assert!(!s.viewer.contains("127.0.0.1"));
}

#[tokio::test]
async fn forged_beacons_cannot_move_the_averages_beyond_the_bounds() {
    let mut env = Env::new().await;
    let sessions = 4;
    let settings = PlaybackSettings { beacon_sessions: sessions, ..PlaybackSettings::default() };
    let a = env.instance_with(settings.clone(), true, None).await;
    let b = env.instance_with(settings, true, None).await;
    let token = env.token("acme", "vid_1");

    // An honest viewer: 30 s watched, 0.5 s startup, no stall.
    let honest = json!({"token": token, "video_id": "vid_1", "session": "honest", "kind": "qoe",
        "qoe": {"seq": 0, "watch_ms": 30_000, "startup_ms": 500}});
    assert_eq!(post(&a, &honest).await.0, 202);

    // A script on the same address, over 3 windows: 200 summaries per window with absurd
    // values, on both replicas, inventing a new session for every other one.
    let windows = 3;
    let mut accepted = 0;
    for w in 0..windows {
        for i in 0..200u64 {
            let session = if i % 2 == 0 { "forger".to_owned() } else { format!("fake{i}") };
            let pb = if i % 3 == 0 { &b } else { &a };
            let (status, err) = post(pb, &forged(&token, &session, i)).await;
            match status {
                202 => accepted += 1,
                429 => assert!(
                    ["qoe_already_sent", "too_many_sessions", "rate_limited"]
                        .contains(&err["error"]["code"].as_str().unwrap_or("")),
                    "{err}"
                ),
                other => panic!("unexpected {other}: {err}"),
            }
        }
        if w + 1 < windows {
            env.clock.advance(30);
        }
    }
    settled(&a).await;
    settled(&b).await;
    let events = view_events(&env.platform.js).await;
    let got = samples(&events);

    // One summary per (viewer, window) reached the log, whichever replica took it.
    let mut keys: Vec<(String, i64)> = got.iter().map(|s| (s.viewer.clone(), s.window)).collect();
    keys.sort();
    let n = keys.len();
    keys.dedup();
    assert_eq!(keys.len(), n, "two summaries of one viewer and window were stored");
    // Each replica admits at most `sessions` sessions per window; the honest one is one of them.
    let cap = 2 * sessions * windows as usize;
    assert!(n <= cap, "{n} summaries stored, at most {cap}");
    assert!(accepted as usize >= n, "{accepted} accepted");
    assert!(n > windows as usize, "the forger got through once per window at least: {n}");
    assert!(got.iter().any(|s| s.watch_ms == 30_000 && s.startup_ms == Some(500)), "honest kept");

    // Every stored value is within the bounds.
    for s in &got {
        assert!(s.watch_ms <= 45_000, "{s:?}");
        assert!(s.startup_ms.unwrap_or(0) <= 60_000, "{s:?}");
        assert!(s.rebuffer_ms <= s.watch_ms, "{s:?}");
        assert!(s.switches <= 100 && s.errors <= 10, "{s:?}");
        assert_eq!(s.latency_ms, None, "no latency for a video");
        assert!(s.error_code.as_deref().is_none_or(|c| c == "other"), "{s:?}");
    }

    // The averages: bounded by what honest viewers could at worst have reported.
    let r = tally(&events).report();
    assert!(r.rebuffer_ratio <= 1.0, "{r:?}");
    assert!(r.startup_mean_ms.unwrap() <= 60_000, "{r:?}");
    assert!(r.startup_p95_ms.unwrap() <= 60_000, "{r:?}");
    assert!(r.watch_secs <= 45.0 * n as f64, "{r:?}");
    assert!(r.summaries as usize == n && r.summaries <= cap as u64, "{r:?}");
    assert!(r.switches <= 100 * n as u64 && r.errors <= 10 * n as u64, "{r:?}");
    eprintln!("{accepted} of 600 forged beacons accepted, {n} summaries stored: {r:?}");
    let score = r.score.unwrap();
    assert!((0.0..=100.0).contains(&score), "{r:?}");
}
