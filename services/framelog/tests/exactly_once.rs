//! Exactly once through the real binary with the duplicate window shrunk to 1 s: one upload
//! gives one `upload.completed`, one `transcode.requested`, one `transcode.completed` and one
//! `ready.published`, even when the server is SIGKILLed and the client retries its completion
//! after the window.

mod common;

use std::time::{Duration, Instant};

use common::*;
use framelog_tests::NatsServer;
use framelog_tests::media::{VideoSpec, generate_video};

async fn status(http: &reqwest::Client, base: &str, key: &str, video: &str) -> String {
    let res = http.get(format!("{base}/v1/videos/{video}")).bearer_auth(key).send().await.unwrap();
    if res.status() != 200 {
        return String::new();
    }
    let v: serde_json::Value = res.json().await.unwrap();
    v["status"].as_str().unwrap_or("").to_owned()
}

async fn facts(nats: &NatsServer, video: &str) -> Vec<String> {
    let js = async_nats::jetstream::new(nats.client().await);
    let mut s = js.get_stream("VID").await.unwrap();
    let last = s.info().await.unwrap().state.last_sequence;
    let mut out = Vec::new();
    for seq in 1..=last {
        if let Ok(m) = s.get_raw_message(seq).await
            && m.subject.ends_with(&format!(".{video}"))
        {
            out.push(m.subject.split('.').skip(2).take(2).collect::<Vec<_>>().join("."));
        }
    }
    out
}

#[tokio::test]
async fn fault_a_killed_server_and_a_completion_retried_after_the_window_store_each_fact_once() {
    let nats = NatsServer::start();
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap().to_owned();
    let args = ["--nats-duplicate-window", "1s", "--ingest-chunk-size", "1048576", "--data-dir"];
    let served = serve_in(&nats.url(), &[&args[..], &[dir.as_str()]].concat());
    let key = tenant(&nats.url(), "acme");
    let work = tempfile::tempdir().unwrap();
    let file = generate_video(work.path(), "clip.mp4", &VideoSpec::new(640, 360, 2.0).fps(15));
    let bytes = std::fs::read(&file).unwrap();
    let http = reqwest::Client::new();
    let created: serde_json::Value = http
        .post(format!("{}/v1/videos/upload", served.base))
        .bearer_auth(&key)
        .json(&serde_json::json!({"filename": "clip.mp4", "size": bytes.len()}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (upload, video) =
        (created["upload_id"].as_str().unwrap(), created["video_id"].as_str().unwrap());
    let base = served.base.clone();
    let chunk = http
        .put(format!("{base}/v1/videos/upload/{upload}/chunk/0"))
        .bearer_auth(&key)
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(chunk.status(), 200);
    let complete = |base: String| {
        let (http, key) = (http.clone(), key.clone());
        let url = format!("{base}/v1/videos/upload/{upload}/complete");
        async move { http.post(url).bearer_auth(key).send().await.unwrap().status() }
    };
    assert_eq!(complete(base.clone()).await, 200);
    let deadline = Instant::now() + Duration::from_secs(120);
    while status(&http, &base, &key, video).await != "ready" {
        assert!(Instant::now() < deadline, "not ready in time");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // The server dies (SIGKILL), its durable consumers are lost (recreated from the start of
    // the log, as after a restore), and it comes back on the same data dir; the client, unsure
    // its completion went through, retries it after the duplicate window. The job reactor
    // re-requests the job and the transcoder re-runs the request, both after the window.
    drop(served);
    let js = async_nats::jetstream::new(nats.client().await);
    let vid = js.get_stream("VID").await.unwrap();
    for durable in ["ingest_job_requests", "transcoder"] {
        vid.delete_consumer(durable).await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let again = serve_in(&nats.url(), &[&args[..], &[dir.as_str()]].concat());
    assert_eq!(complete(again.base.clone()).await, 200);
    let deadline = Instant::now() + Duration::from_secs(60);
    for durable in ["ingest_job_requests", "transcoder"] {
        loop {
            let done = match vid
                .get_consumer::<async_nats::jetstream::consumer::pull::Config>(durable)
                .await
            {
                Ok(mut c) => c.info().await.is_ok_and(|i| {
                    i.num_pending == 0 && i.num_ack_pending == 0 && i.delivered.stream_sequence > 0
                }),
                Err(_) => false,
            };
            if done {
                break;
            }
            assert!(Instant::now() < deadline, "{durable} did not replay the log");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    assert_eq!(status(&http, &again.base, &key, video).await, "ready");

    let window = js.get_stream("VID").await.unwrap().cached_info().config.duplicate_window;
    assert_eq!(window, Duration::from_secs(1), "the flag set the window");
    let facts = facts(&nats, video).await;
    for fact in
        ["upload.completed", "transcode.requested", "transcode.completed", "ready.published"]
    {
        assert_eq!(facts.iter().filter(|f| *f == fact).count(), 1, "{fact} in {facts:?}");
    }
    assert_eq!(facts.iter().filter(|f| *f == "transcode.started").count(), 1, "{facts:?}");
}
