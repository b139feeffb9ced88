//! Two ingest replicas on one NATS share upload sessions (NATS KV): any replica accepts any
//! request of any upload, and quotas are global. Both replicas share one media and uploads
//! directory here (the filesystem store); what is tested is the shared session.

mod common;

use std::sync::Arc;

use common::*;
use framelog_events::{AggregateId, SourceKind, TenantId, UploadProtocol};
use framelog_ingest::session::{ChunkRecord, SessionState, UploadSession};
use framelog_ingest::{IngestSettings, IngestState};
use framelog_tests::TestApp;
use framelog_tests::media::{VideoSpec, generate_video};
use time::OffsetDateTime;

/// A second replica of `env`'s ingest: its own platform (sled, process state) on the same
/// NATS, the same media store and uploads directory.
async fn second_replica(
    env: &Env,
    settings: IngestSettings,
) -> (TestApp, IngestState, tempfile::TempDir) {
    let (p2, dir2) = framelog_tests::platform(&env.nats).await;
    std::os::unix::fs::symlink(&env.st.uploads_dir, dir2.path().join("uploads")).unwrap();
    let st2 = IngestState::new(p2, Arc::clone(&env.media), settings).await.unwrap();
    assert_eq!(st2.uploads_dir.canonicalize().unwrap(), env.st.uploads_dir.canonicalize().unwrap());
    let router = framelog_ingest::router(st2.clone()).fallback(framelog_core::error::fallback);
    (TestApp::serve(router).await, st2, dir2)
}

fn tus(app: &TestApp, key: &str, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    app.http.request(method, app.url(path)).bearer_auth(key).header("tus-resumable", "1.0.0")
}

#[tokio::test]
async fn rest_chunks_alternating_between_two_replicas_complete_and_tus_and_abort_work_on_either() {
    let env = env().await;
    let (app2, _st2, _dir2) = second_replica(&env, IngestSettings::default()).await;
    let file = generate_video(env.work.path(), "clip.mp4", &VideoSpec::new(320, 240, 2.0));
    let bytes = std::fs::read(file).unwrap();
    let up = open(&env, &env.key_a, "clip.mp4", &bytes).await;
    let id = up["upload_id"].as_str().unwrap().to_owned();
    let chunk = up["chunk_size"].as_u64().unwrap() as usize;
    let parts: Vec<&[u8]> = bytes.chunks(chunk).collect();
    assert!(parts.len() >= 3, "the clip spans several chunks");
    for (n, c) in parts.iter().enumerate() {
        let app = if n % 2 == 0 { &env.app } else { &app2 };
        let url = app.url(&format!("/v1/videos/upload/{id}/chunk/{n}"));
        let res = app.http.put(url).bearer_auth(&env.key_a).body(c.to_vec()).send().await.unwrap();
        assert_eq!(res.status(), 200, "chunk {n}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["received_chunks"], n as u64 + 1, "each replica sees every chunk: {body}");
    }
    // A chunk sent again to the other replica is a duplicate, not a second copy.
    let url = app2.url(&format!("/v1/videos/upload/{id}/chunk/0"));
    let res = app2.http.put(url).bearer_auth(&env.key_a).body(parts[0].to_vec()).send().await;
    let body: serde_json::Value = res.unwrap().json().await.unwrap();
    assert_eq!(body["duplicate"], true, "{body}");
    let status: serde_json::Value =
        app2.get(&format!("/v1/videos/upload/{id}"), Some(&env.key_a)).await.json().await.unwrap();
    assert_eq!(status["missing"], serde_json::json!([]), "{status}");
    let url = app2.url(&format!("/v1/videos/upload/{id}/complete"));
    let res = app2.http.post(url).bearer_auth(&env.key_a).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let done: serde_json::Value = res.json().await.unwrap();
    assert_eq!(done["sha256"], sha256_hex(&bytes));
    let again: serde_json::Value = complete(&env, &env.key_a, &id).await.json().await.unwrap();
    assert_eq!(again["sha256"], done["sha256"], "completion is idempotent across replicas");
    let p = phases(&env).await;
    assert_eq!(p.iter().filter(|(_, ph)| ph == "completed").count(), 1);

    // tus: created on one replica, HEAD and PATCH on the other.
    let res = tus(&env.app, &env.key_a, reqwest::Method::POST, "/v1/tus/")
        .header("upload-length", "10")
        .header("content-type", "application/offset+octet-stream")
        .body("01234")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let loc = res.headers()["location"].to_str().unwrap().to_owned();
    let head = tus(&app2, &env.key_a, reqwest::Method::HEAD, &loc).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["upload-offset"], "5");
    let stale = tus(&app2, &env.key_a, reqwest::Method::PATCH, &loc)
        .header("upload-offset", "3")
        .header("content-type", "application/offset+octet-stream")
        .body("34567")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 409, "the other replica knows the offset");
    let head = tus(&env.app, &env.key_a, reqwest::Method::HEAD, &loc).send().await.unwrap();
    assert_eq!(head.headers()["upload-offset"], "5");

    // DELETE on the other replica aborts; the first sees it gone.
    let tus_id = loc.rsplit('/').next().unwrap().to_owned();
    let del = tus(&app2, &env.key_a, reqwest::Method::DELETE, &loc).send().await.unwrap();
    assert_eq!(del.status(), 204);
    let gone = env.app.get(&format!("/v1/videos/upload/{tus_id}"), Some(&env.key_a)).await;
    let body: serde_json::Value = gone.json().await.unwrap();
    assert_eq!(body["state"], "aborted", "{body}");
}

