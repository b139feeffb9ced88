//! Uploads of the sources people record that have no video, or no duration in their header:
//! a browser's MediaRecorder WebM (written to a pipe), a podcast, a subtitles-only file. Real
//! ffmpeg makes them, real ffprobe reads them, the REST protocol carries them.

mod common;

use std::process::{Command, Stdio};

use common::*;
use framelog_events::{EventData, UploadData};

/// Runs `ffmpeg` with `args`, writing its stdout to `dir/name` (as a browser writes to a pipe).
fn ffmpeg_to_pipe(dir: &std::path::Path, name: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin"])
        .args(args)
        .stdout(Stdio::piped())
        .output()
        .expect("ffmpeg runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(dir.join(name), &out.stdout).unwrap();
    out.stdout
}

async fn upload(env: &Env, name: &str, bytes: &[u8]) -> reqwest::Response {
    let up = open(env, &env.key_a, name, bytes).await;
    let id = up["upload_id"].as_str().unwrap().to_owned();
    upload_all(env, &env.key_a, &id, bytes, up["chunk_size"].as_u64().unwrap() as usize).await;
    complete(env, &env.key_a, &id).await
}

async fn completed_probe(env: &Env) -> framelog_events::Probe {
    let evs = events(env).await;
    evs.iter()
        .find_map(|e| match &e.data {
            EventData::Upload(UploadData::Completed { probe, .. }) => Some(probe.clone()),
            _ => None,
        })
        .expect("a completed event")
}

#[tokio::test]
async fn a_mediarecorder_webm_without_a_duration_is_accepted_with_the_duration_of_its_packets() {
    let env = env().await;
    let bytes = ffmpeg_to_pipe(
        env.work.path(),
        "rec.webm",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=320x240:r=30:d=2",
            "-f",
            "lavfi",
            "-i",
            "sine=f=440:d=2",
            "-c:v",
            "libvpx",
            "-b:v",
            "300k",
            "-c:a",
            "libopus",
            "-f",
            "webm",
            "pipe:1",
        ],
    );
    let header = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0"])
        .arg(env.work.path().join("rec.webm"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&header.stdout).trim().to_owned();
    assert!(said.is_empty() || said == "N/A", "the header has no duration: {said}");
    let res = upload(&env, "rec.webm", &bytes).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let probe = completed_probe(&env).await;
    assert!((probe.duration_secs - 2.0).abs() < 0.1, "{}", probe.duration_secs);
    assert_eq!((probe.width, probe.height, probe.video_codec.as_str()), (320, 240, "vp8"));
    assert_eq!(probe.audio_codec.as_deref(), Some("opus"));
    let p = phases(&env).await;
    assert!(p.iter().any(|(_, ph)| ph == "requested"), "a transcode is requested: {p:?}");
}

#[tokio::test]
async fn an_audio_only_upload_is_accepted_and_a_file_with_neither_audio_nor_video_is_not() {
    let env = env().await;
    let bytes = ffmpeg_to_pipe(
        env.work.path(),
        "podcast.m4a",
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=f=220:d=3",
            "-c:a",
            "aac",
            "-b:a",
            "64k",
            "-movflags",
            "frag_keyframe+empty_moov",
            "-f",
            "mp4",
            "pipe:1",
        ],
    );
    let res = upload(&env, "podcast.m4a", &bytes).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let probe = completed_probe(&env).await;
    assert_eq!((probe.width, probe.height, probe.fps), (0, 0, 0.0));
    assert_eq!((probe.video_codec.as_str(), probe.audio_codec.as_deref()), ("none", Some("aac")));
    assert!((probe.duration_secs - 3.0).abs() < 0.1, "{}", probe.duration_secs);

    let srt = env.work.path().join("lines.srt");
    std::fs::write(&srt, "1\n00:00:00,000 --> 00:00:01,000\nhello\n").unwrap();
    let mkv = ffmpeg_to_pipe(
        env.work.path(),
        "subs.mkv",
        &["-i", srt.to_str().unwrap(), "-c:s", "srt", "-f", "matroska", "pipe:1"],
    );
    let res = upload(&env, "subs.mkv", &mkv).await;
    assert_eq!(code(res).await, (422, "no_video_stream".into()));
}
