//! The real-world corpus makes what each class claims to model: every defining property is read
//! back with ffprobe (not with our probe), so a transcoder test on the corpus tests the case it
//! names.

use std::time::Instant;

use framelog_tests::corpus::{Class, Source, ffprobe_json, generate};
use serde_json::Value;

/// Generates `class` in a fresh directory and reads it back: (dir guard, source, ffprobe JSON).
fn made(class: Class) -> (tempfile::TempDir, Source, Value) {
    let dir = tempfile::Builder::new().prefix("framelog-corpus-").tempdir().unwrap();
    let started = Instant::now();
    let source = generate(class, dir.path());
    // Timing is printed, not asserted: on a shared 2-core machine wall time says little.
    eprintln!("{} made in {:.2} s", class.name(), started.elapsed().as_secs_f64());
    assert_eq!(source.class, class);
    let probe = ffprobe_json(&source.path, &[]);
    (dir, source, probe)
}

fn streams<'a>(probe: &'a Value, kind: &str) -> Vec<&'a Value> {
    probe["streams"].as_array().unwrap().iter().filter(|s| s["codec_type"] == kind).collect()
}

fn video(probe: &Value) -> &Value {
    let v = streams(probe, "video");
    assert_eq!(v.len(), 1, "one video stream: {probe}");
    v[0]
}

fn audio(probe: &Value) -> &Value {
    let a = streams(probe, "audio");
    assert_eq!(a.len(), 1, "one audio stream: {probe}");
    a[0]
}

fn num(v: &Value) -> f64 {
    match v {
        Value::String(s) => s.parse().unwrap_or_else(|_| panic!("not a number: {s}")),
        Value::Number(n) => n.as_f64().unwrap(),
        other => panic!("not a number: {other}"),
    }
}

fn rate(v: &Value) -> f64 {
    let s = v.as_str().unwrap();
    let (n, d) = s.split_once('/').unwrap();
    n.parse::<f64>().unwrap() / d.parse::<f64>().unwrap()
}

fn format_duration(probe: &Value) -> f64 {
    num(&probe["format"]["duration"])
}

fn close(got: f64, want: f64, tol: f64, what: &str) {
    assert!((got - want).abs() <= tol, "{what}: {got} is not {want} ± {tol}");
}

/// The first decoded frame's fields (what the bitstream says, not the container).
fn first_frame(source: &Source) -> Value {
    let p = ffprobe_json(
        &source.path,
        &["-select_streams", "v:0", "-read_intervals", "%+#1", "-show_frames"],
    );
    p["frames"][0].clone()
}

#[test]
fn every_class_has_a_distinct_name() {
    let mut names: Vec<_> = Class::ALL.iter().map(|c| c.name()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), Class::ALL.len());
}

#[test]
fn the_phone_video_is_rotated_vfr_hevc_with_aac() {
    let (_d, s, p) = made(Class::PhoneVfrRotated);
    let v = video(&p);
    assert_eq!(v["codec_name"], "hevc");
    assert_eq!(v["codec_tag_string"], "hvc1");
    assert_eq!((v["width"].as_u64(), v["height"].as_u64()), (Some(640), Some(360)));
    let rotation = v["side_data_list"].as_array().unwrap().iter().find_map(|d| d.get("rotation"));
    assert_eq!(rotation.map(|r| num(r).abs()), Some(90.0), "a display matrix: {v}");
    let avg = rate(&v["avg_frame_rate"]);
    assert!(avg > 29.98 && avg < 30.1 && avg != 30.0, "average {avg} fps is ~30.02, not 30");
    // The timestamps really vary: frame intervals differ by several milliseconds.
    let pk = ffprobe_json(&s.path, &["-select_streams", "v:0", "-show_entries", "packet=pts_time"]);
    let mut pts: Vec<f64> =
        pk["packets"].as_array().unwrap().iter().map(|x| num(&x["pts_time"])).collect();
    pts.sort_by(f64::total_cmp);
    let gaps: Vec<f64> = pts.windows(2).map(|w| w[1] - w[0]).collect();
    let (lo, hi) = gaps.iter().fold((f64::MAX, 0.0f64), |(lo, hi), g| (lo.min(*g), hi.max(*g)));
    assert!(hi - lo > 0.004, "VFR: frame intervals from {lo} to {hi}");
    assert_eq!(audio(&p)["codec_name"], "aac");
    close(format_duration(&p), s.duration_secs, 0.05, "duration");
}

fn assert_hdr(class: Class, transfer: &str) {
    let (_d, s, p) = made(class);
    let v = video(&p);
    assert_eq!(v["codec_name"], "hevc");
    assert_eq!(v["profile"], "Main 10");
    assert_eq!(v["pix_fmt"], "yuv420p10le");
    assert_eq!(v["color_transfer"], transfer);
    assert_eq!(v["color_primaries"], "bt2020");
    assert_eq!(v["color_space"], "bt2020nc");
    // The HEVC VUI says the same as the container.
    let f = first_frame(&s);
    assert_eq!(f["color_transfer"], transfer, "VUI: {f}");
    assert_eq!(f["color_primaries"], "bt2020");
    assert_eq!(f["color_space"], "bt2020nc");
    assert_eq!(audio(&p)["codec_name"], "aac");
}

#[test]
fn the_hlg_video_is_10_bit_hevc_tagged_arib_std_b67_bt2020() {
    assert_hdr(Class::HdrHlg, "arib-std-b67");
}

#[test]
fn the_pq_video_is_10_bit_hevc_tagged_smpte2084_bt2020() {
    assert_hdr(Class::HdrPq, "smpte2084");
}

