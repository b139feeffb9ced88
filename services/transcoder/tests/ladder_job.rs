//! A 4K source through a real job on a real worker: the whole ladder from 270p, the 2160p rung
//! in HEVC (`hvc1`) with a true `CODECS`, every H.264 rung within High 4.2, and every rendition
//! decoding without an ffmpeg error. (Five frames at 10 fps: x265 at 2160p is slow on a shared
//! 2-core machine; the 60 fps rung caps are unit-tested in `ladder_tests.rs`.)

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{env, ffprobe, video_stream};
use framelog_tests::media::VideoSpec;
use framelog_transcoder::master::is_video;
use framelog_transcoder::playlist::{parse_master, parse_media_playlist};
use framelog_transcoder::{Outcome, TranscoderSettings};

#[tokio::test]
async fn a_4k_source_gets_an_hevc_2160p_rung_and_h264_rungs_within_high_4_2() {
    let env = env().await;
    env.request("v4k", &VideoSpec::new(3840, 2160, 0.5).fps(10)).await;
    let settings = TranscoderSettings { segment_secs: 2, ..TranscoderSettings::for_test() };
    let mut w = env.worker(settings, "w1").await;
    // Longer than `run_to_end`'s 3 minutes: x265 at 2160p on a loaded 2-core machine.
    let step = async {
        loop {
            let o = w.process_next().await;
            if o.is_job_end() {
                return o;
            }
        }
    };
    let outcome = tokio::time::timeout(Duration::from_secs(600), step).await.expect("job ended");
    let Outcome::Completed { renditions, .. } = outcome else {
        panic!("not completed: {outcome:?}")
    };
    assert_eq!(renditions, ["270p", "360p", "480p", "720p", "1080p", "2160p"]);

    let root = env.media("hls/acme/v4k");
    let master = std::fs::read_to_string(env.live_dir("v4k").join("master.m3u8")).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    // The video variants (the master also lists an audio-only one).
    let entries: Vec<_> = parse_master(&master).unwrap().into_iter().filter(is_video).collect();
    assert_eq!(entries.len(), 6, "{master}");
    for (attrs, uri) in &entries {
        let playlist = root.join(uri);
        let dir = playlist.parent().unwrap();
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let pl = parse_media_playlist(&std::fs::read_to_string(&playlist).unwrap()).unwrap();
        let mut bytes = std::fs::read(dir.join(pl.init.as_deref().unwrap())).unwrap();
        bytes.extend(std::fs::read(dir.join(&pl.segments[0].uri)).unwrap());
        let first = scratch.path().join(format!("{name}.mp4"));
        std::fs::write(&first, bytes).unwrap();
        let probe = ffprobe(&first);
        let v = video_stream(&probe);
        let level = v["level"].as_i64().unwrap();
        let codecs = &attrs["CODECS"];
        if name == "2160p" {
            assert_eq!(
                (v["codec_name"].as_str(), v["codec_tag_string"].as_str()),
                (Some("hevc"), Some("hvc1"))
            );
            assert_eq!(v["profile"], "Main");
            assert!(codecs.starts_with(&format!("hvc1.1.6.L{level}.90")), "{name}: {codecs}");
            assert_eq!(attrs["RESOLUTION"], "3840x2160");
        } else {
            assert_eq!(v["codec_name"], "h264", "{name}");
            assert!(level <= 42, "{name}: level {level} over High 4.2");
            assert!(codecs.starts_with(&format!("avc1.6400{level:02x}")), "{name}: {codecs}");
        }
        let fps: f64 = attrs["FRAME-RATE"].parse().unwrap();
        assert!((fps - 10.0).abs() < 0.01, "{name}: {fps} fps");
        assert_decodes(&playlist);
    }
}

/// ffmpeg decodes the whole media playlist and says nothing at `-v error`.
fn assert_decodes(playlist: &Path) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-i"])
        .arg(playlist)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "{}: {stderr}", playlist.display());
}
