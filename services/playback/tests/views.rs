//! View beacons, dedup across instances, live viewers, public videos and egress metering.

mod common;

use common::*;
use framelog_events::{EventData, ViewData};
use framelog_playback::PlaybackSettings;
use serde_json::json;

async fn beacon(pb: &Instance, body: serde_json::Value) -> u16 {
    let res = pb.app.http.post(pb.url("/v1/views")).json(&body).send().await.unwrap();
    res.status().as_u16()
}

/// Waits until the instance's publisher has an answer from JetStream for every accepted beacon.
async fn settled(pb: &Instance) {
    let s = pb.st.stats.clone();
    eventually("view acks", || {
        let s = s.clone();
        async move { s.stored.get() + s.duplicates.get() + s.dropped.get() == s.accepted.get() }
    })
    .await;
}

fn counted(events: &[framelog_events::Event]) -> Vec<(String, String, i64, bool)> {
    events
        .iter()
        .filter_map(|e| match &e.data {
            EventData::View(ViewData::Counted { viewer, window, live }) => {
                Some((e.subject.to_string(), viewer.clone(), *window, *live))
            }
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn two_beacons_in_one_window_count_once_across_two_playback_instances() {
    let mut env = Env::new().await;
    let a = env.instance_with(PlaybackSettings::default(), true, None).await;
    let b = env.instance_with(PlaybackSettings::default(), true, None).await;
    let token = env.token("acme", "vid_1");
    let body = json!({"token": token, "video_id": "vid_1", "session": "s1", "kind": "start"});
    assert_eq!(beacon(&a, body.clone()).await, 202);
    assert_eq!(beacon(&b, body.clone()).await, 202);
    assert_eq!(beacon(&a, body.clone()).await, 202);
    settled(&a).await;
    settled(&b).await;
    let events = view_events(&env.platform.js).await;
    let views = counted(&events);
    assert_eq!(views.len(), 1, "{views:?}");
    let (video, viewer, window, live) = &views[0];
    assert_eq!((video.as_str(), *live), ("vid_1", false));
    assert_eq!(*window % 30, 0);
    assert!(!viewer.contains("127.0.0.1"), "no raw address");
    assert_eq!(a.st.stats.stored.get() + b.st.stats.stored.get(), 1);
    assert_eq!(a.st.stats.duplicates.get() + b.st.stats.duplicates.get(), 2);
    assert_eq!(events[0].tenant.as_str(), "acme");

    // Another session is another viewer.
    let other = json!({"token": token, "video_id": "vid_1", "session": "s2"});
    assert_eq!(beacon(&b, other).await, 202);
    settled(&b).await;
    assert_eq!(counted(&view_events(&env.platform.js).await).len(), 2);
}

#[tokio::test]
async fn a_beacon_in_the_next_window_counts_again() {
    let mut env = Env::new().await;
    let pb = env.instance().await;
    let token = env.token("acme", "vid_1");
    let body = json!({"token": token, "video_id": "vid_1", "session": "s1"});
    assert_eq!(beacon(&pb, body.clone()).await, 202);
    env.clock.advance(20);
    assert_eq!(beacon(&pb, body.clone()).await, 202, "same window (1 s + 20 s < 30 s)");
    env.clock.advance(10);
    assert_eq!(beacon(&pb, body.clone()).await, 202, "next window");
    settled(&pb).await;
    let views = counted(&view_events(&env.platform.js).await);
    assert_eq!(views.len(), 2, "{views:?}");
    assert_eq!(views[1].2 - views[0].2, 30);
    assert_eq!(views[0].1, views[1].1, "the same viewer");
}

#[tokio::test]
async fn bad_tokens_are_refused_and_vod_heartbeats_count_nothing_more() {
    let mut env = Env::new().await;
    let pb = env.instance().await;
    let token = env.token("acme", "vid_1");
    let wrong_video = json!({"token": token, "video_id": "vid_2"});
    assert_eq!(beacon(&pb, wrong_video).await, 403);
    assert_eq!(beacon(&pb, json!({"token": "x.1.AAAA", "video_id": "vid_1"})).await, 403);
    assert_eq!(beacon(&pb, json!({"token": token, "video_id": "../x"})).await, 404);
    let not_public = json!({"token": "public", "video_id": "vid_1"});
    assert_eq!(beacon(&pb, not_public).await, 404);
    let res = pb.app.http.post(pb.url("/v1/views")).body("nope").send().await.unwrap();
    assert_eq!(res.status(), 415, "not JSON");
    let hb = json!({"token": token, "video_id": "vid_1", "kind": "heartbeat"});
    assert_eq!(beacon(&pb, hb).await, 202);
    settled(&pb).await;
    assert_eq!(pb.st.stats.accepted.get(), 0);
    assert!(counted(&view_events(&env.platform.js).await).is_empty());
}

#[tokio::test]
async fn live_heartbeats_give_the_same_concurrent_viewers_on_every_instance() {
    let mut env = Env::new().await;
    let a = env.instance_with(PlaybackSettings::default(), true, None).await;
    let b = env.instance_with(PlaybackSettings::default(), true, None).await;
    let token = env.token("acme", "str_1");
    for (pb, session) in [(&a, "s1"), (&b, "s2"), (&a, "s2"), (&b, "s3")] {
        let hb = json!({"token": token, "video_id": "str_1", "session": session,
                        "kind": "heartbeat", "live": true});
        assert_eq!(beacon(pb, hb).await, 202);
    }
    settled(&a).await;
    settled(&b).await;
    for pb in [&a, &b] {
        let url = pb.url(&format!("/v1/live/str_1/viewers?token={token}"));
        let http = pb.app.http.clone();
        eventually("three live viewers", || {
            let (http, url) = (http.clone(), url.clone());
            async move {
                let v: serde_json::Value =
                    http.get(url).send().await.unwrap().json().await.unwrap();
                v["viewers"] == 3
            }
        })
        .await;
    }
    // Asked with an API key, the stream must be the tenant's (the record live-auth keeps).
    let kv = env.platform.js.get_key_value(framelog_core::nats::KV_STREAM_KEYS).await.unwrap();
    kv.put(
        "s.str_1",
        serde_json::to_vec(&json!({"tenant": "acme", "deleted": false})).unwrap().into(),
    )
    .await
    .unwrap();
    let res = a.app.get("/v1/live/str_1/viewers", Some(&env.key_acme)).await;
    let v: serde_json::Value = res.json().await.unwrap();
    assert_eq!((v["viewers"].as_u64(), v["current"].as_u64()), (Some(3), Some(3)));
    let res = a.app.get("/v1/live/str_1/viewers", Some(&env.key_globex)).await;
    assert_eq!(res.status(), 404, "another tenant's stream answers 404, like a missing one");
    assert_eq!(a.app.get("/v1/live/str_1/viewers", None).await.status(), 401);
    env.clock.advance(30);
    let v: serde_json::Value =
        a.app.get("/v1/live/str_1/viewers", Some(&env.key_acme)).await.json().await.unwrap();
    assert_eq!(
        (v["viewers"].as_u64(), v["current"].as_u64(), v["previous"].as_u64()),
        (Some(3), Some(0), Some(3))
    );
    env.clock.advance(30);
    let v: serde_json::Value =
        a.app.get("/v1/live/str_1/viewers", Some(&env.key_acme)).await.json().await.unwrap();
    assert_eq!(v["viewers"], 0, "nobody heartbeated for a whole window");
}

#[tokio::test]
async fn a_public_video_plays_without_a_token_only_while_marked() {
    let mut env = Env::new().await;
    let pb = env.instance().await;
    env.small_video("acme", "vid_p");
    let url = pb.url("/hls/public/vid_p/master.m3u8");
    assert_eq!(pb.app.http.get(&url).send().await.unwrap().status(), 404);
    let set = |key: String, video: &str, public: bool| {
        let req = pb.app.http.put(pb.url(&format!("/v1/videos/{video}/visibility")));
        async move { req.bearer_auth(key).json(&json!({"public": public})).send().await.unwrap() }
    };
    assert_eq!(set(env.key_globex.clone(), "vid_p", true).await.status(), 404, "not globex's");
    assert_eq!(set(env.key_acme.clone(), "vid_none", true).await.status(), 404, "no such video");
    let res = set(env.key_acme.clone(), "vid_p", true).await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["master"], "/hls/public/vid_p/master.m3u8");
    let res = pb.app.http.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), MASTER);
    let seg = pb.app.http.get(pb.url("/hls/public/vid_p/360p/seg_000.ts")).send().await.unwrap();
    assert_eq!(seg.status(), 200);
    let view = json!({"token": "public", "video_id": "vid_p", "session": "s"});
    assert_eq!(beacon(&pb, view).await, 202);
    settled(&pb).await;
    assert_eq!(counted(&view_events(&env.platform.js).await).len(), 1);

    // A second instance learns the mark from the bucket; unmarking reaches it through the watch.
    let other = env.instance_with(PlaybackSettings::default(), true, None).await;
    let other_url = other.url("/hls/public/vid_p/master.m3u8");
    assert_eq!(other.app.http.get(&other_url).send().await.unwrap().status(), 200);
    assert_eq!(set(env.key_acme.clone(), "vid_p", false).await.status(), 200);
    assert_eq!(pb.app.http.get(&url).send().await.unwrap().status(), 404);
    let http = other.app.http.clone();
    eventually("the unmark to reach the other instance", || {
        let (http, u) = (http.clone(), other_url.clone());
        async move { http.get(u).send().await.unwrap().status() == 404 }
    })
    .await;
}

