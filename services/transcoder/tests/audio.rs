//! Audio, checked with real ffmpeg/ffprobe on small generated sources: 48 kHz whatever the
//! source rate, audio as long as the video, every language its own rendition (the default
//! first), 5.1 kept beside stereo, and an audio-only source published as an audio-only asset.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Env, env, ffprobe, run_to_end};
use framelog_events::Kind;
use framelog_transcoder::master::is_video;
use framelog_transcoder::playlist::{
    MediaPlaylist, parse_master, parse_master_media, parse_media_playlist,
};
use framelog_transcoder::{Outcome, TranscoderSettings};

fn settings() -> TranscoderSettings {
    TranscoderSettings { segment_secs: 2, ..TranscoderSettings::for_test() }
}

/// Runs ffmpeg with `args` (inputs and outputs) and asserts it succeeded.
fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "ffmpeg {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A 320x180 15 fps video of `secs` with the given lavfi audio sources and extra options.
fn source(env: &Env, name: &str, secs: f64, audio: &[&str], extra: &[&str]) -> PathBuf {
    let path = env.sources.path().join(name);
    let video = format!("testsrc2=size=320x180:rate=15:duration={secs}");
    let mut args = vec!["-f", "lavfi", "-i", &video];
    for a in audio {
        args.extend(["-f", "lavfi", "-i", a]);
    }
    let maps: Vec<String> = (0..=audio.len()).map(|i| i.to_string()).collect();
    for m in &maps {
        args.extend(["-map", m]);
    }
    args.extend(["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"]);
    args.extend(extra);
    let p = path.to_str().unwrap().to_owned();
    args.push(&p);
    ffmpeg(&args);
    path
}

/// Transcodes `path` as video `id` and returns the live master's text.
async fn transcode(env: &Env, id: &str, path: &Path) -> String {
    env.request_file(id, path).await;
    let mut w = env.worker(settings(), "w1").await;
    let outcome = run_to_end(&mut w).await;
    assert!(matches!(outcome, Outcome::Completed { .. }), "{outcome:?}");
    std::fs::read_to_string(env.live_dir(id).join("master.m3u8")).unwrap()
}

/// An audio rendition named by the master: its directory and playlist.
fn rendition(env: &Env, id: &str, uri: &str) -> (PathBuf, MediaPlaylist) {
    let path = env.media(&format!("hls/acme/{id}")).join(uri);
    let pl = parse_media_playlist(&std::fs::read_to_string(&path).unwrap()).unwrap();
    (path.parent().unwrap().to_owned(), pl)
}

/// The init segment followed by `segments`, written to `out` and probed: its streams and the
/// first audio stream's packets (`pts_time`, `duration_time`).
fn probe_joined(
    dir: &Path,
    pl: &MediaPlaylist,
    segments: &[usize],
    out: &Path,
) -> serde_json::Value {
    probe_joined_stream(dir, pl, segments, out, "a:0")
}

