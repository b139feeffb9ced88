//! The REST chunked upload protocol against real NATS and real ffprobe.

mod common;

use common::*;
use framelog_ingest::IngestSettings;
use framelog_tests::media::{VideoSpec, generate_bytes, generate_video};
use futures::future::join_all;

async fn video_bytes(env: &Env) -> Vec<u8> {
    let p = generate_video(env.work.path(), "clip.mp4", &VideoSpec::new(320, 240, 2.0));
    std::fs::read(p).unwrap()
}

fn chunks(bytes: &[u8], size: usize) -> Vec<(u64, Vec<u8>)> {
    bytes.chunks(size).enumerate().map(|(i, c)| (i as u64, c.to_vec())).collect()
}

#[tokio::test]
async fn out_of_order_and_parallel_chunks_assemble_to_the_exact_bytes() {
    let env = env().await;
    let bytes = video_bytes(&env).await;
    let up = open(&env, &env.key_a, "clip.mp4", &bytes).await;
    let id = up["upload_id"].as_str().unwrap();
    let chunk = up["chunk_size"].as_u64().unwrap() as usize;
    let mut parts = chunks(&bytes, chunk);
    assert!(parts.len() >= 3, "the test needs several chunks");
    assert_eq!(up["total_chunks"].as_u64().unwrap(), parts.len() as u64);
    parts.reverse();
    let results = join_all(parts.iter().map(|(n, c)| put_chunk(&env, &env.key_a, id, *n, c))).await;
    assert!(results.iter().all(|r| r.status() == 200));

    let res = complete(&env, &env.key_a, id).await;
    assert_eq!(res.status(), 200);
    let done: serde_json::Value = res.json().await.unwrap();
    assert_eq!(done["sha256"], sha256_hex(&bytes));
    assert_eq!(done["probe"]["width"], 320);
    assert_eq!(done["status"], "processing");
    let video = done["video_id"].as_str().unwrap();
    let stored = env.media.local_path(&format!("sources/acme/{video}/source")).unwrap();
    assert_eq!(sha256_hex(&std::fs::read(stored).unwrap()), sha256_hex(&bytes));
    assert!(done["sequence"].as_u64().is_some(), "the write answers its stream sequence");

    let p = phases(&env).await;
    assert_eq!(
        p,
        vec![
            ("VID_UPLOAD".into(), "initiated".into()),
            ("VID_UPLOAD".into(), "completed".into()),
            ("VID_TRANSCODE".into(), "requested".into()),
        ]
    );
    let evs = events(&env).await;
    assert_eq!(evs[2].causation_id.as_deref(), Some(evs[1].id.to_string().as_str()));
    assert_eq!(evs[2].correlation_id, evs[1].correlation_id);
}

#[tokio::test]
async fn an_upload_resumes_from_the_missing_ranges_after_a_drop() {
    let env = env().await;
    let bytes = video_bytes(&env).await;
    let up = open(&env, &env.key_a, "clip.mp4", &bytes).await;
    let id = up["upload_id"].as_str().unwrap();
    let parts = chunks(&bytes, up["chunk_size"].as_u64().unwrap() as usize);
    // The "connection drops" after the even chunks.
    for (n, c) in parts.iter().filter(|(n, _)| n % 2 == 0) {
        assert_eq!(put_chunk(&env, &env.key_a, id, *n, c).await.status(), 200);
    }
    let incomplete = complete(&env, &env.key_a, id).await;
    assert_eq!(code(incomplete).await, (409, "incomplete_upload".into()));

    let status: serde_json::Value = env
        .app
        .get(&format!("/v1/videos/upload/{id}"), Some(&env.key_a))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["state"], "open");
    let missing: Vec<u64> = status["missing"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r[0].as_u64().unwrap()..=r[1].as_u64().unwrap())
        .collect();
    let odd: Vec<u64> = parts.iter().map(|(n, _)| *n).filter(|n| n % 2 == 1).collect();
    assert_eq!(missing, odd);
    for n in missing {
        assert_eq!(put_chunk(&env, &env.key_a, id, n, &parts[n as usize].1).await.status(), 200);
    }
    assert_eq!(complete(&env, &env.key_a, id).await.status(), 200);
}

