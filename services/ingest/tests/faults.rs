//! Fault cases for ingest: NATS stops in the middle of uploads.

mod common;

use std::time::Duration;

use common::*;
use framelog_tests::media::{VideoSpec, generate_video};

#[tokio::test]
async fn fault_nats_down_during_uploads_loses_no_acknowledged_chunk_or_event() {
    let mut env = env().await;
    let file = generate_video(env.work.path(), "clip.mp4", &VideoSpec::new(320, 240, 2.0));
    let bytes = std::fs::read(file).unwrap();
    let up = open(&env, &env.key_a, "clip.mp4", &bytes).await;
    let id = up["upload_id"].as_str().unwrap().to_owned();
    let chunk = up["chunk_size"].as_u64().unwrap() as usize;
    let parts: Vec<Vec<u8>> = bytes.chunks(chunk).map(<[u8]>::to_vec).collect();
    let half = parts.len() / 2;
    for (n, c) in parts.iter().enumerate().take(half) {
        assert_eq!(put_chunk(&env, &env.key_a, &id, n as u64, c).await.status(), 200);
    }

    env.nats.stop();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Upload sessions live in NATS KV (shared by every ingest replica): without NATS a chunk
    // cannot be recorded, so it is refused with a 503 in the JSON shape (never a 200 for a
    // chunk that is not recorded, never a 500).
    let res = put_chunk(&env, &env.key_a, &id, half as u64, &parts[half]).await;
    assert_eq!(code(res).await, (503, "unavailable".into()), "a chunk during the outage");

    env.nats.restart();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    // Every chunk acknowledged before the outage is still recorded.
    let status = loop {
        let res = env.app.get(&format!("/v1/videos/upload/{id}"), Some(&env.key_a)).await;
        if res.status() == 200 {
            break res.json::<serde_json::Value>().await.unwrap();
        }
        assert!(tokio::time::Instant::now() < deadline, "NATS never came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status["received_chunks"], half as u64, "{status}");
    // The client resumes with the refused chunk and the rest.
    for (n, c) in parts.iter().enumerate().skip(half) {
        assert_eq!(put_chunk(&env, &env.key_a, &id, n as u64, c).await.status(), 200, "chunk {n}");
    }
    let res = complete(&env, &env.key_a, &id).await;
    assert_eq!(res.status(), 200);
    let done: serde_json::Value = res.json().await.unwrap();
    while env.st.platform.events.outbox_len() > 0 {
        let _ = env.st.platform.events.drain_outbox().await;
        assert!(tokio::time::Instant::now() < deadline, "the outbox never drained");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let p = phases(&env).await;
    let count = |phase: &str| p.iter().filter(|(_, ph)| ph == phase).count();
    assert_eq!(count("initiated"), 1);
    assert_eq!(count("completed"), 1, "exactly once");
    assert_eq!(count("requested"), 1, "exactly once");
    // The stored source is the exact upload.
    let video = done["video_id"].as_str().unwrap();
    let stored = env.media.local_path(&format!("sources/acme/{video}/source")).unwrap();
    assert_eq!(sha256_hex(&std::fs::read(stored).unwrap()), sha256_hex(&bytes));
}

#[tokio::test]
async fn fault_a_full_disk_answers_507_and_keeps_no_partial_chunk() {
    let env = env().await;
    let file = generate_video(env.work.path(), "clip.mp4", &VideoSpec::new(320, 240, 2.0));
    let bytes = std::fs::read(file).unwrap();
    let up = open(&env, &env.key_a, "clip.mp4", &bytes).await;
    let id = up["upload_id"].as_str().unwrap().to_owned();
    let chunk = up["chunk_size"].as_u64().unwrap() as usize;
    // The part file lives on a "disk" that is full.
    let part = env.st.uploads_dir.join(format!("{id}.part"));
    std::os::unix::fs::symlink("/dev/full", &part).unwrap();
    let res = put_chunk(&env, &env.key_a, &id, 0, &bytes[..chunk]).await;
    assert_eq!(code(res).await, (507, "insufficient_storage".into()));
    let s: serde_json::Value = env
        .app
        .get(&format!("/v1/videos/upload/{id}"), Some(&env.key_a))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(s["received_chunks"], 0, "nothing is recorded for a chunk that was not stored");
    // Space comes back: the same chunks go through and the upload completes intact.
    std::fs::remove_file(&part).unwrap();
    upload_all(&env, &env.key_a, &id, &bytes, chunk).await;
    let done: serde_json::Value = complete(&env, &env.key_a, &id).await.json().await.unwrap();
    assert_eq!(done["sha256"], sha256_hex(&bytes));
}

#[tokio::test]
async fn fault_an_unwritable_media_root_gives_a_clear_503_and_the_upload_survives() {
    let env = env().await;
    let file = generate_video(env.work.path(), "clip.mp4", &VideoSpec::new(320, 240, 2.0));
    let bytes = std::fs::read(file).unwrap();
    let up = open(&env, &env.key_a, "clip.mp4", &bytes).await;
    let id = up["upload_id"].as_str().unwrap().to_owned();
    upload_all(&env, &env.key_a, &id, &bytes, up["chunk_size"].as_u64().unwrap() as usize).await;
    // `sources` is a file, not a directory: the media store cannot take the source.
    let blocker = env.media.local_path("sources").unwrap();
    std::fs::write(&blocker, b"not a directory").unwrap();
    let res = complete(&env, &env.key_a, &id).await;
    let status = res.status().as_u16();
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("media store"));
    assert!(
        !phases(&env).await.iter().any(|(_, p)| p == "completed"),
        "no event for a source that was not stored"
    );
    // Fixed: completing again works, with the exact bytes.
    std::fs::remove_file(&blocker).unwrap();
    let done: serde_json::Value = complete(&env, &env.key_a, &id).await.json().await.unwrap();
    assert_eq!(done["sha256"], sha256_hex(&bytes));
    assert_eq!(phases(&env).await.iter().filter(|(_, p)| p == "completed").count(), 1);
}
