//! Hostile media through the REST upload API, against a real nats-server and real ffprobe:
//! duration, resolution and pixel-rate bombs are refused at completion (422 naming the limit,
//! `VID_UPLOAD rejected`, no transcode requested), and inputs that make ffmpeg open other
//! files (an HLS playlist, an ffconcat list) cannot read them.

mod common;

use common::{code, complete, env, events, open, upload_all};
use framelog_events::{EventData, UploadData};
use framelog_tests::media::{
    VideoSpec, generate_duration_bomb, generate_many_streams, generate_ts, generate_video,
    unfenced_ffprobe_reads_video, write_ffconcat_naming, write_hls_playlist_naming,
};

/// Uploads `bytes` as tenant acme and completes: (status, body).
async fn upload(env: &common::Env, name: &str, bytes: &[u8]) -> (u16, serde_json::Value, String) {
    let up = open(env, &env.key_a, name, bytes).await;
    let id = up["upload_id"].as_str().unwrap().to_owned();
    upload_all(env, &env.key_a, &id, bytes, up["chunk_size"].as_u64().unwrap() as usize).await;
    let res = complete(env, &env.key_a, &id).await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap(), id)
}

/// The (code, reason) of the one `rejected` event, and that no transcode was requested.
async fn rejected(env: &common::Env) -> (String, String) {
    let evs = events(env).await;
    assert!(!evs.iter().any(|e| e.data.phase() == "requested"), "no transcode requested");
    let mut r = evs.iter().filter_map(|e| match &e.data {
        EventData::Upload(UploadData::Rejected { code, reason, .. }) => {
            Some((code.clone(), reason.clone()))
        }
        _ => None,
    });
    let one = r.next().expect("a rejected event");
    assert!(r.next().is_none());
    one
}

#[tokio::test]
async fn a_few_kb_declaring_thirteen_hours_is_422_naming_the_duration_limit() {
    let env = env().await;
    // 3 frames, a few KB, stamped to last 13 hours (over the 12 h default).
    let bomb = generate_duration_bomb(env.work.path(), "bomb.mkv", (160, 90, 30), 13 * 3600);
    let bytes = std::fs::read(&bomb).unwrap();
    assert!(bytes.len() < 64 * 1024, "{} bytes", bytes.len());
    let (status, body, id) = upload(&env, "holiday.mkv", &bytes).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "duration_too_long");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("46800") && msg.contains("duration limit is 43200 s"), "{msg}");
    assert_eq!(rejected(&env).await, ("duration_too_long".into(), msg.to_owned()));
    assert!(!env.st.uploads_dir.join(format!("{id}.part")).exists(), "bytes removed");
    // Completing again answers the same 422.
    assert_eq!(
        code(complete(&env, &env.key_a, &id).await).await,
        (422, "duration_too_long".into())
    );
}

#[tokio::test]
async fn a_frame_wider_than_8k_is_422_naming_the_resolution_limit() {
    let env = env().await;
    let wide = generate_video(env.work.path(), "wide.mp4", &VideoSpec::new(8400, 64, 0.1));
    let (status, body, _) = upload(&env, "wide.mp4", &std::fs::read(&wide).unwrap()).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "resolution_too_large");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("8400×64") && msg.contains("8192×8192"), "{msg}");
    assert_eq!(rejected(&env).await.0, "resolution_too_large");
}

#[tokio::test]
async fn a_4k60_file_declaring_five_hours_is_422_naming_the_pixel_rate_limit() {
    let env = env().await;
    // Each limit on its own passes (5 h < 12 h, 4K < 8K, 60 < 120 fps); the work does not.
    let bomb = generate_duration_bomb(env.work.path(), "4k.mkv", (3840, 2160, 60), 5 * 3600);
    let (status, body, _) = upload(&env, "4k.mkv", &std::fs::read(&bomb).unwrap()).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "too_much_work");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("limit is 7200 gigapixels"), "{msg}");
    assert_eq!(rejected(&env).await.0, "too_much_work");
}

#[tokio::test]
async fn a_container_with_more_streams_than_the_limit_is_422_naming_it() {
    let env = env().await;
    let many = generate_many_streams(env.work.path(), "many.mkv", 20);
    let (status, body, _) = upload(&env, "many.mkv", &std::fs::read(&many).unwrap()).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "too_many_streams");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("21 streams") && msg.contains("limit is 16"), "{msg}");
}

#[tokio::test]
async fn an_hls_playlist_naming_a_file_outside_the_upload_cannot_read_it() {
    let env = env().await;
    let outside = tempfile::tempdir().unwrap();
    let secret = generate_ts(outside.path(), "secret.ts");
    let playlist = write_hls_playlist_naming(env.work.path(), "evil.m3u8", &secret);
    assert!(unfenced_ffprobe_reads_video(&playlist, &[]), "the playlist is hostile unfenced");
    let (status, body, _) = upload(&env, "evil.mp4", &std::fs::read(&playlist).unwrap()).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "not_a_video");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("playlists") && !msg.contains("uploads"), "no server path: {msg}");
    assert_eq!(rejected(&env).await.0, "not_a_video");
}

#[tokio::test]
async fn an_ffconcat_list_naming_a_neighbouring_part_file_cannot_read_it() {
    let env = env().await;
    // Another upload's part file next to this one in the uploads dir (a name the concat
    // demuxer's own `safe` check accepts).
    generate_ts(&env.st.uploads_dir, "someone-else.part");
    let list = write_ffconcat_naming(env.work.path(), "list.txt", "someone-else.part");
    let probe_dir = env.st.uploads_dir.join("probe-list.txt");
    std::fs::copy(&list, &probe_dir).unwrap();
    assert!(unfenced_ffprobe_reads_video(&probe_dir, &[]), "the list is hostile unfenced");
    let (status, body, _) = upload(&env, "list.mp4", &std::fs::read(&list).unwrap()).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "not_a_video");
}

#[tokio::test]
async fn raised_limits_let_the_same_long_file_through_to_a_transcode_request() {
    let limits = framelog_ingest::settings::IngestLimits {
        max_duration_secs: 48.0 * 3600.0,
        ..Default::default()
    };
    let settings =
        framelog_ingest::IngestSettings { chunk_size: 64 * 1024, limits, ..Default::default() };
    let env = common::env_with(settings).await;
    let bomb = generate_duration_bomb(env.work.path(), "long.mkv", (160, 90, 30), 13 * 3600);
    let (status, body, _) = upload(&env, "long.mkv", &std::fs::read(&bomb).unwrap()).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["probe"]["duration_secs"].as_f64().unwrap() > 13.0 * 3600.0 - 1.0);
    assert!(events(&env).await.iter().any(|e| e.data.phase() == "requested"));
}
