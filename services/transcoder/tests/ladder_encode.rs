//! The encoder arguments of the ladder, run through the real ffmpeg and checked with ffprobe:
//! an HEVC rung and an H.264 rung from one process (`-c:v:k`), `hvc1`, explicit levels, the
//! CODECS strings read back from the init segments, keyframes aligned across codecs with no
//! scene-cut keyframes, and capped CRF spending little on a static picture.

use std::path::Path;
use std::process::Command;

use framelog_transcoder::codecs;
use framelog_transcoder::command::{Stage, stage_args};
use framelog_transcoder::playlist::{MediaPlaylist, parse_media_playlist};
use framelog_transcoder::profile::{FrameRate, Profile, VideoCodec};
use framelog_transcoder::source::Source;
use framelog_transcoder::{Encoder, rate};
use serde_json::Value;

fn profile(name: &str, (width, height): (u32, u32), video_bps: u64, codec: VideoCodec) -> Profile {
    let fps = FrameRate::new(30, 1);
    Profile { name: name.into(), width, height, fps, gop: 60, video_bps, codec }
}

/// A `secs`-long source from a lavfi graph (no audio), x264 at near-lossless quality.
fn source(dir: &Path, graph: &str) -> std::path::PathBuf {
    let out = dir.join("source.mp4");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-filter_complex", graph])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-crf", "8", "-pix_fmt", "yuv420p"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    out
}

fn encode(input: &Path, out: &Path, profiles: &[Profile]) {
    let enc = Encoder::libx264("veryfast");
    let stage = Stage {
        input: &Source::File(input.to_owned()),
        profiles,
        out_dir: out,
        encoder: &enc,
        audio: None,
        segment_secs: 2,
        thumbnails: None,
        video: None,
    };
    let o = Command::new("ffmpeg").args(stage_args(&stage)).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "ffmpeg: {stderr}");
}

fn playlist(dir: &Path) -> MediaPlaylist {
    parse_media_playlist(&std::fs::read_to_string(dir.join("playlist.m3u8")).unwrap()).unwrap()
}

/// The rendition in `dir` as one file (init + every segment), for ffprobe.
fn joined(dir: &Path, pl: &MediaPlaylist, scratch: &Path) -> std::path::PathBuf {
    let mut bytes = std::fs::read(dir.join(pl.init.as_deref().unwrap())).unwrap();
    for s in &pl.segments {
        bytes.extend(std::fs::read(dir.join(&s.uri)).unwrap());
    }
    let out = scratch.join(format!("{}.mp4", dir.file_name().unwrap().to_string_lossy()));
    std::fs::write(&out, bytes).unwrap();
    out
}

fn ffprobe(path: &Path, args: &[&str]) -> Value {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-print_format", "json"])
        .args(args)
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Presentation times of the keyframes from the first one, in milliseconds.
fn keyframes(path: &Path) -> Vec<i64> {
    let v = ffprobe(path, &["-select_streams", "v:0", "-show_entries", "packet=pts_time,flags"]);
    let packets = v["packets"].as_array().unwrap();
    let key = packets.iter().filter(|p| p["flags"].as_str().unwrap().starts_with('K'));
    let t: Vec<f64> = key.map(|p| p["pts_time"].as_str().unwrap().parse().unwrap()).collect();
    t.iter().map(|x| ((x - t[0]) * 1000.0).round() as i64).collect()
}

#[test]
fn an_hevc_and_an_h264_rung_share_one_process_with_true_codecs_and_aligned_keyframes() {
    let dir = tempfile::tempdir().unwrap();
    // A hard cut at 1.3 s: an encoder left to place scene-cut keyframes would put one there.
    let src = source(
        dir.path(),
        "testsrc2=s=640x360:r=30:d=1.3[a];smptebars=s=640x360:r=30:d=3.7[b];[a][b]concat=n=2",
    );
    let out = dir.path().join("out");
    let profiles = [
        profile("small", (160, 90), 300_000, VideoCodec::H264),
        profile("big", (320, 180), 600_000, VideoCodec::Hevc),
    ];
    encode(&src, &out, &profiles);
    let mut starts = Vec::new();
    for p in &profiles {
        let rendition = out.join(&p.name);
        let pl = playlist(&rendition);
        let file = joined(&rendition, &pl, dir.path());
        let info = ffprobe(&file, &["-show_streams"]);
        let v = &info["streams"][0];
        let (w, h) = (v["width"].as_u64().unwrap(), v["height"].as_u64().unwrap());
        assert_eq!((w, h), (u64::from(p.width), u64::from(p.height)), "{}", p.name);
        let level = v["level"].as_i64().unwrap();
        let init = std::fs::read(rendition.join(pl.init.as_deref().unwrap())).unwrap();
        let codecs = codecs::codecs(&init).unwrap();
        match p.codec {
            VideoCodec::Hevc => {
                assert_eq!(
                    (v["codec_name"].as_str(), v["profile"].as_str()),
                    (Some("hevc"), Some("Main"))
                );
                assert_eq!(v["codec_tag_string"], "hvc1", "Apple players need hvc1, not hev1");
                assert_eq!(codecs, format!("hvc1.1.6.L{level}.90"));
            }
            VideoCodec::H264 => {
                assert_eq!(
                    (v["codec_name"].as_str(), v["profile"].as_str()),
                    (Some("h264"), Some("High"))
                );
                let want = rate::level_of(p).unwrap().idc;
                assert_eq!(level, i64::from(want), "the explicit level is written");
                assert_eq!(codecs, format!("avc1.6400{level:02x}"));
            }
        }
        assert_eq!(keyframes(&file), [0, 2000, 4000], "{}: every 2 s, none at the cut", p.name);
        starts.push(pl.segments.iter().map(|s| (s.duration * 1000.0).round()).collect::<Vec<_>>());
    }
    assert_eq!(starts[0], starts[1], "segments of both codecs start at the same instants");
}

#[test]
fn capped_crf_spends_a_fraction_of_the_nominal_rate_on_a_still_picture() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(dir.path(), "smptehdbars=s=640x360:r=30:d=4");
    let out = dir.path().join("out");
    let p = profile("360p", (640, 360), 800_000, VideoCodec::H264);
    encode(&src, &out, std::slice::from_ref(&p));
    let pl = playlist(&out.join("360p"));
    let bytes: u64 = pl
        .segments
        .iter()
        .map(|s| std::fs::metadata(out.join("360p").join(&s.uri)).unwrap().len())
        .sum();
    let bps = bytes as f64 * 8.0 / pl.duration();
    // One-pass ABR would spend ~800 kb/s here; constant quality needs a few percent of it.
    assert!(bps < 0.2 * p.video_bps as f64, "{bps:.0} b/s for a still picture");
}
