//! Stateless ingest: two real `framelog serve --only ingest --media-store s3` processes on one
//! NATS and one SeaweedFS, no affinity between them. Any replica takes any chunk of any upload,
//! a replica killed with SIGKILL loses nothing it acknowledged, tus resumes on the other
//! replica, DELETE works from either, and a store outage answers 503 and heals.
//!
//! Needs the `framelog` binary built (`cargo build -p framelog`; `cargo test --workspace`
//! builds it) and `.tools/bin/weed` (deploy/bootstrap.sh).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use framelog_events::TenantId;
use framelog_tests::process::FramelogProcess;
use framelog_tests::tools::workspace_root;
use framelog_tests::{NatsServer, SeaweedFs};
use futures::StreamExt as _;
use serde_json::{Value, json};

struct Env {
    s3: SeaweedFs,
    bucket: String,
    key: String,
    a: FramelogProcess,
    b: FramelogProcess,
    http: reqwest::Client,
    work: tempfile::TempDir,
    _platform: (framelog_core::Platform, tempfile::TempDir),
    _nats: NatsServer,
}

/// NATS, SeaweedFS, a tenant and two ingest replicas A and B.
async fn env() -> Env {
    let nats = NatsServer::start();
    let s3 = SeaweedFs::start().await;
    let bucket = format!("stateless-{}", uuid::Uuid::new_v4().simple());
    let platform = framelog_tests::platform(&nats).await;
    let key = platform.0.tenants.create(&TenantId::new("acme").unwrap()).await.unwrap();
    // `args` carries `--media-store s3` and the S3 flags.
    let mut args = vec!["--only".to_owned(), "ingest".to_owned()];
    args.extend(s3.args(&bucket));
    let a = FramelogProcess::serve(&nats.url(), &args).await;
    let b = FramelogProcess::serve(&nats.url(), &args).await;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(40)).build().unwrap();
    let work = tempfile::Builder::new().prefix("framelog-stateless-").tempdir().unwrap();
    Env { s3, bucket, key, a, b, http, work, _platform: platform, _nats: nats }
}

/// A real MP4 (ffmpeg) grown to `size` bytes by a trailing `free` box, so it spans several
/// 5 MiB chunks and S3 parts and still probes as the same video.
fn video_of_size(dir: &Path, size: usize) -> (PathBuf, Vec<u8>) {
    let spec = framelog_tests::media::VideoSpec::new(320, 240, 2.0);
    let path = framelog_tests::media::generate_video(dir, "clip.mp4", &spec);
    let mut bytes = std::fs::read(&path).unwrap();
    let pad = size.checked_sub(bytes.len() + 8).expect("the encoded clip is smaller than size");
    bytes.extend_from_slice(&((pad + 8) as u32).to_be_bytes());
    bytes.extend_from_slice(b"free");
    bytes.resize(size, 0);
    std::fs::write(&path, &bytes).unwrap();
    (path, bytes)
}

/// sha256 by coreutils' `sha256sum`, not by our own code.
fn sha256sum(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().expect("sha256sum");
    String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_owned()
}

