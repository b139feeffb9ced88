use super::*;
use crate::profile::{FrameRate, VideoCodec};

fn top(num: u32, den: u32) -> Profile {
    let fps = FrameRate::new(num, den);
    Profile {
        name: "720p".into(),
        width: 1280,
        height: 720,
        fps,
        gop: (2.0 * fps.as_f64()).round() as u32,
        video_bps: 3_000_000,
        codec: VideoCodec::H264,
    }
}

fn board(duration: f64) -> Storyboard {
    Storyboard::plan(duration, 1280, 720, crate::storyboard::tile_interval(duration))
}

fn contiguous(p: &ChunkPlan, duration: f64) {
    assert_eq!(p.ranges[0].start_secs, 0.0);
    for (i, w) in p.ranges.windows(2).enumerate() {
        assert_eq!(w[0].end_secs, w[1].start_secs, "range {i} ends where {} starts", i + 1);
        assert_eq!(w[0].first_segment + w[0].segments, w[1].first_segment);
        assert_eq!(w[0].first_thumb + w[0].thumbs, w[1].first_thumb);
    }
    assert!(p.ranges.iter().enumerate().all(|(i, r)| r.index as usize == i));
    assert_eq!(p.ranges.last().unwrap().end_secs, duration);
    assert_eq!(p.ranges.iter().filter(|r| r.poster).count(), 1, "one poster");
    let last: Vec<bool> = p.ranges.iter().map(|r| r.last).collect();
    assert!(last.iter().rev().skip(1).all(|l| !l) && last[last.len() - 1], "{last:?}");
}

#[test]
fn range_zero_is_one_segment_and_the_rest_hold_five_with_the_remainder_last() {
    let d = 63.0;
    let p = plan(d, &top(30, 1), 6, 5, 1, &board(d), d / 4.0);
    assert_eq!(p.segment_secs, 6.0);
    assert_eq!(p.segments(), 11, "63 s in 6 s segments: 10 and a 3 s one");
    let sizes: Vec<u32> = p.ranges.iter().map(|r| r.segments).collect();
    assert_eq!(sizes, [1, 5, 5]);
    assert_eq!((p.ranges[1].start_secs, p.ranges[2].start_secs), (6.0, 36.0));
    contiguous(&p, d);
}

#[test]
fn ntsc_rates_cut_on_whole_gops_of_1001_ticks() {
    let d = 30.0;
    let p = plan(d, &top(30000, 1001), 6, 2, 1, &board(d), 7.5);
    assert!((p.segment_secs - 6.006).abs() < 1e-12, "{}", p.segment_secs);
    let starts: Vec<f64> = p.ranges.iter().map(|r| r.start_secs).collect();
    assert_eq!(starts.len(), 3, "5 segments (4 × 6.006 s + 5.976 s): 1 + 2 + 2");
    for (r, s) in p.ranges.iter().zip(&starts) {
        let frames = s * 30000.0 / 1001.0;
        assert!((frames - frames.round()).abs() < 1e-9, "range {} at frame {frames}", r.index);
        assert_eq!(frames.round() as u32 % 180, 0, "on a segment boundary");
    }
    contiguous(&p, d);
    let p60 = plan(d, &top(60000, 1001), 4, 5, 1, &board(d), 7.5);
    assert!((p60.segment_secs - 4.004).abs() < 1e-12, "120-frame GOPs at 59.94");
    assert_eq!(p60.segments(), 8);
    contiguous(&p60, d);
}

#[test]
fn pal_and_60_fps_segments_are_exact_seconds() {
    let p25 = plan(20.0, &top(25, 1), 2, 4, 1, &board(20.0), 5.0);
    assert_eq!(p25.segment_secs, 2.0);
    assert_eq!(p25.ranges.iter().map(|r| r.segments).collect::<Vec<_>>(), [1, 4, 4, 1]);
    contiguous(&p25, 20.0);
    let p60 = plan(24.0, &top(60, 1), 2, 4, 1, &board(24.0), 6.0);
    assert_eq!((p60.segment_secs, p60.segments(), p60.ranges.len()), (2.0, 12, 4));
    assert_eq!(p60.ranges[3].start_secs, 18.0);
    contiguous(&p60, 24.0);
}

