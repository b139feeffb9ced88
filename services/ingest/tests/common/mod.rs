//! Shared setup of the ingest tests: a real nats-server, a platform, the ingest router on a
//! random port, two tenants.
#![allow(dead_code)]

use std::sync::Arc;

use framelog_core::media::{FsMediaStore, SharedMediaStore};
use framelog_core::nats::STREAM_VID;
use framelog_events::{Event, TenantId};
use framelog_ingest::{IngestSettings, IngestState};
use framelog_tests::{NatsServer, TestApp, platform};

pub struct Env {
    pub app: TestApp,
    pub st: IngestState,
    pub key_a: String,
    pub key_b: String,
    pub media: SharedMediaStore,
    pub work: tempfile::TempDir,
    _dir: tempfile::TempDir,
    pub nats: NatsServer,
}

pub async fn env_with(settings: IngestSettings) -> Env {
    let nats = NatsServer::start();
    let (p, dir) = platform(&nats).await;
    let key_a = p.tenants.create(&TenantId::new("acme").unwrap()).await.unwrap();
    let key_b = p.tenants.create(&TenantId::new("globex").unwrap()).await.unwrap();
    let media: SharedMediaStore = Arc::new(FsMediaStore::new(dir.path().join("media")).unwrap());
    let st = IngestState::new(p.clone(), media.clone(), settings).await.unwrap();
    let router = framelog_ingest::router(st.clone()).fallback(framelog_core::error::fallback);
    let app = TestApp::serve(router).await;
    Env { app, st, key_a, key_b, media, work: tempfile::tempdir().unwrap(), _dir: dir, nats }
}

pub async fn env() -> Env {
    env_with(IngestSettings { chunk_size: 64 * 1024, ..IngestSettings::default() }).await
}

/// Every event in the VID stream, in order.
pub async fn events(env: &Env) -> Vec<Event> {
    let js = &env.st.platform.js;
    let stream = js.get_stream(STREAM_VID).await.unwrap();
    let mut info = js.get_stream(STREAM_VID).await.unwrap();
    let last = info.info().await.unwrap().state.last_sequence;
    let mut out = Vec::new();
    for seq in 1..=last {
        if let Ok(m) = stream.get_raw_message(seq).await {
            out.push(Event::from_json(&m.payload).unwrap());
        }
    }
    out
}

/// (type, phase) of each event, e.g. ("VID_UPLOAD", "completed").
pub async fn phases(env: &Env) -> Vec<(String, String)> {
    events(env)
        .await
        .iter()
        .map(|e| (e.kind().event_type().to_owned(), e.data.phase().to_owned()))
        .collect()
}

pub fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

/// Opens a REST upload for `bytes`.
pub async fn open(env: &Env, key: &str, name: &str, bytes: &[u8]) -> serde_json::Value {
    let res = env
        .app
        .http
        .post(env.app.url("/v1/videos/upload"))
        .bearer_auth(key)
        .json(&serde_json::json!({"filename": name, "size": bytes.len()}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

pub async fn put_chunk(
    env: &Env,
    key: &str,
    upload: &str,
    n: u64,
    bytes: &[u8],
) -> reqwest::Response {
    env.app
        .http
        .put(env.app.url(&format!("/v1/videos/upload/{upload}/chunk/{n}")))
        .bearer_auth(key)
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap()
}

pub async fn complete(env: &Env, key: &str, upload: &str) -> reqwest::Response {
    env.app
        .http
        .post(env.app.url(&format!("/v1/videos/upload/{upload}/complete")))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
}

/// PUTs every chunk of `bytes` (each must be accepted).
pub async fn upload_all(env: &Env, key: &str, upload: &str, bytes: &[u8], chunk: usize) {
    for (n, c) in bytes.chunks(chunk).enumerate() {
        let res = put_chunk(env, key, upload, n as u64, c).await;
        assert_eq!(res.status(), 200, "chunk {n}");
    }
}

/// The JSON error code of a response.
pub async fn code(res: reqwest::Response) -> (u16, String) {
    let status = res.status().as_u16();
    let body: serde_json::Value = res.json().await.expect("JSON error body");
    (status, body["error"]["code"].as_str().unwrap_or("").to_owned())
}
