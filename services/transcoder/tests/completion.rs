//! Completions that cannot be lost: a job's final events are in its completion marker, the
//! job is acked only once they are stored, and whoever gets the request again re-emits them
//! (stored once, even after the duplicate window).

mod common;

use std::time::Duration;

use common::{env, run_to_end};
use framelog_core::nats::STREAM_VID;
use framelog_core::service::ServiceContext;
use framelog_events::{AggregateId, Event, Kind, TenantId, UploadData};
use framelog_tests::media::VideoSpec;
use framelog_transcoder::consumer::DURABLE;
use framelog_transcoder::{Outcome, TranscoderSettings};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

async fn consumer_state(env: &common::Env) -> (usize, u64) {
    let stream = env.ctx.platform.js.get_stream(STREAM_VID).await.unwrap();
    let mut c: async_nats::jetstream::consumer::PullConsumer =
        stream.get_consumer(DURABLE).await.unwrap();
    let info = c.info().await.unwrap();
    (info.num_ack_pending, info.num_pending)
}

#[tokio::test]
async fn fault_a_completion_left_only_in_a_lost_workers_outbox_is_published_by_the_next_worker() {
    let env = env().await;
    let settings = TranscoderSettings {
        ack_wait_secs: 2,
        encoder: "libx264".into(),
        worker_name: Some("worker-a".into()),
        ..TranscoderSettings::for_test()
    };
    // Machine A: its own local store (and outbox) on the shared NATS and media store.
    let (platform_a, data_a) = framelog_tests::platform(&env.nats).await;
    let ctx_a = ServiceContext {
        platform: platform_a.clone(),
        media: env.ctx.media.clone(),
        shutdown: CancellationToken::new(),
    };
    let mut playable =
        env.ctx.platform.nats.subscribe("vid.acme.transcode.playable.vlost").await.unwrap();
    env.request("vlost", &VideoSpec::new(1280, 720, 3.0).fps(15)).await;
    let handle = framelog_transcoder::start(&ctx_a, settings.clone()).await.unwrap();

    // Near the end of the job A loses its way to the log: from the lowest rendition's
    // `playable` on, everything A publishes stays in its outbox (nothing drains it).
    tokio::time::timeout(Duration::from_secs(120), playable.next()).await.expect("playable");
    let blocker = Event::new(
        uuid::Uuid::now_v7(),
        time::OffsetDateTime::now_utc(),
        "framelog/test",
        TenantId::new("acme").unwrap(),
        AggregateId::new("vblock").unwrap(),
        UploadData::Aborted { upload_id: "up_block".into() },
    );
    platform_a.events.queue(&[&blocker]).await.unwrap();
    let marker = env.media("hls/acme/vlost/complete.json");
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !marker.exists() {
        assert!(std::time::Instant::now() < deadline, "A never finished its outputs");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A finished its outputs but its completion is only queued: it must not ack the job.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(env.events("vlost", Kind::Ready, "published").await.is_empty());
    assert!(env.events("vlost", Kind::Transcode, "completed").await.is_empty());
    assert!(platform_a.events.outbox_len() >= 3, "completed and ready wait in A's outbox");
    assert_eq!(consumer_state(&env).await.0, 1, "A has not acked the job");

    // Machine A is lost, with its outbox.
    for t in &handle.tasks {
        t.abort();
    }
    for t in handle.tasks {
        let _ = t.await;
    }
    drop(ctx_a);
    drop(platform_a);
    drop(data_a);

    // B gets the redelivered job, finds the marker and publishes the completion from it.
    let mut b = env
        .worker(TranscoderSettings { worker_name: Some("worker-b".into()), ..settings }, "worker-b")
        .await;
    let outcome = run_to_end(&mut b).await;
    assert!(matches!(outcome, Outcome::AlreadyComplete { .. }), "{outcome:?}");
    let ready = env.events("vlost", Kind::Ready, "published").await;
    assert_eq!(ready.len(), 1, "exactly one VID_READY");
    assert_eq!(env.events("vlost", Kind::Transcode, "completed").await.len(), 1);
    let started = env.events("vlost", Kind::Transcode, "started").await;
    assert_eq!(started.len(), 1, "B did not encode again");
    assert_eq!(started[0]["data"]["worker"], "worker-a");
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&marker).unwrap()).unwrap();
    assert_eq!(ready[0]["id"], m["final_events"][1]["id"], "the ready event is the marker's");
    assert_eq!(consumer_state(&env).await, (0, 0));
}

#[tokio::test]
async fn fault_a_request_redelivered_after_the_duplicate_window_leaves_one_completed_and_one_ready()
{
    let env = env().await;
    framelog_core::nats::apply_duplicate_window(&env.ctx.platform.js, Duration::from_secs(1))
        .await
        .unwrap();
    let request = env.request("vwin", &VideoSpec::new(640, 360, 1.0).fps(10)).await;
    let mut w = env.worker(TranscoderSettings::for_test(), "w1").await;
    assert!(matches!(run_to_end(&mut w).await, Outcome::Completed { .. }));
    tokio::time::sleep(Duration::from_secs(2)).await;
    // The same request once more, after the window (a lost ack, stored without a dedup id).
    let subject = request.nats_subject().to_string();
    env.ctx.platform.js.publish(subject, request.to_json().into()).await.unwrap().await.unwrap();
    let outcome = run_to_end(&mut w).await;
    assert!(matches!(outcome, Outcome::AlreadyComplete { .. }), "{outcome:?}");
    assert_eq!(env.events("vwin", Kind::Ready, "published").await.len(), 1);
    assert_eq!(env.events("vwin", Kind::Transcode, "completed").await.len(), 1);
    assert_eq!(env.ctx.platform.events.outbox_len(), 0);
    assert_eq!(consumer_state(&env).await, (0, 0));
    // The metrics count one job to playable and ready, and two attempts by their outcome.
    let text = env.ctx.platform.metrics.render();
    for line in [
        "framelog_transcode_time_to_playable_seconds_count 1",
        "framelog_transcode_time_to_ready_seconds_count 1",
        r#"framelog_transcode_job_duration_seconds_count{outcome="completed"} 1"#,
        r#"framelog_transcode_job_duration_seconds_count{outcome="already_complete"} 1"#,
        r#"framelog_transcode_realtime_factor_count{encoder="libx264"} 1"#,
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in {text}");
    }
}
