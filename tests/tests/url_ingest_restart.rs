//! URL ingest survives the death of the process fetching: a real `framelog serve` (A) starts
//! pulling a clip from an origin that stops after half the file; A is SIGKILLed mid-fetch; a
//! second `framelog serve` (B) on the same NATS finds the fetch's expired lease, restarts it
//! from zero, and the video reaches `ready`, with one `VID_UPLOAD completed`.
//!
//! Needs the `framelog` binary built (`cargo build -p framelog`; `cargo test --workspace`
//! builds it).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::routing::get;
use bytes::Bytes;
use framelog_events::TenantId;
use framelog_tests::process::FramelogProcess;
use framelog_tests::{NatsServer, TestApp};
use serde_json::{Value, json};

/// Serves the clip; the first request gets half of it, then silence (the origin stalls).
#[derive(Clone)]
struct Origin {
    clip: Bytes,
    requests: Arc<AtomicUsize>,
}

async fn clip(State(o): State<Origin>) -> Body {
    if o.requests.fetch_add(1, Ordering::SeqCst) > 0 {
        return Body::from(o.clip);
    }
    let half = o.clip.slice(..o.clip.len() / 2);
    let first = futures::stream::once(async move { Ok::<_, std::io::Error>(half) });
    Body::from_stream(futures::StreamExt::chain(first, futures::stream::pending()))
}

async fn get_json(http: &reqwest::Client, url: String, key: &str) -> (u16, Value) {
    match http.get(url).bearer_auth(key).send().await {
        Ok(r) => (r.status().as_u16(), r.json().await.unwrap_or(Value::Null)),
        Err(_) => (0, Value::Null),
    }
}

#[tokio::test]
async fn a_url_import_whose_process_is_killed_mid_fetch_is_restarted_by_another_and_arrives_once() {
    let nats = NatsServer::start();
    let platform = framelog_tests::platform(&nats).await;
    let key = platform.0.tenants.create(&TenantId::new("acme").unwrap()).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let spec = framelog_tests::media::VideoSpec::new(320, 240, 1.0);
    let path = framelog_tests::media::generate_video(work.path(), "clip.mp4", &spec);
    let requests = Arc::new(AtomicUsize::new(0));
    let origin =
        Origin { clip: Bytes::from(std::fs::read(&path).unwrap()), requests: requests.clone() };
    let origin =
        TestApp::serve(Router::new().route("/clip.mp4", get(clip)).with_state(origin)).await;
    let args: Vec<String> =
        ["--outbound-allow-private", "--ingest-url-lease", "2"].map(str::to_owned).to_vec();
    let mut a = FramelogProcess::serve(&nats.url(), &args).await;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();

    let res = http
        .post(a.url("/v1/videos"))
        .bearer_auth(&key)
        .json(&json!({"input": origin.url("/clip.mp4")}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let body: Value = res.json().await.unwrap();
    let (video, upload) = (body["video_id"].as_str().unwrap(), body["upload_id"].as_str().unwrap());
    // GET /v1/videos still answers on the same path (the projection's list).
    let (list, _) = get_json(&http, a.url("/v1/videos"), &key).await;
    assert_eq!(list, 200, "GET and POST /v1/videos are both routed");

    // Progress shows while A fetches; then A dies mid-body.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, s) = get_json(&http, a.url(&format!("/v1/videos/upload/{upload}")), &key).await;
        if s["fetch"]["bytes_received"].as_u64().unwrap_or(0) > 0 {
            assert_eq!(s["state"], "open");
            assert_eq!(s["fetch"]["status"], "fetching");
            break;
        }
        assert!(Instant::now() < deadline, "no progress reported: {s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    a.kill();

    let b = FramelogProcess::serve(&nats.url(), &args).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, v) = get_json(&http, b.url(&format!("/v1/videos/{video}")), &key).await;
        if v["status"] == "ready" {
            break;
        }
        assert!(Instant::now() < deadline, "not ready in time: {v}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(requests.load(Ordering::SeqCst), 2, "A's attempt and B's restart");
    let (_, s) = get_json(&http, b.url(&format!("/v1/videos/upload/{upload}")), &key).await;
    assert_eq!(s["fetch"]["attempts"], 2, "{s}");
    assert_eq!(s["fetch"]["status"], "completed", "{s}");

    let js = async_nats::jetstream::new(nats.client().await);
    let mut stream = js.get_stream("VID").await.unwrap();
    let last = stream.info().await.unwrap().state.last_sequence;
    let mut completed = 0;
    for seq in 1..=last {
        if let Ok(m) = stream.get_raw_message(seq).await
            && m.subject.ends_with(&format!(".{video}"))
            && m.subject.contains(".upload.completed")
        {
            completed += 1;
        }
    }
    assert_eq!(completed, 1, "the video arrived once");
}
