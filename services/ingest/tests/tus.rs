//! tus 1.0 against the real tuspy client and raw protocol requests.

mod common;

use std::process::Command;

use common::*;
use framelog_tests::media::{VideoSpec, generate_video};
use framelog_tests::tools::workspace_root;

/// Runs tests/tus_client.py (tuspy) in `mode` against the test app; returns its JSON line.
async fn tuspy(env: &Env, mode: &str, file: &std::path::Path, chunk: usize) -> serde_json::Value {
    let python = workspace_root().join(".tools/venv/bin/python");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tus_client.py");
    let mut cmd = Command::new(python);
    cmd.arg(script)
        .args([mode, &env.app.url("/v1/tus/"), &env.key_a])
        .arg(file)
        .arg(chunk.to_string());
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .expect("running tuspy (installed by deploy/bootstrap.sh)");
    assert!(out.status.success(), "tuspy failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn tus(env: &Env, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    env.app
        .http
        .request(method, env.app.url(path))
        .bearer_auth(&env.key_a)
        .header("tus-resumable", "1.0.0")
}

#[tokio::test]
async fn tuspy_uploads_a_video_with_sha1_checksums_and_it_completes() {
    let env = env().await;
    let file = generate_video(env.work.path(), "clip.mp4", &VideoSpec::new(320, 240, 2.0));
    let bytes = std::fs::read(&file).unwrap();
    let out = tuspy(&env, "full", &file, 50_000).await;
    assert_eq!(out["offset"].as_u64().unwrap(), bytes.len() as u64);
    let evs = events(&env).await;
    let completed = evs.iter().find(|e| e.data.phase() == "completed").expect("completed");
    let framelog_events::EventData::Upload(framelog_events::UploadData::Completed {
        sha256,
        filename,
        ..
    }) = &completed.data
    else {
        panic!()
    };
    assert_eq!(sha256, &sha256_hex(&bytes));
    assert_eq!(filename, "clip.mp4");
    assert!(evs.iter().any(|e| e.data.phase() == "requested"));
    // Every PATCH body's bytes are counted, once, under tus; the completion too.
    let text = env.st.platform.metrics.render();
    let bytes_line =
        format!(r#"framelog_upload_received_bytes_total{{protocol="tus"}} {}"#, bytes.len());
    assert!(text.lines().any(|l| l == bytes_line), "{bytes_line} in {text}");
    assert!(text.contains(r#"framelog_uploads_completed_total{protocol="tus"} 1"#), "{text}");
    assert!(text.contains(r#"framelog_upload_received_bytes_total{protocol="rest"} 0"#), "{text}");
}

#[tokio::test]
async fn tuspy_resumes_after_the_connection_was_cut_mid_upload_and_keeps_the_bytes_that_arrived() {
    let env = env().await;
    let file = generate_video(env.work.path(), "clip.mp4", &VideoSpec::new(320, 240, 2.0));
    let bytes = std::fs::read(&file).unwrap();
    let chunk = 40_000;
    let out = tuspy(&env, "cut", &file, chunk).await;
    let first = out["first"].as_u64().unwrap();
    assert_eq!(first, chunk as u64);
    assert_eq!(
        out["offset_after_cut"].as_u64().unwrap(),
        first + out["sent_before_cut"].as_u64().unwrap(),
        "every byte that arrived before the cut is kept"
    );
    assert_eq!(out["resumed_from"], out["offset_after_cut"]);
    assert_eq!(out["offset"].as_u64().unwrap(), bytes.len() as u64);
    let evs = events(&env).await;
    let completed = evs.iter().find(|e| e.data.phase() == "completed").expect("completed");
    let framelog_events::EventData::Upload(framelog_events::UploadData::Completed {
        sha256, ..
    }) = &completed.data
    else {
        panic!()
    };
    assert_eq!(sha256, &sha256_hex(&bytes), "the resumed upload has the exact bytes");
}

#[tokio::test]
async fn options_advertises_the_extensions_and_checksums() {
    let env = env().await;
    let res = env
        .app
        .http
        .request(reqwest::Method::OPTIONS, env.app.url("/v1/tus/"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let h = res.headers();
    assert_eq!(h["tus-version"], "1.0.0");
    let ext = h["tus-extension"].to_str().unwrap();
    for e in ["creation", "creation-with-upload", "checksum", "expiration", "termination"] {
        assert!(ext.split(',').any(|x| x == e), "{e} in {ext}");
    }
    assert_eq!(h["tus-checksum-algorithm"], "sha1,sha256");
    assert!(h.contains_key("tus-max-size"));
}

#[tokio::test]
async fn the_protocol_rules_are_enforced_with_the_right_statuses() {
    let env = env().await;
    // Wrong version: 412 with Tus-Version.
    let res = env
        .app
        .http
        .post(env.app.url("/v1/tus/"))
        .bearer_auth(&env.key_a)
        .header("tus-resumable", "0.2.2")
        .header("upload-length", "10")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 412);
    assert_eq!(res.headers()["tus-version"], "1.0.0");
    // Creation with upload, expiration header, Location.
    let res = tus(&env, reqwest::Method::POST, "/v1/tus/")
        .header("upload-length", "10")
        .header("upload-metadata", "filename Y2xpcC5tcDQ=")
        .header("content-type", "application/offset+octet-stream")
        .body("01234")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["upload-offset"], "5");
    assert_eq!(res.headers()["tus-resumable"], "1.0.0");
    assert!(res.headers()["upload-expires"].to_str().unwrap().ends_with("GMT"));
    let loc = res.headers()["location"].to_str().unwrap().to_owned();
    // HEAD: offset, length, no-store, metadata.
    let head = tus(&env, reqwest::Method::HEAD, &loc).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["upload-offset"], "5");
    assert_eq!(head.headers()["upload-length"], "10");
    assert_eq!(head.headers()["cache-control"], "no-store");
    assert_eq!(head.headers()["upload-metadata"], "filename Y2xpcC5tcDQ=");
    // PATCH rules.
    let patch = |off: &str, ct: &str, body: &'static str| {
        tus(&env, reqwest::Method::PATCH, &loc)
            .header("upload-offset", off)
            .header("content-type", ct)
            .body(body)
            .send()
    };
    assert_eq!(patch("5", "text/plain", "56789").await.unwrap().status(), 415);
    assert_eq!(
        code(patch("3", "application/offset+octet-stream", "56789").await.unwrap()).await,
        (409, "offset_mismatch".into())
    );
    assert_eq!(
        patch("5", "application/offset+octet-stream", "5678901").await.unwrap().status(),
        413
    );
    // Checksum: mismatch 460 (discarded), unknown algorithm 400, sha256 accepted.
    let bad = tus(&env, reqwest::Method::PATCH, &loc)
        .header("upload-offset", "5")
        .header("content-type", "application/offset+octet-stream")
        .header("upload-checksum", "sha1 AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
        .body("567")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 460);
    let unknown = tus(&env, reqwest::Method::PATCH, &loc)
        .header("upload-offset", "5")
        .header("content-type", "application/offset+octet-stream")
        .header("upload-checksum", "md5 AAAA")
        .body("567")
        .send()
        .await
        .unwrap();
    assert_eq!(code(unknown).await, (400, "unsupported_checksum_algorithm".into()));
    use base64::Engine;
    use sha2::Digest;
    let good_sum = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(b"567"));
    let good = tus(&env, reqwest::Method::PATCH, &loc)
        .header("upload-offset", "5")
        .header("content-type", "application/offset+octet-stream")
        .header("upload-checksum", format!("sha256 {good_sum}"))
        .body("567")
        .send()
        .await
        .unwrap();
    assert_eq!(good.status(), 204);
    assert_eq!(good.headers()["upload-offset"], "8");
    // Method override: HEAD through POST.
    let over = tus(&env, reqwest::Method::POST, &loc)
        .header("x-http-method-override", "HEAD")
        .send()
        .await
        .unwrap();
    assert_eq!(over.headers()["upload-offset"], "8");
    // Termination, then gone.
    assert_eq!(tus(&env, reqwest::Method::DELETE, &loc).send().await.unwrap().status(), 204);
    assert_eq!(tus(&env, reqwest::Method::HEAD, &loc).send().await.unwrap().status(), 410);
    assert_eq!(patch("8", "application/offset+octet-stream", "90").await.unwrap().status(), 410);
    // Another tenant sees nothing; an unknown upload is 404.
    let other = env
        .app
        .http
        .head(env.app.url(&loc))
        .bearer_auth(&env.key_b)
        .header("tus-resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
    assert_eq!(
        tus(&env, reqwest::Method::HEAD, "/v1/tus/up_nope").send().await.unwrap().status(),
        404
    );
    // Missing Upload-Length is 400; too large is 413.
    assert_eq!(
        code(tus(&env, reqwest::Method::POST, "/v1/tus/").send().await.unwrap()).await,
        (400, "invalid_upload_length".into())
    );
    let huge = tus(&env, reqwest::Method::POST, "/v1/tus/")
        .header("upload-length", u64::MAX.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413);
}
