//! The recording hooks as an attacker used them: `record_done` / `record_segment_complete`
//! naming any file made the server delete it (a stream that does not record) or move it into
//! the caller's tenant (one that does). Now only a file of this stream in the recordings
//! directory, from an authorised session, is taken; everything else is a 403, a
//! `recording_refused` audit event, and the file untouched.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::json;

fn recordings(env: &Env) -> PathBuf {
    let d = env.dir.path().join("live/recordings");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A file another tenant owns: its uploaded source in the media store.
fn victim_source(env: &Env) -> PathBuf {
    let p = env.dir.path().join("media/sources/globex/vid_victim/source");
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, b"globex's source video").unwrap();
    p
}

async fn record_done(env: &Env, stream: &str, client: &str, path: &Path) -> (u16, String) {
    let path = path.to_str().unwrap();
    code(
        nginx_hook(env, "record_done", &[("name", stream), ("clientid", client), ("path", path)])
            .await,
    )
    .await
}

/// An nginx-rtmp publish of `s` with its key, as connection `client`: the session opens.
async fn nginx_publish(env: &Env, s: &serde_json::Value, client: &str) {
    let id = s["stream_id"].as_str().unwrap();
    let key = s["stream_key"].as_str().unwrap();
    let form = [("name", id), ("key", key), ("clientid", client), ("addr", "127.0.0.1")];
    assert_eq!(nginx_hook(env, "publish", &form).await.status(), 200);
}

#[tokio::test]
async fn record_done_naming_any_file_deletes_nothing_with_or_without_the_secret() {
    let env = env().await;
    let s = create_stream(&env, &env.key_a, "not recorded", false).await;
    let id = s["stream_id"].as_str().unwrap();
    // The server's own HMAC secret: the file the attacker deleted.
    let secret_key = env.dir.path().join("secret.key");
    let before = std::fs::read(&secret_key).unwrap();
    let path = secret_key.to_str().unwrap();

    // Without the webhook secret: refused at the door.
    let res = env
        .app
        .http
        .post(env.app.url("/v1/hooks/nginx-rtmp/record_done"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("name={id}&clientid=1&path={path}"))
        .send()
        .await
        .unwrap();
    assert_eq!(code(res).await, (403, "forbidden".into()));
    // With it, but no publish ever opened a session: refused.
    assert_eq!(record_done(&env, id, "1", &secret_key).await, (403, "recording_refused".into()));
    // With an authorised session, the path is still outside the recordings directory.
    nginx_publish(&env, &s, "7").await;
    assert_eq!(record_done(&env, id, "7", &secret_key).await, (403, "recording_refused".into()));
    assert_eq!(std::fs::read(&secret_key).unwrap(), before, "the secret file is untouched");
    let p = live_phases(&env).await;
    assert!(p.contains(&"live:recording_refused".to_owned()), "{p:?}");
}

#[tokio::test]
async fn record_done_takes_only_a_file_of_this_session_in_the_recordings_dir() {
    let env = env().await;
    let rec = recordings(&env);
    let s = create_stream(&env, &env.key_a, "recorded", true).await;
    let id = s["stream_id"].as_str().unwrap().to_owned();
    let other = create_stream(&env, &env.key_a, "other", true).await;
    let other_id = other["stream_id"].as_str().unwrap();
    nginx_publish(&env, &s, "42").await;
    let victim = victim_source(&env);
    let secret_key = env.dir.path().join("secret.key");
    let secret_bytes = std::fs::read(&secret_key).unwrap();

    let link = rec.join(format!("{id}-1.flv"));
    std::os::unix::fs::symlink(&secret_key, &link).unwrap();
    let folder = rec.join(format!("{id}-2.flv"));
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("inside"), b"x").unwrap();
    let others = rec.join(format!("{other_id}-3.flv"));
    std::fs::write(&others, b"other stream's recording").unwrap();
    let mine = rec.join(format!("{id}-4.flv"));
    std::fs::write(&mine, b"this stream's recording").unwrap();
    let linked_dir = rec.join("up");
    std::os::unix::fs::symlink(env.dir.path(), &linked_dir).unwrap();

    let refused = (403, "recording_refused".to_owned());
    let cases: Vec<(&str, PathBuf, &str)> = vec![
        ("another tenant's source", victim.clone(), "42"),
        ("outside the recordings dir", secret_key.clone(), "42"),
        ("a dot-dot escape", rec.join("../secret.key"), "42"),
        ("a symlink named for the stream", link.clone(), "42"),
        ("through a symlinked directory", linked_dir.join("secret.key"), "42"),
        ("a folder", folder.clone(), "42"),
        ("another stream's recording", others.clone(), "42"),
        ("the right file from another connection", mine.clone(), "43"),
        ("the right file with no connection id", mine.clone(), ""),
        ("the recordings dir itself", rec.clone(), "42"),
    ];
    for (what, path, client) in &cases {
        assert_eq!(record_done(&env, &id, client, path).await, refused, "{what}");
    }
    assert_eq!(
        std::fs::read(&victim).unwrap(),
        b"globex's source video",
        "globex keeps its source"
    );
    assert_eq!(std::fs::read(&secret_key).unwrap(), secret_bytes);
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert!(folder.join("inside").exists());
    assert_eq!(std::fs::read(&others).unwrap(), b"other stream's recording");
    assert_eq!(std::fs::read(&mine).unwrap(), b"this stream's recording");
    let p = live_phases(&env).await;
    assert!(!p.contains(&"live:recording_ready".to_owned()), "{p:?}");
    assert!(p.contains(&"live:recording_refused".to_owned()), "{p:?}");
    assert!(
        !phases(&env).await.contains(&"upload:initiated".to_owned()),
        "no file entered the upload path"
    );
}

