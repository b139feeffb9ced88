//! The projection killed with SIGKILL mid-stream and restarted ends with the same digest as a
//! full rebuild from the log (the real binary, a real nats-server, real kill -9).

mod common;

use std::time::{Duration, Instant};

use common::*;
use framelog_events::{AggregateId, Event, Kind, TenantId, UploadData, UploadProtocol, ViewData};
use framelog_tests::{NatsServer, platform};

const ADMIN: &str = "admin-token-for-the-test";

fn events_for(i: usize) -> Vec<Event> {
    let tenant = TenantId::new(if i.is_multiple_of(3) { "globex" } else { "acme" }).unwrap();
    let video = AggregateId::new(format!("vid_{i:05}")).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let mk = |kind: Kind, phase: &str, data: framelog_events::EventData| {
        Event::new(
            Event::deterministic_id(&tenant, &video, kind, phase, ""),
            now,
            "framelog/test",
            tenant.clone(),
            video.clone(),
            data,
        )
    };
    vec![
        mk(
            Kind::Upload,
            "initiated",
            UploadData::Initiated {
                upload_id: format!("up_{i}"),
                filename: format!("clip {i}.mp4"),
                size: 1000 + i as u64,
                content_type: None,
                protocol: UploadProtocol::Rest,
                title: None,
                external_id: None,
                metadata: Default::default(),
            }
            .into(),
        ),
        mk(
            Kind::View,
            "counted",
            ViewData::Counted { viewer: format!("v{i}"), window: 1, live: false }.into(),
        ),
    ]
}

async fn admin_digest(base: &str) -> Option<serde_json::Value> {
    let res = reqwest::Client::new()
        .get(format!("{base}/v1/admin/projection/digest"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .ok()?;
    res.status().is_success().then_some(())?;
    res.json().await.ok()
}

#[tokio::test]
async fn a_projection_killed_mid_stream_and_restarted_matches_a_full_rebuild() {
    let nats = NatsServer::start();
    let (p, _dir) = platform(&nats).await;
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap().to_owned();
    let args = ["--only", "projection", "--projection-admin-token", ADMIN, "--data-dir", &data_dir];
    let total = 3000;

    // Half the events before the projection starts, the rest while it runs.
    for i in 0..total / 2 {
        for e in events_for(i) {
            p.events.publish(&e).await.unwrap();
        }
    }
    let mut served = serve_in(&nats.url(), &args);
    let publisher = {
        let events = p.events.clone();
        tokio::spawn(async move {
            for i in total / 2..total {
                for e in events_for(i) {
                    events.publish(&e).await.unwrap();
                }
            }
        })
    };
    // Kill -9 as soon as it has applied something but not everything.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "the projection applied nothing");
        if let Some(d) = admin_digest(&served.base).await
            && d["applied"]["VID"].as_u64().unwrap_or(0) > 0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    served.child.kill().unwrap(); // SIGKILL
    served.child.wait().unwrap();
    publisher.await.unwrap();

    // Restart on the same data dir; wait until it caught up with both streams.
    let served = serve_in(&nats.url(), &args);
    let js = &p.js;
    let last = |name: &'static str| async move {
        js.get_stream(name).await.unwrap().info().await.unwrap().state.last_sequence
    };
    let (vid_last, view_last) = (last("VID").await, last("VID_VIEW").await);
    let deadline = Instant::now() + Duration::from_secs(60);
    let incremental = loop {
        assert!(Instant::now() < deadline, "the restarted projection never caught up");
        if let Some(d) = admin_digest(&served.base).await
            && d["applied"]["VID"] == vid_last
            && d["applied"]["VID_VIEW"] == view_last
        {
            break d["digest"].as_str().unwrap().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    drop(served);

    // A full rebuild from sequence 1 into a fresh store.
    let fresh = tempfile::tempdir().unwrap();
    let out = framelog()
        .args(["projection", "rebuild", "--nats-url", &nats.url(), "--data-dir"])
        .arg(fresh.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rebuilt = String::from_utf8(out.stdout).unwrap().lines().last().unwrap().to_owned();
    assert_eq!(incremental, rebuilt, "incremental after kill -9 == full rebuild");
    // And the local digest command agrees with the live endpoint.
    let out = framelog().args(["projection", "digest", "--data-dir", &data_dir]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), incremental);
}
