//! URL ingest against a real origin: an axum server in the test on loopback serving an
//! ffmpeg-made clip, a 404, bodies over the limit (with and without `Content-Length`), a
//! stalled body and a redirect; real nats-server, real ffprobe at completion. The loopback
//! origin needs `outbound_allow_private`, except in the test that checks the default refuses it.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::routing::get;
use bytes::Bytes;
use common::{Env, env, sha256_hex};
use framelog_core::media::{FsMediaStore, SharedMediaStore, source_key};
use framelog_events::{EventData, TenantId, UploadData};
use framelog_ingest::{IngestSettings, IngestState};
use framelog_tests::{NatsServer, TestApp};
use serde_json::{Value, json};

#[derive(Clone)]
struct Origin {
    clip: Bytes,
    big: usize,
}

fn origin_router(o: Origin) -> Router {
    Router::new()
        .route("/clip.mp4", get(|State(o): State<Origin>| async move { o.clip }))
        .route("/hop", get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/clip.mp4")]) }))
        .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
        .route("/big", get(|State(o): State<Origin>| async move { vec![7u8; o.big] }))
        .route(
            "/big-chunked",
            get(|State(o): State<Origin>| async move {
                let chunks = (0..o.big.div_ceil(16 * 1024))
                    .map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![7u8; 16 * 1024])));
                Body::from_stream(futures::stream::iter(chunks))
            }),
        )
        .route(
            "/stall",
            get(|| async {
                let first = futures::stream::once(async {
                    Ok::<_, std::io::Error>(Bytes::from(vec![1u8; 1000]))
                });
                Body::from_stream(futures::StreamExt::chain(first, futures::stream::pending()))
            }),
        )
        .with_state(o)
}

/// Ingest with the outbound policy opened for loopback, a tenant, and an origin.
struct UrlEnv {
    app: TestApp,
    origin: TestApp,
    st: IngestState,
    key: String,
    media: SharedMediaStore,
    clip: Bytes,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    _s3: Option<framelog_tests::SeaweedFs>,
    _nats: NatsServer,
}

async fn url_env(settings: IngestSettings) -> UrlEnv {
    url_env_on(settings, false).await
}

/// [`url_env`] with the media store on a real SeaweedFS (`s3`) or the filesystem.
async fn url_env_on(settings: IngestSettings, s3: bool) -> UrlEnv {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut common = framelog_core::CommonSettings::for_test(&nats.url(), dir.path().to_path_buf());
    common.outbound_allow_private = true;
    let p = framelog_core::Platform::start(common, "framelog-test", Duration::from_secs(10))
        .await
        .unwrap();
    let key = p.tenants.create(&TenantId::new("acme").unwrap()).await.unwrap();
    let (media, seaweed): (SharedMediaStore, _) = if s3 {
        let seaweed = framelog_tests::SeaweedFs::start().await;
        let bucket = format!("url-{}", uuid::Uuid::now_v7().simple());
        let store =
            framelog_core::media_s3::S3MediaStore::open(&seaweed.settings(&bucket), &p.js, 1)
                .await
                .unwrap();
        (Arc::new(store), Some(seaweed))
    } else {
        (Arc::new(FsMediaStore::new(dir.path().join("media")).unwrap()), None)
    };
    let st = IngestState::new(p, media.clone(), settings).await.unwrap();
    let app = TestApp::serve(
        framelog_ingest::router(st.clone()).fallback(framelog_core::error::fallback),
    )
    .await;
    let work = tempfile::tempdir().unwrap();
    let spec = framelog_tests::media::VideoSpec::new(320, 240, 1.0);
    let clip = Bytes::from(
        std::fs::read(framelog_tests::media::generate_video(work.path(), "clip.mp4", &spec))
            .unwrap(),
    );
    let origin = TestApp::serve(origin_router(Origin { clip: clip.clone(), big: 300_000 })).await;
    UrlEnv { app, origin, st, key, media, clip, _dirs: (dir, work), _s3: seaweed, _nats: nats }
}

async fn post(app: &TestApp, key: &str, body: Value) -> reqwest::Response {
    app.http.post(app.url("/v1/videos")).bearer_auth(key).json(&body).send().await.unwrap()
}

