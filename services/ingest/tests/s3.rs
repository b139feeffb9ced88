//! Uploads straight into S3 multipart on a real SeaweedFS: REST chunks out of order, tus
//! PATCHes of sizes that are not multiples of a part (tail objects), a refused source deleted,
//! an abort, and the store stopped mid-upload (503, then the client resumes).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use framelog_core::media::{SharedMediaStore, source_key};
use framelog_core::media_s3::S3MediaStore;
use framelog_events::TenantId;
use framelog_ingest::{IngestSettings, IngestState};
use framelog_tests::{NatsServer, SeaweedFs, TestApp, platform};
use sha2::{Digest, Sha256};

struct Env {
    app: TestApp,
    st: IngestState,
    key: String,
    media: SharedMediaStore,
    seaweed: SeaweedFs,
    work: tempfile::TempDir,
    _dir: tempfile::TempDir,
    _nats: NatsServer,
}

async fn env() -> Env {
    let nats = NatsServer::start();
    let seaweed = SeaweedFs::start().await;
    let (p, dir) = platform(&nats).await;
    let key = p.tenants.create(&TenantId::new("acme").unwrap()).await.unwrap();
    let bucket = format!("ingest-{}", uuid::Uuid::now_v7().simple());
    let store = S3MediaStore::open(&seaweed.settings(&bucket), &p.js, 1).await.unwrap();
    let media: SharedMediaStore = Arc::new(store);
    let st = IngestState::new(p.clone(), media.clone(), IngestSettings::default()).await.unwrap();
    let router = framelog_ingest::router(st.clone()).fallback(framelog_core::error::fallback);
    let app = TestApp::serve(router).await;
    Env { app, st, key, media, seaweed, work: tempfile::tempdir().unwrap(), _dir: dir, _nats: nats }
}

