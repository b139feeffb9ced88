//! `framelog upload` against a hostile server: every bad answer is a clear error before any
//! chunk is read or sent, memory stays bounded, and nothing underflows.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::{get, post, put};
use common::framelog;
use framelog_tests::TestApp;
use serde_json::{Value, json};

/// What the fake server answers, and how many chunk PUTs it saw.
#[derive(Clone)]
struct Hostile {
    create: Arc<Value>,
    status: Arc<std::sync::Mutex<Value>>,
    raw_create: Option<Arc<String>>,
    puts: Arc<AtomicUsize>,
}

fn router(h: Hostile) -> Router {
    use axum::response::IntoResponse;
    let (c, s, p) = (h.clone(), h.clone(), h.puts.clone());
    Router::new()
        .route(
            "/v1/videos/upload",
            post(move || async move {
                let body = match &c.raw_create {
                    Some(raw) => raw.to_string(),
                    None => c.create.to_string(),
                };
                ([("content-type", "application/json")], body).into_response()
            }),
        )
        .route(
            "/v1/videos/upload/{id}",
            get(move || async move { axum::Json(s.status.lock().unwrap().clone()) }),
        )
        .route(
            "/v1/videos/upload/{id}/chunk/{n}",
            put(move || {
                p.fetch_add(1, Ordering::SeqCst);
                // A client error: the client stops at once and keeps its resume state.
                let e = json!({"error": {"code": "nope", "message": "\u{1b}[2Jno"}});
                async move { (axum::http::StatusCode::BAD_REQUEST, axum::Json(e)) }
            }),
        )
}

/// Runs `framelog upload` of `file` against a server answering `h`.
fn run(h: Hostile, state: &std::path::Path, file: &std::path::Path) -> (bool, String, Duration) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = rt.block_on(TestApp::serve(router(h)));
    upload(&app, state, file)
}

fn upload(
    app: &TestApp,
    state: &std::path::Path,
    file: &std::path::Path,
) -> (bool, String, Duration) {
    let started = Instant::now();
    let out = framelog()
        .args(["upload", "--server", &app.url(""), "--api-key", "k", "--state-dir"])
        .arg(state)
        .arg(file)
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned(), started.elapsed())
}

fn hostile(create: Value) -> Hostile {
    Hostile {
        create: Arc::new(create),
        status: Arc::new(std::sync::Mutex::new(json!({}))),
        raw_create: None,
        puts: Arc::default(),
    }
}

#[test]
fn bad_plans_from_the_server_are_refused_before_any_chunk_is_sent() {
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("ten.bin");
    std::fs::write(&file, b"0123456789").unwrap();
    let ok = |cs: u64, total: u64, up: &str| json!({"upload_id": up, "video_id": "vid_1", "chunk_size": cs, "total_chunks": total});
    let cases = [
        (ok(0, 0, "upl_1"), "chunks of 0 bytes"),
        (ok(1 << 50, 1, "upl_1"), "chunks of 1125899906842624 bytes"),
        (ok(4, 2, "upl_1"), "has 3"),
        (ok(4, 3, "../../admin"), "invalid upload_id"),
        (json!({"chunk_size": 4, "total_chunks": 3, "video_id": "vid_1"}), "no upload_id"),
    ];
    for (i, (answer, want)) in cases.into_iter().enumerate() {
        let h = hostile(answer.clone());
        let puts = h.puts.clone();
        let state = work.path().join(format!("state-{i}"));
        let (ok, err, took) = run(h, &state, &file);
        assert!(!ok, "{answer} was accepted");
        assert!(err.contains(want), "{answer}: {err}");
        assert_eq!(puts.load(Ordering::SeqCst), 0, "{answer}: a chunk was sent");
        assert!(took < Duration::from_secs(10), "{answer}: took {took:?}");
        // Nothing remembered from a refused answer: the next run starts clean.
        let left = std::fs::read_dir(&state).map(|d| d.count()).unwrap_or(0);
        assert_eq!(left, 0, "{answer}: resume state written");
    }
}

#[test]
fn an_endless_answer_is_cut_at_one_mebibyte() {
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("ten.bin");
    std::fs::write(&file, b"0123456789").unwrap();
    let mut h = hostile(json!({}));
    h.raw_create = Some(Arc::new(format!("{{\"pad\":\"{}\"}}", "x".repeat(4 << 20))));
    let (ok, err, _) = run(h, &work.path().join("state"), &file);
    assert!(!ok);
    assert!(err.contains("larger than 1048576 bytes"), "{err}");
}

#[test]
fn a_resume_answer_with_ranges_past_the_end_is_refused_and_server_text_is_sanitised() {
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("ten.bin");
    std::fs::write(&file, b"0123456789").unwrap();
    let state = work.path().join("state");
    // First run: a valid plan; the chunk PUT is refused, so the upload is remembered.
    let h = hostile(
        json!({"upload_id": "upl_1", "video_id": "vid_1", "chunk_size": 4, "total_chunks": 3}),
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = rt.block_on(TestApp::serve(router(h.clone())));
    let (ok, err, _) = upload(&app, &state, &file);
    assert!(!ok);
    assert!(err.contains("nope: [2Jno"), "control characters reached the terminal: {err:?}");
    let sent = h.puts.load(Ordering::SeqCst);
    assert!(sent >= 1);
    // Second run resumes: the server now claims 2^60 missing chunks of a 3-chunk file.
    *h.status.lock().unwrap() = json!({"state": "open", "upload_id": "upl_1", "chunk_size": 4,
        "total_chunks": 3, "missing": [[0, 1u64 << 60]]});
    let (ok, err, took) = upload(&app, &state, &file);
    assert!(!ok);
    assert!(err.contains("the range [0, 1152921504606846976] of 3 chunks"), "{err}");
    assert_eq!(h.puts.load(Ordering::SeqCst), sent, "a chunk was sent on the bad plan");
    assert!(took < Duration::from_secs(10));
}