#[tokio::test]
async fn a_chunk_whose_digest_does_not_match_is_rejected_and_nothing_is_kept() {
    let env = env().await;
    let bytes = video_bytes(&env).await;
    let up = open(&env, &env.key_a, "clip.mp4", &bytes).await;
    let id = up["upload_id"].as_str().unwrap();
    let first = &bytes[..up["chunk_size"].as_u64().unwrap() as usize];
    let bad = env
        .app
        .http
        .put(env.app.url(&format!("/v1/videos/upload/{id}/chunk/0")))
        .bearer_auth(&env.key_a)
        .header("x-chunk-sha256", sha256_hex(b"something else"))
        .body(first.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(code(bad).await, (400, "digest_mismatch".into()));
    let status: serde_json::Value = env
        .app
        .get(&format!("/v1/videos/upload/{id}"), Some(&env.key_a))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["received_chunks"], 0);

    use base64::Engine;
    let digest =
        base64::engine::general_purpose::STANDARD.encode(hex::decode(sha256_hex(first)).unwrap());
    let good = env
        .app
        .http
        .put(env.app.url(&format!("/v1/videos/upload/{id}/chunk/0")))
        .bearer_auth(&env.key_a)
        .header("content-digest", format!("sha-256=:{digest}:"))
        .body(first.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(good.status(), 200);
}

#[tokio::test]
async fn resending_a_chunk_is_idempotent_and_different_bytes_conflict() {
    let env = env().await;
    let bytes = video_bytes(&env).await;
    let up = open(&env, &env.key_a, "clip.mp4", &bytes).await;
    let id = up["upload_id"].as_str().unwrap();
    let size = up["chunk_size"].as_u64().unwrap() as usize;
    let first = &bytes[..size];
    assert_eq!(put_chunk(&env, &env.key_a, id, 0, first).await.status(), 200);
    let again = put_chunk(&env, &env.key_a, id, 0, first).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.json::<serde_json::Value>().await.unwrap()["duplicate"], true);
    let mut other = first.to_vec();
    other[0] ^= 0xff;
    assert_eq!(
        code(put_chunk(&env, &env.key_a, id, 0, &other).await).await,
        (409, "chunk_conflict".into())
    );
    // Wrong length, out of range.
    assert_eq!(
        code(put_chunk(&env, &env.key_a, id, 1, &first[..10]).await).await,
        (400, "chunk_length_mismatch".into())
    );
    let total = up["total_chunks"].as_u64().unwrap();
    assert_eq!(
        code(put_chunk(&env, &env.key_a, id, total, first).await).await,
        (400, "chunk_out_of_range".into())
    );
    let too_long = [first, b"extra"].concat();
    assert_eq!(code(put_chunk(&env, &env.key_a, id, 1, &too_long).await).await.0, 400);
}

#[tokio::test]
async fn completing_twice_emits_one_event() {
    let env = env().await;
    let bytes = video_bytes(&env).await;
    let up = open(&env, &env.key_a, "clip.mp4", &bytes).await;
    let id = up["upload_id"].as_str().unwrap();
    upload_all(&env, &env.key_a, id, &bytes, up["chunk_size"].as_u64().unwrap() as usize).await;
    let (a, b) = tokio::join!(complete(&env, &env.key_a, id), complete(&env, &env.key_a, id));
    let (a, b): (serde_json::Value, serde_json::Value) =
        (a.json().await.unwrap(), b.json().await.unwrap());
    assert_eq!(a, b);
    let c: serde_json::Value = complete(&env, &env.key_a, id).await.json().await.unwrap();
    assert_eq!(a, c);
    let p = phases(&env).await;
    assert_eq!(p.iter().filter(|(_, ph)| ph == "completed").count(), 1);
    assert_eq!(p.iter().filter(|(_, ph)| ph == "requested").count(), 1);
}

#[tokio::test]
async fn a_text_file_named_mp4_is_422_with_a_rejected_event_and_its_bytes_removed() {
    let env = env().await;
    let text = b"this is not a video, just some text pretending to be one\n".repeat(50);
    let up = open(&env, &env.key_a, "notes.mp4", &text).await;
    let id = up["upload_id"].as_str().unwrap();
    for (n, c) in chunks(&text, up["chunk_size"].as_u64().unwrap() as usize) {
        put_chunk(&env, &env.key_a, id, n, &c).await;
    }
    let res = complete(&env, &env.key_a, id).await;
    assert_eq!(code(res).await, (422, "not_a_video".into()));
    let evs = events(&env).await;
    let rejected = evs.iter().find(|e| e.data.phase() == "rejected").expect("a rejected event");
    let framelog_events::EventData::Upload(framelog_events::UploadData::Rejected {
        code: c,
        reason,
        ..
    }) = &rejected.data
    else {
        panic!()
    };
    assert_eq!(c, "not_a_video");
    assert!(!reason.is_empty());
    assert!(!evs.iter().any(|e| e.data.phase() == "requested"));
    assert!(!env.st.uploads_dir.join(format!("{id}.part")).exists());
    // Completing again answers the same 422 without a second event.
    assert_eq!(code(complete(&env, &env.key_a, id).await).await.0, 422);
    assert_eq!(events(&env).await.iter().filter(|e| e.data.phase() == "rejected").count(), 1);
}

