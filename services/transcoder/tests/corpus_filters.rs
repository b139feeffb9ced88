//! The video pre-filters on the shared real-world corpus (`framelog_tests::corpus`): each class
//! whose picture needs something before the cascade, probed with `probe::inspect` and run
//! through one small rung of the stage command, comes out 8-bit BT.709 with square pixels at
//! its display aspect; HDR is tone-mapped and interlaced is progressive at the field rate.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use framelog_core::probe;
use framelog_tests::corpus::{self, Class};
use framelog_transcoder::command::{Stage, Thumbnails, stage_args};
use framelog_transcoder::encoder::Encoder;
use framelog_transcoder::profile::{FrameRate, Profile};
use framelog_transcoder::storyboard::{Storyboard, tile_interval};
use serde_json::Value;

fn output(cmd: &mut Command) -> (String, String) {
    let out = cmd.output().unwrap();
    let (so, se) = (out.stdout, out.stderr);
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&se));
    (String::from_utf8_lossy(&so).into_owned(), String::from_utf8_lossy(&se).into_owned())
}

fn video_of(playlist: &Path) -> Value {
    let (json, _) = output(
        Command::new("ffprobe")
            .args(["-v", "error", "-print_format", "json", "-show_streams"])
            .arg(playlist),
    );
    let v: Value = serde_json::from_str(&json).unwrap();
    v["streams"].as_array().unwrap().iter().find(|s| s["codec_type"] == "video").unwrap().clone()
}

/// Mean saturation and the (progressive, interlaced) idet counts of `path`.
fn measure(path: &Path) -> (f64, u64, u64) {
    let (stdout, stderr) =
        output(Command::new("ffmpeg").args(["-hide_banner", "-nostats", "-i"]).arg(path).args([
            "-vf",
            "idet,signalstats,metadata=print:file=-",
            "-f",
            "null",
            "-",
        ]));
    let sat: Vec<f64> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("lavfi.signalstats.SATAVG=")?.parse().ok())
        .collect();
    let line = stderr.lines().find(|l| l.contains("Multi frame detection")).unwrap();
    let count = |label: &str| -> u64 {
        let rest = &line[line.find(label).unwrap() + label.len()..];
        rest.split_whitespace().next().unwrap().parse().unwrap()
    };
    let interlaced = count("TFF:") + count("BFF:");
    (sat.iter().sum::<f64>() / sat.len() as f64, count("Progressive:"), interlaced)
}

#[tokio::test]
async fn corpus_sources_come_out_bt709_square_pixel_progressive_at_their_display_aspect() {
    let dir = tempfile::tempdir().unwrap();
    let classes = [
        Class::HdrHlg,
        Class::HdrPq,
        Class::InterlacedTs,
        Class::Anamorphic,
        Class::PhoneVfrRotated,
        Class::ProResPcm,
    ];
    for class in classes {
        let source = corpus::generate(class, dir.path());
        let inspection = probe::inspect(&source.path, Duration::from_secs(30)).await.unwrap();
        let video = inspection.video.expect("video");
        let (dw, dh) = video.display_size();
        assert_eq!(Some((dw, dh)), source.display_size, "{class:?}");
        // One small rung at the display aspect (short side 180; 720 for the interlaced
        // source, where combing would survive the scaling for idet to see), at the rate a
        // correct output keeps (the field rate for interlaced).
        let short = if class == Class::InterlacedTs { 720 } else { 180 };
        let (w, h) = if dw >= dh {
            ((short * dw / dh).div_ceil(2) * 2, short)
        } else {
            (short, (short * dh / dw).div_ceil(2) * 2)
        };
        let fps = source.frame_rate.unwrap();
        let fps = FrameRate::new((fps * 1000.0).round() as u32, 1000);
        let gop = (2.0 * fps.as_f64()).round() as u32;
        let profiles = [Profile {
            name: "r".into(),
            width: w,
            height: h,
            fps,
            gop,
            video_bps: 300_000,
            codec: framelog_transcoder::profile::VideoCodec::H264,
        }];
        let out = dir.path().join(class.name());
        let thumbs = Thumbnails {
            board: Storyboard::plan(
                source.duration_secs,
                w,
                h,
                tile_interval(source.duration_secs),
            ),
            poster_at_secs: source.duration_secs * 0.25,
            poster_size: (w, h),
            sprites_dir: out.clone(),
            poster: out.join("poster.jpg"),
        };
        let enc = Encoder::libx264("ultrafast");
        let stage = Stage {
            input: &framelog_transcoder::source::Source::File(source.path.clone()),
            profiles: &profiles,
            out_dir: &out,
            encoder: &enc,
            audio: None,
            segment_secs: 2,
            thumbnails: Some(&thumbs),
            video: Some(&video),
        };
        output(Command::new("ffmpeg").args(stage_args(&stage)));
        let playlist = out.join("r").join("playlist.m3u8");
        let s = video_of(&playlist);
        assert_eq!(s["pix_fmt"], "yuv420p", "{class:?}: {s}");
        for key in ["color_primaries", "color_transfer", "color_space"] {
            assert_eq!(s[key], "bt709", "{class:?} {key}: {s}");
        }
        assert_eq!((s["width"].as_u64(), s["height"].as_u64()), (Some(w.into()), Some(h.into())));
        assert_eq!(s["sample_aspect_ratio"].as_str().unwrap_or("1:1"), "1:1", "{class:?}");
        let poster = video_of(&thumbs.poster);
        assert_eq!(
            (poster["width"].as_u64(), poster["height"].as_u64()),
            (Some(w.into()), Some(h.into()))
        );
        let (sat, progressive, interlaced) = measure(&playlist);
        eprintln!(
            "{class:?}: {w}x{h} @ {} saturation {sat:.1} idet progressive {progressive} \
             interlaced {interlaced}",
            s["avg_frame_rate"]
        );
        assert!(interlaced * 10 <= progressive, "{class:?}: combing {interlaced}/{progressive}");
        match class {
            Class::HdrHlg | Class::HdrPq => assert!(sat > 60.0, "{class:?}: washed out ({sat})"),
            Class::InterlacedTs => {
                assert_eq!(s["avg_frame_rate"], "50/1", "{s}");
                assert!(progressive > 50, "idet sees progressive frames: {progressive}");
            }
            _ => {}
        }
    }
}
