//! `framelog upload` against a real `framelog serve`.

mod common;

use std::time::{Duration, Instant};

use common::*;
use framelog_tests::NatsServer;
use framelog_tests::media::{VideoSpec, generate_video};

#[test]
fn upload_prints_the_video_id_and_watch_url() {
    let nats = NatsServer::start();
    let served = serve(&nats.url(), &["--ingest-chunk-size", "65536"]);
    let key = tenant(&nats.url(), "acme");
    let work = tempfile::tempdir().unwrap();
    let file = generate_video(work.path(), "clip.mp4", &VideoSpec::new(320, 240, 2.0));
    let out = framelog()
        .args(["upload", "--server", &served.base, "--api-key", &key, "--state-dir"])
        .arg(work.path().join("state"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let video = text.lines().find_map(|l| l.strip_prefix("video_id: ")).expect("video id printed");
    assert!(video.starts_with("vid_"));
    assert!(text.contains(&format!("watch: {}/watch/{video}", served.base)));
}

#[test]
fn a_killed_upload_resumes_when_the_same_command_runs_again() {
    let nats = NatsServer::start();
    let served = serve(&nats.url(), &["--ingest-chunk-size", "16384"]);
    let key = tenant(&nats.url(), "acme");
    let work = tempfile::tempdir().unwrap();
    let file = generate_video(work.path(), "clip.mp4", &VideoSpec::new(640, 360, 6.0));
    let state = work.path().join("state");
    let run = || {
        let mut c = framelog();
        c.args([
            "upload",
            "--parallel",
            "1",
            "--server",
            &served.base,
            "--api-key",
            &key,
            "--state-dir",
        ])
        .arg(&state)
        .arg(&file);
        c
    };
    // Killed and waited for once the upload is under way (every path below either does or
    // fails the test, which drops it).
    #[allow(clippy::zombie_processes)]
    let mut first = run()
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the upload exists and a few chunks arrived, then kill the client.
    let deadline = Instant::now() + Duration::from_secs(30);
    let upload_id = loop {
        assert!(Instant::now() < deadline, "the upload never started");
        let remembered =
            std::fs::read_dir(&state).ok().and_then(|mut d| d.next()).and_then(|e| e.ok());
        if let Some(e) = remembered
            && let Ok(v) = serde_json::from_slice::<serde_json::Value>(
                &std::fs::read(e.path()).unwrap_or_default(),
            )
        {
            break v["upload_id"].as_str().unwrap().to_owned();
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let http = reqwest::blocking::Client::new();
    let received = loop {
        assert!(Instant::now() < deadline, "no chunk arrived");
        let s: serde_json::Value = http
            .get(format!("{}/v1/videos/upload/{upload_id}", served.base))
            .bearer_auth(&key)
            .send()
            .unwrap()
            .json()
            .unwrap();
        let n = s["received_chunks"].as_u64().unwrap();
        if n >= 2 {
            first.kill().unwrap();
            first.wait().unwrap();
            break n;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let s: serde_json::Value = http
        .get(format!("{}/v1/videos/upload/{upload_id}", served.base))
        .bearer_auth(&key)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(s["state"], "open", "killed before completion");
    assert!(s["received_chunks"].as_u64().unwrap() < s["total_chunks"].as_u64().unwrap());

    let out = run().output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("resuming upload {upload_id}")), "{err}");
    assert!(received >= 2);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("video_id: vid_"), "{text}");
    let s: serde_json::Value = http
        .get(format!("{}/v1/videos/upload/{upload_id}", served.base))
        .bearer_auth(&key)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(s["state"], "completed");
}
