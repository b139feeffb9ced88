//! The video pre-filters on real sources, with real ffmpeg: tiny generated HDR (HLG, PQ),
//! interlaced, anamorphic and rotated VFR sources go through the stage command the job runs
//! (`command::stage_args`, pre-filters from the probed stream), and ffmpeg's own tools
//! (ffprobe, `signalstats`, `idet`) judge the output.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use framelog_core::probe;
use framelog_core::probe::VideoStream;
use framelog_transcoder::command::{Stage, Thumbnails, stage_args};
use framelog_transcoder::encoder::Encoder;
use framelog_transcoder::profile::{FrameRate, Profile};
use framelog_transcoder::source::Source;
use framelog_transcoder::storyboard::{Storyboard, tile_interval};
use serde_json::Value;

/// Runs ffmpeg with `args`; panics with its log on failure.
fn ffmpeg(args: &[String]) {
    let out = Command::new("ffmpeg").args(args).output().unwrap();
    assert!(out.status.success(), "ffmpeg {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn strs(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// Makes `<dir>/<name>` from a lavfi `source`, filtered by `vf`, encoded with `codec`.
fn generate(dir: &Path, name: &str, source: &str, vf: &str, codec: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let mut a = strs(&["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", source]);
    a.extend(strs(&["-vf", vf]));
    a.extend(strs(codec));
    a.push(out.display().to_string());
    ffmpeg(&a);
    out
}

/// An HDR 10-bit HEVC source: testsrc2 converted to `transfer` (BT.2020) at 100 cd/m² white.
fn hdr_source(dir: &Path, transfer: &str) -> PathBuf {
    let vf = format!(
        "zscale=tin=bt709:pin=bt709:min=bt709:rin=tv:t={transfer}:p=bt2020:m=bt2020nc:r=tv:\
         npl=100,format=yuv420p10le"
    );
    let x265 = format!("log-level=error:colorprim=bt2020:transfer={transfer}:colormatrix=bt2020nc");
    let codec = [
        "-c:v",
        "libx265",
        "-preset",
        "ultrafast",
        "-x265-params",
        &x265,
        "-color_primaries",
        "bt2020",
        "-color_trc",
        transfer,
        "-colorspace",
        "bt2020nc",
    ];
    generate(
        dir,
        &format!("{transfer}.mp4"),
        "testsrc2=size=320x180:rate=25:duration=2",
        &vf,
        &codec,
    )
}

fn ffprobe(path: &Path) -> Value {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-print_format", "json", "-show_streams", "-show_format"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "ffprobe: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn video_of(path: &Path) -> VideoStream {
    let inspection = probe::inspect(path, Duration::from_secs(30)).await.unwrap();
    inspection.video.expect("a video stream")
}

fn profile(name: &str, width: u32, height: u32, fps: FrameRate) -> Profile {
    let gop = 2 * fps.num / fps.den;
    Profile {
        name: name.into(),
        width,
        height,
        fps,
        gop,
        video_bps: 400_000,
        codec: framelog_transcoder::profile::VideoCodec::H264,
    }
}

/// What one stage made: the rendition's media playlist and the poster.
struct Made {
    playlist: PathBuf,
    poster: PathBuf,
}

/// Runs the one stage the job would run for `profile` of `source` (with poster and sprites),
/// with `video` as the probed stream (None: the source taken as it comes, as before).
fn transcode(source: &Path, video: Option<&VideoStream>, profile: Profile, out: &Path) -> Made {
    let enc = Encoder::libx264("ultrafast");
    let thumbs = Thumbnails {
        board: Storyboard::plan(2.0, profile.width, profile.height, tile_interval(2.0)),
        poster_at_secs: 0.5,
        poster_size: (profile.width, profile.height),
        sprites_dir: out.to_path_buf(),
        poster: out.join("poster.jpg"),
    };
    let name = profile.name.clone();
    let profiles = [profile];
    let stage = Stage {
        input: &Source::File(source.to_owned()),
        profiles: &profiles,
        out_dir: out,
        encoder: &enc,
        audio: None,
        segment_secs: 2,
        thumbnails: Some(&thumbs),
        video,
    };
    ffmpeg(&stage_args(&stage));
    assert!(thumbs.sheets_written() > 0, "sprites written");
    Made { playlist: out.join(name).join("playlist.m3u8"), poster: thumbs.poster }
}

/// Mean of `signalstats` keys over every frame of `path` (after `vf`).
fn stats(path: &Path, vf: &str, keys: &[&str]) -> Vec<f64> {
    let graph =
        format!("{vf}{}signalstats,metadata=print:file=-", if vf.is_empty() { "" } else { "," });
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-i"])
        .arg(path)
        .args(["-vf", &graph, "-f", "null", "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    keys.iter()
        .map(|k| {
            let key = format!("lavfi.signalstats.{k}=");
            let v: Vec<f64> =
                text.lines().filter_map(|l| l.strip_prefix(&key)?.parse().ok()).collect();
            assert!(!v.is_empty(), "no {k} for {}", path.display());
            v.iter().sum::<f64>() / v.len() as f64
        })
        .collect()
}

/// ffprobe's first video stream of a rendition.
fn rendition_stream(playlist: &Path) -> Value {
    let probe = ffprobe(playlist);
    probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["codec_type"] == "video")
        .unwrap()
        .clone()
}

fn assert_sdr_bt709(s: &Value) {
    assert_eq!(s["pix_fmt"], "yuv420p", "8-bit 4:2:0: {s}");
    for key in ["color_primaries", "color_transfer", "color_space"] {
        assert_eq!(s[key], "bt709", "{key}: {s}");
    }
    assert_eq!(s["color_range"], "tv", "{s}");
}

#[tokio::test]
async fn hlg_and_pq_sources_come_out_as_tone_mapped_8_bit_bt709_not_washed_out() {
    let dir = tempfile::tempdir().unwrap();
    let sdr = generate(
        dir.path(),
        "sdr.mp4",
        "testsrc2=size=320x180:rate=25:duration=2",
        "null",
        &["-c:v", "libx264", "-preset", "ultrafast"],
    );
    let reference = stats(&sdr, "", &["YAVG", "SATAVG"]);
    let (reference_y, reference_sat) = (reference[0], reference[1]);
    for transfer in ["arib-std-b67", "smpte2084"] {
        let source = hdr_source(dir.path(), transfer);
        let video = video_of(&source).await;
        assert_eq!(video.bit_depth, 10);
        let p = profile("180p", 320, 180, FrameRate::new(25, 1));
        let tone_mapped = transcode(&source, Some(&video), p.clone(), &dir.path().join(transfer));
        let rendition = rendition_stream(&tone_mapped.playlist);
        assert_sdr_bt709(&rendition);
        let mapped = stats(&tone_mapped.playlist, "", &["YAVG", "SATAVG"]);
        let poster = stats(&tone_mapped.poster, "", &["YAVG", "SATAVG"]);
        // As it was before: 10-bit BT.2020 samples merely cut to 8 bits.
        let raw = transcode(&source, None, p, &dir.path().join(format!("{transfer}-raw")));
        let raw = stats(&raw.playlist, "", &["YAVG", "SATAVG"]);
        eprintln!(
            "{transfer}: reference Y {reference_y:.1} sat {reference_sat:.1}; tone-mapped Y \
             {:.1} sat {:.1}; poster Y {:.1} sat {:.1}; untouched Y {:.1} sat {:.1}",
            mapped[0], mapped[1], poster[0], poster[1], raw[0], raw[1]
        );
        // Near the SDR original it was graded from, with its colour back.
        assert!((mapped[0] - reference_y).abs() < 25.0, "{transfer} mean luma {}", mapped[0]);
        assert!(mapped[1] > 0.6 * reference_sat, "{transfer}: saturation {}", mapped[1]);
        assert!(mapped[1] > 1.6 * raw[1], "{transfer}: saturation {} vs {}", mapped[1], raw[1]);
        // The poster tap is after the tone-map too.
        assert!((poster[0] - mapped[0]).abs() < 15.0, "{transfer} poster luma {}", poster[0]);
        assert!(poster[1] > 1.6 * raw[1], "{transfer} poster saturation {}", poster[1]);
    }
}

/// (progressive, interlaced) frame counts from `idet` (multi-frame detection).
fn idet(path: &Path) -> (u64, u64) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-i"])
        .arg(path)
        .args(["-vf", "idet", "-f", "null", "-"])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    let line = log.lines().find(|l| l.contains("Multi frame detection")).expect("idet report");
    let count = |label: &str| -> u64 {
        let rest = &line[line.find(label).unwrap() + label.len()..];
        rest.split_whitespace().next().unwrap().parse().unwrap()
    };
    (count("Progressive:"), count("TFF:") + count("BFF:"))
}

#[tokio::test]
async fn an_interlaced_source_comes_out_progressive_at_the_field_rate() {
    let dir = tempfile::tempdir().unwrap();
    // 50 pictures a second woven into 25 top-field-first frames, as PAL broadcast.
    let source = generate(
        dir.path(),
        "i50.ts",
        "testsrc2=size=384x288:rate=50:duration=2",
        "tinterlace=mode=interleave_top,setfield=tff",
        &["-c:v", "mpeg2video", "-flags", "+ildct+ilme", "-top", "1", "-b:v", "3M"],
    );
    let video = video_of(&source).await;
    assert!(video.is_interlaced(), "{:?}", video.field_order);
    let (progressive, interlaced) = idet(&source);
    assert!(interlaced > 4 * progressive, "the source is interlaced: {interlaced}/{progressive}");
    // The ladder's source rate for an interlaced source is 2 × its frame rate.
    let p = profile("288p", 384, 288, FrameRate::new(50, 1));
    let made = transcode(&source, Some(&video), p.clone(), &dir.path().join("new"));
    let s = rendition_stream(&made.playlist);
    assert_eq!(s["r_frame_rate"], "50/1", "{s}");
    assert_eq!(s["avg_frame_rate"], "50/1", "{s}");
    assert!(s["field_order"].is_null() || s["field_order"] == "progressive", "{s}");
    let (progressive, interlaced) = idet(&made.playlist);
    eprintln!("deinterlaced: idet progressive {progressive}, interlaced {interlaced}");
    assert!(progressive > 80 && interlaced * 10 < progressive, "{progressive}/{interlaced}");
    // Without the deinterlacer the fields stay woven (the check above can fail).
    let old = transcode(&source, None, p, &dir.path().join("old"));
    let (progressive, interlaced) = idet(&old.playlist);
    eprintln!("as before: idet progressive {progressive}, interlaced {interlaced}");
    assert!(interlaced > progressive, "combing without bwdif: {interlaced}/{progressive}");
}

fn sar(s: &Value) -> String {
    s["sample_aspect_ratio"].as_str().unwrap_or("1:1").to_owned()
}

#[tokio::test]
async fn an_anamorphic_source_keeps_its_display_aspect_with_square_pixels() {
    let dir = tempfile::tempdir().unwrap();
    // HDV-style: 240x180 coded, 4:3 pixels, 16:9 on screen.
    let source = generate(
        dir.path(),
        "anamorphic.mp4",
        "testsrc2=size=240x180:rate=25:duration=2",
        "setsar=4/3",
        &["-c:v", "libx264", "-preset", "ultrafast"],
    );
    let video = video_of(&source).await;
    assert_eq!(video.sar, (4, 3));
    assert_eq!(video.display_size(), (320, 180));
    let (w, h) = video.display_size();
    let made =
        transcode(&source, Some(&video), profile("180p", w, h, FrameRate::new(25, 1)), dir.path());
    let s = rendition_stream(&made.playlist);
    assert_eq!((s["width"].as_u64(), s["height"].as_u64()), (Some(320), Some(180)), "{s}");
    assert_eq!(sar(&s), "1:1", "{s}");
    let poster = ffprobe(&made.poster);
    let poster = &poster["streams"][0];
    assert_eq!((poster["width"].as_u64(), poster["height"].as_u64()), (Some(320), Some(180)));
    assert_eq!(sar(poster), "1:1", "{poster}");
}

#[tokio::test]
async fn a_rotated_vfr_hevc_phone_clip_comes_out_portrait_and_rotated_not_stretched() {
    let dir = tempfile::tempdir().unwrap();
    // Top half white, bottom half black; one frame in four dropped (variable frame rate).
    let coded = generate(
        dir.path(),
        "phone.mp4",
        "color=c=black:size=320x180:rate=30:duration=2",
        "drawbox=x=0:y=0:w=320:h=90:color=white:t=fill,select='not(eq(mod(n\\,4)\\,3))'",
        &[
            "-vsync",
            "vfr",
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-x265-params",
            "log-level=error",
        ],
    );
    let source = dir.path().join("phone-rotated.mp4");
    let mut a = strs(&["-hide_banner", "-loglevel", "error", "-y", "-i"]);
    a.push(coded.display().to_string());
    a.extend(strs(&["-c", "copy", "-metadata:s:v:0", "rotate=90"]));
    a.push(source.display().to_string());
    ffmpeg(&a);
    let video = video_of(&source).await;
    assert_eq!(video.rotation % 180, 90, "rotation {}", video.rotation);
    assert_eq!(video.display_size(), (180, 320));
    let made = transcode(
        &source,
        Some(&video),
        profile("180p", 180, 320, FrameRate::new(30, 1)),
        dir.path(),
    );
    let s = rendition_stream(&made.playlist);
    assert_eq!((s["width"].as_u64(), s["height"].as_u64()), (Some(180), Some(320)), "{s}");
    assert_eq!(sar(&s), "1:1", "{s}");
    // Turned a quarter: the white half is now a side, so top and bottom look alike and left
    // and right differ (a stretch would keep the white on top).
    let half = |crop: &str| stats(&made.playlist, crop, &["YAVG"])[0];
    let (top, bottom) = (half("crop=iw:ih/2:0:0"), half("crop=iw:ih/2:0:ih/2"));
    let (left, right) = (half("crop=iw/2:ih:0:0"), half("crop=iw/2:ih:iw/2:0"));
    assert!((top - bottom).abs() < 20.0, "top {top} bottom {bottom}");
    assert!((left - right).abs() > 100.0, "left {left} right {right}");
}

#[tokio::test]
async fn an_sd_bt601_source_scaled_to_hd_is_converted_so_its_bt709_tags_are_true() {
    let dir = tempfile::tempdir().unwrap();
    // Pure red in BT.601 (Y 81); in BT.709 the same red is Y 63.
    let source = generate(
        dir.path(),
        "sd.mp4",
        "color=c=red:size=320x240:rate=25:duration=1",
        "scale=out_color_matrix=bt601,format=yuv420p",
        &["-colorspace", "smpte170m", "-c:v", "libx264", "-preset", "ultrafast"],
    );
    let video = video_of(&source).await;
    assert_eq!(video.colour.matrix.as_deref(), Some("smpte170m"));
    let p = profile("480p", 640, 480, FrameRate::new(25, 1));
    let made = transcode(&source, Some(&video), p.clone(), &dir.path().join("new"));
    let s = rendition_stream(&made.playlist);
    assert_sdr_bt709(&s);
    let y = stats(&made.playlist, "", &["YAVG"])[0];
    assert!((y - 63.0).abs() < 3.0, "BT.709 red has Y 63, got {y}");
    // Without the conversion the samples stay BT.601 under a BT.709 tag (the check can fail).
    let old = transcode(&source, None, p, &dir.path().join("old"));
    let y = stats(&old.playlist, "", &["YAVG"])[0];
    assert!((y - 81.0).abs() < 3.0, "BT.601 red has Y 81, got {y}");
}

#[tokio::test]
async fn an_hlg_source_tagged_only_with_its_transfer_is_still_tone_mapped() {
    let dir = tempfile::tempdir().unwrap();
    let tagged = hdr_source(dir.path(), "arib-std-b67");
    // Primaries and matrix "unspecified" in the bitstream: zscale alone finds no path.
    let source = dir.path().join("partial.mp4");
    let mut a = strs(&["-hide_banner", "-loglevel", "error", "-y", "-i"]);
    a.push(tagged.display().to_string());
    a.extend(strs(&[
        "-c",
        "copy",
        "-bsf:v",
        "hevc_metadata=colour_primaries=2:matrix_coefficients=2",
    ]));
    a.push(source.display().to_string());
    ffmpeg(&a);
    let video = video_of(&source).await;
    assert_eq!(video.colour.transfer.as_deref(), Some("arib-std-b67"));
    assert!(!matches!(video.colour.primaries.as_deref(), Some("bt2020")), "{:?}", video.colour);
    let p = profile("180p", 320, 180, FrameRate::new(25, 1));
    let made = transcode(&source, Some(&video), p, dir.path());
    assert_sdr_bt709(&rendition_stream(&made.playlist));
    let sat = stats(&made.playlist, "", &["SATAVG"])[0];
    assert!(sat > 60.0, "tone-mapped saturation {sat}");
}
