//! Exactly once for real (issue #14): graceful restarts use no attempts, a lost in-progress ack
//! lets one worker encode while the other is fenced, and a job dropped by the server while no
//! transcoder listens is dead-lettered once one comes back. Real nats-server, real ffmpeg.

mod common;

use std::time::{Duration, Instant};

use common::{env, run_to_end};
use framelog_core::nats::STREAM_ADVISORY;
use framelog_events::Kind;
use framelog_tests::media::VideoSpec;
use framelog_transcoder::lease::{self, Holder, Leases};
use framelog_transcoder::{Outcome, TranscoderSettings, Worker};
use time::OffsetDateTime;

/// Steps `worker` until it takes a job (at most a minute).
async fn take(worker: &mut Worker) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match worker.process_next().await {
            Outcome::Taken { attempt, .. } => return attempt,
            Outcome::Idle | Outcome::Deferred { .. } => {}
            other => panic!("{} expected a job, got {other:?}", worker.name()),
        }
        assert!(Instant::now() < deadline, "{} never took the job", worker.name());
    }
}

async fn wait_for(what: &str, secs: u64, mut ok: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok().await {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn attempts(events: &[serde_json::Value]) -> Vec<u64> {
    events.iter().map(|e| e["data"]["attempt"].as_u64().unwrap()).collect()
}

#[tokio::test]
async fn fault_four_graceful_restarts_mid_encode_do_not_dead_letter_a_job() {
    let env = env().await;
    // One attempt only: before issue #14 the first hand-back already used it up.
    let settings = TranscoderSettings { max_deliver: 1, ..TranscoderSettings::for_test() };
    env.request("vrestart", &VideoSpec::new(1280, 720, 4.0).fps(15)).await;
    for i in 0..4 {
        let process = env.another_process();
        let mut w = env.worker_on(&process, settings.clone(), &format!("deploy-{i}")).await;
        assert_eq!(take(&mut w).await, 1, "restart {i}");
        wait_for("ffmpeg started", 60, async || !common::ffmpeg_pids("acme-vrestart-").is_empty())
            .await;
        process.shutdown.cancel();
        let ended = w.shutdown().await;
        assert!(matches!(ended.as_slice(), [Outcome::HandedBack { .. }]), "{ended:?}");
    }
    let mut last = env.worker_on(&env.another_process(), settings, "deploy-4").await;
    let outcome = run_to_end(&mut last).await;
    assert!(matches!(outcome, Outcome::Completed { .. }), "{outcome:?}");
    let started = env.events("vrestart", Kind::Transcode, "started").await;
    // Every run was attempt 1 (so `started` has one deterministic id, stored once).
    assert!(!started.is_empty());
    assert!(attempts(&started).iter().all(|a| *a == 1), "{:?}", attempts(&started));
    assert!(env.events("vrestart", Kind::Transcode, "dead_lettered").await.is_empty());
    assert!(env.events("vrestart", Kind::Transcode, "failed").await.is_empty());
    assert_eq!(env.events("vrestart", Kind::Transcode, "completed").await.len(), 1);
    assert_eq!(env.events("vrestart", Kind::Ready, "published").await.len(), 1);
}

#[tokio::test]
async fn fault_a_lost_in_progress_ack_lets_one_worker_encode_and_fences_the_other() {
    let env = env().await;
    let settings = TranscoderSettings { ack_wait_secs: 2, ..TranscoderSettings::for_test() };
    env.request("vlease", &VideoSpec::new(1280, 720, 4.0).fps(15)).await;
    let mut a = env.worker(settings.clone(), "worker-a").await;
    let mut b = env.worker_on(&env.another_process(), settings, "worker-b").await;
    assert_eq!(take(&mut a).await, 1);
    wait_for("ffmpeg started", 60, async || !common::ffmpeg_pids("acme-vlease-").is_empty()).await;
    // A's in-progress acks and lease renewals are lost from now on; it keeps encoding.
    a.keep_alive().pause();
    let fenced = async {
        let o = run_to_end(&mut a).await;
        (o, OffsetDateTime::now_utc())
    };
    let ((a_end, fenced_at), b_end) = tokio::join!(fenced, run_to_end(&mut b));
    assert!(matches!(a_end, Outcome::Fenced { .. }), "{a_end:?}");
    assert!(matches!(b_end, Outcome::Completed { .. }), "{b_end:?}");

    let started = env.events("vlease", Kind::Transcode, "started").await;
    let workers: Vec<&str> =
        started.iter().map(|e| e["data"]["worker"].as_str().unwrap()).collect();
    assert_eq!(workers, ["worker-a", "worker-b"]);
    assert_eq!(attempts(&started), [1, 2], "the silent attempt counted once");
    // B started only after A had stopped: their encodes never overlapped.
    let b_started = OffsetDateTime::parse(
        started[1]["time"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(b_started >= fenced_at, "B started {b_started} before A was fenced {fenced_at}");
    assert_eq!(env.events("vlease", Kind::Transcode, "completed").await.len(), 1);
    assert_eq!(env.events("vlease", Kind::Ready, "published").await.len(), 1);
    assert!(env.events("vlease", Kind::Transcode, "failed").await.is_empty());
    assert!(common::ffmpeg_pids("acme-vlease-").is_empty(), "the fenced ffmpeg was killed");
    // The published ladder is B's whole one: every variant the master names exists.
    // The master of the live version names its variants from the video's root.
    let hls = env.media("hls/acme/vlease");
    let master = std::fs::read_to_string(env.live_dir("vlease").join("master.m3u8")).unwrap();
    let variants: Vec<&str> =
        master.lines().filter(|l| !l.starts_with('#') && l.ends_with(".m3u8")).collect();
    assert!(variants.len() >= 2, "{master}");
    for v in variants {
        assert!(hls.join(v).exists(), "{v} named by the master but missing");
    }
}

#[tokio::test]
async fn fault_every_worker_down_when_the_last_delivery_fails_is_dead_lettered_once() {
    let env = env().await;
    // The server's own limit is the only one: one delivery, no hand-back or requeue budget.
    let settings = TranscoderSettings {
        ack_wait_secs: 1,
        max_deliver: 1,
        max_handbacks: 0,
        max_requeues: 0,
        ..TranscoderSettings::for_test()
    };
    env.request("vdown", &VideoSpec::new(1280, 720, 4.0).fps(15)).await;
    let mut a = env.worker(settings.clone(), "worker-a").await;
    assert_eq!(take(&mut a).await, 1);
    wait_for("ffmpeg started", 60, async || !common::ffmpeg_pids("acme-vdown-").is_empty()).await;
    drop(a); // the last transcoder dies on the last delivery: nobody listens for advisories

    let js = env.ctx.platform.js.clone();
    wait_for("the max-deliveries advisory is stored", 30, async || {
        let mut s = js.get_stream(STREAM_ADVISORY).await.unwrap();
        s.info().await.unwrap().state.messages >= 1
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(env.events("vdown", Kind::Transcode, "dead_lettered").await.is_empty());

    // A transcoder comes back.
    let back = env.another_process();
    let handle = framelog_transcoder::start(&back, settings).await.unwrap();
    wait_for("dead-lettered", 30, async || {
        !env.events("vdown", Kind::Transcode, "dead_lettered").await.is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let dead = env.events("vdown", Kind::Transcode, "dead_lettered").await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["data"]["attempts"], 1);
    assert!(env.events("vdown", Kind::Ready, "published").await.is_empty());
    back.shutdown.cancel();
    for t in handle.tasks {
        let _ = t.await;
    }
    // The advisory was acked: a later transcoder does not write it again.
    let again = env.another_process();
    let handle = framelog_transcoder::start(&again, TranscoderSettings::for_test()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(env.events("vdown", Kind::Transcode, "dead_lettered").await.len(), 1);
    again.shutdown.cancel();
    for t in handle.tasks {
        let _ = t.await;
    }
}

#[tokio::test]
async fn fault_a_worker_whose_lease_was_taken_over_stops_at_its_next_renewal() {
    let env = env().await;
    let settings = TranscoderSettings { ack_wait_secs: 3, ..TranscoderSettings::for_test() };
    env.request("vtaken", &VideoSpec::new(1280, 720, 8.0).fps(15)).await;
    let mut a = env.worker(settings, "worker-a").await;
    assert_eq!(take(&mut a).await, 1);
    wait_for("ffmpeg started", 60, async || !common::ffmpeg_pids("acme-vtaken-").is_empty()).await;
    // Another worker (its clock ahead, say) took the lease over while A's keep-alive works.
    let leases = Leases::open(&env.ctx.platform.js, 1).await.unwrap();
    let intruder = Holder {
        worker: "worker-z".into(),
        token: "z".into(),
        expires_at_ms: lease::now_ms() + 60_000,
    };
    let taken = leases
        .modify(&lease::key("acme", "vtaken"), |r| {
            Some(lease::Record { holder: Some(intruder.clone()), ..r.clone() })
        })
        .await
        .unwrap();
    assert!(taken.is_some());
    let ended = tokio::time::timeout(Duration::from_secs(10), run_to_end(&mut a)).await.unwrap();
    assert!(matches!(ended, Outcome::Fenced { .. }), "{ended:?}");
    wait_for("the fenced ffmpeg is killed", 10, async || {
        common::ffmpeg_pids("acme-vtaken-").is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(env.events("vtaken", Kind::Transcode, "completed").await.is_empty());
    assert!(env.events("vtaken", Kind::Transcode, "failed").await.is_empty());
    assert!(env.events("vtaken", Kind::Ready, "published").await.is_empty());
    let (record, _) = leases.read(&lease::key("acme", "vtaken")).await.unwrap();
    assert_eq!(record.unwrap().holder.unwrap().worker, "worker-z", "A wrote nothing after");
}
