//! Instant playback by stream copy, through the real ffmpeg and checked with ffmpeg/ffprobe:
//! an H.264/AAC source is packaged into fMP4 HLS in a fraction of its duration, decodes end to
//! end, keeps every video packet bit for bit; other audio is encoded to AAC; an MPEG-TS that
//! starts late plays from 0; sparse keyframes and sources browsers cannot play as they are
//! are refused.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use framelog_core::probe::{Inspection, inspect};
use framelog_tests::corpus::{self, Class};
use framelog_tests::media::{VideoSpec, generate_video};
use framelog_transcoder::passthrough::{
    AudioHandling, Eligibility, MAX_KEYFRAME_GAP_SECS, Packaged, SOURCE_AUDIO, SOURCE_RENDITION,
    eligibility, package,
};
use framelog_transcoder::source::Source;
use tokio_util::sync::CancellationToken;

fn ffmpeg(args: &[&str]) {
    let o = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .expect("running ffmpeg");
    assert!(o.status.success(), "ffmpeg {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

/// An H.264 (High, B-frames, keyframes every `gop` frames) source of `secs` at 30 fps with a
/// 440 Hz tone in `audio` (an ffmpeg encoder name, or None), in `name`'s container.
fn source(dir: &Path, name: &str, secs: u32, gop: u32, audio: Option<&str>) -> PathBuf {
    let out = dir.join(name);
    let (secs, gop) = (secs.to_string(), gop.to_string());
    let video = format!("testsrc2=size=640x360:rate=30:duration={secs}");
    let tone = format!("sine=frequency=440:sample_rate=48000:duration={secs}");
    let mut args = vec!["-f", "lavfi", "-i", &video];
    if audio.is_some() {
        args.extend(["-f", "lavfi", "-i", &tone]);
    }
    args.extend(["-c:v", "libx264", "-preset", "veryfast", "-bf", "3", "-g", &gop]);
    args.extend(["-keyint_min", &gop, "-sc_threshold", "0", "-pix_fmt", "yuv420p"]);
    if let Some(codec) = audio {
        args.extend(["-c:a", codec, "-ac", "2"]);
    }
    args.push(out.to_str().unwrap());
    ffmpeg(&args);
    out
}

async fn probe(path: &Path) -> Inspection {
    inspect(path, Duration::from_secs(30)).await.expect("probing the source")
}

async fn package_it(i: &Inspection, src: &Path, out: &Path) -> (Option<Packaged>, Duration) {
    let Eligibility::Eligible { audio } = eligibility(i) else {
        panic!("{} should be eligible: {:?}", src.display(), eligibility(i));
    };
    let started = Instant::now();
    let cancel = CancellationToken::new();
    let p = package(Path::new("ffmpeg"), i, &Source::File(src.to_owned()), out, 6, &audio, &cancel)
        .await
        .unwrap();
    (p, started.elapsed())
}

fn lines(cmd: &mut Command) -> Vec<String> {
    let o = cmd.output().expect("running a tool");
    assert!(o.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).lines().map(str::to_owned).collect()
}

/// `ffmpeg -f framemd5` of one stream (`v` or `a`): `size,md5` per packet, copied or decoded.
fn frame_hashes(path: &Path, stream: &str, copy: bool) -> Vec<String> {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-i"]).arg(path).args(["-map", &format!("0:{stream}:0")]);
    if copy {
        cmd.args(["-c", "copy"]);
    }
    let all = lines(cmd.args(["-f", "framemd5", "-"]));
    let rows = all.into_iter().filter(|l| !l.starts_with('#'));
    // Size and hash only: side data (the source's skip-samples of AAC priming) is not the packet.
    rows.map(|l| l.split(',').skip(4).take(2).map(str::trim).collect::<Vec<_>>().join(","))
        .collect()
}

/// Frames ffprobe decodes in the first video (or audio) stream.
fn frame_count(path: &Path, stream: &str) -> u64 {
    let out = lines(
        Command::new("ffprobe")
            .args(["-v", "error", "-count_frames", "-select_streams", &format!("{stream}:0")])
            .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
            .arg(path),
    );
    out[0].trim().trim_end_matches(',').parse().unwrap()
}

/// Presentation time of the first packet of the first `stream` (`v` or `a`), seconds.
fn first_pts(path: &Path, stream: &str) -> f64 {
    let out = lines(
        Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", &format!("{stream}:0"), "-read_intervals"])
            .args(["%+#1", "-show_entries", "packet=pts_time", "-of", "csv=p=0"])
            .arg(path),
    );
    out[0].trim().trim_end_matches(',').parse().unwrap()
}

/// Decodes `path` to the end: ffmpeg must print no error at all.
fn decodes_cleanly(path: &Path) {
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && stderr.trim().is_empty(), "{}: {stderr}", path.display());
}

/// `codec_name,sample_rate,channels` of the first audio stream of `path`.
fn audio_format(path: &Path) -> String {
    let out = lines(
        Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", "a:0"])
            .args(["-show_entries", "stream=codec_name,sample_rate,channels", "-of", "csv=p=0"])
            .arg(path),
    );
    out[0].trim().to_owned()
}

#[tokio::test]
async fn an_h264_aac_mp4_is_packaged_fast_and_keeps_every_video_packet_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(dir.path(), "src.mp4", 10, 60, Some("aac"));
    let i = probe(&src).await;
    assert_eq!(eligibility(&i), Eligibility::Eligible { audio: AudioHandling::Copy(1) });
    let out = dir.path().join("out");
    let (p, took) = package_it(&i, &src, &out).await;
    let p = p.expect("2 s keyframes fit in short segments");
    println!("packaged 10 s of 640x360 in {:.3} s ({:.2} s CPU)", took.as_secs_f64(), p.cpu_secs);
    assert!(took < Duration::from_secs(3), "a stream copy is IO bound: {took:?}");
    let video = out.join(SOURCE_RENDITION).join("playlist.m3u8");
    let audio = out.join(SOURCE_AUDIO).join("playlist.m3u8");
    decodes_cleanly(&video);
    decodes_cleanly(&audio);
    assert_eq!(frame_count(&video, "v"), 300);
    assert_eq!(frame_count(&video, "v"), frame_count(&src, "v"));
    assert_eq!(frame_hashes(&video, "v", true), frame_hashes(&src, "v", true), "video packets");
    assert_eq!(frame_hashes(&audio, "a", true), frame_hashes(&src, "a", true), "audio copied");
    // Audio against video: the offset of their first packets is kept (the shift to
    // non-negative decode times moves both), so lip sync is the source's.
    let sync = |v: &Path, a: &Path| first_pts(a, "a") - first_pts(v, "v");
    let (before, after) = (sync(&src, &src), sync(&video, &audio));
    println!("audio - video first packet: source {before:.4} s, packaged {after:.4} s");
    assert!((before - after).abs() < 0.002, "A/V offset {before} became {after}");
    let v = &p.variant;
    assert_eq!(v.uri, "source/playlist.m3u8");
    assert_eq!((v.width, v.height, v.frame_rate), (640, 360, 30.0));
    assert!(v.codecs.starts_with("avc1.64"), "High profile: {}", v.codecs);
    assert!(v.bandwidth >= v.average_bandwidth && v.average_bandwidth > 10_000, "{v:?}");
    let a = p.audio.expect("the audio rendition");
    assert_eq!((a.uri.as_str(), a.group.as_str()), ("source-audio/playlist.m3u8", "audio"));
    assert_eq!((a.codecs.as_str(), a.channels), ("mp4a.40.2", 2));
    assert!((p.longest_segment_secs - 6.0).abs() < 0.01, "{}", p.longest_segment_secs);
}

