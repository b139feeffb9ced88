//! Per-tenant quotas on upload creation (open uploads, storage) over REST and tus, and a full
//! JetStream store answering 507 instead of 500.

mod common;

use std::sync::Arc;

use common::*;
use framelog_core::eventlog::EventLogError;
use framelog_core::media::{FsMediaStore, SharedMediaStore};
use framelog_events::TenantId;
use framelog_ingest::{IngestSettings, IngestState};
use framelog_tests::{NatsServer, TestApp, platform};
use serde_json::json;

async fn create(env: &Env, key: &str, size: u64) -> reqwest::Response {
    env.app
        .http
        .post(env.app.url("/v1/videos/upload"))
        .bearer_auth(key)
        .json(&json!({"filename": "a.mp4", "size": size}))
        .send()
        .await
        .unwrap()
}

async fn tus_create(env: &Env, key: &str, size: u64) -> reqwest::Response {
    env.app
        .http
        .post(env.app.url("/v1/tus/"))
        .bearer_auth(key)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", size.to_string())
        .send()
        .await
        .unwrap()
}

async fn abort(env: &Env, key: &str, upload: &str) {
    let res = env
        .app
        .http
        .delete(env.app.url(&format!("/v1/videos/upload/{upload}")))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "abort answered {}", res.status());
}

#[tokio::test]
async fn a_tenant_at_its_open_upload_quota_gets_429_over_rest_and_tus_until_one_is_aborted() {
    let env = env_with(IngestSettings { max_open_uploads: 3, ..Default::default() }).await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let res = create(&env, &env.key_a, 100).await;
        assert_eq!(res.status(), 201);
        ids.push(
            res.json::<serde_json::Value>().await.unwrap()["upload_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(tus_create(&env, &env.key_a, 100).await.status(), 201, "tus counts too");

    let res = create(&env, &env.key_a, 100).await;
    assert_eq!(res.headers()["retry-after"], "60");
    assert_eq!(code(res).await, (429, "too_many_open_uploads".into()));
    let res = tus_create(&env, &env.key_a, 100).await;
    assert_eq!(res.headers()["tus-resumable"], "1.0.0");
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(code(res).await, (429, "too_many_open_uploads".into()));
    assert_eq!(create(&env, &env.key_b, 100).await.status(), 201, "globex has its own quota");

    abort(&env, &env.key_a, &ids[0]).await;
    assert_eq!(create(&env, &env.key_a, 100).await.status(), 201, "an aborted upload frees a slot");
    assert_eq!(create(&env, &env.key_a, 100).await.status(), 429);
}

#[tokio::test]
async fn an_upload_that_would_pass_the_storage_quota_is_413_storage_quota_exceeded() {
    let env = env_with(IngestSettings { storage_quota_bytes: 1000, ..Default::default() }).await;
    let res = create(&env, &env.key_a, 600).await;
    assert_eq!(res.status(), 201);
    let big: serde_json::Value = res.json().await.unwrap();
    let res = create(&env, &env.key_a, 401).await;
    assert_eq!(code(res).await, (413, "storage_quota_exceeded".into()));
    assert_eq!(code(tus_create(&env, &env.key_a, 401).await).await.1, "storage_quota_exceeded");
    assert_eq!(create(&env, &env.key_a, 400).await.status(), 201, "exactly the quota fits");
    assert_eq!(create(&env, &env.key_b, 1000).await.status(), 201, "per tenant");
    abort(&env, &env.key_a, big["upload_id"].as_str().unwrap()).await;
    assert_eq!(create(&env, &env.key_a, 600).await.status(), 201, "aborted bytes are released");
}

#[tokio::test]
async fn a_full_jetstream_store_answers_507_with_the_json_shape_not_500() {
    let nats = NatsServer::start_with_conf("jetstream {\n  max_file_store: 8MB\n}");
    // The topology fits the small store (stream limits are lowered until they can be reserved).
    let (p, data) = platform(&nats).await;
    let key = p.tenants.create(&TenantId::new("acme").unwrap()).await.unwrap();
    let media: SharedMediaStore = Arc::new(FsMediaStore::new(data.path().join("media")).unwrap());
    let st = IngestState::new(p.clone(), media, IngestSettings::default()).await.unwrap();
    let app = TestApp::serve(framelog_ingest::router(st)).await;

    // Fill the store with domain-log events until JetStream refuses one.
    let filler = bytes::Bytes::from(vec![b'x'; 256 * 1024]);
    let mut full = false;
    for i in 0..200 {
        let subject = format!("vid.acme.upload.initiated.vid_fill{i}");
        let ack = match p.js.publish(subject, filler.clone()).await {
            Ok(f) => f.await,
            Err(e) => panic!("send failed: {e}"),
        };
        if let Err(e) = ack {
            assert!(framelog_core::eventlog::is_store_full(&e), "not a store-full error: {e}");
            eprintln!("store full: {e}");
            full = true;
            break;
        }
    }
    assert!(full, "an 8 MB store took 50 MB");

    let res = app
        .http
        .post(app.url("/v1/videos/upload"))
        .bearer_auth(&key)
        .json(&json!({"filename": "a.mp4", "size": 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 507);
    assert_eq!(res.headers()["retry-after"], "60");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "storage_full", "{body}");
    assert!(body["error"]["message"].is_string());
    assert_eq!(p.events.outbox_len(), 0, "a refused event is not parked in the outbox");

    let e = framelog_events::Event::new(
        uuid::Uuid::now_v7(),
        time::OffsetDateTime::now_utc(),
        "test",
        TenantId::new("acme").unwrap(),
        framelog_core::new_id("vid"),
        framelog_events::data::UploadData::Aborted { upload_id: "up_x".into() },
    );
    assert!(matches!(p.events.publish(&e).await, Err(EventLogError::StoreFull { .. })));
}

#[tokio::test]
async fn a_stream_at_its_own_byte_limit_is_recognised_as_full() {
    use async_nats::jetstream::stream;
    let nats = NatsServer::start();
    let js = async_nats::jetstream::new(nats.client().await);
    js.create_stream(stream::Config {
        name: "TINY".into(),
        subjects: vec!["tiny.>".into()],
        max_bytes: 64 * 1024,
        discard: stream::DiscardPolicy::New,
        ..Default::default()
    })
    .await
    .unwrap();
    let payload = bytes::Bytes::from(vec![b'x'; 16 * 1024]);
    for i in 0..20 {
        if let Err(e) = js.publish(format!("tiny.{i}"), payload.clone()).await.unwrap().await {
            eprintln!("stream full: {e}");
            assert_eq!(framelog_core::eventlog::jetstream_code(&e), Some(10077), "{e}");
            assert!(framelog_core::eventlog::is_store_full(&e));
            return;
        }
    }
    panic!("a 64 KiB stream took 320 KiB");
}