#[tokio::test]
async fn a_truncated_video_and_an_empty_file_are_rejected_with_their_reason() {
    let env = env().await;
    let bytes = video_bytes(&env).await;
    let cut = &bytes[..bytes.len() / 2];
    let up = open(&env, &env.key_a, "cut.mp4", cut).await;
    let id = up["upload_id"].as_str().unwrap();
    for (n, c) in chunks(cut, up["chunk_size"].as_u64().unwrap() as usize) {
        put_chunk(&env, &env.key_a, id, n, &c).await;
    }
    assert_eq!(code(complete(&env, &env.key_a, id).await).await, (422, "not_a_video".into()));

    let empty = open(&env, &env.key_a, "empty.mp4", b"").await;
    assert_eq!(empty["total_chunks"], 0);
    let res = complete(&env, &env.key_a, empty["upload_id"].as_str().unwrap()).await;
    assert_eq!(code(res).await, (422, "empty_file".into()));
}

#[tokio::test]
async fn a_whole_file_sha256_that_does_not_match_is_rejected() {
    let env = env().await;
    let bytes = video_bytes(&env).await;
    let res = env
        .app
        .http
        .post(env.app.url("/v1/videos/upload"))
        .bearer_auth(&env.key_a)
        .json(&serde_json::json!({"filename": "c.mp4", "size": bytes.len(), "sha256": sha256_hex(b"x")}))
        .send()
        .await
        .unwrap();
    let up: serde_json::Value = res.json().await.unwrap();
    let id = up["upload_id"].as_str().unwrap();
    upload_all(&env, &env.key_a, id, &bytes, up["chunk_size"].as_u64().unwrap() as usize).await;
    assert_eq!(code(complete(&env, &env.key_a, id).await).await, (422, "checksum_mismatch".into()));
}

#[tokio::test]
async fn tenant_b_cannot_see_resume_complete_or_delete_tenant_a_upload() {
    let env = env().await;
    let bytes = video_bytes(&env).await;
    let up = open(&env, &env.key_a, "clip.mp4", &bytes).await;
    let id = up["upload_id"].as_str().unwrap();
    let b = &env.key_b;
    assert_eq!(
        code(env.app.get(&format!("/v1/videos/upload/{id}"), Some(b)).await).await,
        (404, "not_found".into())
    );
    assert_eq!(code(put_chunk(&env, b, id, 0, &bytes[..65536]).await).await.0, 404);
    assert_eq!(code(complete(&env, b, id).await).await.0, 404);
    let del = env
        .app
        .http
        .delete(env.app.url(&format!("/v1/videos/upload/{id}")))
        .bearer_auth(b)
        .send()
        .await
        .unwrap();
    assert_eq!(code(del).await.0, 404);
    let video = up["video_id"].as_str().unwrap();
    let del = env
        .app
        .http
        .delete(env.app.url(&format!("/v1/videos/{video}")))
        .bearer_auth(b)
        .send()
        .await
        .unwrap();
    assert_eq!(code(del).await.0, 404);
    // A's upload is untouched.
    let s: serde_json::Value = env
        .app
        .get(&format!("/v1/videos/upload/{id}"), Some(&env.key_a))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(s["state"], "open");
}

#[tokio::test]
async fn aborting_frees_the_space_and_ends_the_upload() {
    let env = env().await;
    let bytes = video_bytes(&env).await;
    let up = open(&env, &env.key_a, "clip.mp4", &bytes).await;
    let id = up["upload_id"].as_str().unwrap();
    put_chunk(&env, &env.key_a, id, 0, &bytes[..65536]).await;
    let part = env.st.uploads_dir.join(format!("{id}.part"));
    assert!(part.exists());
    let del = env
        .app
        .http
        .delete(env.app.url(&format!("/v1/videos/upload/{id}")))
        .bearer_auth(&env.key_a)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 204);
    assert!(!part.exists());
    assert_eq!(
        code(put_chunk(&env, &env.key_a, id, 1, &bytes[65536..131072]).await).await,
        (410, "upload_gone".into())
    );
    assert!(phases(&env).await.contains(&("VID_UPLOAD".into(), "aborted".into())));
}

