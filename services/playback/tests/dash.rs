//! `manifest.mpd` against real files: an older ladder (no versions, muxed renditions) that
//! ffprobe reads through the manifest; a growing video (`not_ready`) until its playlists end and
//! its version is complete; the cache of a complete version; a broken master refused with a
//! 404, never a 500.

mod common;

use common::*;
use framelog_core::media::hls_prefix;
use framelog_core::media::versions::{new_version_id, publish};

fn manifest_path(env: &Env, video: &str) -> String {
    format!("/hls/{}/{video}/manifest.mpd", env.token("acme", video))
}

async fn get(pb: &Instance, path: &str) -> (u16, String) {
    let res = pb.app.http.get(pb.url(path)).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

fn error_code(body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    v["error"]["code"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn an_older_ladder_without_versions_gets_a_manifest_that_ffprobe_reads() {
    let mut env = Env::new().await;
    let pb = env.instance().await;
    ffmpeg_hls(&env, "acme", "vid_1");
    let url = pb.url(&manifest_path(&env, "vid_1"));
    let res = pb.app.http.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/dash+xml");
    let xml = res.text().await.unwrap();
    assert!(xml.contains("<BaseURL>360p/</BaseURL>"), "{xml}");
    // tokio's process: the server answering ffprobe runs on this test's runtime.
    let out = tokio::process::Command::new("ffprobe")
        .args(["-v", "error", "-count_packets", "-show_entries"])
        .args(["stream=codec_type,width,height,nb_read_packets", "-of", "json", &url])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}\n{xml}", String::from_utf8_lossy(&out.stderr));
    let p: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let streams = p["streams"].as_array().unwrap();
    let video = streams.iter().find(|s| s["codec_type"] == "video").expect("a video stream");
    assert_eq!((video["width"].as_u64(), video["height"].as_u64()), (Some(320), Some(180)));
    let n: u64 = video["nb_read_packets"].as_str().unwrap().parse().unwrap();
    assert!(n >= 100, "4 s at 30 fps read through the manifest: {n} packets");
    assert!(streams.iter().any(|s| s["codec_type"] == "audio"), "the muxed audio too: {p}");
}

#[tokio::test]
async fn a_growing_video_has_no_manifest_until_its_playlists_end() {
    let mut env = Env::new().await;
    let pb = env.instance().await;
    let dir = ffmpeg_hls(&env, "acme", "vid_1");
    let playlist = dir.join("360p/index.m3u8");
    let full = std::fs::read_to_string(&playlist).unwrap();
    std::fs::write(&playlist, full.replace("#EXT-X-ENDLIST\n", "")).unwrap();
    let (status, body) = get(&pb, &manifest_path(&env, "vid_1")).await;
    assert_eq!((status, error_code(&body).as_str()), (404, "not_ready"), "{body}");
    std::fs::write(&playlist, &full).unwrap();
    let (status, _) = get(&pb, &manifest_path(&env, "vid_1")).await;
    assert_eq!(status, 200, "once the playlist has ended");
}

#[tokio::test]
async fn a_version_is_not_ready_until_complete_and_then_read_once() {
    let mut env = Env::new().await;
    let pb = env.instance().await;
    let flat = ffmpeg_hls(&env, "acme", "vid_1");
    // The same ladder as a version: files under v/<version>/, the master naming them so.
    let version = new_version_id();
    let vdir = flat.join("v").join(&version);
    let staged = flat.parent().unwrap().join("staged");
    std::fs::rename(&flat, &staged).unwrap();
    std::fs::create_dir_all(vdir.parent().unwrap()).unwrap();
    std::fs::rename(&staged, &vdir).unwrap();
    let master = std::fs::read_to_string(vdir.join("master.m3u8")).unwrap();
    let master = master.replace("360p/index.m3u8", &format!("v/{version}/360p/index.m3u8"));
    std::fs::write(vdir.join("master.m3u8"), master).unwrap();
    let prefix = hls_prefix("acme", "vid_1");
    publish(env.media.as_ref(), &prefix, &version, false, 0).await.unwrap();
    let (status, body) = get(&pb, &manifest_path(&env, "vid_1")).await;
    assert_eq!((status, error_code(&body).as_str()), (404, "not_ready"), "{body}");
    publish(env.media.as_ref(), &prefix, &version, true, 0).await.unwrap();
    let (status, first) = get(&pb, &manifest_path(&env, "vid_1")).await;
    assert_eq!(status, 200, "{first}");
    assert!(first.contains(&format!("<BaseURL>v/{version}/360p/</BaseURL>")), "{first}");
    assert_eq!(pb.st.dash.len(), 1, "the complete version's manifest is kept");
    // A complete version's files never change: the manifest is not read again.
    std::fs::remove_file(vdir.join("master.m3u8")).unwrap();
    let (status, again) = get(&pb, &manifest_path(&env, "vid_1")).await;
    assert_eq!((status, again), (200, first));
}

#[tokio::test]
async fn a_broken_or_missing_ladder_is_a_404_not_a_500() {
    let mut env = Env::new().await;
    let pb = env.instance().await;
    env.put("acme", "vid_1", "master.m3u8", b"not a playlist");
    let (status, body) = get(&pb, &manifest_path(&env, "vid_1")).await;
    assert_eq!((status, error_code(&body).as_str()), (404, "dash_unsupported"), "{body}");
    env.put(
        "acme",
        "vid_2",
        "master.m3u8",
        b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,RESOLUTION=2x2\n../../globex/vid_1/index.m3u8\n",
    );
    let (status, body) = get(&pb, &manifest_path(&env, "vid_2")).await;
    assert_eq!((status, error_code(&body).as_str()), (404, "dash_unsupported"), "{body}");
    // TS segments (no init segment) cannot be described.
    env.small_video("acme", "vid_3");
    let (status, body) = get(&pb, &manifest_path(&env, "vid_3")).await;
    assert_eq!((status, error_code(&body).as_str()), (404, "dash_unsupported"), "{body}");
    let (status, body) = get(&pb, &manifest_path(&env, "vid_none")).await;
    assert_eq!((status, error_code(&body).as_str()), (404, "not_found"), "{body}");
}
