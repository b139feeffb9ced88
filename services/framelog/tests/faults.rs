//! Process-level faults: a transcoder killed with SIGKILL mid-job; four transcoders stopped
//! with SIGTERM mid-job in a row (rolling deploys).

mod common;

use std::time::{Duration, Instant};

use common::*;
use framelog_tests::NatsServer;
use framelog_tests::media::{VideoSpec, generate_video};
use futures::StreamExt;

#[tokio::test]
async fn fault_a_transcoder_killed_mid_job_is_finished_by_another_with_one_ready() {
    let nats = NatsServer::start();
    let work = tempfile::tempdir().unwrap();
    let media = work.path().join("media");
    let media_s = media.to_str().unwrap().to_owned();
    let dir = |n: &str| work.path().join(n).to_str().unwrap().to_owned();
    let (d_api, d_w1, d_w2) = (dir("api"), dir("w1"), dir("w2"));
    let api = serve_in(
        &nats.url(),
        &[
            "--only",
            "ingest,projection,playback",
            "--data-dir",
            &d_api,
            "--media-dir",
            &media_s,
            "--ingest-chunk-size",
            "262144",
        ],
    );
    let worker = |d: &str, name: &str| {
        serve_in(
            &nats.url(),
            &[
                "--only",
                "transcoder",
                "--data-dir",
                d,
                "--media-dir",
                &media_s,
                "--transcode-ack-wait-secs",
                "4",
                "--transcode-worker-name",
                name,
                "--transcode-concurrency",
                "1",
            ],
        )
    };
    let mut workers = vec![("w1", worker(&d_w1, "w1")), ("w2", worker(&d_w2, "w2"))];
    let key = tenant(&nats.url(), "acme");
    let client = nats.client().await;
    let mut started = client.subscribe("vid.acme.transcode.started.*").await.unwrap();

    let file = generate_video(work.path(), "clip.mp4", &VideoSpec::new(1280, 720, 8.0));
    let out = framelog()
        .args(["upload", "--server", &api.base, "--api-key", &key, "--state-dir", &dir("state")])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let video = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("video_id: ").map(str::to_owned))
        .unwrap();

    // Kill -9 the worker that took the job, while it encodes.
    let first = tokio::time::timeout(Duration::from_secs(30), started.next())
        .await
        .expect("a worker starts")
        .unwrap();
    let ev: serde_json::Value = serde_json::from_slice(&first.payload).unwrap();
    let name = ev["data"]["worker"].as_str().unwrap().to_owned();
    let idx = workers.iter().position(|(n, _)| *n == name).expect("a known worker");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, mut victim) = workers.remove(idx);
    victim.child.kill().unwrap(); // SIGKILL
    victim.child.wait().unwrap();

    // The other worker gets the redelivery and finishes: exactly one VID_READY.
    let second = tokio::time::timeout(Duration::from_secs(60), started.next())
        .await
        .expect("redelivered")
        .unwrap();
    let ev2: serde_json::Value = serde_json::from_slice(&second.payload).unwrap();
    assert_ne!(ev2["data"]["worker"], name, "another worker took it");
    assert!(ev2["data"]["attempt"].as_u64().unwrap() >= 2);
    let js = async_nats::jetstream::new(client);
    let deadline = Instant::now() + Duration::from_secs(120);
    let readies = loop {
        let stream = js.get_stream("VID").await.unwrap();
        let last = js.get_stream("VID").await.unwrap().info().await.unwrap().state.last_sequence;
        let mut readies = 0;
        for seq in 1..=last {
            let m = stream.get_raw_message(seq).await.unwrap();
            let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
            if v["type"] == "VID_READY" && v["subject"] == video.as_str() {
                readies += 1;
            }
        }
        if readies > 0 {
            // Give a duplicate the chance to show up before counting.
            tokio::time::sleep(Duration::from_secs(2)).await;
            break readies;
        }
        assert!(Instant::now() < deadline, "no VID_READY after the kill");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(readies, 1, "exactly one VID_READY");
}

/// Counts the `VID_READY` and `dead_lettered` events of `video` in the log.
async fn outcomes(js: &async_nats::jetstream::Context, video: &str) -> (usize, usize) {
    let stream = js.get_stream("VID").await.unwrap();
    let last = js.get_stream("VID").await.unwrap().info().await.unwrap().state.last_sequence;
    let (mut ready, mut dead) = (0, 0);
    for seq in 1..=last {
        let m = stream.get_raw_message(seq).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
        if v["subject"] != video {
            continue;
        }
        ready += usize::from(v["type"] == "VID_READY");
        dead += usize::from(v["data"]["phase"] == "dead_lettered");
    }
    (ready, dead)
}

#[tokio::test]
async fn fault_four_rolling_deploys_mid_job_do_not_use_up_its_only_attempt() {
    let nats = NatsServer::start();
    let work = tempfile::tempdir().unwrap();
    let media = work.path().join("media");
    let media_s = media.to_str().unwrap().to_owned();
    let dir = |n: &str| work.path().join(n).to_str().unwrap().to_owned();
    let api = serve_in(
        &nats.url(),
        &[
            "--only",
            "ingest,projection,playback",
            "--data-dir",
            &dir("api"),
            "--media-dir",
            &media_s,
        ],
    );
    let worker = |name: &str| {
        serve_in(
            &nats.url(),
            &[
                "--only",
                "transcoder",
                "--data-dir",
                &dir(name),
                "--media-dir",
                &media_s,
                "--transcode-ack-wait-secs",
                "4",
                "--transcode-max-deliver",
                "1",
                "--transcode-worker-name",
                name,
                "--transcode-concurrency",
                "1",
            ],
        )
    };
    let key = tenant(&nats.url(), "acme");
    let client = nats.client().await;
    let mut started = client.subscribe("vid.acme.transcode.started.*").await.unwrap();
    let mut deploy = worker("deploy-0");
    let file = generate_video(work.path(), "clip.mp4", &VideoSpec::new(1280, 720, 8.0));
    let out = framelog()
        .args(["upload", "--server", &api.base, "--api-key", &key, "--state-dir", &dir("state")])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let video = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("video_id: ").map(str::to_owned))
        .unwrap();

    for i in 1..=4 {
        let m = tokio::time::timeout(Duration::from_secs(60), started.next())
            .await
            .expect("a worker starts the job")
            .unwrap();
        let ev: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
        assert_eq!(ev["data"]["attempt"], 1, "deploy {i}: {ev}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        // A rolling deploy: SIGTERM (graceful), wait for the exit, start the next version.
        let pid = deploy.child.id().to_string();
        assert!(
            std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success()
        );
        let status = deploy.child.wait().unwrap();
        assert!(status.success(), "deploy {i} stopped gracefully: {status}");
        deploy = worker(&format!("deploy-{i}"));
    }
    let js = async_nats::jetstream::new(client);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (ready, dead) = outcomes(&js, &video).await;
        assert_eq!(dead, 0, "a healthy job was dead-lettered by deploys");
        if ready > 0 {
            tokio::time::sleep(Duration::from_secs(2)).await;
            assert_eq!(outcomes(&js, &video).await, (1, 0), "exactly one VID_READY");
            break;
        }
        assert!(Instant::now() < deadline, "no VID_READY after four deploys");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop(deploy);
}