impl Env {
    async fn create(&self, on: &FramelogProcess, size: usize) -> Value {
        let res = self
            .http
            .post(on.url("/v1/videos/upload"))
            .bearer_auth(&self.key)
            .json(&json!({"filename": "clip.mp4", "size": size}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "create on {on:?}");
        res.json().await.unwrap()
    }

    async fn put_chunk(&self, on: &FramelogProcess, id: &str, n: u64, data: &[u8]) -> (u16, Value) {
        let res = self
            .http
            .put(on.url(&format!("/v1/videos/upload/{id}/chunk/{n}")))
            .bearer_auth(&self.key)
            .body(data.to_vec())
            .send()
            .await
            .unwrap_or_else(|e| panic!("chunk {n} on {on:?}: no answer: {e}"));
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn put_ok(&self, on: &FramelogProcess, id: &str, n: u64, data: &[u8]) {
        let (status, body) = self.put_chunk(on, id, n, data).await;
        assert_eq!(status, 200, "chunk {n} on {on:?}: {body}");
    }

    async fn status(&self, on: &FramelogProcess, id: &str) -> (u16, Value) {
        let res = self
            .http
            .get(on.url(&format!("/v1/videos/upload/{id}")))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn complete(&self, on: &FramelogProcess, id: &str) -> Value {
        let res = self
            .http
            .post(on.url(&format!("/v1/videos/upload/{id}/complete")))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 200, "complete on {on:?}: {body}");
        body
    }

    /// The object's bytes read straight from the S3 endpoint (path-style GET), `None` for 404.
    async fn s3_object(&self, key: &str) -> Option<Vec<u8>> {
        let url = format!("{}/{}/{key}", self.s3.endpoint(), self.bucket);
        let res = self.http.get(url).send().await.expect("SeaweedFS answers");
        match res.status().as_u16() {
            200 => Some(res.bytes().await.unwrap().to_vec()),
            404 => None,
            s => panic!("GET {key} from SeaweedFS answered {s}"),
        }
    }

    /// How many multipart uploads are in progress in the bucket (S3 ListMultipartUploads).
    async fn multipart_uploads(&self) -> usize {
        let url = format!("{}/{}?uploads", self.s3.endpoint(), self.bucket);
        let res = self.http.get(url).send().await.expect("SeaweedFS answers");
        assert_eq!(res.status(), 200, "ListMultipartUploads");
        res.text().await.unwrap().matches("<Upload>").count()
    }
}

fn chunk(bytes: &[u8], chunk_size: u64, n: u64) -> &[u8] {
    let start = (n * chunk_size) as usize;
    &bytes[start..(start + chunk_size as usize).min(bytes.len())]
}

/// The chunk numbers in the `missing` ranges of a status answer.
fn missing(status: &Value) -> Vec<u64> {
    let ranges = status["missing"].as_array().expect("missing ranges");
    ranges.iter().flat_map(|r| r[0].as_u64().unwrap()..=r[1].as_u64().unwrap()).collect()
}

fn source_key(video_id: &str) -> String {
    format!("sources/acme/{video_id}/source")
}

const MIB: usize = 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunks_sent_round_robin_to_two_replicas_complete_on_either_with_the_right_sha256() {
    let env = env().await;
    let (path, bytes) = video_of_size(env.work.path(), 4 * 5 * MIB + 123_457);
    let up = env.create(&env.a, bytes.len()).await;
    let (id, cs) = (up["upload_id"].as_str().unwrap(), up["chunk_size"].as_u64().unwrap());
    let total = up["total_chunks"].as_u64().unwrap();
    assert!(total >= 4, "several chunks: {up}");
    for n in 0..total {
        let on = if n % 2 == 0 { &env.a } else { &env.b };
        env.put_ok(on, id, n, chunk(&bytes, cs, n)).await;
    }
    let done = env.complete(&env.b, id).await;
    assert_eq!(done["sha256"], sha256sum(&path), "{done}");
    assert_eq!(done["size"], bytes.len());
    let stored = env.s3_object(&source_key(up["video_id"].as_str().unwrap())).await;
    assert!(stored.as_deref() == Some(&bytes[..]), "the stored source is the uploaded file");
    let (_, on_a) = env.status(&env.a, id).await;
    assert_eq!(on_a["state"], "completed", "A sees B's completion: {on_a}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingest_replica_killed_after_half_the_chunks_loses_nothing_it_acknowledged() {
    let mut env = env().await;
    let (path, bytes) = video_of_size(env.work.path(), 5 * 5 * MIB + 4_321);
    let up = env.create(&env.a, bytes.len()).await;
    let (id, cs) =
        (up["upload_id"].as_str().unwrap().to_owned(), up["chunk_size"].as_u64().unwrap());
    let total = up["total_chunks"].as_u64().unwrap();
    assert_eq!(total, 6);
    env.put_ok(&env.a, &id, 0, chunk(&bytes, cs, 0)).await;
    env.put_ok(&env.b, &id, 1, chunk(&bytes, cs, 1)).await;
    env.put_ok(&env.a, &id, 2, chunk(&bytes, cs, 2)).await;
    // Chunk 3 is on its way to A (half its body sent) when A dies.
    let half = chunk(&bytes, cs, 3)[..cs as usize / 2].to_vec();
    let body =
        futures::stream::iter([Ok::<_, std::io::Error>(half)]).chain(futures::stream::pending());
    let in_flight = env
        .http
        .put(env.a.url(&format!("/v1/videos/upload/{id}/chunk/3")))
        .bearer_auth(&env.key)
        .header("content-length", cs.to_string())
        .body(reqwest::Body::wrap_stream(body))
        .send();
    let in_flight = tokio::spawn(in_flight);
    tokio::time::sleep(Duration::from_millis(500)).await;
    env.a.kill();
    let cut = in_flight.await.unwrap();
    assert!(cut.is_err() || !cut.unwrap().status().is_success(), "a cut chunk is not acknowledged");

    // The client resumes on B: B knows every chunk A acknowledged, and not the cut one.
    let (code, st) = env.status(&env.b, &id).await;
    assert_eq!(code, 200, "{st}");
    assert_eq!(st["received"], json!([[0, 2]]), "{st}");
    assert_eq!(missing(&st), vec![3, 4, 5]);
    for n in missing(&st) {
        env.put_ok(&env.b, &id, n, chunk(&bytes, cs, n)).await;
    }
    let done = env.complete(&env.b, &id).await;
    assert_eq!(done["sha256"], sha256sum(&path), "{done}");
    let stored = env.s3_object(&source_key(up["video_id"].as_str().unwrap())).await;
    assert!(stored.as_deref() == Some(&bytes[..]), "every acknowledged byte is in the source");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tuspy_creates_on_one_replica_and_resumes_on_the_other() {
    let env = env().await;
    let (path, bytes) = video_of_size(env.work.path(), 13 * MIB + 777);
    let (chunk, stop_at) = (2 * MIB, 6 * MIB);
    let python = workspace_root().join(".tools/venv/bin/python");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/stateless_tus.py");
    let mut cmd = Command::new(python);
    cmd.arg(script)
        .args([env.a.url("/v1/tus/"), env.b.url("/v1/tus/"), env.key.clone()])
        .arg(&path)
        .args([chunk.to_string(), stop_at.to_string()]);
    let out = tokio::task::spawn_blocking(move || cmd.output()).await.unwrap().expect("tuspy");
    assert!(out.status.success(), "tuspy failed: {}", String::from_utf8_lossy(&out.stderr));
    let out: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out["offset_on_a"], stop_at, "{out}");
    assert_eq!(out["head_on_b"], stop_at, "B knows what A took: {out}");
    assert_eq!(out["resumed_from"], stop_at, "{out}");
    assert_eq!(out["offset"], bytes.len(), "{out}");
    assert_eq!(out["head_on_a_after"], bytes.len(), "A sees what B took: {out}");
    // The upload completed (tus completes on its last PATCH) into the source object.
    let id = out["a_url"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
    let (code, st) = env.status(&env.a, &id).await;
    assert_eq!(code, 200, "{st}");
    assert_eq!(st["state"], "completed", "{st}");
    let stored = env.s3_object(&source_key(st["video_id"].as_str().unwrap())).await;
    assert!(stored.as_deref() == Some(&bytes[..]), "the stored source is the uploaded file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_on_the_replica_that_did_not_take_the_upload_ends_it_everywhere() {
    let env = env().await;
    let (_, bytes) = video_of_size(env.work.path(), 2 * 5 * MIB + 10);
    let up = env.create(&env.a, bytes.len()).await;
    let (id, cs) = (up["upload_id"].as_str().unwrap(), up["chunk_size"].as_u64().unwrap());
    env.put_ok(&env.a, id, 0, chunk(&bytes, cs, 0)).await;
    assert!(env.multipart_uploads().await >= 1, "chunk 0 is a part of an S3 multipart upload");
    let res = env.http.delete(env.b.url(&format!("/v1/videos/upload/{id}"))).bearer_auth(&env.key);
    assert_eq!(res.send().await.unwrap().status(), 204, "B deletes A's upload");
    assert_eq!(env.multipart_uploads().await, 0, "the S3 multipart upload is aborted");
    let (code, body) = env.put_chunk(&env.a, id, 1, chunk(&bytes, cs, 1)).await;
    assert!(code == 410 || code == 404, "A refuses a chunk of the deleted upload: {code} {body}");
    assert!(body["error"]["code"].is_string(), "the JSON error shape: {body}");
    let (code, st) = env.status(&env.a, id).await;
    assert!(
        code == 404 || code == 410 || st["state"] == "aborted",
        "A knows it is gone: {code} {st}"
    );

    // tus: created on A, terminated by B, gone on A.
    let res = env
        .http
        .post(env.a.url("/v1/tus/"))
        .bearer_auth(&env.key)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", "1000")
        .header("upload-metadata", "filename Y2xpcC5tcDQ=")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let loc = res.headers()["location"].to_str().unwrap().to_owned();
    let path = format!("/v1/tus/{}", loc.rsplit('/').next().unwrap());
    let tus = |m: reqwest::Method, on: &FramelogProcess| {
        env.http.request(m, on.url(&path)).bearer_auth(&env.key).header("tus-resumable", "1.0.0")
    };
    assert_eq!(tus(reqwest::Method::DELETE, &env.b).send().await.unwrap().status(), 204);
    let head = tus(reqwest::Method::HEAD, &env.a).send().await.unwrap().status();
    assert!(head == 404 || head == 410, "A answers {head} for a terminated upload");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_seaweedfs_stopped_mid_upload_answers_503_then_the_retried_upload_completes() {
    let mut env = env().await;
    let (path, bytes) = video_of_size(env.work.path(), 3 * 5 * MIB + 999);
    let up = env.create(&env.a, bytes.len()).await;
    let (id, cs) =
        (up["upload_id"].as_str().unwrap().to_owned(), up["chunk_size"].as_u64().unwrap());
    let total = up["total_chunks"].as_u64().unwrap();
    let source = source_key(up["video_id"].as_str().unwrap());
    env.put_ok(&env.a, &id, 0, chunk(&bytes, cs, 0)).await;

    env.s3.stop();
    let (code, body) = env.put_chunk(&env.a, &id, 1, chunk(&bytes, cs, 1)).await;
    assert_eq!(code, 503, "a chunk while the store is down: {body}");
    assert_eq!(body["error"]["code"], "store_unavailable", "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");

    env.s3.restart().await;
    assert_eq!(env.s3_object(&source).await, None, "nothing is served before completion");
    // The client retries chunk 1 (on the other replica, as a load balancer may send it).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (code, body) = env.put_chunk(&env.b, &id, 1, chunk(&bytes, cs, 1)).await;
        if code == 200 {
            break;
        }
        assert_eq!(code, 503, "only 503 while the store comes back: {body}");
        assert!(tokio::time::Instant::now() < deadline, "the store never came back: {body}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (_, st) = env.status(&env.a, &id).await;
    assert_eq!(missing(&st), (2..total).collect::<Vec<_>>(), "{st}");
    for n in 2..total {
        env.put_ok(&env.a, &id, n, chunk(&bytes, cs, n)).await;
    }
    assert_eq!(env.s3_object(&source).await, None, "no source before completion");
    let done = env.complete(&env.a, &id).await;
    assert_eq!(done["sha256"], sha256sum(&path), "{done}");
    let stored = env.s3_object(&source).await;
    assert!(stored.as_deref() == Some(&bytes[..]), "the stored source is the uploaded file");
}
