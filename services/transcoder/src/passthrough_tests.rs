use std::path::Path;

use framelog_core::probe::{
    AudioStream, Colour, DurationFrom, FieldOrder, Inspection, VideoStream,
};
use framelog_events::Probe;

use super::*;

fn h264(width: u32, height: u32, fps: f64) -> VideoStream {
    VideoStream {
        index: 0,
        codec: "h264".into(),
        profile: Some("High".into()),
        pix_fmt: Some("yuv420p".into()),
        bit_depth: 8,
        colour: Colour::default(),
        field_order: FieldOrder::Progressive,
        sar: (1, 1),
        width,
        height,
        rotation: 0,
        avg_fps: fps,
        r_fps: Some(fps),
        ends_early_secs: 0.0,
    }
}

fn audio(index: u32, codec: &str, default: bool) -> AudioStream {
    AudioStream {
        index,
        codec: codec.into(),
        channels: 2,
        channel_layout: Some("stereo".into()),
        sample_rate: 48_000,
        language: None,
        title: None,
        default,
        duration_secs: Some(10.0),
    }
}

fn inspection(video: Option<VideoStream>, audio: Vec<AudioStream>) -> Inspection {
    let v = video.clone();
    Inspection {
        probe: Probe {
            duration_secs: 10.0,
            width: v.as_ref().map_or(0, |v| v.width),
            height: v.as_ref().map_or(0, |v| v.height),
            rotation: v.as_ref().map_or(0, |v| v.rotation),
            fps: v.as_ref().map_or(0.0, |v| v.avg_fps),
            video_codec: v.as_ref().map_or("none".into(), |v| v.codec.clone()),
            audio_codec: audio.first().map(|a| a.codec.clone()),
            format: "mov,mp4,m4a,3gp,3g2,mj2".into(),
            bit_rate: None,
        },
        streams: 1 + audio.len() as u32,
        video,
        audio,
        subtitles: Vec::new(),
        duration_from: DurationFrom::Container,
    }
}

