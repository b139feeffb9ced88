//! Issue 15 acceptance, video classes: each real-world source of the corpus through the real
//! transcoder becomes ready, every media playlist its master names decodes with no ffmpeg error
//! and lasts the source's duration, and the property the class needs holds, read with ffprobe
//! on the output (the audio classes are in `real_world_audio.rs`).

mod common;
#[path = "common/real_world.rs"]
mod real_world;

use common::env;
use framelog_tests::corpus::Class;
use real_world::{frame_stats, idet, published, rate, settings, size, transcode};

#[tokio::test]
async fn a_rotated_vfr_phone_video_gets_portrait_30_fps_renditions_with_2_s_gops() {
    let env = env().await;
    let s = transcode(&env, Class::PhoneVfrRotated, settings()).await;
    let p = published(&env, Class::PhoneVfrRotated.name());
    p.check_plays_whole(&s);
    for uri in p.video_variants() {
        let v = p.video_stream(&uri);
        let (w, h) = size(&v);
        let ratio = f64::from(w) / f64::from(h);
        p.check(h > w && (ratio - 9.0 / 16.0).abs() < 0.01 * 9.0 / 16.0, || {
            format!("{uri}: {w}x{h} is not portrait 9:16")
        });
        p.check(v["side_data_list"].is_null(), || format!("{uri}: a display matrix is left"));
        let fps = rate(&v["avg_frame_rate"]);
        p.check((29.96..=30.01).contains(&fps), || {
            format!("{uri}: {fps} fps (30.02 must snap to 30 or 29.97)")
        });
        let keys = p.keyframes(&uri);
        let gops: Vec<f64> = keys.windows(2).map(|k| k[1] - k[0]).collect();
        p.check(
            keys.len() >= 3 && gops.iter().all(|g| (g - 2.0).abs() <= 1.0 / 30.0 + 1e-3),
            || format!("{uri}: not a keyframe every 2 s: {keys:?}"),
        );
        let segments = p.segment_durations(&uri);
        p.check(segments.iter().all(|d| *d <= 2.0 + 1.0 / 30.0), || {
            format!("{uri}: segments longer than the 2 s asked: {segments:?}")
        });
    }
    p.finish();
}

/// Every video rendition is tagged BT.709 (stream and bitstream) and its pixels are not washed
/// out: the first frame's saturation is at least 3/4 of a reference tone-map of the source
/// (zscale + tonemap=hable) and its mean luma within ×0.6..×1.6 of it. Untouched HLG/PQ codes
/// shown as BT.709 have 1/3 to 2/3 of that saturation (measured: HLG 39 vs 63, PQ 23 vs 63).
async fn hdr_becomes_bt709_sdr(class: Class) {
    let env = env().await;
    let s = transcode(&env, class, settings()).await;
    let p = published(&env, class.name());
    p.check_plays_whole(&s);
    let reference = "zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,\
                     tonemap=hable:desat=0,zscale=t=bt709:m=bt709:r=tv,format=yuv420p,";
    let (ref_y, ref_sat) = frame_stats(&s.path, reference, env.sources.path());
    for uri in p.video_variants() {
        let v = p.video_stream(&uri);
        for key in ["color_primaries", "color_transfer", "color_space"] {
            p.check(v[key] == "bt709", || format!("{uri}: {key} {} (stream)", v[key]));
            let vui = &v["frame"][key];
            p.check(*vui == "bt709", || format!("{uri}: {key} {vui} (bitstream VUI)"));
        }
        p.check(v["pix_fmt"] == "yuv420p", || format!("{uri}: {} is not 8-bit", v["pix_fmt"]));
        let (y, sat) = frame_stats(&p.root.join(&uri), "format=yuv420p,", &p.root);
        p.check(sat >= 0.75 * ref_sat, || {
            format!("{uri}: washed out, saturation {sat:.1} vs reference {ref_sat:.1}")
        });
        p.check((0.6 * ref_y..=1.6 * ref_y).contains(&y), || {
            format!("{uri}: mean luma {y:.1} vs reference {ref_y:.1}")
        });
    }
    p.finish();
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
    p.check_plays_whole(&s);
    p.check(!p.video_variants().is_empty(), || "no video variant".into());
    p.finish();
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
    p.check_plays_whole(&s);
    let mut top = None;
    for uri in p.video_variants() {
        let v = p.video_stream(&uri);
        let order = v["field_order"].as_str().unwrap_or("progressive");
        p.check(order == "progressive", || format!("{uri}: field order {order}"));
        let interlaced = &v["frame"]["interlaced_frame"];
        p.check(*interlaced == 0, || format!("{uri}: interlaced_frame {interlaced}"));
        let fps = rate(&v["avg_frame_rate"]);
        p.check((fps - 50.0).abs() < 0.01 || (fps - 25.0).abs() < 0.01, || {
            format!("{uri}: {fps} fps is neither the field rate nor half of it")
        });
        if size(&v) == (1920, 1080) {
            top = Some((uri, fps));
        }
    }
    match top {
        Some((uri, fps)) => {
            p.check((fps - 50.0).abs() < 0.01, || format!("{uri}: 1080p at {fps} fps, not 50"));
            // Unscaled, woven fields show as combing: idet calls such frames interlaced.
            let (interlaced, progressive) = idet(&p.root, &uri);
            p.check(progressive >= 9 * interlaced, || {
                format!(
                    "{uri}: combed, idet finds {interlaced} interlaced, {progressive} progressive"
                )
            });
        }
        None => p.check(false, || "no 1920x1080 rendition".into()),
    }
    p.finish();
}