#[tokio::test]
async fn the_cleaner_removes_an_idle_upload_and_emits_expired() {
    let env = env_with(IngestSettings {
        chunk_size: 65536,
        idle_timeout_secs: 3600,
        ..Default::default()
    })
    .await;
    let bytes = video_bytes(&env).await;
    let idle = open(&env, &env.key_a, "idle.mp4", &bytes).await;
    let idle_id = idle["upload_id"].as_str().unwrap();
    put_chunk(&env, &env.key_a, idle_id, 0, &bytes[..65536]).await;
    let now = time::OffsetDateTime::now_utc();
    // Not idle long enough yet.
    assert_eq!(framelog_ingest::gc::collect_once(&env.st, now).await, 0);
    let later = now + time::Duration::hours(2);
    assert_eq!(framelog_ingest::gc::collect_once(&env.st, later).await, 1);
    assert!(!env.st.uploads_dir.join(format!("{idle_id}.part")).exists());
    let s: serde_json::Value = env
        .app
        .get(&format!("/v1/videos/upload/{idle_id}"), Some(&env.key_a))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(s["state"], "expired");
    assert!(phases(&env).await.contains(&("VID_UPLOAD".into(), "expired".into())));
    assert_eq!(framelog_ingest::gc::collect_once(&env.st, later).await, 0, "expired once");
}

#[tokio::test]
async fn deleting_a_video_publishes_deleted_and_removes_its_media() {
    let env = env().await;
    let bytes = video_bytes(&env).await;
    let up = open(&env, &env.key_a, "clip.mp4", &bytes).await;
    let id = up["upload_id"].as_str().unwrap();
    upload_all(&env, &env.key_a, id, &bytes, 65536).await;
    assert_eq!(complete(&env, &env.key_a, id).await.status(), 200);
    let video = up["video_id"].as_str().unwrap();
    let src = format!("sources/acme/{video}/source");
    assert!(env.media.exists(&src).await.unwrap());
    let del = env
        .app
        .http
        .delete(env.app.url(&format!("/v1/videos/{video}")))
        .bearer_auth(&env.key_a)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 200);
    assert!(!env.media.exists(&src).await.unwrap());
    assert!(phases(&env).await.contains(&("VID_UPLOAD".into(), "deleted".into())));
    let again = env
        .app
        .http
        .delete(env.app.url(&format!("/v1/videos/{video}")))
        .bearer_auth(&env.key_a)
        .send()
        .await
        .unwrap();
    assert_eq!(code(again).await.0, 404);
}

#[tokio::test]
async fn bad_create_requests_get_clear_4xx_errors() {
    let env = env_with(IngestSettings { max_upload_size: 1000, ..Default::default() }).await;
    let post = |body: &'static str| {
        env.app
            .http
            .post(env.app.url("/v1/videos/upload"))
            .bearer_auth(&env.key_a)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    assert_eq!(code(post("{not json").await.unwrap()).await, (400, "invalid_json".into()));
    assert_eq!(code(post(r#"{"filename":"a","size":-1}"#).await.unwrap()).await.0, 422);
    assert_eq!(code(post(r#"{"filename":"a","size":"big"}"#).await.unwrap()).await.0, 422);
    assert_eq!(
        code(post(r#"{"filename":"a","size":5000}"#).await.unwrap()).await,
        (413, "upload_too_large".into())
    );
    assert_eq!(
        code(post(r#"{"filename":"a","size":5,"sha256":"xyz"}"#).await.unwrap()).await,
        (422, "invalid_field".into())
    );
    assert_eq!(
        code(post(r#"{"filename":"","size":5}"#).await.unwrap()).await,
        (422, "invalid_field".into())
    );
    let no_auth = env
        .app
        .http
        .post(env.app.url("/v1/videos/upload"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(code(no_auth).await.0, 401);
    // The file name is sanitised, never a path.
    let res = post(r#"{"filename":"../../etc/passwd","size":5}"#).await.unwrap();
    let up: serde_json::Value = res.json().await.unwrap();
    let s: serde_json::Value = env
        .app
        .get(&format!("/v1/videos/upload/{}", up["upload_id"].as_str().unwrap()), Some(&env.key_a))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(s["filename"], "passwd");
    let _ = generate_bytes;
}