fn assert_piped_webm(class: Class, codec: &str) {
    let (_d, s, p) = made(class);
    assert!(p["format"]["format_name"].as_str().unwrap().contains("webm"));
    let d = &p["format"]["duration"];
    assert!(d.is_null() || d == "N/A", "no container duration: {}", p["format"]);
    let v = video(&p);
    assert_eq!(v["codec_name"], codec);
    assert!(v["duration"].is_null() || v["duration"] == "N/A", "no stream duration: {v}");
    assert_eq!(audio(&p)["codec_name"], "opus");
    // The packets still span the intended two seconds.
    let pk = ffprobe_json(&s.path, &["-show_entries", "packet=pts_time"]);
    let end =
        pk["packets"].as_array().unwrap().iter().map(|x| num(&x["pts_time"])).fold(0.0, f64::max);
    close(end, s.duration_secs, 0.1, "last packet");
}

#[test]
fn the_vp8_webm_written_to_a_pipe_has_no_duration() {
    assert_piped_webm(Class::WebmVp8, "vp8");
}

#[test]
fn the_vp9_webm_written_to_a_pipe_has_no_duration() {
    assert_piped_webm(Class::WebmVp9, "vp9");
}

#[test]
fn the_broadcast_ts_is_interlaced_top_field_first_mpeg2_with_5_1_ac3() {
    let (_d, s, p) = made(Class::InterlacedTs);
    assert_eq!(p["format"]["format_name"], "mpegts");
    let v = video(&p);
    assert_eq!(v["codec_name"], "mpeg2video");
    assert_eq!((v["width"].as_u64(), v["height"].as_u64()), (Some(1920), Some(1080)));
    assert_eq!(v["field_order"], "tt");
    assert_eq!(rate(&v["r_frame_rate"]), 25.0);
    let f = first_frame(&s);
    assert_eq!((f["interlaced_frame"].as_i64(), f["top_field_first"].as_i64()), (Some(1), Some(1)));
    let a = audio(&p);
    assert_eq!(a["codec_name"], "ac3");
    assert_eq!(a["channels"], 6);
    close(format_duration(&p), s.duration_secs, 0.05, "duration");
}

#[test]
fn the_editing_export_is_prores_at_23_976_with_pcm_in_mov() {
    let (_d, s, p) = made(Class::ProResPcm);
    assert!(p["format"]["format_name"].as_str().unwrap().contains("mov"));
    let v = video(&p);
    assert_eq!(v["codec_name"], "prores");
    assert_eq!(v["r_frame_rate"], "24000/1001");
    assert_eq!(audio(&p)["codec_name"], "pcm_s24le");
    close(format_duration(&p), s.duration_secs, 0.01, "duration");
}

#[test]
fn the_anamorphic_video_has_non_square_pixels_displayed_16_9() {
    let (_d, s, p) = made(Class::Anamorphic);
    let v = video(&p);
    assert_eq!((v["width"].as_u64(), v["height"].as_u64()), (Some(720), Some(576)));
    assert_eq!(v["sample_aspect_ratio"], "64:45");
    assert_eq!(v["display_aspect_ratio"], "16:9");
    assert_eq!(s.display_size, Some((1024, 576)));
}

#[test]
fn the_ultrawide_video_is_1920x800() {
    let (_d, _s, p) = made(Class::Ultrawide);
    let v = video(&p);
    assert_eq!((v["width"].as_u64(), v["height"].as_u64()), (Some(1920), Some(800)));
}

#[test]
fn the_short_audio_source_has_audio_ending_at_40_percent() {
    let (_d, s, p) = made(Class::ShortAudio);
    close(num(&video(&p)["duration"]), 3.0, 0.05, "video");
    close(num(&audio(&p)["duration"]), 1.2, 0.05, "audio");
    assert_eq!(s.audio_secs, Some(1.2));
}

#[test]
fn the_mono_source_is_one_channel_at_22_05_khz() {
    let (_d, _s, p) = made(Class::MonoLowRate);
    let a = audio(&p);
    assert_eq!(a["channels"], 1);
    assert_eq!(a["sample_rate"], "22050");
}

#[test]
fn the_two_language_source_flags_its_second_track_default() {
    let (_d, _s, p) = made(Class::TwoLanguages);
    let a = streams(&p, "audio");
    assert_eq!(a.len(), 2);
    assert_eq!(a[0]["tags"]["language"], "eng");
    assert_eq!(a[1]["tags"]["language"], "fra");
    assert_eq!(a[0]["disposition"]["default"], 0);
    assert_eq!(a[1]["disposition"]["default"], 1);
}

#[test]
fn the_audio_only_source_has_no_video_stream() {
    let (_d, s, p) = made(Class::AudioOnly);
    assert!(streams(&p, "video").is_empty(), "no video: {p}");
    assert_eq!(audio(&p)["codec_name"], "aac");
    close(format_duration(&p), s.duration_secs, 0.05, "duration");
    assert_eq!((s.display_size, s.frame_rate), (None, None));
}

#[test]
fn the_4k60_source_is_3840x2160_at_60_fps() {
    let (_d, s, p) = made(Class::Uhd4k60);
    let v = video(&p);
    assert_eq!((v["width"].as_u64(), v["height"].as_u64()), (Some(3840), Some(2160)));
    assert_eq!(rate(&v["avg_frame_rate"]), 60.0);
    close(format_duration(&p), s.duration_secs, 0.05, "duration");
}

#[test]
fn the_sub_second_clip_lasts_0_4_s() {
    let (_d, s, p) = made(Class::SubSecond);
    close(format_duration(&p), 0.4, 0.05, "duration");
    close(num(&video(&p)["duration"]), s.duration_secs, 0.04, "video");
}