#[tokio::test]
async fn a_prores_export_keeps_23_976_fps() {
    let env = env().await;
    let s = transcode(&env, Class::ProResPcm, settings()).await;
    let p = published(&env, Class::ProResPcm.name());
    p.check_plays_whole(&s);
    for uri in p.video_variants() {
        let v = p.video_stream(&uri);
        let fps = rate(&v["avg_frame_rate"]);
        p.check((fps - 24000.0 / 1001.0).abs() < 0.001, || format!("{uri}: {fps} fps"));
        p.check(v["codec_name"] == "h264", || format!("{uri}: {}", v["codec_name"]));
    }
    p.finish();
}

#[tokio::test]
async fn an_anamorphic_video_keeps_its_display_aspect_with_square_pixels() {
    let env = env().await;
    let s = transcode(&env, Class::Anamorphic, settings()).await;
    let p = published(&env, Class::Anamorphic.name());
    p.check_plays_whole(&s);
    let (dw, dh) = s.display_size.unwrap();
    let want = f64::from(dw) / f64::from(dh);
    for uri in p.video_variants() {
        let v = p.video_stream(&uri);
        let (w, h) = size(&v);
        let got = f64::from(w) / f64::from(h);
        p.check((got - want).abs() <= 0.01 * want, || format!("{uri}: {w}x{h} is not {dw}:{dh}"));
        let sar = v["sample_aspect_ratio"].as_str().unwrap_or("1:1").to_owned();
        p.check(sar == "1:1" || sar == "0:1", || format!("{uri}: SAR {sar}, not square pixels"));
    }
    p.finish();
}

#[tokio::test]
async fn an_ultrawide_1920x800_film_gets_a_1920_wide_top_rung() {
    let env = env().await;
    let s = transcode(&env, Class::Ultrawide, settings()).await;
    let p = published(&env, Class::Ultrawide.name());
    p.check_plays_whole(&s);
    let sizes: Vec<(u32, u32)> =
        p.video_variants().iter().map(|u| size(&p.video_stream(u))).collect();
    p.check(sizes.contains(&(1920, 800)), || format!("no 1920x800 rung: {sizes:?}"));
    p.finish();
}

#[tokio::test]
async fn a_4k60_source_gets_h264_rungs_within_level_4_2_and_a_2160p_hevc_rung() {
    let env = env().await;
    let s = transcode(&env, Class::Uhd4k60, settings()).await;
    let p = published(&env, Class::Uhd4k60.name());
    p.check_plays_whole(&s);
    let mut top = None;
    for uri in p.video_variants() {
        let v = p.video_stream(&uri);
        match v["codec_name"].as_str().unwrap() {
            "h264" => {
                let level = v["level"].as_i64().unwrap();
                p.check(level <= 42, || format!("{uri}: H.264 level {level} above 4.2"));
            }
            "hevc" => {
                let tag = &v["codec_tag_string"];
                p.check(*tag == "hvc1", || format!("{uri}: HEVC tagged {tag}, not hvc1"));
            }
            other => p.check(false, || format!("{uri}: codec {other}")),
        }
        if size(&v) == (3840, 2160) {
            top = Some((uri, v["codec_name"].clone()));
        }
    }
    match top {
        Some((uri, codec)) => p.check(codec == "hevc", || format!("{uri}: 2160p in {codec}")),
        None => p.check(false, || "no 2160p rung".into()),
    }
    p.check(p.master.contains("hvc1."), || "the master's CODECS names no hvc1".into());
    p.finish();
}

#[tokio::test]
async fn a_sub_second_clip_becomes_ready_and_plays() {
    let env = env().await;
    let s = transcode(&env, Class::SubSecond, settings()).await;
    let p = published(&env, Class::SubSecond.name());
    p.check_plays_whole(&s);
    p.check(!p.video_variants().is_empty(), || "no video variant".into());
    p.finish();
}
