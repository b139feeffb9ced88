//! `DELETE /v1/videos/{id}` is final: it writes the video's tombstone (which the transcoder and
//! every playback replica check) and drops its public mark before it answers; another tenant's
//! delete is a 404 that changes nothing.

mod common;

use async_nats::jetstream::kv;
use common::*;
use framelog_core::tombstones::{KV_PUBLIC_VIDEOS, Tombstones};
use framelog_tests::media::{VideoSpec, generate_video};

/// A completed upload of a real video; returns its video id.
async fn uploaded(env: &Env) -> String {
    let p = generate_video(env.work.path(), "clip.mp4", &VideoSpec::new(320, 240, 1.0));
    let bytes = std::fs::read(p).unwrap();
    let up = open(env, &env.key_a, "clip.mp4", &bytes).await;
    let id = up["upload_id"].as_str().unwrap();
    upload_all(env, &env.key_a, id, &bytes, 65536).await;
    assert_eq!(complete(env, &env.key_a, id).await.status(), 200);
    up["video_id"].as_str().unwrap().to_owned()
}

/// Marks `video` public for acme as playback does (the bucket is playback's).
async fn mark_public(env: &Env, video: &str) -> kv::Store {
    let marks = env
        .st
        .platform
        .js
        .create_key_value(kv::Config { bucket: KV_PUBLIC_VIDEOS.into(), ..Default::default() })
        .await
        .unwrap();
    marks.put(video, "acme".into()).await.unwrap();
    marks
}

async fn delete(env: &Env, key: &str, video: &str) -> reqwest::Response {
    let url = env.app.url(&format!("/v1/videos/{video}"));
    env.app.http.delete(url).bearer_auth(key).send().await.unwrap()
}

#[tokio::test]
async fn a_delete_buries_the_video_and_drops_its_public_mark_before_it_answers() {
    let env = env().await;
    let video = uploaded(&env).await;
    let marks = mark_public(&env, &video).await;
    let hls = format!("hls/acme/{video}/master.m3u8");
    let tmp = env.work.path().join("master.m3u8");
    std::fs::write(&tmp, "#EXTM3U\n").unwrap();
    env.media.put_file(&hls, &tmp).await.unwrap();
    let graves = Tombstones::open(&env.st.platform.js).await.unwrap();
    assert!(!graves.is_buried("acme", &video).await.unwrap());

    assert_eq!(delete(&env, &env.key_a, &video).await.status(), 200);
    assert!(graves.is_buried("acme", &video).await.unwrap(), "tombstone written");
    assert_eq!(marks.get(video.as_str()).await.unwrap(), None, "public mark dropped");
    assert!(!env.media.exists(&hls).await.unwrap());
    assert!(!env.media.exists(&format!("sources/acme/{video}/source")).await.unwrap());
    assert!(phases(&env).await.contains(&("VID_UPLOAD".into(), "deleted".into())));
}

#[tokio::test]
async fn another_tenants_delete_is_a_404_that_buries_nothing_and_keeps_the_mark() {
    let env = env().await;
    let video = uploaded(&env).await;
    let marks = mark_public(&env, &video).await;
    assert_eq!(code(delete(&env, &env.key_b, &video).await).await, (404, "not_found".into()));
    let graves = Tombstones::open(&env.st.platform.js).await.unwrap();
    assert!(!graves.is_buried("acme", &video).await.unwrap());
    assert!(!graves.is_buried("globex", &video).await.unwrap());
    assert_eq!(marks.get(video.as_str()).await.unwrap().as_deref(), Some(&b"acme"[..]));
    assert!(env.media.exists(&format!("sources/acme/{video}/source")).await.unwrap());
    assert!(!phases(&env).await.contains(&("VID_UPLOAD".into(), "deleted".into())));
}

#[tokio::test]
async fn a_delete_works_when_no_video_was_ever_made_public() {
    let env = env().await;
    let video = uploaded(&env).await;
    assert_eq!(delete(&env, &env.key_a, &video).await.status(), 200);
    let graves = Tombstones::open(&env.st.platform.js).await.unwrap();
    assert!(graves.is_buried("acme", &video).await.unwrap());
    assert_eq!(code(delete(&env, &env.key_a, &video).await).await, (404, "not_found".into()));
}
