//! Direct uploads through the real `framelog serve` (every service): the token uploads its one
//! video with tuspy (a third-party tus client), the catalog shows the direct upload's title and
//! external id, and the token cannot list, read or delete videos.

mod common;

use std::time::{Duration, Instant};

use common::*;
use framelog_tests::NatsServer;
use framelog_tests::media::{VideoSpec, generate_video};
use framelog_tests::tools::workspace_root;
use serde_json::{Value, json};

#[tokio::test]
async fn tuspy_uploads_through_a_direct_url_and_the_token_is_no_api_key() {
    let nats = NatsServer::start();
    let served = serve(&nats.url(), &[]);
    let key = tenant(&nats.url(), "acme");
    let http = reqwest::Client::new();
    let work = tempfile::tempdir().unwrap();
    let file = generate_video(work.path(), "clip.mp4", &VideoSpec::new(320, 240, 2.0));
    let d: Value = http
        .post(format!("{}/v1/uploads/direct", served.base))
        .bearer_auth(&key)
        .json(&json!({"title": "Direct", "external_id": "ext-1"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = d["url"].as_str().unwrap().to_owned();
    let video = d["video_id"].as_str().unwrap().to_owned();
    let token = url.rsplit('/').next().unwrap().to_owned();

    // tuspy, with no API key: only the URL.
    let script = r#"
import sys
from tusclient import client
c = client.TusClient(sys.argv[1])
u = c.uploader(sys.argv[2], chunk_size=65536, metadata={"filename": "clip.mp4"})
u.upload()
print(u.url)
"#;
    let python = workspace_root().join(".tools/venv/bin/python");
    let out =
        std::process::Command::new(python).args(["-c", script, &url]).arg(&file).output().unwrap();
    assert!(out.status.success(), "tuspy: {}", String::from_utf8_lossy(&out.stderr));
    let location = String::from_utf8_lossy(&out.stdout);
    assert!(location.contains(&format!("/v1/direct/{token}/up_")), "{location}");

    // The catalog has the video under the chosen id with the direct upload's fields.
    let deadline = Instant::now() + Duration::from_secs(20);
    let entry = loop {
        let res = http
            .get(format!("{}/v1/videos/{video}", served.base))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        if res.status() == 200 {
            break res.json::<Value>().await.unwrap();
        }
        assert!(Instant::now() < deadline, "the video never reached the catalog");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        (entry["title"].as_str(), entry["external_id"].as_str()),
        (Some("Direct"), Some("ext-1"))
    );

    // The token opens nothing else.
    for (method, path) in [
        (reqwest::Method::GET, "/v1/videos".to_owned()),
        (reqwest::Method::GET, format!("/v1/videos/{video}")),
        (reqwest::Method::DELETE, format!("/v1/videos/{video}")),
        (reqwest::Method::GET, "/v1/events".to_owned()),
    ] {
        let res =
            http.request(method.clone(), format!("{}{path}", served.base)).bearer_auth(&token);
        assert_eq!(res.send().await.unwrap().status(), 401, "{method} {path}");
    }
    let again = http
        .post(&url)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", "10")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409);
}
