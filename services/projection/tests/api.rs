//! The query API against a real nats-server: events published, folded, answered.

mod common;

use common::*;
use framelog_events::data::{LiveData, MediaServer, TranscodeData, UploadData, ViewData};
use framelog_projection::ProjectionSettings;
use time::OffsetDateTime;

async fn error_code(app: &framelog_tests::TestApp, path: &str, key: &str) -> (u16, String) {
    let (status, body) = get_json(app, path, key).await;
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{path}: {body}");
    (status, body["error"]["code"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn a_published_story_becomes_a_ready_video_with_metadata_views_and_signed_urls() {
    let w = world().await;
    let mut p = w.projection().await;
    for e in ready_story("acme", "vid_a") {
        w.publish(&e).await;
    }
    w.publish(&ev("acme", "vid_a", view("alice"))).await;
    w.publish(&ev("acme", "vid_a", view("bob"))).await;
    assert_eq!(drain(&mut p.vid).await, 8);
    assert_eq!(drain(&mut p.views).await, 2);
    let app = serve(&p).await;

    let (status, v) = get_json(&app, "/v1/videos/vid_a", &w.acme).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "ready");
    assert_eq!(v["size"], 1000);
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64(), v["rotation"].as_i64()),
        (Some(1920), Some(1080), Some(90))
    );
    assert_eq!(v["video_codec"], "h264");
    assert_eq!(v["renditions"].as_array().unwrap().len(), 2);
    assert_eq!(v["views"], 2);
    assert_eq!(v["views_today"], 2);
    let playback = v["playback_url"].as_str().unwrap();
    assert!(
        playback.starts_with("/hls/acme.") && playback.ends_with("/vid_a/master.m3u8"),
        "{playback}"
    );
    let token = playback.split('/').nth(2).unwrap();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    assert_eq!(
        framelog_core::signing::verify_playback_token(&w.platform.secret, token, "vid_a", now),
        Ok("acme")
    );
    assert_eq!(v["poster_url"], format!("/hls/{token}/vid_a/poster.jpg"));
    assert_eq!(v["storyboard_url"], format!("/hls/{token}/vid_a/storyboard.vtt"));
}

#[tokio::test]
async fn another_tenants_video_or_stream_is_404_exactly_like_a_missing_one() {
    let w = world().await;
    let mut p = w.projection().await;
    for e in ready_story("acme", "vid_a") {
        w.publish(&e).await;
    }
    w.publish(&ev(
        "acme",
        "st_a",
        LiveData::StreamCreated { name: "a".into(), record: false, public: false },
    ))
    .await;
    drain(&mut p.vid).await;
    let app = serve(&p).await;
    assert_eq!(error_code(&app, "/v1/videos/vid_a", &w.globex).await, (404, "not_found".into()));
    assert_eq!(error_code(&app, "/v1/videos/vid_nope", &w.globex).await, (404, "not_found".into()));
    assert_eq!(error_code(&app, "/v1/streams/st_a", &w.globex).await, (404, "not_found".into()));
    let (_, list) = get_json(&app, "/v1/videos", &w.globex).await;
    assert_eq!(list["videos"].as_array().unwrap().len(), 0);
    let (_, streams) = get_json(&app, "/v1/streams", &w.globex).await;
    assert_eq!(streams["streams"].as_array().unwrap().len(), 0);
    assert_eq!(app.get("/v1/videos", None).await.status(), 401);
}

#[tokio::test]
async fn bad_month_limit_cursor_status_and_after_seq_are_400_with_the_json_error_shape() {
    let w = world().await;
    let p = w.projection().await;
    let app = serve(&p).await;
    let k = &w.acme;
    assert_eq!(
        error_code(&app, "/v1/billing/usage?month=2026-13", k).await,
        (400, "invalid_month".into())
    );
    assert_eq!(
        error_code(&app, "/v1/billing/usage?month=nov", k).await,
        (400, "invalid_month".into())
    );
    assert_eq!(error_code(&app, "/v1/videos?limit=0", k).await, (400, "invalid_limit".into()));
    assert_eq!(error_code(&app, "/v1/videos?limit=101", k).await, (400, "invalid_limit".into()));
    assert_eq!(error_code(&app, "/v1/videos?limit=ten", k).await, (400, "invalid_query".into()));
    assert_eq!(error_code(&app, "/v1/videos?cursor=zz", k).await, (400, "invalid_cursor".into()));
    assert_eq!(error_code(&app, "/v1/videos?cursor=00", k).await, (400, "invalid_cursor".into()));
    assert_eq!(
        error_code(&app, "/v1/videos?status=sleeping", k).await,
        (400, "invalid_query".into())
    );
    assert_eq!(
        error_code(&app, "/v1/videos?status=deleted", k).await,
        (400, "invalid_status".into())
    );
    assert_eq!(
        error_code(&app, "/v1/videos?after_seq=-1", k).await,
        (400, "invalid_after_seq".into())
    );
    assert_eq!(
        error_code(&app, "/v1/events?types=VID_NOPE", k).await,
        (400, "invalid_types".into())
    );
}