#[tokio::test]
async fn egress_events_carry_the_bytes_served_per_tenant() {
    let mut env = Env::new().await;
    let settings = PlaybackSettings { instance_id: Some("pb_test".into()), ..Default::default() };
    let mut pb = env.instance_with(settings, false, None).await;
    env.small_video("acme", "vid_1");
    env.small_video("globex", "vid_2");
    let ta = env.token("acme", "vid_1");
    let http = pb.app.http.clone();
    let seg0 = (188 * 100) as u64;
    let seg1 = (188 * 50) as u64;
    for p in ["360p/seg_000.ts", "360p/seg_001.ts"] {
        let body = http.get(pb.url(&format!("/hls/{ta}/vid_1/{p}"))).send().await.unwrap();
        body.bytes().await.unwrap();
    }
    let res = http
        .get(pb.url(&format!("/hls/{ta}/vid_1/360p/seg_000.ts")))
        .header("range", "bytes=0-99")
        .send()
        .await
        .unwrap();
    assert_eq!(res.bytes().await.unwrap().len(), 100);
    let tg = env.token("globex", "vid_2");
    let res = http.get(pb.url(&format!("/hls/{tg}/vid_2/360p/seg_001.ts"))).send().await.unwrap();
    res.bytes().await.unwrap();
    let denied = http.get(pb.url("/hls/bad/vid_1/360p/seg_000.ts")).send().await.unwrap();
    assert_eq!(denied.status(), 403);
    pb.stop().await;
    let events = view_events(&env.platform.js).await;
    let mut egress: Vec<(String, u64, u64, String)> = events
        .iter()
        .filter_map(|e| match &e.data {
            EventData::View(ViewData::EgressMetered { bytes, requests, .. }) => {
                Some((e.tenant.to_string(), *bytes, *requests, e.subject.to_string()))
            }
            _ => None,
        })
        .collect();
    egress.sort();
    assert_eq!(
        egress,
        vec![
            ("acme".to_owned(), seg0 + seg1 + 100, 3, "pb_test".to_owned()),
            ("globex".to_owned(), seg1, 1, "pb_test".to_owned()),
        ]
    );
}