#[tokio::test]
async fn opus_mp3_and_ac3_audio_is_encoded_once_to_aac_lc_48k_stereo() {
    let dir = tempfile::tempdir().unwrap();
    for (codec, name) in [("libopus", "opus.mkv"), ("libmp3lame", "mp3.mp4"), ("ac3", "ac3.mp4")] {
        let src = source(dir.path(), name, 2, 30, Some(codec));
        let i = probe(&src).await;
        assert_eq!(
            eligibility(&i),
            Eligibility::Eligible { audio: AudioHandling::Encode(1) },
            "{codec}"
        );
        let out = dir.path().join(format!("out-{codec}"));
        let p = package_it(&i, &src, &out).await.0.expect("packaged");
        let audio = out.join(SOURCE_AUDIO).join("playlist.m3u8");
        decodes_cleanly(&audio);
        assert_eq!(audio_format(&audio), "aac,48000,2", "{codec}");
        assert_eq!(p.audio.unwrap().codecs, "mp4a.40.2");
        let video = out.join(SOURCE_RENDITION).join("playlist.m3u8");
        assert_eq!(frame_hashes(&video, "v", true), frame_hashes(&src, "v", true), "{codec}");
    }
}

#[tokio::test]
async fn aac_main_which_browsers_do_not_decode_is_encoded_to_aac_lc() {
    let dir = tempfile::tempdir().unwrap();
    let plain = source(dir.path(), "lc.mp4", 2, 30, None);
    let src = dir.path().join("main.mp4");
    let tone = "sine=frequency=440:sample_rate=48000:duration=2";
    let (p, s) = (plain.to_str().unwrap(), src.to_str().unwrap());
    let copy = ["-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac"];
    ffmpeg(
        &[&["-i", p, "-f", "lavfi", "-i", tone][..], &copy, &["-profile:a", "aac_main", s]]
            .concat(),
    );
    let i = probe(&src).await;
    assert_eq!(eligibility(&i), Eligibility::Eligible { audio: AudioHandling::Copy(1) });
    let out = dir.path().join("out");
    let packaged = package_it(&i, &src, &out).await.0.expect("packaged");
    assert_eq!(packaged.audio.unwrap().codecs, "mp4a.40.2");
    let profile = lines(
        Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", "a:0", "-show_entries", "stream=profile"])
            .args(["-of", "csv=p=0"])
            .arg(out.join(SOURCE_AUDIO).join("playlist.m3u8")),
    );
    assert_eq!(profile[0].trim(), "LC");
}