/// A real MP4 of about 14 MB (noisy lossless video): three S3 parts.
fn big_video(dir: &Path) -> PathBuf {
    let out = dir.join("big.mp4");
    let st = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=320x240:rate=30:duration=3,noise=alls=80:allf=t")
        .args(["-f", "lavfi", "-i", "sine=duration=3", "-c:v", "libx264", "-preset"])
        .args(["ultrafast", "-qp", "0", "-pix_fmt", "yuv420p", "-c:a", "aac"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());
    out
}

fn sha_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

async fn create_rest(env: &Env, size: usize, sha: Option<&str>) -> serde_json::Value {
    let mut body = serde_json::json!({"filename": "big.mp4", "size": size});
    if let Some(s) = sha {
        body["sha256"] = s.into();
    }
    let res = env
        .app
        .http
        .post(env.app.url("/v1/videos/upload"))
        .bearer_auth(&env.key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

async fn put_chunk(env: &Env, id: &str, n: u64, bytes: &[u8]) -> reqwest::Response {
    env.app
        .http
        .put(env.app.url(&format!("/v1/videos/upload/{id}/chunk/{n}")))
        .bearer_auth(&env.key)
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap()
}

async fn complete(env: &Env, id: &str) -> reqwest::Response {
    env.app
        .http
        .post(env.app.url(&format!("/v1/videos/upload/{id}/complete")))
        .bearer_auth(&env.key)
        .send()
        .await
        .unwrap()
}

fn no_part_files(env: &Env) {
    let dir = env.st.uploads_dir.clone();
    let parts: Vec<_> = std::fs::read_dir(&dir).unwrap().filter_map(Result::ok).collect();
    assert!(parts.is_empty(), "no byte waits on this replica's disk: {parts:?}");
}

#[tokio::test]
async fn rest_chunks_out_of_order_become_parts_and_complete_with_the_right_sha256() {
    let env = env().await;
    let file = std::fs::read(big_video(env.work.path())).unwrap();
    let want = sha_hex(&file);
    let up = create_rest(&env, file.len(), Some(&want)).await;
    let id = up["upload_id"].as_str().unwrap();
    let chunk = up["chunk_size"].as_u64().unwrap() as usize;
    assert!(chunk >= 5 * 1024 * 1024, "a chunk is an S3 part: {chunk}");
    let total = up["total_chunks"].as_u64().unwrap();
    assert!(total >= 3, "{total} parts");
    // The last chunk first, then the rest: the running hash stalls, completion reads back.
    let order: Vec<u64> = std::iter::once(total - 1).chain(0..total - 1).collect();
    for n in order {
        let at = n as usize * chunk;
        let res = put_chunk(&env, id, n, &file[at..(at + chunk).min(file.len())]).await;
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
        no_part_files(&env);
    }
    // A repeated chunk is a duplicate; other bytes for it are a conflict.
    let again = put_chunk(&env, id, 0, &file[..chunk]).await;
    assert_eq!(again.json::<serde_json::Value>().await.unwrap()["duplicate"], true);
    let mut other = file[..chunk].to_vec();
    other[10] ^= 1;
    assert_eq!(put_chunk(&env, id, 0, &other).await.status(), 409);
    let key = source_key("acme", up["video_id"].as_str().unwrap());
    assert!(!env.media.exists(&key).await.unwrap(), "nothing half-written is visible");

    let res = complete(&env, id).await;
    assert_eq!(res.status(), 200);
    let done: serde_json::Value = res.json().await.unwrap();
    assert_eq!(done["sha256"], want);
    assert_eq!(env.media.get_bytes(&key).await.unwrap().as_ref(), file.as_slice());
    assert!(done["probe"]["duration_secs"].as_f64().unwrap() > 2.5);
}

#[tokio::test]
async fn tus_patches_of_any_size_keep_a_tail_and_assemble_the_exact_bytes() {
    let env = env().await;
    let file = std::fs::read(big_video(env.work.path())).unwrap();
    let res = env
        .app
        .http
        .post(env.app.url("/v1/tus/"))
        .bearer_auth(&env.key)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", file.len().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let loc = res.headers()["location"].to_str().unwrap().to_owned();
    let id = loc.rsplit('/').next().unwrap().to_owned();
    const MIB: usize = 1024 * 1024;
    let cuts = [MIB + 7, 3 * MIB, 2 * MIB - 7, 4 * MIB + 1];
    let mut at = 0usize;
    for (i, n) in cuts.iter().copied().chain(std::iter::once(usize::MAX)).enumerate() {
        let end = at.saturating_add(n).min(file.len());
        let res = env
            .app
            .http
            .patch(env.app.url(&loc))
            .bearer_auth(&env.key)
            .header("tus-resumable", "1.0.0")
            .header("upload-offset", at.to_string())
            .header("content-type", "application/offset+octet-stream")
            .body(file[at..end].to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204, "PATCH {i}: {}", res.text().await.unwrap());
        assert_eq!(res.headers()["upload-offset"].to_str().unwrap(), end.to_string());
        at = end;
        no_part_files(&env);
        if at < file.len() {
            let s = env.st.sessions.get(&id).await.unwrap().unwrap();
            let su = s.store_upload.as_ref().unwrap();
            let tail = su.tail.as_ref().map_or(0, |t| t.len);
            assert_eq!(su.etags.len() as u64 * su.part_size + tail, at as u64);
            assert_eq!(s.hash.as_ref().unwrap().len(), at as u64, "hashed as it arrived");
        }
    }
    let s = env.st.sessions.get(&id).await.unwrap().unwrap();
    let framelog_ingest::session::SessionState::Completed { sha256, .. } = &s.state else {
        panic!("completed on the last PATCH: {:?}", s.state);
    };
    assert_eq!(sha256, &sha_hex(&file));
    let key = source_key("acme", s.video_id.as_str());
    assert_eq!(env.media.get_bytes(&key).await.unwrap().as_ref(), file.as_slice());
    let tails = framelog_ingest::store_upload::tails_prefix(&id);
    assert!(!env.media.exists(&format!("{tails}/tail-0-{}", cuts[0])).await.unwrap());
}

#[tokio::test]
async fn a_refused_source_is_deleted_and_an_abort_frees_the_upload() {
    let env = env().await;
    let junk = vec![7u8; 6 * 1024 * 1024];
    let up = create_rest(&env, junk.len(), None).await;
    let id = up["upload_id"].as_str().unwrap();
    let chunk = up["chunk_size"].as_u64().unwrap() as usize;
    for (n, c) in junk.chunks(chunk).enumerate() {
        assert_eq!(put_chunk(&env, id, n as u64, c).await.status(), 200);
    }
    let res = complete(&env, id).await;
    assert_eq!(res.status(), 422);
    let err: serde_json::Value = res.json().await.unwrap();
    assert!(err["error"]["code"].is_string(), "{err}");
    let key = source_key("acme", up["video_id"].as_str().unwrap());
    assert!(!env.media.exists(&key).await.unwrap(), "a refused source is not kept");

    let up = create_rest(&env, junk.len(), None).await;
    let id = up["upload_id"].as_str().unwrap();
    assert_eq!(put_chunk(&env, id, 0, &junk[..chunk]).await.status(), 200);
    let res = env
        .app
        .http
        .delete(env.app.url(&format!("/v1/videos/upload/{id}")))
        .bearer_auth(&env.key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let s = env.st.sessions.get(id).await.unwrap().unwrap();
    let su = s.store_upload.unwrap();
    let mp = env.media.multipart().unwrap();
    assert!(
        mp.complete_multipart(&su.key, &su.upload, vec!["x".into()]).await.is_err(),
        "the multipart upload is gone"
    );
}

#[tokio::test]
async fn a_stopped_store_answers_503_and_the_client_resumes_once_it_is_back() {
    let mut env = env().await;
    let file = std::fs::read(big_video(env.work.path())).unwrap();
    let want = sha_hex(&file);
    let up = create_rest(&env, file.len(), Some(&want)).await;
    let id = up["upload_id"].as_str().unwrap().to_owned();
    let chunk = up["chunk_size"].as_u64().unwrap() as usize;
    let total = up["total_chunks"].as_u64().unwrap();
    assert_eq!(put_chunk(&env, &id, 0, &file[..chunk]).await.status(), 200);
    env.seaweed.stop();
    let res = put_chunk(&env, &id, 1, &file[chunk..2 * chunk]).await;
    assert_eq!(res.status(), 503);
    let err: serde_json::Value = res.json().await.unwrap();
    assert_eq!(err["error"]["code"], "store_unavailable", "{err}");
    env.seaweed.restart().await;
    for n in 1..total {
        let at = n as usize * chunk;
        let mut tries = 0;
        loop {
            let res = put_chunk(&env, &id, n, &file[at..(at + chunk).min(file.len())]).await;
            if res.status() == 200 {
                break;
            }
            tries += 1;
            assert!(tries < 20, "chunk {n}: {}", res.status());
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    }
    let res = complete(&env, &id).await;
    assert_eq!(res.status(), 200);
    let done: serde_json::Value = res.json().await.unwrap();
    assert_eq!(done["sha256"], want);
}
