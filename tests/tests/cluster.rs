//! A 3-node JetStream cluster with R3 streams: killing the node that leads the domain log
//! under load loses no event, and the services keep serving.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use framelog_core::media::{FsMediaStore, SharedMediaStore};
use framelog_core::nats::STREAM_VID;
use framelog_core::{CommonSettings, Platform};
use framelog_events::{AggregateId, Event, TenantId, UploadData};
use framelog_tests::TestApp;
use framelog_tests::cluster::NatsCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_killing_the_log_leader_under_load_loses_no_event_and_services_keep_serving() {
    let mut cluster = NatsCluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = CommonSettings::for_test(&cluster.url_list(), dir.path().to_path_buf());
    settings.replicas = 3;
    let p = Platform::start(settings, "cluster-test", Duration::from_secs(30)).await.unwrap();
    let mut vid = p.js.get_stream(STREAM_VID).await.unwrap();
    let info = vid.info().await.unwrap();
    assert_eq!(info.config.num_replicas, 3, "R3 on a cluster");
    let leader = info.cluster.as_ref().and_then(|c| c.leader.clone()).expect("a stream leader");
    let leader_idx: usize = leader.trim_start_matches('n').parse().unwrap();

    let key = p.tenants.create(&TenantId::new("acme").unwrap()).await.unwrap();
    let media: SharedMediaStore = Arc::new(FsMediaStore::new(dir.path().join("media")).unwrap());
    let ingest =
        framelog_ingest::IngestState::new(p.clone(), media, Default::default()).await.unwrap();
    let app = TestApp::serve(framelog::serve::app(&p).merge(framelog_ingest::router(ingest))).await;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let outbox = tokio::spawn(p.events.clone().run_outbox(shutdown.clone()));

    // Load: events published one after the other while the leader dies.
    let total = 300;
    let publisher = {
        let events = p.events.clone();
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..total {
                let e = Event::new(
                    uuid::Uuid::now_v7(),
                    time::OffsetDateTime::now_utc(),
                    "framelog/test",
                    TenantId::new("acme").unwrap(),
                    AggregateId::new(format!("vid_{i}")).unwrap(),
                    UploadData::Aborted { upload_id: format!("up_{i}") },
                );
                // Stored or durably queued: either way acknowledged to the caller.
                events.publish(&e).await.expect("a publish is never refused outright");
                ids.push(e.id);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            ids
        })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    cluster.kill(leader_idx);

    // Services keep serving while the cluster elects a new leader.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let res = app
            .http
            .post(app.url("/v1/videos/upload"))
            .bearer_auth(&key)
            .json(&serde_json::json!({"filename": "during.mp4", "size": 100}))
            .send()
            .await
            .unwrap();
        if res.status() == 201 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no upload accepted after the kill: {}",
            res.status()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let ids = publisher.await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while p.events.outbox_len() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "the outbox never drained");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.get("/readyz", None).await.status(), 200);
    shutdown.cancel();
    outbox.await.unwrap();

    // Every acknowledged event is in the log exactly once.
    let stream = p.js.get_stream(STREAM_VID).await.unwrap();
    let last = p.js.get_stream(STREAM_VID).await.unwrap().info().await.unwrap().state.last_sequence;
    let mut seen = Vec::new();
    for seq in 1..=last {
        if let Ok(m) = stream.get_raw_message(seq).await
            && let Ok(e) = Event::from_json(&m.payload)
            && matches!(e.data, framelog_events::EventData::Upload(UploadData::Aborted { .. }))
        {
            seen.push(e.id);
        }
    }
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no duplicates");
    let want: HashSet<_> = ids.iter().collect();
    assert_eq!(unique, want, "every published event is in the log");
}
