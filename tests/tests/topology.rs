//! The topology on a real 3-node cluster: a start creates what is missing and never shrinks
//! or reverts what exists; only `framelog topology apply` changes it, and says so.

use std::time::Duration;

use framelog_core::nats::{
    KV_API_KEYS, STREAM_PROGRESS, STREAM_VID, STREAM_VIEW, declared_streams, kv_configs,
};
use framelog_core::{CommonSettings, Platform, topology};
use framelog_tests::cluster::NatsCluster;

async fn replicas(js: &async_nats::jetstream::Context, stream: &str) -> usize {
    js.get_stream(stream).await.unwrap().info().await.unwrap().config.num_replicas
}

async fn max_bytes(js: &async_nats::jetstream::Context, stream: &str) -> i64 {
    js.get_stream(stream).await.unwrap().info().await.unwrap().config.max_bytes
}

async fn start(
    cluster: &NatsCluster,
    replicas: usize,
    view_max_bytes: Option<u64>,
) -> (Platform, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = CommonSettings::for_test(&cluster.url_list(), dir.path().to_path_buf());
    settings.replicas = replicas;
    settings.view_stream_max_bytes = view_max_bytes;
    let p = Platform::start(settings, "topology-test", Duration::from_secs(30)).await.unwrap();
    (p, dir)
}

async fn apply(
    js: &async_nats::jetstream::Context,
    replicas: usize,
    dry_run: bool,
) -> Vec<topology::Change> {
    topology::apply(js, declared_streams(replicas, None), kv_configs(replicas), true, dry_run)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_a_process_started_with_one_replica_never_shrinks_the_cluster_and_apply_says_what_it_changes()
 {
    let cluster = NatsCluster::start().await;
    let kv_stream = format!("KV_{KV_API_KEYS}");

    // Created at R3 when missing (with a VID_VIEW limit the test cluster's disks can hold
    // three times over).
    let (p3, _d3) = start(&cluster, 3, Some(64 << 20)).await;
    let js = p3.js.clone();
    for s in [STREAM_VID, STREAM_VIEW, STREAM_PROGRESS, kv_stream.as_str()] {
        assert_eq!(replicas(&js, s).await, 3, "{s} created at R3");
    }
    for i in 0..20 {
        js.publish(format!("vid.acme.upload.aborted.v{i}"), "x".into())
            .await
            .unwrap()
            .await
            .unwrap();
    }

    // An operator raises VID_VIEW's size limit.
    let mut view = js.get_stream(STREAM_VIEW).await.unwrap().info().await.unwrap().config.clone();
    let raised = 128 << 20;
    assert_eq!(view.max_bytes, 64 << 20);
    view.max_bytes = raised;
    js.update_stream(&view).await.unwrap();

    // A process started without --replicas 3 (and without a size limit) changes nothing.
    let (_p1, _d1) = start(&cluster, 1, None).await;
    for s in [STREAM_VID, STREAM_VIEW, STREAM_PROGRESS, kv_stream.as_str()] {
        assert_eq!(replicas(&js, s).await, 3, "{s} still R3 after an R1 start");
    }
    assert_eq!(max_bytes(&js, STREAM_VIEW).await, raised, "the operator's limit survives");
    // And a declaration that matches changes nothing either.
    assert_eq!(apply(&js, 3, true).await, vec![], "nothing to change at R3");

    // A dry run says what an R1 apply would change, and changes nothing.
    let would = apply(&js, 1, true).await;
    assert!(
        would.iter().any(|c| c.to_string() == "VID num_replicas: 3 -> 1"),
        "dry run: {would:?}"
    );
    assert_eq!(replicas(&js, STREAM_VID).await, 3, "a dry run changes nothing");

    // An explicit apply is the one way down...
    apply(&js, 1, false).await;
    assert_eq!(replicas(&js, STREAM_VID).await, 1);
    // ... and `topology apply --replicas 3` raises an R1 stream and says so.
    let changed = apply(&js, 3, false).await;
    let lines = framelog::topology::report(&changed, false);
    for s in [STREAM_VID, STREAM_VIEW, STREAM_PROGRESS, kv_stream.as_str()] {
        let line = format!("changed {s} num_replicas: 1 -> 3");
        assert!(lines.contains(&line), "{line} missing from {lines:?}");
        assert_eq!(replicas(&js, s).await, 3, "{s} back at R3");
    }
    assert_eq!(max_bytes(&js, STREAM_VIEW).await, raised, "apply keeps server size limits");
    // Scaling lost no event.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let info = js.get_stream(STREAM_VID).await.unwrap().info().await.unwrap().clone();
        if info.state.messages == 20 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{} events in VID", info.state.messages);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_start_adds_a_missing_subject_and_keeps_everything_else_of_an_existing_stream() {
    let nats = framelog_tests::NatsServer::start();
    let client = nats.client().await;
    let js = async_nats::jetstream::new(client);
    // An older VID without the live subject, with an operator's age limit and own subject.
    let mut old = declared_streams(1, None).into_iter().find(|c| c.name == STREAM_VID).unwrap();
    old.subjects.retain(|s| s != "vid.*.live.>");
    old.subjects.push("ops.audit.>".into());
    old.max_age = Duration::from_secs(3650 * 24 * 3600);
    js.create_stream(old.clone()).await.unwrap();

    let found =
        topology::ensure(&js, declared_streams(1, None), kv_configs(1), true).await.unwrap();
    let cfg = js.get_stream(STREAM_VID).await.unwrap().info().await.unwrap().config.clone();
    assert!(cfg.subjects.contains(&"vid.*.live.>".to_string()), "{:?}", cfg.subjects);
    assert!(cfg.subjects.contains(&"ops.audit.>".to_string()), "the operator's subject stays");
    assert_eq!(cfg.max_age, old.max_age, "the operator's age limit stays");
    assert!(found.iter().any(|c| c.stream == STREAM_VID && c.field == "max_age" && !c.additive));
    // A second start finds only the kept difference.
    let again =
        topology::ensure(&js, declared_streams(1, None), kv_configs(1), true).await.unwrap();
    assert!(again.iter().all(|c| !c.additive), "{again:?}");
}