#[tokio::test]
async fn videos_are_listed_newest_first_in_pages_and_filtered_by_status() {
    let w = world().await;
    let mut p = w.projection().await;
    let t0 = OffsetDateTime::now_utc() - time::Duration::hours(1);
    for i in 0..5 {
        let at = t0 + time::Duration::seconds(i);
        w.publish(&ev_at("acme", &format!("vid_{i}"), at, initiated("x"))).await;
    }
    for i in [1, 3] {
        w.publish(&ev("acme", &format!("vid_{i}"), completed(10))).await;
    }
    drain(&mut p.vid).await;
    let app = serve(&p).await;

    let mut seen = Vec::new();
    let mut path = "/v1/videos?limit=2".to_owned();
    loop {
        let (status, page) = get_json(&app, &path, &w.acme).await;
        assert_eq!(status, 200, "{page}");
        let vids = page["videos"].as_array().unwrap();
        assert!(vids.len() <= 2);
        seen.extend(vids.iter().map(|v| v["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/videos?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, ["vid_4", "vid_3", "vid_2", "vid_1", "vid_0"]);

    let (_, processing) = get_json(&app, "/v1/videos?status=processing", &w.acme).await;
    let ids: Vec<&str> = processing["videos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["vid_3", "vid_1"]);
    let (_, stats) = get_json(&app, "/v1/stats", &w.acme).await;
    assert_eq!(
        (stats["videos"]["uploading"].as_u64(), stats["videos"]["processing"].as_u64()),
        (Some(3), Some(2))
    );
    assert_eq!(stats["videos"]["total"], 5);
}

#[tokio::test]
async fn deleted_and_aborted_videos_answer_404_and_leave_the_list() {
    let w = world().await;
    let mut p = w.projection().await;
    for e in ready_story("acme", "vid_del") {
        w.publish(&e).await;
    }
    w.publish(&ev("acme", "vid_del", UploadData::Deleted {})).await;
    w.publish(&ev("acme", "vid_ab", initiated("ab"))).await;
    w.publish(&ev("acme", "vid_ab", UploadData::Aborted { upload_id: "up".into() })).await;
    w.publish(&ev("acme", "vid_ok", initiated("ok"))).await;
    drain(&mut p.vid).await;
    let app = serve(&p).await;
    assert_eq!(error_code(&app, "/v1/videos/vid_del", &w.acme).await.0, 404);
    assert_eq!(error_code(&app, "/v1/videos/vid_ab", &w.acme).await.0, 404);
    let (_, list) = get_json(&app, "/v1/videos", &w.acme).await;
    let ids: Vec<&str> =
        list["videos"].as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["vid_ok"]);
}

#[tokio::test]
async fn streams_live_now_and_stats_follow_live_events_and_never_show_a_key() {
    let w = world().await;
    let mut p = w.projection().await;
    let created = |n: &str| LiveData::StreamCreated { name: n.into(), record: true, public: true };
    let started = |s: &str| LiveData::Started {
        session_id: s.into(),
        server: MediaServer::Mediamtx,
        connection_id: "c".into(),
        protocol: "rtmp".into(),
        remote_addr: None,
    };
    w.publish(&ev("acme", "st_1", created("one"))).await;
    w.publish(&ev("acme", "st_2", created("two"))).await;
    w.publish(&ev("acme", "st_1", LiveData::KeyRotated { generation: 2 })).await;
    w.publish(&ev("acme", "st_1", started("s1"))).await;
    w.publish(&ev("acme", "st_2", started("s2"))).await;
    w.publish(&ev(
        "acme",
        "st_2",
        LiveData::Ended { session_id: "s2".into(), duration_secs: 120.0, reason: "bye".into() },
    ))
    .await;
    w.publish(&ev(
        "acme",
        "st_2",
        LiveData::RecordingReady {
            session_id: "s2".into(),
            video_id: agg("vid_rec"),
            source_key: "k".into(),
        },
    ))
    .await;
    w.publish(&ev("acme", "vid_x", view("v"))).await;
    drain(&mut p.vid).await;
    drain(&mut p.views).await;
    let app = serve(&p).await;

    let (_, live) = get_json(&app, "/v1/live", &w.acme).await;
    let live = live["live"].as_array().unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(
        (live[0]["stream_id"].as_str(), live[0]["session_id"].as_str()),
        (Some("st_1"), Some("s1"))
    );
    let (_, st2) = get_json(&app, "/v1/streams/st_2", &w.acme).await;
    assert_eq!(st2["live"], false);
    assert_eq!(st2["sessions"][0]["duration_secs"], 120.0);
    assert_eq!(st2["sessions"][0]["recording_video_id"], "vid_rec");
    let (_, list) = get_json(&app, "/v1/streams", &w.acme).await;
    let text = list.to_string();
    assert!(!text.contains("key\":\"") && !text.contains("stream_key"), "{text}");
    assert_eq!(list["streams"][0]["key_generation"], 2);
    let (_, stats) = get_json(&app, "/v1/stats", &w.acme).await;
    assert_eq!(
        (stats["live_now"].as_u64(), stats["views_today"].as_u64(), stats["streams"].as_u64()),
        (Some(1), Some(1), Some(2))
    );
}

#[tokio::test]
async fn billing_usage_counts_repeated_usage_once_and_prices_it_with_the_table() {
    let w = world().await;
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("prices.json");
    std::fs::write(&table, r#"{"currency":"EUR","transcode_cpu_second":0.5,"upload":2.0,"live_minute":1.0,"egress_gib":1024.0}"#).unwrap();
    let settings =
        ProjectionSettings { price_table: Some(table), ..ProjectionSettings::for_test() };
    let mut p = w.projection_with(settings).await;
    let at = time::macros::datetime!(2026-11-05 10:00 UTC);
    w.publish(&ev_at("acme", "vid_b", at, completed(1000))).await;
    w.publish(&ev_at("acme", "vid_b", at, completed(1000))).await;
    w.publish(&ev_at("acme", "vid_b", at, transcoded(10.0))).await;
    w.publish(&ev_at(
        "acme",
        "vid_b",
        at,
        TranscodeData::Failed { reason: "x".into(), permanent: false, attempt: 1 },
    ))
    .await;
    w.publish(&ev_at("acme", "vid_b", at, transcoded(10.0))).await;
    w.publish(&ev_at(
        "acme",
        "st_b",
        at,
        LiveData::Ended { session_id: "s".into(), duration_secs: 90.0, reason: "x".into() },
    ))
    .await;
    let egress =
        ViewData::EgressMetered { period_start: at, period_secs: 60, bytes: 1 << 20, requests: 4 };
    w.publish(&ev_at("acme", "pb_1", at, egress.clone())).await;
    w.publish(&ev_at("acme", "pb_1", at, egress)).await;
    drain(&mut p.vid).await;
    drain(&mut p.views).await;
    let app = serve(&p).await;
    let (status, u) = get_json(&app, "/v1/billing/usage?month=2026-11", &w.acme).await;
    assert_eq!(status, 200, "{u}");
    let m = &u["meters"];
    assert_eq!(m["uploads"], 1);
    assert_eq!(m["storage_bytes"], 1530);
    assert_eq!(m["transcode_cpu_seconds"]["total"], 10.0);
    assert_eq!(m["egress_bytes"], 1 << 20);
    assert_eq!(m["live_minutes"], 1.5);
    assert_eq!(u["amounts"]["currency"], "EUR");
    assert_eq!(u["amounts"]["total"], 5.0 + 2.0 + 1.5 + 1.0);
    let (_, other) = get_json(&app, "/v1/billing/usage?month=2026-11", &w.globex).await;
    assert_eq!(other["meters"]["uploads"], 0);
}

#[tokio::test]
async fn the_digest_endpoint_answers_a_tenant_its_own_digest_and_the_admin_token_everything() {
    let w = world().await;
    let settings = ProjectionSettings {
        admin_token: Some("op-secret".into()),
        ..ProjectionSettings::for_test()
    };
    let mut p = w.projection_with(settings).await;
    for e in ready_story("acme", "vid_a") {
        w.publish(&e).await;
    }
    drain(&mut p.vid).await;
    let app = serve(&p).await;
    let (_, acme) = get_json(&app, "/v1/admin/projection/digest", &w.acme).await;
    let (_, globex) = get_json(&app, "/v1/admin/projection/digest", &w.globex).await;
    let (_, all) = get_json(&app, "/v1/admin/projection/digest", "op-secret").await;
    assert_eq!((acme["scope"].as_str(), acme["tenant"].as_str()), (Some("tenant"), Some("acme")));
    assert_eq!(all["scope"], "all");
    assert_eq!(
        all["digest"].as_str().unwrap(),
        framelog_projection::digest(&w.platform.db).unwrap()
    );
    assert_eq!(all["applied"]["VID"], 8);
    assert_ne!(acme["digest"], globex["digest"]);
    assert_eq!(app.get("/v1/admin/projection/digest", Some("wrong")).await.status(), 401);
}
