//! Live presence is not a view: one viewer beaconing through an hour of one live session is one
//! view in the projection (and concurrent viewers still count them), while a VOD viewer is still
//! counted once per window.

mod common;

use std::time::Duration;

use common::*;
use framelog_core::service::ServiceContext;
use framelog_events::{Event, EventData, ViewData};
use framelog_playback::PlaybackSettings;
use framelog_projection::store::{View, be_u64, key};
use framelog_projection::{Outcome, ProjectionSettings};
use serde_json::json;

async fn beacon(pb: &Instance, body: serde_json::Value) -> u16 {
    let res = pb.app.http.post(pb.url("/v1/views")).json(&body).send().await.unwrap();
    res.status().as_u16()
}

async fn settled(pb: &Instance) {
    let s = pb.st.stats.clone();
    eventually("view acks", || {
        let s = s.clone();
        async move { s.stored.get() + s.duplicates.get() + s.dropped.get() == s.accepted.get() }
    })
    .await;
}

/// live-auth's record of `stream` with `session` live (the fields playback reads).
async fn live_record(env: &Env, stream: &str, session: &str) {
    let kv = env.platform.js.get_key_value(framelog_core::nats::KV_STREAM_KEYS).await.unwrap();
    let rec = json!({"tenant": "acme", "deleted": false, "session": {"session_id": session}});
    kv.put(format!("s.{stream}"), serde_json::to_vec(&rec).unwrap().into()).await.unwrap();
}

async fn viewers(pb: &Instance, token: &str, want: u64) {
    let (http, url) =
        (pb.app.http.clone(), pb.url(&format!("/v1/live/str_1/viewers?token={token}")));
    eventually(&format!("{want} live viewers"), || {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let v: serde_json::Value = http.get(url).send().await.unwrap().json().await.unwrap();
            v["viewers"] == want
        }
    })
    .await;
}

fn count(events: &[Event], subject: &str, phase: &str) -> usize {
    let is = |d: &ViewData| match d {
        ViewData::Counted { .. } => phase == "counted",
        ViewData::Presence { .. } => phase == "presence",
        ViewData::EgressMetered { .. } | ViewData::Qoe(_) | ViewData::Unknown => false,
    };
    events
        .iter()
        .filter(|e| e.subject.as_str() == subject)
        .filter(|e| matches!(&e.data, EventData::View(d) if is(d)))
        .count()
}

/// The projection's view count of `agg` after folding all of `VID_VIEW`.
async fn projected_views(env: &Env, aggs: &[&str]) -> Vec<u64> {
    let ctx = ServiceContext {
        platform: env.platform.clone(),
        media: env.media.clone(),
        shutdown: Default::default(),
    };
    let mut p = framelog_projection::build(&ctx, ProjectionSettings::for_test()).await.unwrap();
    while let Outcome::Applied { .. } =
        p.views.process_next(Duration::from_millis(300)).await.unwrap()
    {}
    let tree = p.store.tree(View::Views);
    aggs.iter()
        .map(|a| tree.get(key("acme", &[a.as_bytes()])).unwrap().map_or(0, |v| be_u64(&v)))
        .collect()
}

#[tokio::test]
async fn an_hour_of_live_heartbeats_is_one_view_per_session_while_vod_counts_per_window() {
    let mut env = Env::new().await;
    let a = env.instance_with(PlaybackSettings::default(), true, None).await;
    let b = env.instance_with(PlaybackSettings::default(), true, None).await;
    live_record(&env, "str_1", "ses_a").await;
    let live = env.token("acme", "str_1");
    let vod = env.token("acme", "vid_1");
    for w in 0..120 {
        let kind = if w == 0 { "start" } else { "heartbeat" };
        // A load balancer alternates replicas.
        let pb = if w % 2 == 0 { &a } else { &b };
        let body = json!({"token": live, "video_id": "str_1", "session": "p1", "kind": kind,
                          "live": true});
        assert_eq!(beacon(pb, body).await, 202);
        if w < 3 {
            let other = json!({"token": live, "video_id": "str_1", "session": "p2", "live": true});
            assert_eq!(beacon(pb, other).await, 202);
        }
        if w == 1 {
            viewers(&a, &live, 2).await;
            viewers(&b, &live, 2).await;
        }
        if w < 6 {
            // The VOD viewer: a start beacon every other window, heartbeats between.
            let kind = if w % 2 == 0 { "start" } else { "heartbeat" };
            let body = json!({"token": vod, "video_id": "vid_1", "session": "p1", "kind": kind});
            assert_eq!(beacon(&a, body).await, 202);
        }
        if w == 119 {
            viewers(&a, &live, 1).await;
        }
        env.clock.advance(30);
    }
    settled(&a).await;
    settled(&b).await;
    let events = view_events(&env.platform.js).await;
    assert_eq!(count(&events, "str_1", "presence"), 120 + 3, "one presence per viewer and window");
    assert!(count(&events, "str_1", "counted") <= 2 + 2, "at most one per replica and viewer");
    assert_eq!(count(&events, "vid_1", "counted"), 3);
    assert_eq!(projected_views(&env, &["str_1", "vid_1"]).await, vec![2, 3]);

    // A new live session of the stream: the same viewer is one more view (once the cached
    // session expires), and still one presence per window.
    live_record(&env, "str_1", "ses_b").await;
    tokio::time::sleep(Duration::from_millis(5200)).await;
    let live = env.token("acme", "str_1");
    for _ in 0..4 {
        let body = json!({"token": live, "video_id": "str_1", "session": "p1", "kind": "heartbeat",
                          "live": true});
        assert_eq!(beacon(&a, body).await, 202);
        env.clock.advance(30);
    }
    settled(&a).await;
    assert_eq!(projected_views(&env, &["str_1"]).await, vec![3]);
}

#[tokio::test]
async fn live_beacons_without_a_live_session_count_presence_only() {
    let mut env = Env::new().await;
    let pb = env.instance().await;
    let live = env.token("acme", "str_1");
    for _ in 0..3 {
        let body = json!({"token": live, "video_id": "str_1", "session": "p1", "live": true});
        assert_eq!(beacon(&pb, body).await, 202);
        env.clock.advance(30);
    }
    settled(&pb).await;
    let events = view_events(&env.platform.js).await;
    assert_eq!((count(&events, "str_1", "presence"), count(&events, "str_1", "counted")), (3, 0));
    assert_eq!(projected_views(&env, &["str_1"]).await, vec![0]);
}
