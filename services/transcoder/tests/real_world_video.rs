//! Issue 15 acceptance, video classes: each real-world source of the corpus through the real
//! transcoder becomes ready, every media playlist its master names decodes with no ffmpeg error
//! and lasts the source's duration, and the property the class needs holds, read with ffprobe
//! on the output (the audio classes are in `real_world_audio.rs`).

mod common;
#[path = "common/real_world.rs"]
mod real_world;

use common::env;
use framelog_tests::corpus::Class;
use real_world::{frame_stats, published, rate, settings, size, transcode};

#[tokio::test]
async fn a_rotated_vfr_phone_video_gets_portrait_30_fps_renditions_with_2_s_gops() {
    let env = env().await;
    let s = transcode(&env, Class::PhoneVfrRotated, settings()).await;
    let p = published(&env, Class::PhoneVfrRotated.name());
    p.assert_plays_whole(&s);
    for uri in p.video_variants() {
        let v = p.video_stream(&uri);
        let (w, h) = size(&v);
        assert!(h > w, "{uri}: portrait, {w}x{h}");
        assert!((f64::from(w) / f64::from(h) - 9.0 / 16.0).abs() < 0.01 * 9.0 / 16.0, "{uri}");
        assert!(v["side_data_list"].is_null(), "{uri}: no display matrix left: {v}");
        let fps = rate(&v["avg_frame_rate"]);
        assert!((29.96..=30.01).contains(&fps), "{uri}: 30.02 fps snaps to 30 (or 29.97): {fps}");
        let keys = p.keyframes(&uri);
        for pair in keys.windows(2) {
            let gop = pair[1] - pair[0];
            assert!((gop - 2.0).abs() <= 1.0 / fps + 1e-3, "{uri}: 2 s GOPs, keyframes {keys:?}");
        }
        assert!(keys.len() >= 3, "{uri}: a keyframe every 2 s of 6 s: {keys:?}");
        for d in p.segment_durations(&uri) {
            assert!(d <= 2.0 + 1.0 / fps, "{uri}: segments of at most 2 s, one is {d} s");
        }
    }
}

/// Every video rendition is tagged BT.709 (stream and bitstream) and its pixels are not washed
/// out: the first frame's saturation is at least 3/4 of a reference tone-map of the source
/// (zscale + tonemap=hable) and its mean luma within ×0.6..×1.6 of it. Untouched HLG/PQ codes
/// shown as BT.709 have a third to a half of that saturation.
async fn hdr_becomes_bt709_sdr(class: Class) {
    let env = env().await;
    let s = transcode(&env, class, settings()).await;
    let p = published(&env, class.name());
    p.assert_plays_whole(&s);
    let reference = "zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,\
                     tonemap=hable:desat=0,zscale=t=bt709:m=bt709:r=tv,format=yuv420p,";
    let (ref_y, ref_sat) = frame_stats(&s.path, reference, env.sources.path());
    for uri in p.video_variants() {
        let v = p.video_stream(&uri);
        for key in ["color_primaries", "color_transfer", "color_space"] {
            assert_eq!(v[key], "bt709", "{uri}: {key} (stream): {v}");
            assert_eq!(v["frame"][key], "bt709", "{uri}: {key} (VUI)");
        }
        assert_eq!(v["pix_fmt"], "yuv420p", "{uri}: 8-bit SDR");
        let (y, sat) = frame_stats(&p.root.join(&uri), "format=yuv420p,", &p.root);
        assert!(sat >= 0.75 * ref_sat, "{uri}: saturation {sat} vs reference {ref_sat}");
        assert!((0.6 * ref_y..=1.6 * ref_y).contains(&y), "{uri}: luma {y} vs reference {ref_y}");
    }
}

#[tokio::test]
async fn a_10_bit_hlg_video_is_tone_mapped_to_bt709() {
    hdr_becomes_bt709_sdr(Class::HdrHlg).await;
}

#[tokio::test]
async fn a_10_bit_pq_video_is_tone_mapped_to_bt709() {
    hdr_becomes_bt709_sdr(Class::HdrPq).await;
}

async fn webm_without_duration_plays(class: Class) {
    let env = env().await;
    let s = transcode(&env, class, settings()).await;
    let p = published(&env, class.name());
    p.assert_plays_whole(&s);
    assert!(!p.video_variants().is_empty());
}

#[tokio::test]
async fn a_mediarecorder_vp8_webm_without_a_duration_becomes_ready() {
    webm_without_duration_plays(Class::WebmVp8).await;
}

#[tokio::test]
async fn a_mediarecorder_vp9_webm_without_a_duration_becomes_ready() {
    webm_without_duration_plays(Class::WebmVp9).await;
}

