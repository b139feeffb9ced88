//! The job queue against a real nats-server: permanent and transient failures, competing
//! workers, a worker dropped mid-job, graceful shutdown, and redelivery of finished work.

mod common;

use std::time::Duration;

use common::{env, run_to_end};
use framelog_core::nats::STREAM_VID;
use framelog_events::Kind;
use framelog_tests::media::{VideoSpec, generate_bytes};
use framelog_transcoder::consumer::DURABLE;
use framelog_transcoder::deadletter::{self, MaxDeliveries};
use framelog_transcoder::{Outcome, TranscoderSettings};
use futures::StreamExt;

async fn consumer_state(env: &common::Env) -> (usize, u64) {
    let stream = env.ctx.platform.js.get_stream(STREAM_VID).await.unwrap();
    let mut c: async_nats::jetstream::consumer::PullConsumer =
        stream.get_consumer(DURABLE).await.unwrap();
    let info = c.info().await.unwrap();
    (info.num_ack_pending, info.num_pending)
}

/// Pids of live ffmpeg processes whose command line mentions `needle` (a job's work dir).
fn ffmpeg_pids(needle: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let cmd = String::from_utf8_lossy(&cmd);
        if cmd.starts_with("ffmpeg") && cmd.contains(needle) {
            pids.push(pid);
        }
    }
    pids
}

/// The stream sequence of the (first) message on `subject`.
async fn request_seq(env: &common::Env, subject: &str) -> u64 {
    let mut stream = env.ctx.platform.js.get_stream(STREAM_VID).await.unwrap();
    let last = stream.info().await.unwrap().state.last_sequence;
    for seq in 1..=last {
        if stream.get_raw_message(seq).await.is_ok_and(|m| m.subject.as_str() == subject) {
            return seq;
        }
    }
    panic!("no message on {subject}")
}

/// Waits (without polling) for the first `started` event of a video.
async fn started(sub: &mut async_nats::Subscriber) -> serde_json::Value {
    let m = tokio::time::timeout(Duration::from_secs(60), sub.next()).await.unwrap().unwrap();
    serde_json::from_slice(&m.payload).unwrap()
}

#[tokio::test]
async fn a_corrupt_source_fails_permanently_on_the_first_attempt_with_a_reason() {
    let env = env().await;
    let junk = generate_bytes(env.sources.path(), "junk.mp4", 64 * 1024, 7);
    env.request_file("vjunk", &junk).await;
    let mut w = env.worker(TranscoderSettings::for_test(), "w1").await;
    let Outcome::Failed { permanent, dead_lettered, reason, .. } = run_to_end(&mut w).await else {
        panic!("not failed")
    };
    assert!(permanent && !dead_lettered);
    assert!(reason.contains("not_a_video"), "{reason}");
    let failed = env.events("vjunk", Kind::Transcode, "failed").await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["data"]["attempt"], 1);
    assert_eq!(failed[0]["data"]["permanent"], true);
    assert!(!failed[0]["data"]["reason"].as_str().unwrap().is_empty());
    assert!(env.events("vjunk", Kind::Transcode, "started").await.is_empty());
    assert_eq!(w.process_next().await, Outcome::Idle, "terminated, not redelivered");
    assert_eq!(consumer_state(&env).await, (0, 0));
    common::assert_events_match_schemas(&env).await;
}

#[tokio::test]
async fn a_job_failing_for_a_transient_reason_is_retried_then_dead_lettered() {
    let env = env().await;
    env.request("vretry", &VideoSpec::new(320, 240, 1.0).fps(10)).await;
    let settings = TranscoderSettings {
        max_deliver: 2,
        ffmpeg: "/nonexistent/ffmpeg".into(),
        ..TranscoderSettings::for_test()
    };
    let mut w = env.worker(settings, "w1").await;
    let first = run_to_end(&mut w).await;
    assert!(
        matches!(first, Outcome::Failed { permanent: false, dead_lettered: false, .. }),
        "{first:?}"
    );
    let second = run_to_end(&mut w).await;
    let Outcome::Failed { permanent: false, dead_lettered: true, reason, .. } = second else {
        panic!("{second:?}")
    };
    assert!(reason.contains("/nonexistent/ffmpeg"), "{reason}");
    let attempts: Vec<_> = env
        .events("vretry", Kind::Transcode, "failed")
        .await
        .iter()
        .map(|e| e["data"]["attempt"].as_u64().unwrap())
        .collect();
    assert_eq!(attempts, [1, 2]);
    let dead = env.events("vretry", Kind::Transcode, "dead_lettered").await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["data"]["attempts"], 2);
    assert_eq!(w.process_next().await, Outcome::Idle);
    assert_eq!(consumer_state(&env).await, (0, 0));
}