#[tokio::test]
async fn two_replicas_racing_for_the_last_open_upload_slots_admit_exactly_the_limit() {
    let limit = 3;
    let settings =
        IngestSettings { max_open_uploads: limit, chunk_size: 64 * 1024, ..Default::default() };
    let env = env_with(settings.clone()).await;
    let (app2, st2, _dir2) = second_replica(&env, settings).await;
    let creations = (0..12).map(|i| {
        let app = if i % 2 == 0 { &env.app } else { &app2 };
        let req = app.http.post(app.url("/v1/videos/upload")).bearer_auth(&env.key_a);
        async move {
            let body = serde_json::json!({"filename": format!("f{i}.mp4"), "size": 10});
            req.json(&body).send().await.unwrap().status().as_u16()
        }
    });
    let statuses = futures::future::join_all(creations).await;
    let admitted = statuses.iter().filter(|s| **s == 201).count();
    assert_eq!(admitted, limit, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 201 || *s == 429), "{statuses:?}");
    let acme = TenantId::new("acme").unwrap();
    let usage = st2.sessions.usage(&acme).await.unwrap();
    assert_eq!((usage.open, usage.bytes), (limit, 10 * limit as u64));
}

fn old_session(id: &str, video: &str, state: SessionState) -> UploadSession {
    UploadSession {
        upload_id: id.into(),
        video_id: AggregateId::new(video).unwrap(),
        tenant: TenantId::new("acme").unwrap(),
        protocol: UploadProtocol::Rest,
        source: SourceKind::Upload,
        stream_id: None,
        filename: "old.mp4".into(),
        content_type: None,
        size: 100,
        expected_sha256: None,
        chunk_size: 40,
        offset: 0,
        tus_metadata: None,
        created_at: OffsetDateTime::now_utc(),
        updated_at: OffsetDateTime::now_utc(),
        state,
        hash: None,
        store_upload: None,
        fetch: None,
    }
}

#[tokio::test]
async fn sessions_of_an_old_sled_store_are_copied_to_kv_once() {
    let env = env().await;
    let (p2, _dir2) = framelog_tests::platform(&env.nats).await;
    let open = old_session("up_old_open", "vid_old_open", SessionState::Open);
    let digest = [7u8; 32];
    framelog_ingest::session_migrate::write_sled(&p2.db, &open, &[(0, Some(digest)), (2, None)])
        .unwrap();
    let gone = old_session("up_old_gone", "vid_old_gone", SessionState::Aborted);
    framelog_ingest::session_migrate::write_sled(&p2.db, &gone, &[]).unwrap();
    let st2 = IngestState::new(p2.clone(), Arc::clone(&env.media), IngestSettings::default())
        .await
        .unwrap();
    // Visible from the first replica, which never had them.
    let s = env.st.sessions.get("up_old_open").await.unwrap().expect("the open session");
    assert_eq!((s.size, s.state), (100, SessionState::Open));
    assert_eq!(env.st.sessions.received_chunks("up_old_open").await.unwrap(), vec![0, 2]);
    let records = env.st.sessions.chunk_records("up_old_open").await.unwrap();
    assert_eq!(records[0], (0, ChunkRecord { digest: Some(digest), etag: None }));
    assert_eq!(records[1], (2, ChunkRecord::default()));
    let by_video = env.st.sessions.by_video(&open.tenant, &open.video_id).await.unwrap();
    assert_eq!(by_video.map(|s| s.upload_id), Some("up_old_open".to_owned()));
    let usage = env.st.sessions.usage(&open.tenant).await.unwrap();
    assert_eq!((usage.open, usage.bytes), (1, 100), "the aborted upload holds nothing");
    let status = env.app.get("/v1/videos/upload/up_old_open", Some(&env.key_a)).await;
    let body: serde_json::Value = status.json().await.unwrap();
    assert_eq!(body["received"], serde_json::json!([[0, 0], [2, 2]]), "{body}");
    // Starting again copies nothing twice.
    drop(st2);
    let st3 = IngestState::new(p2, Arc::clone(&env.media), IngestSettings::default()).await;
    st3.unwrap();
    let usage = env.st.sessions.usage(&open.tenant).await.unwrap();
    assert_eq!((usage.open, usage.bytes), (1, 100));
}