fn refusal(v: VideoStream) -> String {
    match eligibility(&inspection(Some(v), vec![])) {
        Eligibility::NotEligible(why) => why,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn an_h264_high_1080p30_source_with_aac_is_copied_with_its_audio() {
    let i = inspection(Some(h264(1920, 1080, 30.0)), vec![audio(1, "aac", true)]);
    assert_eq!(eligibility(&i), Eligibility::Eligible { audio: AudioHandling::Copy(1) });
}

#[test]
fn constrained_baseline_and_main_are_copied_and_full_range_420_too() {
    for profile in ["Constrained Baseline", "Main"] {
        let mut v = h264(640, 360, 25.0);
        v.profile = Some(profile.into());
        v.pix_fmt = Some("yuvj420p".into());
        let e = eligibility(&inspection(Some(v), vec![]));
        assert_eq!(e, Eligibility::Eligible { audio: AudioHandling::None }, "{profile}");
    }
}

#[test]
fn audio_that_is_not_aac_is_encoded_and_the_default_track_is_the_one_taken() {
    let i = inspection(
        Some(h264(1280, 720, 30.0)),
        vec![audio(1, "aac", false), audio(2, "opus", true)],
    );
    assert_eq!(eligibility(&i), Eligibility::Eligible { audio: AudioHandling::Encode(2) });
}

#[test]
fn other_codecs_and_profiles_are_refused_with_a_reason() {
    let mut v = h264(1920, 1080, 30.0);
    v.codec = "hevc".into();
    assert!(refusal(v).contains("hevc"));
    for profile in ["High 10", "High 4:2:2", "High 4:4:4 Predictive", "Baseline", "Extended"] {
        let mut v = h264(1920, 1080, 30.0);
        v.profile = Some(profile.into());
        assert!(refusal(v).contains(profile), "{profile}");
    }
    let mut v = h264(1920, 1080, 30.0);
    v.profile = None;
    assert!(refusal(v).contains("unknown"));
}

#[test]
fn ten_bit_and_422_pictures_are_refused() {
    let mut v = h264(1920, 1080, 30.0);
    v.pix_fmt = Some("yuv420p10le".into());
    v.bit_depth = 10;
    assert!(refusal(v).contains("yuv420p10le"));
    let mut v = h264(1920, 1080, 30.0);
    v.pix_fmt = Some("yuv422p".into());
    assert!(refusal(v).contains("4:2:0"));
}

#[test]
fn hdr_interlaced_rotated_and_anamorphic_sources_are_refused() {
    let mut v = h264(1920, 1080, 30.0);
    v.colour.transfer = Some("arib-std-b67".into());
    assert!(refusal(v).contains("HLG"));
    let mut v = h264(1920, 1080, 30.0);
    v.colour.transfer = Some("smpte2084".into());
    assert!(refusal(v).contains("PQ"));
    let mut v = h264(1920, 1080, 25.0);
    v.field_order = FieldOrder::TopFirst;
    assert!(refusal(v).contains("interlaced"));
    let mut v = h264(1920, 1080, 30.0);
    v.rotation = 90;
    assert!(refusal(v).contains("rotated"));
    let mut v = h264(720, 576, 25.0);
    v.sar = (64, 45);
    assert!(refusal(v).contains("anamorphic"));
}

#[test]
fn an_unknown_field_order_is_taken_as_progressive() {
    let mut v = h264(1280, 720, 30.0);
    v.field_order = FieldOrder::Unknown;
    assert!(matches!(eligibility(&inspection(Some(v), vec![])), Eligibility::Eligible { .. }));
}

#[test]
fn frame_rate_and_size_stop_at_60_fps_and_h264_level_5_1() {
    let ok = |w, h, fps| {
        matches!(
            eligibility(&inspection(Some(h264(w, h, fps)), vec![])),
            Eligibility::Eligible { .. }
        )
    };
    assert!(ok(1920, 1080, 60.0));
    assert!(ok(1280, 720, 59.94));
    assert!(!ok(1280, 720, 120.0));
    assert!(ok(3840, 2160, 30.0));
    assert!(ok(4096, 2304, 25.0));
    assert!(!ok(3840, 2160, 60.0), "2160p60 needs level 5.2");
    assert!(!ok(4096, 2160 + 160, 24.0), "4096x2320 is over 36 864 macroblocks");
    assert!(!ok(5120, 1440, 24.0), "wider than 4096");
    assert!(refusal(h264(1280, 720, 120.0)).contains("fps"));
    assert!(refusal(h264(3840, 2160, 60.0)).contains("macroblock rate"));
}

#[test]
fn an_audio_only_source_is_not_eligible() {
    let i = inspection(None, vec![audio(0, "aac", true)]);
    assert_eq!(eligibility(&i), Eligibility::NotEligible("no video stream".into()));
}

fn has(args: &[String], pair: &[&str]) -> bool {
    args.windows(pair.len()).any(|w| w.iter().zip(pair).all(|(a, b)| a == b))
}

#[test]
fn packaging_copies_the_video_into_fmp4_hls_behind_the_input_fence() {
    let a = package_args(
        &Source::File("/in/src.mp4".into()),
        &AudioHandling::Copy(1),
        Path::new("/o"),
        6,
    );
    let fence = crate::command::input_args(Path::new("/in/src.mp4"));
    assert!(has(&a, &fence.iter().map(String::as_str).collect::<Vec<_>>()));
    for pair in [
        &["-map", "0:V:0"][..],
        &["-map", "0:1"],
        &["-c:v", "copy"],
        &["-tag:v", "avc1"],
        &["-c:a", "copy", "-bsf:a", "aac_adtstoasc"],
        &["-map_metadata", "-1"],
        &["-f", "hls", "-hls_segment_type", "fmp4", "-hls_time", "6"],
        &["-hls_playlist_type", "vod", "-hls_flags", "independent_segments"],
        &["-hls_segment_filename", "/o/%v/seg_%05d.m4s"],
        &["-var_stream_map", "v:0,name:source a:0,name:source-audio"],
    ] {
        assert!(has(&a, pair), "{pair:?} in {a:?}");
    }
    assert_eq!(a.last().unwrap(), "/o/%v/playlist.m3u8");
    assert!(!a.iter().any(|x| x == "-copyts"), "timestamps start at 0");
}

#[test]
fn a_source_in_s3_is_packaged_from_its_url_behind_the_url_fence() {
    let url = Source::Url("http://s3/b/sources/acme/v/source?X-Amz-Signature=s".into());
    let a = package_args(&url, &AudioHandling::Copy(1), Path::new("/o"), 6);
    let input = url.input_args();
    assert!(has(&a, &input.iter().map(String::as_str).collect::<Vec<_>>()), "{a:?}");
    assert!(has(&a, &["-seekable", "1"]) && has(&a, &["-c:v", "copy"]));
    assert!(!a.iter().any(|x| x.starts_with("file:")), "no local file: {a:?}");
}

#[test]
fn audio_that_is_not_aac_is_encoded_to_aac_lc_48k_stereo_128k() {
    let a = package_args(
        &Source::File("/s.webm".into()),
        &AudioHandling::Encode(2),
        Path::new("/o"),
        4,
    );
    assert!(has(&a, &["-map", "0:2"]));
    assert!(has(&a, &["-c:a", "aac", "-ac", "2", "-ar", "48000", "-b:a", "128000"]));
    assert!(!a.iter().any(|x| x == "aac_adtstoasc"));
}

#[test]
fn without_audio_only_the_video_is_mapped() {
    let a = package_args(&Source::File("/s.mp4".into()), &AudioHandling::None, Path::new("/o"), 6);
    assert!(has(&a, &["-var_stream_map", "v:0,name:source"]));
    assert_eq!(a.iter().filter(|x| *x == "-map").count(), 1);
    assert!(!a.iter().any(|x| x == "-c:a"));
}

fn esds(asc: &[u8]) -> Vec<u8> {
    // ES_Descriptor (ES_ID 1, no flags) > DecoderConfigDescriptor (AAC, 13 bytes) >
    // DecoderSpecificInfo (`asc`); lengths in the 4-byte form ffmpeg writes.
    let mut dsi = vec![5, 0x80, 0x80, 0x80, asc.len() as u8];
    dsi.extend_from_slice(asc);
    let mut dcd = vec![4, 0x80, 0x80, 0x80, (13 + dsi.len()) as u8, 0x40, 0x15];
    dcd.extend_from_slice(&[0; 11]);
    dcd.extend(dsi);
    let mut es = vec![3, 0x80, 0x80, 0x80, (3 + dcd.len()) as u8, 0, 1, 0];
    es.extend(dcd);
    let mut b = b"....mp4a........esds\0\0\0\0".to_vec();
    b.extend(es);
    b
}

#[test]
fn the_aac_object_type_is_read_from_the_esds() {
    // AudioSpecificConfig: 5 bits object type, 4 bits rate index, 4 bits channels.
    assert_eq!(aac_object_type(&esds(&[0x11, 0x90])), Some(2), "LC 48 kHz stereo");
    assert_eq!(aac_object_type(&esds(&[0x2b, 0x10])), Some(5), "HE-AAC");
    assert_eq!(aac_object_type(&esds(&[0x0a, 0x10])), Some(1), "AAC Main");
    assert_eq!(aac_object_type(&esds(&[0xf8, 0x20])), Some(33), "escaped object type");
    assert_eq!(aac_object_type(b"no box here"), None);
}