#[tokio::test]
async fn an_mpeg_ts_source_that_starts_at_11_s_plays_from_0_frame_for_frame() {
    let dir = tempfile::tempdir().unwrap();
    let mp4 = source(dir.path(), "src.mp4", 4, 60, Some("aac"));
    let ts = dir.path().join("src.ts");
    let (m, t) = (mp4.to_str().unwrap(), ts.to_str().unwrap());
    // Annex B video, ADTS audio, a start time of ~11.4 s (as a broadcast capture has).
    ffmpeg(&["-i", m, "-c", "copy", "-output_ts_offset", "10", "-f", "mpegts", t]);
    let start = lines(
        Command::new("ffprobe")
            .args(["-v", "error", "-show_entries", "format=start_time", "-of", "csv=p=0"])
            .arg(&ts),
    );
    assert!(start[0].trim().parse::<f64>().unwrap() > 10.0, "the source starts late");
    let i = probe(&ts).await;
    let out = dir.path().join("out");
    let p = package_it(&i, &ts, &out).await.0.expect("packaged");
    let video = out.join(SOURCE_RENDITION).join("playlist.m3u8");
    let audio = out.join(SOURCE_AUDIO).join("playlist.m3u8");
    decodes_cleanly(&video);
    decodes_cleanly(&audio);
    // ffmpeg reads the init's edit list: the first picture is shown near 0, not at 11.4 s.
    let first = lines(
        Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=start_time"])
            .args(["-of", "csv=p=0"])
            .arg(&video),
    );
    let first: f64 = first[0].trim().parse().unwrap();
    println!("first video pts of the packaged MPEG-TS: {first:.3} s");
    assert!((0.0..0.2).contains(&first), "starts at {first}");
    assert_eq!(frame_count(&video, "v"), 120);
    // Annex B became length-prefixed, so compare the decoded pictures.
    assert_eq!(frame_hashes(&video, "v", false), frame_hashes(&ts, "v", false));
    assert_eq!(audio_format(&audio), "aac,48000,2");
    assert_eq!(p.audio.unwrap().codecs, "mp4a.40.2");
}

