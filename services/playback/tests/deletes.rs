//! Deletes are final for viewers: once `DELETE /v1/videos/{id}` (ingest) answers, every URL of
//! the video — signed master, segments, poster, public — answers 404 within a second on every
//! playback replica, including one that holds its segments in memory; another tenant cannot
//! delete it.

mod common;

use std::time::{Duration, Instant};

use common::*;
use framelog_core::tombstones::{KV_PUBLIC_VIDEOS, Tombstones};
use framelog_ingest::{IngestSettings, IngestState};
use framelog_playback::PlaybackSettings;
use framelog_tests::TestApp;
use framelog_tests::media::{VideoSpec, generate_video};

/// Ingest on the environment's platform and media store.
async fn ingest(env: &Env) -> TestApp {
    let st = IngestState::new(env.platform.clone(), env.media.clone(), IngestSettings::default())
        .await
        .unwrap();
    TestApp::serve(framelog_ingest::router(st).fallback(framelog_core::error::fallback)).await
}

/// Uploads a real video through ingest's REST API; returns its video id.
async fn upload(app: &TestApp, key: &str) -> String {
    let work = tempfile::tempdir().unwrap();
    let file = generate_video(work.path(), "clip.mp4", &VideoSpec::new(320, 180, 1.0));
    let bytes = std::fs::read(file).unwrap();
    let res = app
        .http
        .post(app.url("/v1/videos/upload"))
        .bearer_auth(key)
        .json(&serde_json::json!({"filename": "clip.mp4", "size": bytes.len()}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let up: serde_json::Value = res.json().await.unwrap();
    let id = up["upload_id"].as_str().unwrap();
    let chunk = up["chunk_size"].as_u64().unwrap() as usize;
    for (n, c) in bytes.chunks(chunk).enumerate() {
        let url = app.url(&format!("/v1/videos/upload/{id}/chunk/{n}"));
        let res = app.http.put(url).bearer_auth(key).body(c.to_vec()).send().await.unwrap();
        assert_eq!(res.status(), 200);
    }
    let url = app.url(&format!("/v1/videos/upload/{id}/complete"));
    assert_eq!(app.http.post(url).bearer_auth(key).send().await.unwrap().status(), 200);
    up["video_id"].as_str().unwrap().to_owned()
}

async fn delete(app: &TestApp, key: &str, video: &str) -> (u16, serde_json::Value) {
    let url = app.url(&format!("/v1/videos/{video}"));
    let res = app.http.delete(url).bearer_auth(key).send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

/// Status and JSON error code of `GET path` on `pb`.
async fn status(pb: &Instance, path: &str) -> (u16, String) {
    let res = pb.app.http.get(pb.url(path)).send().await.unwrap();
    let code = res.status().as_u16();
    if code == 200 {
        return (200, String::new());
    }
    let body: serde_json::Value = res.json().await.expect("a JSON error body");
    (code, body["error"]["code"].as_str().unwrap_or_default().to_owned())
}

/// The viewer URLs of `video`: signed master, segment, poster; public master.
fn urls(env: &Env, video: &str) -> Vec<String> {
    let token = env.token("acme", video);
    vec![
        format!("/hls/{token}/{video}/master.m3u8"),
        format!("/hls/{token}/{video}/360p/seg_000.m4s"),
        format!("/hls/{token}/{video}/poster.jpg"),
        format!("/hls/public/{video}/master.m3u8"),
        format!("/hls/public/{video}/360p/seg_001.m4s"),
    ]
}

/// Waits until every URL answers 404 `not_found` on every instance; returns how long it took.
async fn until_gone(instances: &[&Instance], urls: &[String]) -> Duration {
    let start = Instant::now();
    for pb in instances {
        for u in urls {
            loop {
                let got = status(pb, u).await;
                if got == (404, "not_found".to_owned()) {
                    break;
                }
                assert_eq!(got.0, 200, "{u}: only 200 until it is gone, then 404: {got:?}");
                assert!(start.elapsed() < Duration::from_secs(5), "{u} still served");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    start.elapsed()
}

#[tokio::test]
async fn a_deleted_public_video_stops_playing_everywhere_within_a_second() {
    let mut env = Env::new().await;
    let a = env.instance().await;
    // Another replica: its own NATS connection, its own memory cache, which would serve a
    // cached segment for a minute without checking its file.
    let settings = PlaybackSettings { cache_revalidate_ms: 60_000, ..Default::default() };
    let b = env.instance_with(settings, true, None).await;
    let ingest = ingest(&env).await;
    let video = upload(&ingest, &env.key_acme).await;
    ffmpeg_hls(&env, "acme", &video);
    env.put("acme", &video, "poster.jpg", b"\xff\xd8\xff\xe0 poster");
    let res = a
        .app
        .http
        .put(a.url(&format!("/v1/videos/{video}/visibility")))
        .bearer_auth(&env.key_acme)
        .json(&serde_json::json!({"public": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let urls = urls(&env, &video);
    for pb in [&a, &b] {
        for u in &urls {
            assert_eq!(status(pb, u).await.0, 200, "{u} plays before the delete");
        }
    }
    assert!(b.st.cache.size() > 0, "b holds the segments in memory");

    // Another tenant's delete is a 404 and changes nothing.
    let (code, body) = delete(&ingest, &env.key_globex, &video).await;
    assert_eq!((code, body["error"]["code"].as_str()), (404, Some("not_found")));
    let graves = Tombstones::open(&env.platform.js).await.unwrap();
    assert!(!graves.is_buried("acme", &video).await.unwrap());
    assert!(!graves.is_buried("globex", &video).await.unwrap());
    for pb in [&a, &b] {
        for u in &urls {
            assert_eq!(status(pb, u).await.0, 200, "{u} still plays for its owner");
        }
    }

    let (code, body) = delete(&ingest, &env.key_acme, &video).await;
    assert_eq!(code, 200, "{body}");
    let took = until_gone(&[&a, &b], &urls).await;
    assert!(took < Duration::from_secs(1), "gone everywhere in {took:?}");
    assert!(graves.is_buried("acme", &video).await.unwrap());
    eventually("b evicts the deleted video's segments", || async { b.st.cache.size() == 0 }).await;
    let marks = env.platform.js.get_key_value(KV_PUBLIC_VIDEOS).await.unwrap();
    assert_eq!(marks.get(video.as_str()).await.unwrap(), None, "the public mark is dropped");
    let visibility = a
        .app
        .http
        .put(a.url(&format!("/v1/videos/{video}/visibility")))
        .bearer_auth(&env.key_acme)
        .json(&serde_json::json!({"public": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(visibility.status(), 404, "a deleted video cannot be made public again");
}

#[tokio::test]
async fn the_tombstone_alone_stops_every_url_even_while_the_files_remain() {
    let mut env = Env::new().await;
    let settings = PlaybackSettings { cache_revalidate_ms: 60_000, ..Default::default() };
    let a = env.instance_with(settings.clone(), true, None).await;
    let b = env.instance_with(settings, true, None).await;
    ffmpeg_hls(&env, "acme", "vid_kept");
    env.put("acme", "vid_kept", "poster.jpg", b"\xff\xd8\xff\xe0 poster");
    assert!(a.st.public.mark("acme", "vid_kept").await.unwrap());
    let urls = urls(&env, "vid_kept");
    for u in &urls {
        assert_eq!(status(&b, u).await.0, 200, "{u}");
    }
    // A delete whose media cleanup has not happened (or raced with a transcoder's write).
    let graves = Tombstones::open(&env.platform.js).await.unwrap();
    graves.bury("acme", "vid_kept").await.unwrap();
    let took = until_gone(&[&a, &b], &urls).await;
    assert!(took < Duration::from_secs(1), "gone everywhere in {took:?}");
    assert!(env.media_root.join("hls/acme/vid_kept/master.m3u8").exists(), "files still there");
    // A replica started after the delete knows it from the start.
    let c = env.instance_with(PlaybackSettings::default(), true, None).await;
    for u in &urls {
        assert_eq!(status(&c, u).await, (404, "not_found".to_owned()), "{u} on a new replica");
    }
}

#[tokio::test]
async fn a_replica_without_local_paths_drops_its_copies_of_a_deleted_video() {
    let mut env = Env::new().await;
    let store = framelog_core::media_nats::NatsMediaStore::open(&env.platform.js, 1).await.unwrap();
    let hls = ffmpeg_hls(&env, "acme", "vid_obj");
    let staged = tempfile::tempdir().unwrap();
    for f in files(&hls) {
        let to = staged.path().join(f.strip_prefix(&hls).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&f, &to).unwrap();
    }
    framelog_core::media::MediaStore::put_dir(&store, "hls/acme/vid_obj", staged.path())
        .await
        .unwrap();
    let settings = PlaybackSettings { cache_revalidate_ms: 60_000, ..Default::default() };
    let c = env.instance_with(settings, true, Some(std::sync::Arc::new(store))).await;
    let urls: Vec<String> = urls(&env, "vid_obj").into_iter().take(2).collect();
    for u in &urls {
        assert_eq!(status(&c, u).await.0, 200, "{u}");
    }
    let copies = c.st.fetch_dir.join("hls/acme/vid_obj");
    assert!(copies.join("360p/seg_000.m4s").exists(), "a local copy of the segment");

    Tombstones::open(&env.platform.js).await.unwrap().bury("acme", "vid_obj").await.unwrap();
    let took = until_gone(&[&c], &urls).await;
    assert!(took < Duration::from_secs(1), "gone in {took:?}");
    eventually("the local copies are removed", || async { !copies.exists() }).await;
    assert_eq!(c.st.cache.size(), 0, "and evicted from memory");
}

/// Every file under `dir`.
fn files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() {
            out.extend(files(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}