#[tokio::test]
async fn a_flood_of_beacons_with_fresh_sessions_from_one_address_counts_at_most_the_cap() {
    let mut env = Env::new().await;
    let pb = env.instance().await;
    let cap = PlaybackSettings::default().beacon_sessions;
    let token = env.token("acme", "vid_1");
    let (mut accepted, mut limited) = (0, 0);
    let mut retry_after = None;
    for i in 0..1000 {
        let body = json!({"token": token, "video_id": "vid_1", "session": format!("bot{i}")});
        let res = pb.app.http.post(pb.url("/v1/views")).json(&body).send().await.unwrap();
        match res.status().as_u16() {
            202 => accepted += 1,
            429 => {
                limited += 1;
                retry_after = res.headers().get("retry-after").cloned();
                let v: serde_json::Value = res.json().await.unwrap();
                let code = v["error"]["code"].as_str().unwrap().to_owned();
                assert!(["too_many_sessions", "rate_limited"].contains(&code.as_str()), "{v}");
                assert!(v["error"]["message"].is_string());
            }
            other => panic!("beacon answered {other}"),
        }
    }
    assert!(accepted <= cap, "{accepted} beacons accepted, over the cap of {cap}");
    assert!(limited >= 1000 - cap, "only {limited} refused");
    let secs: u64 = retry_after.expect("429 has Retry-After").to_str().unwrap().parse().unwrap();
    assert!(secs >= 1);
    settled(&pb).await;
    let views = counted(&view_events(&env.platform.js).await);
    assert!(views.len() <= cap, "{} views counted from one address", views.len());
    assert_eq!(views.len(), accepted);
    assert_eq!(pb.st.stats.limited.get(), limited as u64);
}