#[tokio::test]
async fn two_workers_share_the_queue_and_each_job_runs_once() {
    let env = env().await;
    let ids = ["vc1", "vc2", "vc3"];
    for id in ids {
        env.request(id, &VideoSpec::new(640, 360, 2.0).fps(10)).await;
    }
    let a = env.worker(TranscoderSettings::for_test(), "worker-a").await;
    let b = env.worker(TranscoderSettings::for_test(), "worker-b").await;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let drive = |mut w: framelog_transcoder::Worker,
                 done: std::sync::Arc<std::sync::atomic::AtomicUsize>| async move {
        let mut completed = Vec::new();
        while done.load(std::sync::atomic::Ordering::SeqCst) < 3 {
            match w.process_next().await {
                Outcome::Completed { video, .. } => {
                    completed.push(video.to_string());
                    done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                Outcome::Idle | Outcome::Taken { .. } => {}
                other => panic!("{other:?}"),
            }
        }
        completed
    };
    let (ra, rb) = tokio::time::timeout(
        Duration::from_secs(240),
        futures::future::join(
            tokio::spawn(drive(a, done.clone())),
            tokio::spawn(drive(b, done.clone())),
        ),
    )
    .await
    .unwrap();
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.len() + rb.len(), 3, "{ra:?} {rb:?}");
    assert!(!ra.is_empty() && !rb.is_empty(), "both workers took jobs: {ra:?} {rb:?}");
    for id in ids {
        let started = env.events(id, Kind::Transcode, "started").await;
        assert_eq!(started.len(), 1, "{id} ran once");
        assert_eq!(env.events(id, Kind::Ready, "published").await.len(), 1);
    }
    assert_eq!(consumer_state(&env).await, (0, 0));
}