#[tokio::test]
async fn an_interlaced_1080i50_ts_becomes_progressive_50p() {
    let env = env().await;
    let s = transcode(&env, Class::InterlacedTs, settings()).await;
    let p = published(&env, Class::InterlacedTs.name());
    p.assert_plays_whole(&s);
    let variants = p.video_variants();
    for uri in &variants {
        let v = p.video_stream(uri);
        let order = v["field_order"].as_str().unwrap_or("progressive");
        assert_eq!(order, "progressive", "{uri}: progressive: {v}");
        assert_eq!(v["frame"]["interlaced_frame"], 0, "{uri}: a progressive frame");
        let fps = rate(&v["avg_frame_rate"]);
        assert!((fps - 50.0).abs() < 0.01 || (fps - 25.0).abs() < 0.01, "{uri}: {fps} fps");
    }
    let top = p.video_stream(variants.last().unwrap());
    assert_eq!(size(&top), (1920, 1080));
    assert!((rate(&top["avg_frame_rate"]) - 50.0).abs() < 0.01, "1080p at the field rate: {top}");
}

#[tokio::test]
async fn a_prores_export_keeps_23_976_fps() {
    let env = env().await;
    let s = transcode(&env, Class::ProResPcm, settings()).await;
    let p = published(&env, Class::ProResPcm.name());
    p.assert_plays_whole(&s);
    for uri in p.video_variants() {
        let v = p.video_stream(&uri);
        assert!((rate(&v["avg_frame_rate"]) - 24000.0 / 1001.0).abs() < 0.001, "{uri}: {v}");
        assert_eq!(v["codec_name"], "h264");
    }
}

#[tokio::test]
async fn an_anamorphic_video_keeps_its_display_aspect_with_square_pixels() {
    let env = env().await;
    let s = transcode(&env, Class::Anamorphic, settings()).await;
    let p = published(&env, Class::Anamorphic.name());
    p.assert_plays_whole(&s);
    let (dw, dh) = s.display_size.unwrap();
    let want = f64::from(dw) / f64::from(dh);
    for uri in p.video_variants() {
        let v = p.video_stream(&uri);
        let (w, h) = size(&v);
        let got = f64::from(w) / f64::from(h);
        assert!((got - want).abs() <= 0.01 * want, "{uri}: {w}x{h} is not {dw}:{dh}");
        let sar = v["sample_aspect_ratio"].as_str().unwrap_or("1:1");
        assert!(sar == "1:1" || sar == "0:1", "{uri}: square pixels, SAR {sar}");
    }
}

#[tokio::test]
async fn an_ultrawide_1920x800_film_gets_a_1920_wide_top_rung() {
    let env = env().await;
    let s = transcode(&env, Class::Ultrawide, settings()).await;
    let p = published(&env, Class::Ultrawide.name());
    p.assert_plays_whole(&s);
    let sizes: Vec<(u32, u32)> =
        p.video_variants().iter().map(|u| size(&p.video_stream(u))).collect();
    assert!(sizes.contains(&(1920, 800)), "a 1920x800 rung: {sizes:?}");
}

#[tokio::test]
async fn a_4k60_source_gets_h264_rungs_within_level_4_2_and_a_2160p_hevc_rung() {
    let env = env().await;
    let s = transcode(&env, Class::Uhd4k60, settings()).await;
    let p = published(&env, Class::Uhd4k60.name());
    p.assert_plays_whole(&s);
    let mut top = None;
    for uri in p.video_variants() {
        let v = p.video_stream(&uri);
        match v["codec_name"].as_str().unwrap() {
            "h264" => {
                let level = v["level"].as_i64().unwrap();
                assert!(level <= 42, "{uri}: H.264 level {level} above 4.2");
            }
            "hevc" => assert_eq!(v["codec_tag_string"], "hvc1", "{uri}: hvc1 (Apple)"),
            other => panic!("{uri}: codec {other}"),
        }
        if size(&v) == (3840, 2160) {
            top = Some(v);
        }
    }
    let top = top.expect("a 2160p rung");
    assert_eq!(top["codec_name"], "hevc", "2160p in HEVC");
    assert!(p.master.contains("hvc1."), "the master's CODECS names hvc1:\n{}", p.master);
}

#[tokio::test]
async fn a_sub_second_clip_becomes_ready_and_plays() {
    let env = env().await;
    let s = transcode(&env, Class::SubSecond, settings()).await;
    let p = published(&env, Class::SubSecond.name());
    p.assert_plays_whole(&s);
    assert!(!p.video_variants().is_empty());
}
