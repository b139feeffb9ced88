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

    // Chunks need no NATS: the key was seen recently, bytes go to disk and sled.
    for (n, c) in parts.iter().enumerate().skip(half) {
        assert_eq!(
            put_chunk(&env, &env.key_a, &id, n as u64, c).await.status(),
            200,
            "chunk {n} during the outage"
        );
    }
    // Completing queues its events in the outbox (durable) and says so: no sequence yet.
    let res = complete(&env, &env.key_a, &id).await;
    assert_eq!(res.status(), 200);
    let done: serde_json::Value = res.json().await.unwrap();
    assert!(done["sequence"].is_null(), "the event waits in the outbox: {done}");
    // A new upload can start too.
    let second = open(&env, &env.key_a, "second.mp4", b"0123456789").await;
    assert!(second["sequence"].is_null());
    assert_eq!(env.st.platform.events.outbox_len(), 3, "completed, requested, initiated");

    env.nats.restart();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while env.st.platform.events.outbox_len() > 0 {
        let _ = env.st.platform.events.drain_outbox().await;
        assert!(tokio::time::Instant::now() < deadline, "the outbox never drained");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let p = phases(&env).await;
    let count = |phase: &str| p.iter().filter(|(_, ph)| ph == phase).count();
    assert_eq!(count("initiated"), 2);
    assert_eq!(count("completed"), 1, "exactly once");
    assert_eq!(count("requested"), 1, "exactly once");
    // The stored source is the exact upload.
    let video = done["video_id"].as_str().unwrap();
    let stored = env.media.local_path(&format!("sources/acme/{video}/source")).unwrap();
    assert_eq!(sha256_hex(&std::fs::read(stored).unwrap()), sha256_hex(&bytes));
}
