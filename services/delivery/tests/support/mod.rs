//! Shared by the delivery tests: the Python receiver (verifying with `standardwebhooks`),
//! events published through the real event log, and small HTTP helpers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use framelog_events::data::{ReadyData, UploadData};
use framelog_events::{AggregateId, Event, EventData, TenantId};
use serde_json::{Value, json};

/// The receiver script under `.tools/venv/bin/python`; killed on drop.
pub struct Receiver {
    child: Child,
    pub port: u16,
    http: reqwest::Client,
}

impl Receiver {
    pub fn start() -> Receiver {
        let root = framelog_tests::tools::workspace_root();
        let python = root.join(".tools/venv/bin/python");
        let script = root.join("services/delivery/tests/receiver.py");
        let mut child = Command::new(python)
            .arg(script)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python receiver (deploy/bootstrap.sh installs .tools/venv)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().strip_prefix("listening ").expect("receiver port").parse().unwrap();
        Receiver { child, port, http: framelog_tests::app::http_client() }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// `path` verifies with `secrets` and answers `plan` in turn, then 200.
    pub async fn config(&self, path: &str, secrets: &[&str], plan: &[u16]) {
        let body = json!({"path": path, "secrets": secrets, "plan": plan, "default": 200});
        let r = self.http.post(self.url("/_config")).json(&body).send().await.unwrap();
        assert!(r.status().is_success());
    }

    pub async fn results(&self) -> Vec<Value> {
        let r = self.http.get(self.url("/_results")).send().await.unwrap();
        r.json::<Vec<Value>>().await.unwrap()
    }

    /// The deliveries to `path`.
    pub async fn at(&self, path: &str) -> Vec<Value> {
        self.results().await.into_iter().filter(|r| r["path"] == path).collect()
    }

    /// Waits (up to `secs`) until `path` has at least `n` deliveries; returns them.
    pub async fn wait_for(&self, path: &str, n: usize, secs: u64) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let got = self.at(path).await;
            if got.len() >= n {
                return got;
            }
            assert!(Instant::now() < deadline, "{path}: {} of {n} deliveries: {got:#?}", got.len());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What the package says about this body and these headers with `secret`.
    pub async fn verify(&self, secret: &str, body: &str, headers: &Value) -> (bool, String) {
        let req = json!({"secret": secret, "body": body, "headers": headers});
        let v: Value = self
            .http
            .post(self.url("/_verify"))
            .json(&req)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (v["ok"].as_bool().unwrap(), v["error"].as_str().unwrap_or_default().to_owned())
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn event(tenant: &str, video: &str, data: impl Into<EventData>) -> Event {
    Event::new(
        uuid::Uuid::now_v7(),
        time::OffsetDateTime::now_utc(),
        "framelog/test",
        TenantId::new(tenant).unwrap(),
        AggregateId::new(video).unwrap(),
        data,
    )
}

/// A `VID_READY published` of a new video.
pub fn ready(tenant: &str) -> Event {
    let video = format!("vid_{}", uuid::Uuid::now_v7().simple());
    event(
        tenant,
        &video,
        ReadyData::Published {
            renditions: vec!["360p".into()],
            duration_secs: 2.0,
            poster: "poster.jpg".into(),
            storyboard: "storyboard.vtt".into(),
            audio_only: false,
        },
    )
}

/// A `VID_UPLOAD aborted` of a new video.
pub fn aborted(tenant: &str) -> Event {
    let video = format!("vid_{}", uuid::Uuid::now_v7().simple());
    event(
        tenant,
        &video,
        UploadData::Aborted { upload_id: format!("up_{}", uuid::Uuid::now_v7().simple()) },
    )
}

/// Publishes through the real event log and waits for the ack.
pub async fn publish(platform: &framelog_core::Platform, e: &Event) {
    let r = platform.events.publish(e).await.expect("published");
    assert!(matches!(r, framelog_core::eventlog::Published::Stored { .. }), "{r:?}");
}

/// Sends a request with the tenant's key; returns status and JSON body (Null if none).
pub async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    key: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http.request(method, url).bearer_auth(key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Waits (up to `secs`) until `check` holds for the endpoint's attempts; returns them.
pub async fn wait_attempts(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    id: &str,
    secs: u64,
    check: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let (s, v) = call(
            http,
            reqwest::Method::GET,
            &format!("{base}/v1/webhooks/{id}/attempts"),
            key,
            None,
        )
        .await;
        assert_eq!(s, 200, "{v}");
        let list = v["attempts"].as_array().cloned().unwrap_or_default();
        if check(&list) {
            return list;
        }
        assert!(Instant::now() < deadline, "attempts never matched: {list:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