/// [`probe_joined`] of the stream `select` (`a:0`, `v:0`).
fn probe_joined_stream(
    dir: &Path,
    pl: &MediaPlaylist,
    segments: &[usize],
    out: &Path,
    select: &str,
) -> serde_json::Value {
    let mut bytes = std::fs::read(dir.join(pl.init.as_deref().unwrap())).unwrap();
    for &i in segments {
        bytes.extend(std::fs::read(dir.join(&pl.segments[i].uri)).unwrap());
    }
    std::fs::write(out, bytes).unwrap();
    let o = Command::new("ffprobe")
        .args(["-v", "error", "-print_format", "json", "-show_streams", "-select_streams", select])
        .args(["-show_entries", "packet=pts_time,duration_time:stream"])
        .arg(out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Packets of [`probe_joined`]'s answer: their count and where the last one ends, seconds.
fn packets_end(p: &serde_json::Value) -> (usize, f64) {
    let packets = p["packets"].as_array().unwrap();
    let last = packets.last().expect("audio packets");
    let secs = |v: &serde_json::Value| v.as_str().and_then(|s| s.parse::<f64>().ok());
    let end = secs(&last["pts_time"]).unwrap() + secs(&last["duration_time"]).unwrap_or(0.0);
    (packets.len(), end)
}

/// Mean volume (dB) of a file's audio, from ffmpeg's `volumedetect`.
fn mean_volume(path: &Path) -> f64 {
    let o = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-i"])
        .arg(path)
        .args(["-af", "volumedetect", "-f", "null", "-"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    let line = err.lines().find(|l| l.contains("mean_volume:")).unwrap_or_else(|| panic!("{err}"));
    line.split("mean_volume:").nth(1).unwrap().trim().trim_end_matches(" dB").parse().unwrap()
}

#[tokio::test]
async fn a_mono_22_khz_source_comes_out_stereo_at_48_khz() {
    let env = env().await;
    let src = source(&env, "mono.mp4", 2.0, &["sine=f=440:r=22050:d=2"], &["-ac", "1"]);
    assert_eq!(ffprobe(&src)["streams"][1]["sample_rate"], "22050");
    let master = transcode(&env, "vmono", &src).await;
    let media = parse_master_media(&master);
    assert_eq!(media.len(), 1, "{master}");
    assert_eq!(media[0]["CHANNELS"], "2");
    let (dir, pl) = rendition(&env, "vmono", &media[0]["URI"]);
    let scratch = tempfile::tempdir().unwrap();
    let p = probe_joined(&dir, &pl, &[0], &scratch.path().join("first.mp4"));
    let s = &p["streams"][0];
    assert_eq!((s["codec_name"].as_str(), s["profile"].as_str()), (Some("aac"), Some("LC")));
    assert_eq!(s["sample_rate"], "48000");
    assert_eq!(s["channels"], 2, "mono becomes stereo");
}

#[tokio::test]
async fn audio_that_ends_at_40_percent_is_padded_to_the_video() {
    let env = env().await;
    // 3 s of video, 1.2 s of audio.
    let src = source(&env, "short.mp4", 3.0, &["sine=f=440:r=48000:d=1.2"], &[]);
    let audio_secs: f64 =
        ffprobe(&src)["streams"][1]["duration"].as_str().unwrap().parse().unwrap();
    assert!(audio_secs < 1.5, "the source's audio is short: {audio_secs}");
    let master = transcode(&env, "vshort", &src).await;
    let uri = parse_master_media(&master)[0]["URI"].clone();
    let (dir, pl) = rendition(&env, "vshort", &uri);
    assert!((pl.duration() - 3.0).abs() < 0.1, "the playlist lasts {} s", pl.duration());

    // ffprobe reads the media playlist (its own HLS demuxer) as long as the video.
    let o = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0"])
        .arg(dir.join("playlist.m3u8"))
        .output()
        .unwrap();
    let secs: f64 = String::from_utf8_lossy(&o.stdout).trim().parse().unwrap();
    assert!((secs - 3.0).abs() < 0.1, "ffprobe: {secs} s");

    // The last segment holds real samples up to the video's end.
    let scratch = tempfile::tempdir().unwrap();
    let last = pl.segments.len() - 1;
    let p = probe_joined(&dir, &pl, &[last], &scratch.path().join("last.mp4"));
    let (packets, end) = packets_end(&p);
    assert!(packets > 10, "the last segment has audio: {packets} AAC frames");
    // Where the video ends on the same timeline (both are shifted by the H.264 reorder delay).
    let video = parse_master(&master).unwrap().into_iter().find(is_video).unwrap();
    let (vdir, vpl) = rendition(&env, "vshort", &video.1);
    let vlast = vpl.segments.len() - 1;
    let v = probe_joined_stream(&vdir, &vpl, &[vlast], &scratch.path().join("v.mp4"), "v:0");
    let (_, video_end) = packets_end(&v);
    // Never shorter than the video (MSE players stop where the audio ends); a little longer is
    // the AAC encoder's priming against the video's reorder delay, which the rate control moves.
    assert!(
        end >= video_end - 0.05 && end - video_end < 0.15,
        "audio ends at {end} s, the video at {video_end} s"
    );
    // 1024 samples an AAC frame: as many samples as 3 s at 48 kHz (and the encoder's delay).
    let all: Vec<usize> = (0..pl.segments.len()).collect();
    let (frames, _) = packets_end(&probe_joined(&dir, &pl, &all, &scratch.path().join("all.mp4")));
    let samples = frames as u64 * 1024;
    assert!(samples.abs_diff(3 * 48_000) <= 3 * 1024, "{samples} samples for 3 s");
}

#[tokio::test]
async fn two_languages_become_two_renditions_with_the_default_track_first() {
    let env = env().await;
    // Track 1: French, silent. Track 2: English, a tone, flagged default.
    let src = source(
        &env,
        "two.mkv",
        2.0,
        &["anullsrc=r=48000:cl=stereo:d=2", "sine=f=440:r=44100:d=2"],
        &[
            "-metadata:s:a:0",
            "language=fre",
            "-metadata:s:a:1",
            "language=eng",
            "-disposition:a:0",
            "0",
            "-disposition:a:1",
            "default",
        ],
    );
    let master = transcode(&env, "vtwo", &src).await;
    let media = parse_master_media(&master);
    assert_eq!(media.len(), 2, "{master}");
    assert!(media.iter().all(|m| m["GROUP-ID"] == "audio" && m["AUTOSELECT"] == "YES"));
    assert_eq!(
        (media[0]["LANGUAGE"].as_str(), media[0]["DEFAULT"].as_str()),
        ("en", "YES"),
        "{master}"
    );
    assert_eq!((media[1]["LANGUAGE"].as_str(), media[1]["DEFAULT"].as_str()), ("fr", "NO"));
    assert_ne!(media[0]["NAME"], media[1]["NAME"], "unique names");

    // The default rendition is the English tone, the second the silent French track.
    let scratch = tempfile::tempdir().unwrap();
    let mut volumes = Vec::new();
    for (k, m) in media.iter().enumerate() {
        let (dir, pl) = rendition(&env, "vtwo", &m["URI"]);
        let all: Vec<usize> = (0..pl.segments.len()).collect();
        let joined = scratch.path().join(format!("{k}.mp4"));
        probe_joined(&dir, &pl, &all, &joined);
        volumes.push(mean_volume(&joined));
    }
    assert!(volumes[0] > -40.0 && volumes[1] < -80.0, "volumes {volumes:?}");
    let entries = parse_master(&master).unwrap();
    assert!(entries.iter().all(|(a, _)| a["AUDIO"] == "audio"));
    let completed = &env.events("vtwo", Kind::Transcode, "completed").await[0]["data"];
    assert_eq!(completed["audio"]["language"], "en");
    assert_eq!(completed["more_audio"][0]["language"], "fr");
    assert_eq!(common::assert_events_match_schemas(&env).await, 5);
}

#[tokio::test]
async fn a_5_1_source_gets_a_multichannel_rendition_beside_stereo() {
    let env = env().await;
    let src = source(
        &env,
        "surround.mp4",
        2.0,
        &["sine=f=440:r=48000:d=2"],
        &["-af", "aformat=channel_layouts=5.1"],
    );
    assert_eq!(ffprobe(&src)["streams"][1]["channels"], 6);
    let master = transcode(&env, "v51", &src).await;
    let media = parse_master_media(&master);
    assert_eq!(media.len(), 2, "{master}");
    assert_eq!((media[0]["GROUP-ID"].as_str(), media[0]["CHANNELS"].as_str()), ("audio", "2"));
    assert_eq!((media[1]["GROUP-ID"].as_str(), media[1]["CHANNELS"].as_str()), ("audio-mc", "6"));
    let scratch = tempfile::tempdir().unwrap();
    for (m, channels) in media.iter().zip([2, 6]) {
        let (dir, pl) = rendition(&env, "v51", &m["URI"]);
        let p = probe_joined(&dir, &pl, &[0], &scratch.path().join(format!("{channels}.mp4")));
        assert_eq!(p["streams"][0]["channels"], channels);
        assert_eq!(p["streams"][0]["sample_rate"], "48000");
    }
    // Every video variant once per group, stereo ones first, then the audio-only ones.
    let entries = parse_master(&master).unwrap();
    let groups: Vec<(&str, bool)> =
        entries.iter().map(|e| (e.0["AUDIO"].as_str(), is_video(e))).collect();
    assert_eq!(
        groups,
        [("audio", true), ("audio-mc", true), ("audio", false), ("audio-mc", false)]
    );
    let bw = |i: usize| entries[i].0["BANDWIDTH"].parse::<u64>().unwrap();
    assert!(bw(1) > bw(0), "the 5.1 pairing counts its larger audio");
}

#[tokio::test]
async fn an_audio_only_source_becomes_a_ready_audio_only_asset() {
    let env = env().await;
    let path = env.sources.path().join("podcast.m4a");
    ffmpeg(&["-f", "lavfi", "-i", "sine=f=330:r=44100:d=3", "-c:a", "aac", path.to_str().unwrap()]);
    env.request_file("vpod", &path).await;
    let mut w = env.worker(settings(), "w1").await;
    let outcome = run_to_end(&mut w).await;
    assert!(matches!(outcome, Outcome::Completed { .. }), "{outcome:?}");

    let live = env.live_dir("vpod");
    let master = std::fs::read_to_string(live.join("master.m3u8")).unwrap();
    let entries = parse_master(&master).unwrap();
    assert_eq!(entries.len(), 1, "{master}");
    assert!(!is_video(&entries[0]));
    assert_eq!(entries[0].0["CODECS"], "mp4a.40.2");
    // ffprobe plays the master from the video's root, as playback serves it.
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("master.m3u8"), &master).unwrap();
    let hls = env.media("hls/acme/vpod");
    std::os::unix::fs::symlink(hls.join("v"), root.path().join("v")).unwrap();
    let probed = ffprobe(&root.path().join("master.m3u8"));
    let types: Vec<&str> = probed["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["codec_type"].as_str().unwrap())
        .collect();
    assert!(!types.is_empty() && types.iter().all(|t| *t == "audio"), "{types:?}");
    let secs: f64 = probed["format"]["duration"].as_str().unwrap().parse().unwrap();
    assert!((secs - 3.0).abs() < 0.2, "{secs} s");

    let poster = &ffprobe(&live.join("poster.jpg"))["streams"][0];
    assert_eq!((poster["width"].as_u64(), poster["height"].as_u64()), (Some(1280), Some(720)));
    assert!(live.join("storyboard.vtt").exists());
    let ready = &env.events("vpod", Kind::Ready, "published").await[0]["data"];
    assert_eq!(ready["audio_only"], true);
    assert_eq!(ready["renditions"], serde_json::json!(["audio"]));
    assert_eq!(
        env.phases("vpod").await,
        [
            "transcode.requested",
            "transcode.started",
            "transcode.playable",
            "transcode.completed",
            "ready.published"
        ]
    );
    common::assert_events_match_schemas(&env).await;
}

#[tokio::test]
async fn an_editing_export_with_24_bit_pcm_gets_48_khz_aac_as_long_as_its_video() {
    let env = env().await;
    let src = framelog_tests::corpus::generate(
        framelog_tests::corpus::Class::ProResPcm,
        env.sources.path(),
    );
    assert_eq!(ffprobe(&src.path)["streams"][1]["codec_name"], "pcm_s24le");
    let master = transcode(&env, "vprores", &src.path).await;
    let media = parse_master_media(&master);
    assert_eq!(media.len(), 1, "{master}");
    let (dir, pl) = rendition(&env, "vprores", &media[0]["URI"]);
    assert!((pl.duration() - src.duration_secs).abs() < 0.1, "{} s", pl.duration());
    let scratch = tempfile::tempdir().unwrap();
    let p = probe_joined(&dir, &pl, &[0], &scratch.path().join("first.mp4"));
    let s = &p["streams"][0];
    assert_eq!((s["codec_name"].as_str(), s["sample_rate"].as_str()), (Some("aac"), Some("48000")));
    assert_eq!(s["channels"], 2);
}