#[tokio::test]
async fn mediamtx_segments_need_an_authorised_session_and_the_recordings_dir() {
    let env = env().await;
    let rec = recordings(&env);
    let s = create_stream(&env, &env.key_a, "cam", false).await;
    let id = s["stream_id"].as_str().unwrap();
    let key = s["stream_key"].as_str().unwrap();
    let segment = rec.join(format!("live/{id}/2026-12-01_10-00-00-000000.mp4"));
    std::fs::create_dir_all(segment.parent().unwrap()).unwrap();
    std::fs::write(&segment, b"segment").unwrap();
    let secret_key = env.dir.path().join("secret.key");
    let before = std::fs::read(&secret_key).unwrap();
    let done = |p: &Path| {
        json!({"event": "record_segment_complete", "path": format!("live/{id}"),
               "segment_path": p.to_str().unwrap()})
    };
    let refused = (403, "recording_refused".to_owned());
    // No session: nothing is taken, even the stream's own segment.
    assert_eq!(code(mtx_event(&env, done(&segment)).await).await, refused);
    assert_eq!(code(mtx_event(&env, done(&secret_key)).await).await, refused);
    // An authorised MediaMTX publish goes live.
    let auth = json!({"action": "publish", "path": format!("live/{id}"), "protocol": "rtmp",
                      "id": "c-1", "query": format!("key={key}")});
    assert_eq!(mtx_auth(&env, auth).await.status(), 200);
    let avail = json!({"event": "available", "path": format!("live/{id}"),
                       "source_type": "rtmpConn", "source_id": "c-1"});
    assert_eq!(mtx_event(&env, avail).await.status(), 200);
    assert_eq!(code(mtx_event(&env, done(&secret_key)).await).await, refused);
    assert_eq!(std::fs::read(&secret_key).unwrap(), before);
    assert!(segment.exists());
    // The stream's own segment from its session is handled: this stream does not record, so
    // it is discarded.
    assert_eq!(mtx_event(&env, done(&segment)).await.status(), 200);
    assert!(!segment.exists());
}
