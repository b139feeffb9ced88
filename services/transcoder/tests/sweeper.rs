//! The sweeper against a real nats-server: a video whose job message was lost (acked without
//! work, as when the consumer is recreated past it) reaches a terminal state.

mod common;

use std::time::Duration;

use async_nats::jetstream::consumer::PullConsumer;
use common::{env, run_to_end};
use framelog_core::nats::STREAM_VID;
use framelog_events::Kind;
use framelog_tests::media::VideoSpec;
use framelog_transcoder::consumer::DURABLE;
use framelog_transcoder::sweeper::Sweeper;
use framelog_transcoder::{Outcome, TranscoderSettings};
use futures::StreamExt;

fn settings() -> TranscoderSettings {
    TranscoderSettings {
        stuck_after_secs: 1,
        sweep_interval_secs: 0,
        ..TranscoderSettings::for_test()
    }
}

/// Loses the next job message: taken from the shared consumer and acked without any work.
async fn lose_next_job(env: &common::Env) {
    let stream = env.ctx.platform.js.get_stream(STREAM_VID).await.unwrap();
    let consumer: PullConsumer = stream.get_consumer(DURABLE).await.unwrap();
    let mut batch = consumer.fetch().max_messages(1).messages().await.unwrap();
    let m = tokio::time::timeout(Duration::from_secs(10), batch.next()).await.unwrap();
    m.unwrap().unwrap().double_ack().await.unwrap();
}

#[tokio::test]
async fn fault_a_video_whose_job_message_was_lost_is_requested_again_and_becomes_ready() {
    let env = env().await;
    let mut worker = env.worker(settings(), "worker-a").await;
    env.request("vswept", &VideoSpec::new(640, 360, 2.0).fps(15)).await;
    lose_next_job(&env).await;
    let sweeper = Sweeper::open(&env.ctx, &settings(), "sweeper-a").await.unwrap();
    let young = sweeper.sweep().await.unwrap();
    assert_eq!((young.watched, young.rescheduled), (1, 0), "not stuck yet: {young:?}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let swept = sweeper.sweep().await.unwrap();
    assert_eq!(swept.rescheduled, 1, "{swept:?}");
    // Another replica's sweeper does nothing while this one holds the lock.
    let other = Sweeper::open(&env.another_process(), &settings(), "sweeper-b").await.unwrap();
    assert!(other.sweep().await.unwrap().locked_out);

    let outcome = run_to_end(&mut worker).await;
    assert!(matches!(outcome, Outcome::Completed { .. }), "{outcome:?}");
    assert_eq!(env.events("vswept", Kind::Ready, "published").await.len(), 1);
    assert_eq!(env.events("vswept", Kind::Transcode, "requested").await.len(), 2);
    let after = sweeper.sweep().await.unwrap();
    assert_eq!((after.forgotten, after.rescheduled, after.dead_lettered), (1, 0, 0), "{after:?}");
    assert_eq!(sweeper.sweep().await.unwrap().watched, 0, "a ready video is no longer watched");
}

#[tokio::test]
async fn fault_a_video_lost_twice_is_dead_lettered_by_the_sweeper_with_a_reason() {
    let env = env().await;
    let _worker = env.worker(settings(), "worker-a").await; // the consumer exists, never pulls
    env.request("vgone", &VideoSpec::new(320, 240, 1.0).fps(10)).await;
    lose_next_job(&env).await;
    let sweeper = Sweeper::open(&env.ctx, &settings(), "sweeper-a").await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sweeper.sweep().await.unwrap().rescheduled, 1);
    lose_next_job(&env).await; // the second request is lost too
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let swept = sweeper.sweep().await.unwrap();
    assert_eq!((swept.rescheduled, swept.dead_lettered), (0, 1), "{swept:?}");
    let dead = env.events("vgone", Kind::Transcode, "dead_lettered").await;
    assert_eq!(dead.len(), 1);
    let reason = dead[0]["data"]["reason"].as_str().unwrap();
    assert!(reason.contains("stuck in processing") && reason.contains("lost"), "{reason}");
    assert_eq!(sweeper.sweep().await.unwrap().dead_lettered, 0, "dead-lettered once");
    common::assert_events_match_schemas(&env).await;
}