#[tokio::test]
async fn a_worker_dropped_mid_job_is_redelivered_and_completed_by_another_with_one_ready() {
    let env = env().await;
    let settings = TranscoderSettings {
        ack_wait_secs: 2,
        encoder: "libx264".into(),
        worker_name: Some("worker-a".into()),
        ..TranscoderSettings::for_test()
    };
    let mut sub =
        env.ctx.platform.nats.subscribe("vid.acme.transcode.started.vdrop").await.unwrap();
    env.request("vdrop", &VideoSpec::new(1280, 720, 4.0).fps(15)).await;
    let handle = framelog_transcoder::start(&env.ctx, settings.clone()).await.unwrap();
    assert_eq!(handle.name, "transcoder");
    let first = started(&mut sub).await;
    assert_eq!(
        (first["data"]["worker"].as_str(), first["data"]["attempt"].as_u64()),
        (Some("worker-a"), Some(1))
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while ffmpeg_pids("acme-vdrop-").is_empty() {
        assert!(std::time::Instant::now() < deadline, "ffmpeg never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The worker dies without acking: its loop, its job task and (kill on drop) its ffmpeg.
    for t in &handle.tasks {
        t.abort();
    }
    for t in handle.tasks {
        assert!(t.await.unwrap_err().is_cancelled());
    }
    // Its ffmpeg processes are killed (kill on drop), not left encoding for nobody.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !ffmpeg_pids("acme-vdrop-").is_empty() {
        assert!(std::time::Instant::now() < deadline, "ffmpeg still running after the worker died");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut b = env.worker(settings, "worker-b").await;
    let outcome = run_to_end(&mut b).await;
    assert!(matches!(outcome, Outcome::Completed { .. }), "{outcome:?}");
    let second = started(&mut sub).await;
    assert_eq!(
        (second["data"]["worker"].as_str(), second["data"]["attempt"].as_u64()),
        (Some("worker-b"), Some(2))
    );
    assert_eq!(
        env.events("vdrop", Kind::Ready, "published").await.len(),
        1,
        "exactly one VID_READY"
    );
    assert_eq!(env.events("vdrop", Kind::Transcode, "completed").await.len(), 1);
    assert_eq!(consumer_state(&env).await, (0, 0));
}

#[tokio::test]
async fn a_worker_killed_on_the_last_attempt_leaves_a_dead_lettered_event_written_by_another() {
    let env = env().await;
    let settings =
        TranscoderSettings { ack_wait_secs: 1, max_deliver: 1, ..TranscoderSettings::for_test() };
    // Another transcoder process's advisory listener (its own connection).
    let other = env.another_process();
    let listener = framelog_transcoder::deadletter::spawn(&other).await.unwrap();
    env.request("vlost", &VideoSpec::new(1280, 720, 4.0).fps(15)).await;
    let mut a = env.worker(settings.clone(), "worker-a").await;
    assert!(matches!(a.process_next().await, Outcome::Taken { attempt: 1, .. }));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while ffmpeg_pids("acme-vlost-").is_empty() {
        assert!(std::time::Instant::now() < deadline, "ffmpeg never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(a); // dies on its only attempt: no ack, no nak, no event

    // The other worker keeps asking for jobs; it (or the server's max-deliveries advisory,
    // once hand-backs are spent too) finds this one out of attempts.
    let mut b = env.worker(settings, "worker-b").await.with_poll(Duration::from_millis(200));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let dead = loop {
        let outcome = b.process_next().await;
        let not_run = matches!(
            outcome,
            Outcome::Idle | Outcome::Failed { permanent: false, dead_lettered: true, .. }
        );
        assert!(not_run, "the job must not run again: {outcome:?}");
        let dead = env.events("vlost", Kind::Transcode, "dead_lettered").await;
        if !dead.is_empty() {
            break dead;
        }
        assert!(std::time::Instant::now() < deadline, "never dead-lettered");
    };
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["data"]["attempts"], 1);
    let reason = dead[0]["data"]["reason"].as_str().unwrap();
    assert!(reason.contains("attempt 1 of 1") && reason.contains("killed"), "{reason}");
    assert!(env.events("vlost", Kind::Ready, "published").await.is_empty());
    assert_eq!(consumer_state(&env).await, (0, 0));
    // The advisory handled again (a second listener, a replay): the same event id, stored once.
    let advisory = MaxDeliveries {
        stream: STREAM_VID.into(),
        consumer: DURABLE.into(),
        stream_seq: request_seq(&env, "vid.acme.transcode.requested.vlost").await,
        deliveries: 1,
    };
    // Its job record is settled: not written again.
    assert_eq!(deadletter::handle(&other, &advisory).await, Ok(false));
    assert_eq!(env.events("vlost", Kind::Transcode, "dead_lettered").await.len(), 1);
    listener.abort();
    common::assert_events_match_schemas(&env).await;
}

#[tokio::test]
async fn shutting_down_hands_a_running_job_back_for_another_worker() {
    let env = env().await;
    let mut sub =
        env.ctx.platform.nats.subscribe("vid.acme.transcode.started.vstop").await.unwrap();
    env.request("vstop", &VideoSpec::new(1280, 720, 4.0).fps(15)).await;
    let mut a = env.worker(TranscoderSettings::for_test(), "worker-a").await;
    assert!(matches!(a.process_next().await, Outcome::Taken { attempt: 1, .. }));
    started(&mut sub).await;
    env.ctx.shutdown.cancel();
    let ended = a.shutdown().await;
    assert!(matches!(ended.as_slice(), [Outcome::HandedBack { .. }]), "{ended:?}");
    assert!(env.events("vstop", Kind::Transcode, "failed").await.is_empty(), "not a failure");

    let other = env.another_process();
    let mut b = env.worker_on(&other, TranscoderSettings::for_test(), "worker-b").await;
    let outcome = run_to_end(&mut b).await;
    assert!(matches!(outcome, Outcome::Completed { .. }), "{outcome:?}");
    assert_eq!(started(&mut sub).await["data"]["attempt"], 1, "a hand-back is no attempt");
}

#[tokio::test]
async fn a_redelivered_request_for_a_ready_video_is_acked_without_work() {
    let env = env().await;
    let request = env.request("vagain", &VideoSpec::new(640, 360, 1.0).fps(10)).await;
    let mut w = env.worker(TranscoderSettings::for_test(), "w1").await;
    assert!(matches!(run_to_end(&mut w).await, Outcome::Completed { .. }));
    let marker = env.media("hls/acme/vagain/complete.json");
    let before = std::fs::metadata(&marker).unwrap().modified().unwrap();

    // The same request once more (as after a lost ack), stored without a dedup id.
    let subject = request.nats_subject().to_string();
    env.ctx
        .platform
        .js
        .publish(subject.clone(), request.to_json().into())
        .await
        .unwrap()
        .await
        .unwrap();
    let outcome = run_to_end(&mut w).await;
    assert!(matches!(outcome, Outcome::AlreadyComplete { .. }), "{outcome:?}");
    assert_eq!(env.events("vagain", Kind::Transcode, "started").await.len(), 1, "no second run");
    assert_eq!(env.events("vagain", Kind::Ready, "published").await.len(), 1);
    assert_eq!(std::fs::metadata(&marker).unwrap().modified().unwrap(), before);
    assert_eq!(consumer_state(&env).await, (0, 0));
    // Out of attempts after it completed (the ack was lost each time): not a dead letter.
    let advisory = MaxDeliveries {
        stream: STREAM_VID.into(),
        consumer: DURABLE.into(),
        stream_seq: request_seq(&env, &subject).await,
        deliveries: 4,
    };
    assert_eq!(deadletter::handle(&env.ctx, &advisory).await, Ok(false));
    assert!(env.events("vagain", Kind::Transcode, "dead_lettered").await.is_empty());
}

#[tokio::test]
async fn a_worker_runs_at_most_its_concurrency_at_once() {
    let env = env().await;
    for id in ["vk1", "vk2", "vk3"] {
        env.request(id, &VideoSpec::new(640, 360, 2.0).fps(10)).await;
    }
    // One tenant's jobs only: its cap is raised to every slot (fairness is tested apart).
    let settings = TranscoderSettings {
        concurrency: 2,
        tenant_cap: Some(2),
        ..TranscoderSettings::for_test()
    };
    let mut w = env.worker(settings, "w1").await;
    assert!(matches!(w.process_next().await, Outcome::Taken { .. }));
    assert!(matches!(w.process_next().await, Outcome::Taken { .. }));
    assert_eq!(w.running(), 2);
    // Both slots are busy: the next step waits for a job to end instead of pulling a third.
    let third = w.process_next().await;
    assert!(matches!(third, Outcome::Completed { .. }), "{third:?}");
    assert_eq!(consumer_state(&env).await.1, 1, "the third job is still queued");
    let mut completed = 1;
    while completed < 3 {
        match run_to_end(&mut w).await {
            Outcome::Completed { .. } => completed += 1,
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn in_progress_acks_keep_a_job_longer_than_the_ack_wait_from_being_redelivered() {
    let env = env().await;
    env.request("vlong", &VideoSpec::new(1280, 720, 6.0).fps(30)).await;
    let settings = TranscoderSettings { ack_wait_secs: 1, ..TranscoderSettings::for_test() };
    let mut a = env.worker(settings.clone(), "worker-a").await;
    let mut b = env.worker(settings, "worker-b").await;
    assert!(matches!(a.process_next().await, Outcome::Taken { attempt: 1, .. }));
    let a_done = std::sync::atomic::AtomicBool::new(false);
    let (outcome, seen_by_b) = tokio::join!(
        async {
            let o = run_to_end(&mut a).await;
            a_done.store(true, std::sync::atomic::Ordering::SeqCst);
            o
        },
        async {
            // Worker B keeps asking while A works: a redelivery would reach it.
            let mut seen = Vec::new();
            while !a_done.load(std::sync::atomic::Ordering::SeqCst) {
                let o = b.process_next().await;
                if o != Outcome::Idle {
                    seen.push(o);
                }
            }
            seen
        }
    );
    let Outcome::Completed { wall, .. } = outcome else { panic!("{outcome:?}") };
    assert!(wall > Duration::from_secs(1), "the job outlived the ack wait ({wall:?})");
    assert!(seen_by_b.is_empty(), "{seen_by_b:?}");
    let stream = env.ctx.platform.js.get_stream(STREAM_VID).await.unwrap();
    let mut c: async_nats::jetstream::consumer::PullConsumer =
        stream.get_consumer(DURABLE).await.unwrap();
    assert_eq!(c.info().await.unwrap().num_redelivered, 0);
}
