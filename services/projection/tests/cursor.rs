//! The stored sequence is the cursor, so it must fit the stream it resumes on: a purged or
//! recreated stream is refused at bind (real server: purge, delete and recreate), and two
//! replicas started from a copied data dir share no consumer.

mod common;

use std::sync::Arc;

use common::*;
use framelog_core::CommonSettings;
use framelog_core::nats::{STREAM_VID, ensure_topology};
use framelog_core::service::ServiceContext;
use framelog_projection::{ProjectionError, ProjectionSettings, Store, build, digest, rebuild};
use tokio_util::sync::CancellationToken;

async fn publish_videos(w: &World, tag: &str, n: usize) -> u64 {
    let mut last = 0;
    for i in 0..n {
        last = w.publish(&ev("acme", &format!("vid_{tag}{i}"), initiated("x"))).await;
    }
    last
}

async fn bind_err(w: &World) -> String {
    match build(&w.ctx, ProjectionSettings::for_test()).await {
        Err(e @ ProjectionError::Cursor(_)) => e.to_string(),
        Err(e) => panic!("expected a cursor refusal, got {e}"),
        Ok(_) => panic!("the projection resumed on a stream that no longer fits its cursor"),
    }
}

#[tokio::test]
async fn fault_a_purged_stream_is_refused_at_bind_naming_both_sequences_and_the_remedy() {
    let w = world().await;
    let mut p = w.projection().await;
    let applied = publish_videos(&w, "a", 5).await;
    drain(&mut p.vid).await;
    drop(p);
    publish_videos(&w, "b", 5).await; // never applied
    w.platform.js.get_stream(STREAM_VID).await.unwrap().purge().await.unwrap();
    let first = publish_videos(&w, "c", 1).await; // the stream now starts here

    let err = bind_err(&w).await;
    assert!(
        err.contains(&format!("sequence {applied}")) && err.contains(&format!("starts at {first}")),
        "{err}"
    );
    assert!(err.contains("framelog projection rebuild"), "{err}");

    // The remedy works: after a rebuild the projection binds and follows the stream.
    rebuild(&w.platform, &w.platform.db).await.unwrap();
    let mut p = w.projection().await;
    let next = publish_videos(&w, "d", 1).await;
    drain(&mut p.vid).await;
    assert_eq!(p.vid.applied(), next);
}

#[tokio::test]
async fn fault_a_deleted_and_recreated_stream_is_refused_at_bind() {
    let w = world().await;
    let mut p = w.projection().await;
    let applied = publish_videos(&w, "a", 5).await;
    drain(&mut p.vid).await;
    drop(p);
    let js = &w.platform.js;
    js.delete_stream(STREAM_VID).await.unwrap();
    ensure_topology(js, 1).await.unwrap();
    let last = publish_videos(&w, "b", 2).await;

    let err = bind_err(&w).await;
    assert!(err.contains("recreated") && err.contains(&format!("sequence {applied}")), "{err}");
    assert!(err.contains(&format!("last sequence is {last}")), "{err}");

    // Even once the new stream is longer than the stored sequence, its creation time tells.
    publish_videos(&w, "c", 6).await;
    let err = bind_err(&w).await;
    assert!(err.contains("recreated") && err.contains("projection rebuild"), "{err}");
}

#[tokio::test]
async fn fault_two_replicas_from_a_copied_data_dir_share_no_consumer_and_reach_the_same_digest() {
    let w = world().await;
    let mut a = w.projection().await;
    publish_videos(&w, "a", 20).await;
    for i in 0..5 {
        w.publish(&ev("acme", "vid_a0", view(&format!("v{i}")))).await;
    }
    drain(&mut a.vid).await;
    drain(&mut a.views).await;
    Store::open(&w.platform.db).unwrap().flush().await.unwrap();

    // Copy the data dir of the running replica, as an operator cloning a machine would.
    let copy = tempfile::tempdir().unwrap();
    copy_dir(&w.platform.settings.data_dir, copy.path());
    let settings = CommonSettings::for_test(&w.nats.url(), copy.path().to_path_buf());
    let platform =
        framelog_core::Platform::start(settings, "copy", std::time::Duration::from_secs(10))
            .await
            .unwrap();
    let media =
        Arc::new(framelog_core::media::FsMediaStore::new(copy.path().join("media")).unwrap());
    let ctx =
        ServiceContext { platform: platform.clone(), media, shutdown: CancellationToken::new() };
    let mut b = build(&ctx, ProjectionSettings::for_test()).await.unwrap();
    let mut vid = w.platform.js.get_stream(STREAM_VID).await.unwrap();
    let consumers = vid.info().await.unwrap().state.consumer_count;
    assert_eq!(consumers, 2, "each replica has its own consumer");

    // Both go on, neither disturbed by the other.
    let last = publish_videos(&w, "b", 20).await;
    for i in 0..5 {
        w.publish(&ev("acme", "vid_b0", view(&format!("v{i}")))).await;
    }
    for p in [&mut a, &mut b] {
        drain(&mut p.vid).await;
        drain(&mut p.views).await;
        assert_eq!(p.vid.applied(), last);
    }
    let (da, db) = (digest(&w.platform.db).unwrap(), digest(&platform.db).unwrap());
    assert_eq!(da, db, "both replicas reach the same digest");
    let (fresh, _dir) = w.other_platform().await;
    assert_eq!(rebuild(&w.platform, &fresh.db).await.unwrap().digest, da);
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
