//! Shared setup of the live tests.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use framelog_core::media::{FsMediaStore, SharedMediaStore};
use framelog_core::nats::STREAM_VID;
use framelog_core::service::ServiceContext;
use framelog_events::{Event, TenantId};
use framelog_ingest::IngestSettings;
use framelog_live::{LiveSettings, LiveState};
use framelog_tests::{NatsServer, TestApp, platform};

pub struct Env {
    pub app: TestApp,
    pub st: LiveState,
    pub key_a: String,
    pub key_b: String,
    pub media: SharedMediaStore,
    /// The webhook secret live-auth requires (generated into the data dir unless set).
    pub hook_secret: String,
    /// The platform's data dir.
    pub dir: tempfile::TempDir,
    pub nats: NatsServer,
}

pub async fn env_with(settings: LiveSettings) -> Env {
    env_on(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(), settings).await
}

/// The env served on `listener` (bound earlier so its URL can be given to nginx first).
pub async fn env_on(listener: tokio::net::TcpListener, settings: LiveSettings) -> Env {
    env_on_nats(listener, settings, NatsServer::start()).await
}

/// The env on a given server (e.g. one with a small JetStream store).
pub async fn env_on_nats(
    listener: tokio::net::TcpListener,
    settings: LiveSettings,
    nats: NatsServer,
) -> Env {
    let (p, dir) = platform(&nats).await;
    env_on_platform(listener, settings, nats, p, dir).await
}

/// The env with the JetStream duplicate window of `VID` shrunk to `window` (exactly-once
/// tests: a repeat after it is stopped only by the subject's expected sequence).
pub async fn env_with_window(settings: LiveSettings, window: Duration) -> Env {
    let nats = NatsServer::start();
    let dir = tempfile::Builder::new().prefix("framelog-data-").tempdir().unwrap();
    let mut common = framelog_core::CommonSettings::for_test(&nats.url(), dir.path().to_path_buf());
    common.nats_duplicate_window = window;
    let p = framelog_core::Platform::start(common, "framelog-test", Duration::from_secs(10))
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    env_on_platform(listener, settings, nats, p, dir).await
}

async fn env_on_platform(
    listener: tokio::net::TcpListener,
    settings: LiveSettings,
    nats: NatsServer,
    p: framelog_core::Platform,
    dir: tempfile::TempDir,
) -> Env {
    let key_a = p.tenants.create(&TenantId::new("acme").unwrap()).await.unwrap();
    let key_b = p.tenants.create(&TenantId::new("globex").unwrap()).await.unwrap();
    let media: SharedMediaStore = Arc::new(FsMediaStore::new(dir.path().join("media")).unwrap());
    let ctx = ServiceContext { platform: p, media: media.clone(), shutdown: Default::default() };
    let st = framelog_live::state(&ctx, settings, IngestSettings::default()).await.unwrap();
    let router = framelog_live::router(st.clone()).fallback(framelog_core::error::fallback);
    let app = TestApp::serve_on(listener, router).await;
    let hook_secret = st.hook_secret.expose().to_owned();
    Env { app, st, key_a, key_b, media, hook_secret, dir, nats }
}

pub async fn env() -> Env {
    env_with(LiveSettings::default()).await
}

/// Every event in the VID stream.
pub async fn events(env: &Env) -> Vec<Event> {
    let js = &env.st.platform.js;
    let stream = js.get_stream(STREAM_VID).await.unwrap();
    let last = js.get_stream(STREAM_VID).await.unwrap().info().await.unwrap().state.last_sequence;
    let mut out = Vec::new();
    for seq in 1..=last {
        if let Ok(m) = stream.get_raw_message(seq).await {
            out.push(Event::from_json(&m.payload).unwrap());
        }
    }
    out
}

pub async fn phases(env: &Env) -> Vec<String> {
    events(env).await.iter().map(|e| format!("{}:{}", e.kind().token(), e.data.phase())).collect()
}

/// Waits until an event with `kind:phase` exists (or panics after `secs`).
pub async fn wait_for(env: &Env, phase: &str, secs: u64) -> Event {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(e) = events(env)
            .await
            .into_iter()
            .find(|e| format!("{}:{}", e.kind().token(), e.data.phase()) == phase)
        {
            return e;
        }
        assert!(
            Instant::now() < deadline,
            "no {phase} event within {secs}s; saw {:?}",
            phases(env).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Creates a stream; returns the JSON answer.
pub async fn create_stream(env: &Env, key: &str, name: &str, record: bool) -> serde_json::Value {
    let res = env
        .app
        .http
        .post(env.app.url("/v1/streams"))
        .bearer_auth(key)
        .json(&serde_json::json!({"name": name, "record": record}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

pub async fn post(env: &Env, key: &str, path: &str) -> reqwest::Response {
    env.app.http.post(env.app.url(path)).bearer_auth(key).send().await.unwrap()
}

/// A webhook call with the secret in the query, as the media servers send it.
pub fn hook(env: &Env, path: &str) -> reqwest::RequestBuilder {
    let sep = if path.contains('?') { '&' } else { '?' };
    env.app.http.post(env.app.url(&format!("{path}{sep}secret={}", env.hook_secret)))
}

pub async fn mtx_auth(env: &Env, body: serde_json::Value) -> reqwest::Response {
    hook(env, "/v1/hooks/mediamtx/auth").json(&body).send().await.unwrap()
}

pub async fn mtx_event(env: &Env, body: serde_json::Value) -> reqwest::Response {
    hook(env, "/v1/hooks/mediamtx/event").json(&body).send().await.unwrap()
}

/// An nginx-rtmp callback (form body) with the secret.
pub async fn nginx_hook(env: &Env, call: &str, form: &[(&str, &str)]) -> reqwest::Response {
    let enc = |v: &str| -> String {
        v.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    let body: Vec<String> = form.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect();
    hook(env, &format!("/v1/hooks/nginx-rtmp/{call}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.join("&"))
        .send()
        .await
        .unwrap()
}

/// Live events (`live:<phase>`) written so far.
pub async fn live_phases(env: &Env) -> Vec<String> {
    phases(env).await.into_iter().filter(|p| p.starts_with("live:")).collect()
}

pub async fn code(res: reqwest::Response) -> (u16, String) {
    let status = res.status().as_u16();
    let body: serde_json::Value = res.json().await.unwrap_or_default();
    (status, body["error"]["code"].as_str().unwrap_or("").to_owned())
}
