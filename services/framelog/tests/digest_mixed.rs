//! A mixed workload (uploads, live sessions, views, presence, egress, stored duplicates and
//! events from a newer version) with crashes injected: one projection replica killed with
//! SIGKILL twice mid-stream and restarted, a second replica running throughout, and a fresh
//! rebuild from the log. All three end with the same digest (the real binary, a real
//! nats-server, real kill -9).

mod common;

use std::time::{Duration, Instant};

use common::*;
use framelog_events::{
    AggregateId, Event, EventData, Kind, LiveData, MediaServer, TenantId, UploadData,
    UploadProtocol, ViewData,
};
use framelog_tests::{NatsServer, platform};

const ADMIN: &str = "admin-token-for-the-mixed-test";

fn events_for(i: usize) -> Vec<Event> {
    let tenant = TenantId::new(["acme", "globex", "initech"][i % 3]).unwrap();
    let video = AggregateId::new(format!("vid_{i:05}")).unwrap();
    let stream = AggregateId::new(format!("str_{:03}", i % 40)).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let mk = |subject: &AggregateId, kind: Kind, phase: &str, salt: &str, data: EventData| {
        Event::new(
            Event::deterministic_id(&tenant, subject, kind, phase, salt),
            now,
            "framelog/test",
            tenant.clone(),
            subject.clone(),
            data,
        )
    };
    let session = format!("ses_{i}");
    let mut out = vec![
        mk(
            &video,
            Kind::Upload,
            "initiated",
            "",
            UploadData::Initiated {
                upload_id: format!("up_{i}"),
                filename: format!("clip {i}.mp4"),
                size: 1000 + i as u64,
                content_type: None,
                protocol: UploadProtocol::Tus,
                title: None,
                external_id: None,
                metadata: Default::default(),
            }
            .into(),
        ),
        mk(
            &video,
            Kind::View,
            "counted",
            "",
            ViewData::Counted { viewer: format!("v{}", i % 17), window: i as i64, live: false }
                .into(),
        ),
        mk(
            &stream,
            Kind::View,
            "presence",
            &session,
            ViewData::Presence {
                viewer: format!("v{i}"),
                window: i as i64,
                session_id: Some(session.clone()),
            }
            .into(),
        ),
    ];
    if i.is_multiple_of(10) {
        out.push(mk(
            &stream,
            Kind::Live,
            "stream_created",
            "",
            LiveData::StreamCreated { name: format!("s{i}"), record: false, public: false }.into(),
        ));
        out.push(mk(
            &stream,
            Kind::Live,
            "started",
            &session,
            LiveData::Started {
                session_id: session.clone(),
                server: MediaServer::NginxRtmp,
                connection_id: format!("{i}"),
                protocol: "rtmp".into(),
                remote_addr: None,
            }
            .into(),
        ));
        out.push(mk(
            &stream,
            Kind::Live,
            "ended",
            &session,
            LiveData::Ended {
                session_id: session.clone(),
                duration_secs: 61.5,
                reason: "stop".into(),
            }
            .into(),
        ));
    }
    out
}

/// A raw JSON event of a phase no build knows yet (a newer writer's).
fn newer(i: usize) -> (String, Vec<u8>) {
    let id = uuid::Uuid::now_v7();
    let body = serde_json::json!({
        "specversion": "1.0", "id": id.to_string(), "source": "framelog/future",
        "type": "VID_UPLOAD", "subject": format!("vid_{i:05}"),
        "time": "2026-12-01T00:00:00Z", "datacontenttype": "application/json",
        "dataschema": "framelog:VID_UPLOAD/1", "tenant": "acme", "correlationid": id.to_string(),
        "data": {"phase": "hologram_ready", "hologram": true}
    });
    (format!("vid.acme.upload.hologram_ready.vid_{i:05}"), serde_json::to_vec(&body).unwrap())
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

/// Waits until the replica at `base` applied both streams up to their last sequences.
async fn caught_up(base: &str, vid: u64, view: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if Instant::now() > deadline {
            let ready = reqwest::get(format!("{base}/readyz")).await.unwrap().text().await;
            panic!(
                "the replica at {base} never caught up to {vid}/{view}: {:?} {ready:?}",
                admin_digest(base).await
            );
        }
        if let Some(d) = admin_digest(base).await
            && d["applied"]["VID"] == vid
            && d["applied"]["VID_VIEW"] == view
        {
            return d["digest"].as_str().unwrap().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn fault_a_mixed_workload_with_crashes_leaves_every_replica_and_a_rebuild_with_one_digest() {
    let nats = NatsServer::start();
    let (p, _dir) = platform(&nats).await;
    let (a_data, b_data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let args = |d: &tempfile::TempDir| {
        let dir = d.path().to_str().unwrap().to_owned();
        vec![
            "--only".to_owned(),
            "projection".into(),
            "--projection-admin-token".into(),
            ADMIN.into(),
            "--data-dir".into(),
            dir,
        ]
    };
    let (a_args, b_args) = (args(&a_data), args(&b_data));
    let a_args: Vec<&str> = a_args.iter().map(String::as_str).collect();
    let b_args: Vec<&str> = b_args.iter().map(String::as_str).collect();
    let total = 1500;

    let b = serve_in(&nats.url(), &b_args);
    let mut a = serve_in(&nats.url(), &a_args);
    let publisher = {
        let (events, js) = (p.events.clone(), p.js.clone());
        tokio::spawn(async move {
            for i in 0..total {
                for e in events_for(i) {
                    events.publish(&e).await.unwrap();
                }
                if i.is_multiple_of(50) {
                    // A stored duplicate: the same event id again, without the server's
                    // dedup (no Nats-Msg-Id), as a replay from another source could store it.
                    let dup = events_for(i).remove(1);
                    let subject = dup.nats_subject().to_string();
                    js.publish(subject, dup.to_json().into()).await.unwrap().await.unwrap();
                    let (subject, body) = newer(i);
                    js.publish(subject, body.into()).await.unwrap().await.unwrap();
                }
            }
        })
    };
    // Two crashes of replica A while the workload runs, each once it has applied something.
    for _ in 0..2 {
        let deadline = Instant::now() + Duration::from_secs(60);
        let before = loop {
            assert!(Instant::now() < deadline, "replica A applied nothing");
            if let Some(d) = admin_digest(&a.base).await
                && d["applied"]["VID"].as_u64().unwrap_or(0) > 0
            {
                break d["applied"]["VID"].as_u64().unwrap();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        a.child.kill().unwrap(); // SIGKILL
        a.child.wait().unwrap();
        assert!(before > 0);
        a = serve_in(&nats.url(), &a_args);
    }
    publisher.await.unwrap();

    let js = &p.js;
    let last = |name: &'static str| async move {
        js.get_stream(name).await.unwrap().info().await.unwrap().state.last_sequence
    };
    let (vid_last, view_last) = (last("VID").await, last("VID_VIEW").await);
    let digest_a = caught_up(&a.base, vid_last, view_last).await;
    let digest_b = caught_up(&b.base, vid_last, view_last).await;
    drop((a, b));

    let fresh = tempfile::tempdir().unwrap();
    let out = framelog()
        .args(["projection", "rebuild", "--nats-url", &nats.url(), "--data-dir"])
        .arg(fresh.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rebuilt = String::from_utf8(out.stdout).unwrap().lines().last().unwrap().to_owned();
    assert_eq!(digest_a, digest_b, "the replica killed twice == the replica never killed");
    assert_eq!(digest_a, rebuilt, "every replica == a fresh rebuild");
}