impl UrlEnv {
    /// Imports `path` of the origin; answers the 202 body.
    async fn import(&self, path: &str) -> Value {
        let res = post(&self.app, &self.key, json!({"input": self.origin.url(path)})).await;
        assert_eq!(res.status(), 202);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["status"], "fetching");
        body
    }

    /// Polls `GET /v1/videos/upload/{id}` until the upload leaves `open` (30 s at most).
    async fn settled(&self, upload_id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let res =
                self.app.get(&format!("/v1/videos/upload/{upload_id}"), Some(&self.key)).await;
            assert_eq!(res.status(), 200);
            let body: Value = res.json().await.unwrap();
            if body["state"] != "open" {
                return body;
            }
            assert!(Instant::now() < deadline, "still fetching after 30 s: {body}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Imports `path`, expects a rejection with `code`, and that no byte of it is left.
    async fn refused(&self, path: &str, code: &str) {
        let body = self.import(path).await;
        let up = body["upload_id"].as_str().unwrap();
        let s = self.settled(up).await;
        assert_eq!(s["state"], "rejected", "{s}");
        assert_eq!(s["error"]["code"], code, "{s}");
        assert_eq!(s["fetch"]["status"], "failed", "{s}");
        let part = self.st.uploads_dir.join(format!("{up}.part"));
        assert!(!part.exists(), "the part file of a refused import is removed");
        let key = source_key("acme", body["video_id"].as_str().unwrap());
        assert!(!self.media.exists(&key).await.unwrap(), "no source is stored");
        let evs = common_events(&self.st).await;
        assert!(evs.iter().any(|e| matches!(&e.data,
            EventData::Upload(UploadData::Rejected { code: c, .. }) if c == code)));
    }
}

async fn common_events(st: &IngestState) -> Vec<framelog_events::Event> {
    let stream = st.platform.js.get_stream(framelog_core::nats::STREAM_VID).await.unwrap();
    let mut info = stream.clone();
    let last = info.info().await.unwrap().state.last_sequence;
    let mut out = Vec::new();
    for seq in 1..=last {
        if let Ok(m) = stream.get_raw_message(seq).await {
            out.push(framelog_events::Event::from_json(&m.payload).unwrap());
        }
    }
    out
}

fn phases(evs: &[framelog_events::Event]) -> Vec<(String, String)> {
    evs.iter().map(|e| (e.kind().event_type().to_owned(), e.data.phase().to_owned())).collect()
}

#[tokio::test]
async fn a_video_imported_from_a_url_completes_like_an_upload_with_the_files_sha256() {
    let env = url_env(IngestSettings::default()).await;
    // Download progress goes where transcode progress goes (what `/v1/events` relays).
    let mut progress = env.st.platform.nats.subscribe("vidp.acme.upload.>").await.unwrap();
    let body = env.import("/clip.mp4").await;
    let s = env.settled(body["upload_id"].as_str().unwrap()).await;
    let fetched = tokio::time::timeout(Duration::from_secs(5), async {
        use futures::StreamExt as _;
        loop {
            let m = progress.next().await.expect("the subscription stays open");
            let v: Value = serde_json::from_slice(&m.payload).unwrap();
            if v["stage"] == "fetched" {
                return (m.subject.to_string(), v);
            }
        }
    })
    .await
    .expect("a `fetched` progress message");
    assert_eq!(fetched.0, format!("vidp.acme.upload.{}", body["video_id"].as_str().unwrap()));
    assert_eq!(fetched.1["bytes"], env.clip.len());
    assert_eq!(fetched.1["total_bytes"], env.clip.len(), "the origin sent a Content-Length");
    assert_eq!(fetched.1["percent"], 100.0);
    assert_eq!(s["state"], "completed", "{s}");
    assert_eq!(s["fetch"]["status"], "completed");
    assert_eq!(s["fetch"]["bytes_received"], env.clip.len());
    let evs = common_events(&env.st).await;
    let (up, tr) = ("VID_UPLOAD".to_owned(), "VID_TRANSCODE".to_owned());
    assert_eq!(
        phases(&evs),
        vec![(up.clone(), "initiated".into()), (up, "completed".into()), (tr, "requested".into())]
    );
    let (sha, size, key) = evs
        .iter()
        .find_map(|e| match &e.data {
            EventData::Upload(UploadData::Completed { sha256, size, source_key, .. }) => {
                Some((sha256.clone(), *size, source_key.clone()))
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(sha, sha256_hex(&env.clip), "the sha256 is the origin file's");
    assert_eq!(size, env.clip.len() as u64);
    assert_eq!(env.media.get_bytes(&key).await.unwrap(), env.clip, "the stored source is the file");
}

#[tokio::test]
async fn one_redirect_is_followed_to_the_source() {
    let env = url_env(IngestSettings::default()).await;
    let body = env.import("/hop").await;
    let s = env.settled(body["upload_id"].as_str().unwrap()).await;
    assert_eq!(s["state"], "completed", "{s}");
    assert_eq!(s["size"], env.clip.len());
}

#[tokio::test]
async fn with_the_default_policy_a_loopback_url_answers_422_and_creates_nothing() {
    let env: Env = env().await;
    let origin = TestApp::serve(Router::new().route("/v.mp4", get(|| async { "x" }))).await;
    let res = post(&env.app, &env.key_a, json!({"input": origin.url("/v.mp4")})).await;
    assert_eq!(common::code(res).await, (422, "input_forbidden".to_owned()));
    let res = post(&env.app, &env.key_a, json!({"input": "ftp://example.com/v.mp4"})).await;
    assert_eq!(common::code(res).await, (400, "invalid_input".to_owned()));
    let res = post(&env.app, &env.key_a, json!({"inptu": "https://example.com/v.mp4"})).await;
    assert_eq!(res.status().as_u16() / 100, 4, "an unknown field is refused");
    assert!(common::events(&env).await.is_empty(), "no event was published");
    assert!(env.st.sessions.all().await.unwrap().is_empty(), "no upload session exists");
}

#[tokio::test]
async fn an_origin_404_rejects_the_upload_with_input_http_404() {
    let env = url_env(IngestSettings::default()).await;
    env.refused("/missing", "input_http_404").await;
}

#[tokio::test]
async fn an_origin_over_the_size_limit_is_refused_with_or_without_a_content_length() {
    let env =
        url_env(IngestSettings { max_upload_size: 100_000, ..IngestSettings::default() }).await;
    env.refused("/big", "input_too_large").await;
    env.refused("/big-chunked", "input_too_large").await;
}

#[tokio::test]
async fn a_stalled_origin_ends_in_input_timeout() {
    let settings = IngestSettings { url_read_timeout_secs: 1, ..IngestSettings::default() };
    let env = url_env(settings).await;
    let t = Instant::now();
    env.refused("/stall", "input_timeout").await;
    assert!(t.elapsed() < Duration::from_secs(15), "timed out after {:?}", t.elapsed());
}

#[tokio::test]
async fn on_s3_an_import_streams_into_the_multipart_upload_and_a_refused_one_leaves_nothing() {
    let settings = IngestSettings { max_upload_size: 250_000, ..IngestSettings::default() };
    let mut env = url_env_on(settings, true).await;
    env.refused("/big-chunked", "input_too_large").await;
    // The clip itself, under a limit it fits.
    env.st =
        IngestState::new(env.st.platform.clone(), env.media.clone(), IngestSettings::default())
            .await
            .unwrap();
    env.app = TestApp::serve(
        framelog_ingest::router(env.st.clone()).fallback(framelog_core::error::fallback),
    )
    .await;
    let body = env.import("/clip.mp4").await;
    let s = env.settled(body["upload_id"].as_str().unwrap()).await;
    assert_eq!(s["state"], "completed", "{s}");
    assert!(
        !env.st.uploads_dir.join(format!("{}.part", s["upload_id"].as_str().unwrap())).exists()
    );
    let key = source_key("acme", body["video_id"].as_str().unwrap());
    let stored = env.media.get_bytes(&key).await.unwrap();
    assert_eq!(sha256_hex(&stored), sha256_hex(&env.clip), "the assembled object is the file");
}

#[tokio::test]
async fn a_url_upload_takes_no_bytes_or_completion_from_a_client_while_it_fetches() {
    let env = url_env(IngestSettings::default()).await;
    let body = env.import("/stall").await;
    let up = body["upload_id"].as_str().unwrap();
    let url = env.app.url(&format!("/v1/videos/upload/{up}/complete"));
    let res = env.app.http.post(url).bearer_auth(&env.key).send().await.unwrap();
    assert_eq!(common::code(res).await, (409, "upload_fetching".to_owned()));
    let res = env
        .app
        .http
        .patch(env.app.url(&format!("/v1/tus/{up}")))
        .bearer_auth(&env.key)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", "0")
        .header("Content-Type", "application/offset+octet-stream")
        .body(Vec::new())
        .send()
        .await
        .unwrap();
    assert_eq!(common::code(res).await, (409, "upload_fetching".to_owned()));
    let res = env.app.get(&format!("/v1/videos/upload/{up}"), Some(&env.key)).await;
    let s: Value = res.json().await.unwrap();
    assert_eq!(
        (s["state"].as_str(), s["fetch"]["status"].as_str()),
        (Some("open"), Some("fetching"))
    );
}