#[test]
fn a_duration_just_past_a_boundary_adds_no_empty_segment_but_a_frame_more_does() {
    let t = top(30, 1);
    assert_eq!(plan(12.01, &t, 6, 5, 1, &board(12.01), 3.0).segments(), 2, "under half a frame");
    assert_eq!(plan(12.04, &t, 6, 5, 1, &board(12.04), 3.0).segments(), 3, "one more frame");
}

#[test]
fn a_clip_shorter_than_one_segment_is_one_range_with_every_thumbnail_and_the_poster() {
    let d = 3.5;
    let b = board(d);
    let p = plan(d, &top(30, 1), 6, 5, 1, &b, d / 4.0);
    assert_eq!(p.ranges.len(), 1);
    let r = &p.ranges[0];
    assert_eq!((r.segments, r.first_thumb, r.thumbs, r.poster), (1, 0, b.count, true));
    assert_eq!(r.end_secs, d);
    let empty = plan(0.0, &top(30, 1), 6, 5, 1, &board(0.0), 0.0);
    assert_eq!((empty.ranges.len(), empty.ranges[0].segments), (1, 1));
}

#[test]
fn thumbnails_and_the_poster_go_to_the_range_holding_their_time() {
    let d = 24.0;
    let b = Storyboard::plan(d, 640, 360, 2.0);
    assert_eq!(b.count, 12);
    let p = plan(d, &top(30, 1), 2, 4, 1, &b, 6.0);
    assert_eq!(thumb_frame_before(&b, 3), 7.0);
    // Ranges [0,2) [2,10) [10,18) [18,24); thumbnails every 2 s, each the last frame before
    // 1, 3, 5... s.
    let taps: Vec<(u32, u32)> = p.ranges.iter().map(|r| (r.first_thumb, r.thumbs)).collect();
    assert_eq!(taps, [(0, 1), (1, 4), (5, 4), (9, 3)]);
    let poster: Vec<bool> = p.ranges.iter().map(|r| r.poster).collect();
    assert_eq!(poster, [false, true, false, false], "6 s is in [2, 10)");
    for r in &p.ranges {
        for i in r.first_thumb..r.first_thumb + r.thumbs {
            let t = thumb_frame_before(&b, i);
            assert!(r.start_secs < t && t <= r.end_secs, "thumb {i} at {t} in range {}", r.index);
        }
    }
    let late = plan(d, &top(30, 1), 2, 4, 1, &b, 99.0);
    assert!(late.ranges[3].poster, "a poster past the end is the last range's");
}

#[test]
fn a_range_without_thumbnails_keeps_the_global_order() {
    let d = 20.0;
    let b = Storyboard::plan(d, 640, 360, 10.0);
    assert_eq!(b.count, 2);
    let p = plan(d, &top(30, 1), 2, 1, 1, &b, 5.0);
    assert_eq!(p.ranges.len(), 10);
    contiguous(&p, d);
    assert_eq!(p.ranges.iter().map(|r| r.thumbs).sum::<u32>(), 2);
    // Thumbnails at 0 and 10 s take the last frames before 5 and 15 s.
    assert_eq!((p.ranges[2].first_thumb, p.ranges[2].thumbs), (0, 1));
    assert_eq!((p.ranges[5].first_thumb, p.ranges[5].thumbs), (1, 0));
    assert_eq!((p.ranges[7].first_thumb, p.ranges[7].thumbs), (1, 1));
    assert_eq!((p.ranges[0].first_thumb, p.ranges[0].thumbs), (0, 0));
}