#[tokio::test]
async fn a_source_with_keyframes_20_s_apart_is_not_packaged() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(dir.path(), "sparse.mp4", 30, 600, None);
    let i = probe(&src).await;
    assert_eq!(eligibility(&i), Eligibility::Eligible { audio: AudioHandling::None });
    let (p, _) = package_it(&i, &src, &dir.path().join("out")).await;
    assert!(p.is_none(), "segments over {MAX_KEYFRAME_GAP_SECS} s: {p:?}");
}

#[tokio::test]
async fn corpus_sources_browsers_cannot_play_as_they_are_are_not_eligible_for_the_right_reason() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (Class::PhoneVfrRotated, &["hevc", "rotated"][..]),
        (Class::HdrHlg, &["hevc", "HLG", "10 bit"]),
        (Class::HdrPq, &["hevc", "PQ"]),
        (Class::ProResPcm, &["prores", "yuv422p10le"]),
        (Class::InterlacedTs, &["mpeg2video", "interlaced"]),
        (Class::Anamorphic, &["anamorphic (pixel aspect 64:45)"]),
        (Class::WebmVp9, &["vp9"]),
        (Class::Uhd4k60, &["macroblock rate"]),
    ];
    for (class, reasons) in cases {
        let src = corpus::generate(class, dir.path());
        let e = eligibility(&probe(&src.path).await);
        let Eligibility::NotEligible(why) = &e else { panic!("{class:?} is eligible: {e:?}") };
        println!("{}: {why}", class.name());
        for r in reasons {
            assert!(why.contains(r), "{class:?}: {r:?} not in {why:?}");
        }
    }
    for class in [Class::Ultrawide, Class::MonoLowRate, Class::TwoLanguages] {
        let src = corpus::generate(class, dir.path());
        let e = eligibility(&probe(&src.path).await);
        assert!(matches!(e, Eligibility::Eligible { .. }), "{class:?}: {e:?}");
    }
    let audio_only = corpus::generate(Class::AudioOnly, dir.path());
    let e = eligibility(&probe(&audio_only.path).await);
    assert_eq!(e, Eligibility::NotEligible("no video stream".into()));
}

#[tokio::test]
async fn a_60_s_1080p30_source_packages_in_seconds_not_minutes() {
    let dir = tempfile::tempdir().unwrap();
    // 6 s encoded once, looped ten times by stream copy: 60 s of 1080p30 made cheaply.
    let spec = VideoSpec::new(1920, 1080, 6.0);
    let short = generate_video(dir.path(), "short.mp4", &spec);
    let src = dir.path().join("long.mp4");
    let (s, l) = (short.to_str().unwrap(), src.to_str().unwrap());
    ffmpeg(&["-stream_loop", "9", "-i", s, "-c", "copy", l]);
    let i = probe(&src).await;
    assert!((i.probe.duration_secs - 60.0).abs() < 0.5, "{}", i.probe.duration_secs);
    let (p, took) = package_it(&i, &src, &dir.path().join("out")).await;
    let p = p.expect("packaged");
    let bytes = std::fs::metadata(&src).unwrap().len();
    println!(
        "packaged 60 s of 1080p30 ({:.1} MB) in {:.3} s wall, {:.2} s CPU: {:.3} s per minute",
        bytes as f64 / 1e6,
        took.as_secs_f64(),
        p.cpu_secs,
        took.as_secs_f64() / (i.probe.duration_secs / 60.0)
    );
    assert!(took < Duration::from_secs(5), "a stream copy is IO bound: {took:?}");
    assert_eq!(frame_count(&dir.path().join("out/source/playlist.m3u8"), "v"), 1800);
}
