//! Exactly-once application: a rebuilt store equals an incrementally built one, and a
//! projection stopped anywhere (before a commit, between commit and ack, or aborted at random)
//! and restarted ends with the digest of a full rebuild. View counters are in the mix: they are
//! the views that would show an event applied twice (view counts and QoE tallies).

mod common;

use std::time::Duration;

use common::*;
use framelog_core::nats::{STREAM_VID, STREAM_VIEW};
use framelog_events::data::LiveData;
use framelog_events::data::MediaServer;
use framelog_projection::{ProjectionSettings, Projector, Store, digest, rebuild};

/// Publishes a mixed history for two tenants: `videos` ready stories, views, live sessions.
async fn history(w: &World, videos: usize, tag: &str) {
    for i in 0..videos {
        let t = if i % 3 == 0 { "globex" } else { "acme" };
        let vid = format!("vid_{tag}{i}");
        for e in ready_story(t, &vid) {
            w.publish(&e).await;
        }
        for v in 0..(i % 4) {
            w.publish(&ev(t, &vid, view(&format!("viewer{v}")))).await;
            // A QoE summary per view: the `proj_qoe` tallies are counters too.
            let sample = framelog_events::qoe::QoeSample {
                viewer: format!("viewer{v}"),
                watch_ms: 10_000,
                rebuffer_ms: 100 * v as u64,
                startup_ms: Some(400),
                ..Default::default()
            };
            w.publish(&ev(t, &vid, framelog_events::ViewData::Qoe(sample))).await;
        }
        if i % 5 == 0 {
            let st = format!("st_{tag}{i}");
            w.publish(&ev(
                t,
                &st,
                LiveData::StreamCreated { name: st.clone(), record: true, public: false },
            ))
            .await;
            w.publish(&ev(
                t,
                &st,
                LiveData::Started {
                    session_id: "s".into(),
                    server: MediaServer::NginxRtmp,
                    connection_id: "c".into(),
                    protocol: "rtmp".into(),
                    remote_addr: None,
                },
            ))
            .await;
            w.publish(&ev(
                t,
                &st,
                LiveData::Ended { session_id: "s".into(), duration_secs: 30.0, reason: "x".into() },
            ))
            .await;
        }
    }
}

async fn rebuilt_digest(w: &World) -> String {
    let (fresh, _dir) = w.other_platform().await;
    let report = rebuild(&w.platform, &fresh.db).await.unwrap();
    assert_eq!(report.digest, digest(&fresh.db).unwrap());
    report.digest
}

async fn small_batches(w: &World, stream: &'static str) -> Projector {
    Projector::bind(&w.platform.js, Store::open(&w.platform.db).unwrap(), stream, 7).await.unwrap()
}

#[tokio::test]
async fn a_rebuilt_store_has_the_same_digest_as_the_incrementally_built_one() {
    let w = world().await;
    let mut p = w.projection().await;
    history(&w, 12, "a").await;
    drain(&mut p.vid).await;
    drain(&mut p.views).await;
    history(&w, 6, "b").await;
    drain(&mut p.vid).await;
    drain(&mut p.views).await;

    let (fresh, _dir) = w.other_platform().await;
    let report = rebuild(&w.platform, &fresh.db).await.unwrap();
    assert_eq!(report.digest, digest(&w.platform.db).unwrap());
    assert_eq!(report.vid_seq, p.vid.applied());
    assert_eq!(report.view_seq, p.views.applied());
    assert!(report.view_events > 0 && report.vid_events > 100, "{report:?}");
    let empty = w.other_platform().await;
    assert_ne!(report.digest, digest(&empty.0.db).unwrap(), "the digest sees content");
}

#[tokio::test]
async fn a_crash_between_commit_and_ack_neither_repeats_nor_skips_an_event() {
    let w = world().await;
    history(&w, 20, "c").await; // 30 views: more than two batches of 7
    for stream in [STREAM_VID, STREAM_VIEW] {
        let mut p = small_batches(&w, stream).await;
        p.process_next(Duration::from_secs(2)).await.unwrap();
        let batch = p.fetch(Duration::from_secs(2)).await.unwrap().expect("a batch");
        let committed = p.commit(&batch).unwrap();
        assert!(committed > 0);
        Store::open(&w.platform.db).unwrap().flush().await.unwrap();
        let at_crash = p.applied();
        drop(batch); // never acked
        drop(p);

        let mut again = small_batches(&w, stream).await;
        assert_eq!(again.applied(), at_crash, "the stored sequence is the cursor");
        let next = again.fetch(Duration::from_secs(2)).await.unwrap().expect("the rest");
        assert_eq!(next.events[0].0, at_crash + 1, "the restart neither repeats nor skips");
        again.commit(&next).unwrap();
        again.ack(next).await.unwrap();
        drain(&mut again).await;
    }
    assert_eq!(digest(&w.platform.db).unwrap(), rebuilt_digest(&w).await);
}

#[tokio::test]
async fn a_crash_before_the_commit_replays_the_fetched_batch() {
    let w = world().await;
    history(&w, 10, "d").await;
    for stream in [STREAM_VID, STREAM_VIEW] {
        let mut p = small_batches(&w, stream).await;
        p.process_next(Duration::from_secs(2)).await.unwrap();
        let before = p.applied();
        let batch = p.fetch(Duration::from_secs(2)).await.unwrap().expect("a batch");
        assert!(batch.last_seq > before);
        drop(batch);
        drop(p);
        let mut again = small_batches(&w, stream).await;
        assert_eq!(again.applied(), before);
        drain(&mut again).await;
    }
    assert_eq!(digest(&w.platform.db).unwrap(), rebuilt_digest(&w).await);
}

#[tokio::test]
async fn a_projection_aborted_at_random_points_while_events_flow_ends_with_the_rebuild_digest() {
    let w = world().await;
    let settings = ProjectionSettings { batch: 5, ..ProjectionSettings::for_test() };
    let publisher = {
        let platform = w.platform.clone();
        tokio::spawn(async move {
            for i in 0..60 {
                let t = if i % 2 == 0 { "acme" } else { "globex" };
                let vid = format!("vid_r{i}");
                for e in ready_story(t, &vid)
                    .into_iter()
                    .chain([ev(t, &vid, view("x")), ev(t, &vid, view("y"))])
                {
                    platform.events.publish(&e).await.unwrap();
                }
            }
        })
    };
    for round in 0..6u64 {
        let p = w.projection_with(settings.clone()).await;
        let token = tokio_util::sync::CancellationToken::new();
        let a = tokio::spawn(p.vid.run(token.clone()));
        let b = tokio::spawn(p.views.run(token.clone()));
        tokio::time::sleep(Duration::from_millis(40 + 37 * round)).await;
        a.abort();
        b.abort();
        let _ = (a.await, b.await);
    }
    publisher.await.unwrap();
    let mut p = w.projection_with(settings).await;
    drain(&mut p.vid).await;
    drain(&mut p.views).await;
    assert_eq!(digest(&w.platform.db).unwrap(), rebuilt_digest(&w).await);
}
