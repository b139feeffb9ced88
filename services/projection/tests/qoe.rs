//! `GET /v1/videos/{id}/qoe` and `GET /v1/qoe` against a real nats-server: QoE summaries
//! published, folded per video and day (a repeated id once), answered; another tenant's video
//! is 404; bad ranges 400.

mod common;

use common::*;
use framelog_events::data::ViewData;
use framelog_events::qoe::QoeSample;
use time::OffsetDateTime;
use time::macros::datetime;

fn qoe(viewer: &str, seq: u32, s: QoeSample) -> ViewData {
    ViewData::Qoe(QoeSample { viewer: viewer.into(), window: 0, seq, ..s })
}

#[tokio::test]
async fn qoe_summaries_are_folded_per_video_and_day_and_another_tenant_gets_404() {
    let w = world().await;
    let mut p = w.projection().await;
    for e in ready_story("acme", "vid_a") {
        w.publish(&e).await;
    }
    let day1 = datetime!(2026-11-20 10:00 UTC);
    let day2 = datetime!(2026-11-21 23:59:59 UTC);
    let first = ev_at(
        "acme",
        "vid_a",
        day1,
        qoe("a", 0, QoeSample { watch_ms: 20_000, startup_ms: Some(700), ..Default::default() }),
    );
    w.publish(&first).await;
    // The same summary again (a retry): NATS drops it inside its duplicate window.
    let mut again = first.clone();
    again.time = day1 + time::Duration::seconds(1);
    w.publish(&again).await;
    let stalled = QoeSample {
        watch_ms: 30_000,
        rebuffer_count: 2,
        rebuffer_ms: 3_000,
        switches: 1,
        errors: 1,
        error_code: Some("bufferStalledError".into()),
        ..Default::default()
    };
    w.publish(&ev_at("acme", "vid_a", day2, qoe("a", 1, stalled))).await;
    // A forged sample published straight to NATS is clamped by the fold too.
    let forged = QoeSample {
        watch_ms: u64::MAX,
        rebuffer_ms: u64::MAX,
        startup_ms: Some(u64::MAX),
        ..Default::default()
    };
    w.publish(&ev_at("acme", "vid_a", day2, qoe("x", 0, forged))).await;
    drain(&mut p.vid).await;
    assert_eq!(drain(&mut p.views).await, 3, "the retry was dropped by NATS");
    let app = serve(&p).await;

    let (status, v) = get_json(&app, "/v1/videos/vid_a/qoe", &w.acme).await;
    assert_eq!(status, 200, "{v}");
    let total = &v["total"];
    assert_eq!(total["summaries"], 3, "the repeated id counted once: {v}");
    assert_eq!(total["views"], 2);
    assert_eq!(total["rebuffer_count"], 3, "2 stalls + 1 given to the forged stall time");
    assert!(total["watch_secs"].as_f64().unwrap() <= 50.0 + 3_615.0, "{total}");
    assert!(total["rebuffer_ratio"].as_f64().unwrap() <= 1.0, "{total}");
    assert_eq!(total["startup_p95_ms"], 60_000);
    assert_eq!(total["error_codes"]["bufferStalledError"], 1);
    let days = v["days"].as_array().unwrap();
    assert_eq!(days.len(), 2, "{v}");
    assert_eq!(
        (days[0]["day"].as_str(), days[1]["day"].as_str()),
        (Some("2026-11-20"), Some("2026-11-21"))
    );
    assert_eq!(days[0]["watch_secs"], 20.0);
    assert_eq!(days[0]["rebuffer_ratio"], 0.0);
    assert_eq!(days[0]["startup_p50_ms"], 750);
    assert_eq!(days[0]["score"], 100.0);

    // Another tenant, a missing video, a malformed id: the same 404.
    for (path, key) in [
        ("/v1/videos/vid_a/qoe", &w.globex),
        ("/v1/videos/vid_nope/qoe", &w.acme),
        ("/v1/videos/NOT%20AN%20ID/qoe", &w.acme),
    ] {
        let (status, body) = get_json(&app, path, key).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (404, Some("not_found")),
            "{path}: {body}"
        );
    }

    // The tenant's days: one day, the range, and bad ranges.
    let (status, t) = get_json(&app, "/v1/qoe?from=2026-11-21&to=2026-11-21", &w.acme).await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["days"].as_array().unwrap().len(), 1);
    assert_eq!(t["total"]["summaries"], 2);
    let (_, t) = get_json(&app, "/v1/qoe?from=2026-11-01&to=2026-11-30", &w.acme).await;
    assert_eq!(t["total"]["summaries"], 3);
    assert_eq!(t["total"], v["total"], "the merged days equal the video's total");
    let (_, g) = get_json(&app, "/v1/qoe?from=2026-11-01&to=2026-11-30", &w.globex).await;
    assert_eq!(g["total"]["summaries"], 0, "another tenant sees none of it");
    for bad in [
        "/v1/qoe?from=2026-11-30&to=2026-11-01",
        "/v1/qoe?from=2020-01-01&to=2026-01-01",
        "/v1/qoe?from=yesterday",
    ] {
        let (status, body) = get_json(&app, bad, &w.acme).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(
            ["invalid_range", "invalid_day"].contains(&body["error"]["code"].as_str().unwrap()),
            "{body}"
        );
    }
    let (status, today) = get_json(&app, "/v1/qoe", &w.acme).await;
    assert_eq!(status, 200);
    let now = framelog_events::fold::views::day(OffsetDateTime::now_utc());
    assert_eq!(today["to"], now);
}
