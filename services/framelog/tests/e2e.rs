//! The whole platform through the real binary: ingest → transcoder → projection → playback,
//! and live (nginx-rtmp + ffmpeg push) → recording → video.

mod common;

use std::time::{Duration, Instant};

use common::*;
use framelog_tests::NatsServer;
use framelog_tests::media::{VideoSpec, generate_video};
use framelog_tests::nginx::{NginxRtmp, push};

async fn wait_ready(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    video: &str,
    secs: u64,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let res =
            http.get(format!("{base}/v1/videos/{video}")).bearer_auth(key).send().await.unwrap();
        if res.status() == 200 {
            let v: serde_json::Value = res.json().await.unwrap();
            if v["status"] == "ready" {
                return v;
            }
            assert_ne!(v["status"], "failed", "{v}");
        }
        assert!(Instant::now() < deadline, "{video} not ready within {secs} s");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn an_upload_through_the_binary_becomes_a_ready_video_that_plays() {
    let nats = NatsServer::start();
    let served = serve(&nats.url(), &["--ingest-chunk-size", "262144"]);
    let key = tenant(&nats.url(), "acme");
    let work = tempfile::tempdir().unwrap();
    let file = generate_video(work.path(), "clip.mp4", &VideoSpec::new(854, 480, 3.0));
    let out = framelog()
        .args(["upload", "--server", &served.base, "--api-key", &key, "--state-dir"])
        .arg(work.path().join("state"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let video = text.lines().find_map(|l| l.strip_prefix("video_id: ")).unwrap().to_owned();
    let http = reqwest::Client::new();
    let v = wait_ready(&http, &served.base, &key, &video, 120).await;
    let names: Vec<&str> = v["renditions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str().or(r.as_str()))
        .collect();
    assert!(
        names.contains(&"480p") && names.contains(&"360p") && !names.contains(&"720p"),
        "{names:?}"
    );
    // The signed master plays: its first variant and that variant's first segment resolve.
    let master_url = format!("{}{}", served.base, v["playback_url"].as_str().unwrap());
    let master = http.get(&master_url).send().await.unwrap();
    assert_eq!(master.status(), 200);
    let master = master.text().await.unwrap();
    let variant = master.lines().find(|l| !l.starts_with('#') && !l.is_empty()).unwrap();
    let variant_url = format!("{}/{variant}", master_url.rsplit_once('/').unwrap().0);
    let playlist = http.get(&variant_url).send().await.unwrap().text().await.unwrap();
    let seg = playlist
        .lines()
        .find(|l| !l.starts_with('#') && !l.is_empty())
        .or_else(|| {
            playlist
                .lines()
                .find_map(|l| l.split("URI=\"").nth(1).and_then(|r| r.split('"').next()))
        })
        .unwrap();
    let seg_url = format!("{}/{seg}", variant_url.rsplit_once('/').unwrap().0);
    let res = http.get(&seg_url).send().await.unwrap();
    assert_eq!(res.status(), 200, "{seg_url}");
    assert!(res.headers()["cache-control"].to_str().unwrap().contains("immutable"));
    assert!(!res.bytes().await.unwrap().is_empty());
    // The poster and storyboard are there too.
    for u in [&v["poster_url"], &v["storyboard_url"]] {
        let res = http.get(format!("{}{}", served.base, u.as_str().unwrap())).send().await.unwrap();
        assert_eq!(res.status(), 200, "{u}");
    }
}

#[tokio::test]
async fn a_recorded_live_stream_becomes_a_ready_video() {
    let nats = NatsServer::start();
    // nginx-rtmp records where live-auth accepts recordings from, and calls the hooks with
    // the secret `serve` generated into its data dir.
    let recordings = tempfile::tempdir().unwrap();
    let rec = recordings.path().to_str().unwrap();
    let served = serve(&nats.url(), &["--live-recordings-dir", rec]);
    let key = tenant(&nats.url(), "acme");
    let secret_file = served.data.as_ref().unwrap().path().join("hook-secret");
    let secret = std::fs::read_to_string(secret_file).unwrap();
    let nginx = NginxRtmp::start_with(&framelog_tests::nginx::Hooks {
        url: &format!("{}/v1/hooks/nginx-rtmp", served.base),
        secret: secret.trim(),
        recordings: Some(recordings.path()),
    });
    let http = reqwest::Client::new();
    let s: serde_json::Value = http
        .post(format!("{}/v1/streams", served.base))
        .bearer_auth(&key)
        .json(&serde_json::json!({"name": "show", "record": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = s["stream_id"].as_str().unwrap();
    let publish = format!("{}/{}", nginx.rtmp_url(), s["obs"]["key"].as_str().unwrap());
    let mut ff = push(&publish, 4);
    let deadline = Instant::now() + Duration::from_secs(30);
    while ff.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the push did not end");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The recording became a video of this stream, and it reaches ready.
    let deadline = Instant::now() + Duration::from_secs(60);
    let video = loop {
        let list: serde_json::Value = http
            .get(format!("{}/v1/videos", served.base))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(v) = list["videos"]
            .as_array()
            .and_then(|a| a.first())
            .and_then(|v| v["video_id"].as_str().or(v["id"].as_str()))
        {
            break v.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no video from the recording: {list}; nginx: {}",
            nginx.error_log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let v = wait_ready(&http, &served.base, &key, &video, 120).await;
    assert!(
        v["duration_secs"].as_f64().or(v["probe"]["duration_secs"].as_f64()).unwrap_or(0.0) > 2.0,
        "{v}"
    );
    let live: serde_json::Value = http
        .get(format!("{}/v1/streams/{id}", served.base))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(live.to_string().contains(&video), "the stream's session names its recording: {live}");
}