#[tokio::test]
async fn one_address_beaconing_faster_than_its_rate_is_answered_429_with_retry_after() {
    let mut env = Env::new().await;
    let settings = PlaybackSettings { beacon_rate: 1.0, beacon_burst: 20, ..Default::default() };
    let pb = env.instance_with(settings, false, None).await;
    let token = env.token("acme", "vid_1");
    let body = json!({"token": token, "video_id": "vid_1", "session": "s1"});
    for _ in 0..100 {
        let res = pb.app.http.post(pb.url("/v1/views")).json(&body).send().await.unwrap();
        if res.status() == 429 {
            assert!(res.headers().contains_key("retry-after"));
            let v: serde_json::Value = res.json().await.unwrap();
            assert_eq!(v["error"]["code"], "rate_limited", "{v}");
        }
    }
    let accepted = pb.st.stats.accepted.get();
    assert!((20..=25).contains(&accepted), "{accepted} accepted at 1/s with a burst of 20");
    assert_eq!(pb.st.stats.limited.get(), 100 - accepted);
    settled(&pb).await;
    assert_eq!(counted(&view_events(&env.platform.js).await).len(), 1, "one viewer, one view");
}

#[tokio::test]
async fn a_flood_of_view_events_never_grows_vid_view_past_its_limit_and_writes_go_on() {
    use framelog_core::nats::STREAM_VIEW;
    let nats = framelog_tests::NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut settings =
        framelog_core::CommonSettings::for_test(&nats.url(), dir.path().to_path_buf());
    settings.view_stream_max_bytes = Some(1024 * 1024);
    let p =
        framelog_core::Platform::start(settings.clone(), "t", std::time::Duration::from_secs(5))
            .await
            .unwrap();
    let payload = bytes::Bytes::from(vec![b'v'; 4096]);
    for i in 0..1000 {
        let ack = p.js.publish(format!("vid.acme.view.counted.vid_{i}"), payload.clone()).await;
        ack.unwrap().await.expect("a full VID_VIEW drops its oldest views, it never refuses");
    }
    let mut stream = p.js.get_stream(STREAM_VIEW).await.unwrap();
    let info = stream.info().await.unwrap();
    assert_eq!(info.config.max_bytes, 1024 * 1024);
    assert!(info.state.bytes <= 1024 * 1024, "{} bytes stored", info.state.bytes);
    assert!(info.state.first_sequence > 1, "the oldest views were dropped");

    // Another replica started without the flag keeps the operator's limit.
    let dir2 = tempfile::tempdir().unwrap();
    settings.data_dir = dir2.path().to_path_buf();
    settings.view_stream_max_bytes = None;
    let _again = framelog_core::Platform::start(settings, "t2", std::time::Duration::from_secs(5))
        .await
        .unwrap();
    let info = p.js.get_stream(STREAM_VIEW).await.unwrap().info().await.unwrap().clone();
    assert_eq!(info.config.max_bytes, 1024 * 1024);
}
