use super::*;
use crate::level::MAX_H264;
use crate::rate::level_of;

fn src(width: u32, height: u32, fps: f64) -> LadderSource {
    LadderSource { width, height, fps, nominal_fps: None }
}

fn sizes(p: &[Profile]) -> Vec<(String, u32, u32)> {
    p.iter().map(|p| (p.name.clone(), p.width, p.height)).collect()
}

fn names(p: &[Profile]) -> Vec<&str> {
    p.iter().map(|p| p.name.as_str()).collect()
}

fn fps(p: &[Profile]) -> Vec<String> {
    p.iter().map(|p| p.fps.to_string()).collect()
}

#[test]
fn a_720p_source_gets_270p_to_720p_and_never_upscales() {
    let p = select_profiles(&src(1280, 720, 30.0));
    assert_eq!(
        sizes(&p),
        [
            ("270p".into(), 480, 270),
            ("360p".into(), 640, 360),
            ("480p".into(), 854, 480),
            ("720p".into(), 1280, 720)
        ]
    );
    assert_eq!((p[0].video_bps, p[0].gop), (400_000, 60));
    let p = select_profiles(&src(3840, 2160, 30.0));
    assert_eq!(names(&p), ["270p", "360p", "480p", "720p", "1080p", "2160p"]);
    assert_eq!((p[4].width, p[4].height, p[5].width, p[5].height), (1920, 1080, 3840, 2160));
}

#[test]
fn the_2160p_rung_is_hevc_and_every_h264_rung_is_within_high_4_2() {
    let p = select_profiles(&src(3840, 2160, 60.0));
    let codecs: Vec<VideoCodec> = p.iter().map(|p| p.codec).collect();
    assert_eq!(codecs[..5], [VideoCodec::H264; 5]);
    assert_eq!(codecs[5], VideoCodec::Hevc);
    for (w, h, f) in [(3840, 2160, 60.0), (1080, 1920, 60.0), (4096, 2160, 60.0), (1920, 800, 50.0)]
    {
        for p in select_profiles(&src(w, h, f)).iter().filter(|p| p.codec == VideoCodec::H264) {
            let level = level_of(p).unwrap_or_else(|| panic!("{p:?} has no level"));
            assert!(level.idc <= MAX_H264, "{w}x{h}@{f}: {} is level {}", p.name, level.name());
        }
    }
}

#[test]
fn a_wide_film_gets_a_full_width_top_rung_and_a_slight_crop_keeps_1080p() {
    let p = select_profiles(&src(1920, 800, 24.0));
    assert_eq!(p.last().unwrap().clone().name, "1080p");
    assert_eq!(
        sizes(&p)[2..],
        [("480p".into(), 854, 356), ("720p".into(), 1280, 534), ("1080p".into(), 1920, 800)]
    );
    let p = select_profiles(&src(1920, 1078, 30.0));
    assert_eq!(sizes(&p).last().unwrap(), &("1080p".into(), 1920, 1078));
    // Within the 3% tolerance on both sides, still 1080p, at its own size.
    let p = select_profiles(&src(1870, 1050, 30.0));
    assert_eq!(sizes(&p).last().unwrap(), &("1080p".into(), 1870, 1050));
    // 21:9 ultrawide 2560x1080: fitted by width into the 1080p box, no 2160p.
    let p = select_profiles(&src(2560, 1080, 30.0));
    assert_eq!(sizes(&p).last().unwrap(), &("1080p".into(), 1920, 810));
    // 4:3 fits by height.
    let p = select_profiles(&src(1440, 1080, 25.0));
    assert_eq!(sizes(&p)[3..], [("720p".into(), 960, 720), ("1080p".into(), 1440, 1080)]);
}

#[test]
fn a_rotated_phone_video_gets_portrait_renditions() {
    // Displayed 720x1280 (the display size has rotation applied).
    let p = select_profiles(&src(720, 1280, 30.0));
    assert_eq!(
        sizes(&p),
        [
            ("270p".into(), 270, 480),
            ("360p".into(), 360, 640),
            ("480p".into(), 480, 854),
            ("720p".into(), 720, 1280)
        ]
    );
}

#[test]
fn odd_sizes_give_even_dimensions_that_never_exceed_the_source() {
    for (w, h) in [(1281, 721), (1279, 719), (999, 561), (1921, 1079), (483, 271)] {
        let p = select_profiles(&src(w, h, 25.0));
        assert!(p.iter().all(|p| p.width % 2 == 0 && p.height % 2 == 0), "{w}x{h}: {p:?}");
        assert!(p.iter().all(|p| p.width <= w && p.height <= h), "{w}x{h}: {p:?}");
        let mut areas: Vec<u32> = p.iter().map(|p| p.width * p.height).collect();
        areas.dedup();
        assert_eq!(areas.len(), p.len(), "no two rungs of one size: {p:?}");
    }
    assert_eq!(select_profiles(&src(1281, 721, 25.0)).last().unwrap().height, 720);
    // 1280x719 is within the tolerance of 720p.
    assert_eq!(sizes(&select_profiles(&src(1280, 719, 25.0)))[3], ("720p".into(), 1280, 718));
    // 1000x562 does not reach the 720p box: its top rung is 480p.
    assert_eq!(names(&select_profiles(&src(1000, 562, 25.0))).last(), Some(&"480p"));
}

#[test]
fn a_source_smaller_than_270p_gets_one_rendition_at_its_own_even_size() {
    let p = select_profiles(&src(321, 241, 15.0));
    assert_eq!(sizes(&p), [("240p".into(), 320, 240)]);
    assert!(p[0].video_bps < 400_000 && p[0].video_bps >= 150_000);
    assert_eq!((p[0].fps, p[0].gop), (FrameRate::new(15, 1), 30));
    assert_eq!(sizes(&select_profiles(&src(240, 320, 30.0))), [("240p".into(), 240, 320)]);
    assert_eq!(sizes(&select_profiles(&src(640, 360, 30.0)))[0], ("270p".into(), 480, 270));
}

#[test]
fn no_video_means_no_renditions() {
    assert!(select_profiles(&src(0, 0, 0.0)).is_empty());
}

#[test]
fn frame_rates_are_capped_per_rung_by_a_divisor_and_gops_stay_two_seconds() {
    let p = select_profiles(&src(1920, 1080, 59.94));
    assert_eq!(
        fps(&p),
        ["30000/1001", "30000/1001", "30000/1001", "60000/1001", "60000/1001"],
        "720p keeps 60 fps"
    );
    let gops: Vec<u32> = p.iter().map(|p| p.gop).collect();
    assert_eq!(gops, [60, 60, 60, 120, 120]);
    // Keyframe instants agree: gop / fps is the same for every rendition.
    let secs: Vec<f64> = p.iter().map(|p| f64::from(p.gop) / p.fps.as_f64()).collect();
    assert!(secs.iter().all(|s| (s - secs[0]).abs() < 1e-9), "{secs:?}");
    assert!(p[3].video_bps > 3_000_000, "720p60 gets the high-frame-rate rate");

    let p = select_profiles(&src(1920, 1080, 50.0));
    assert_eq!((p[0].fps, p[4].fps), (FrameRate::new(25, 1), FrameRate::new(50, 1)));
    let p = select_profiles(&src(1280, 720, 24.0));
    assert!(p.iter().all(|p| p.fps == FrameRate::new(24, 1) && p.gop == 48));
}

#[test]
fn vfr_averages_snap_to_the_natural_rate_and_30_fps_is_never_halved() {
    // A phone's 30.02 fps VFR average: 30 fps everywhere (was 15 fps at 360p-720p).
    let p = select_profiles(&src(1920, 1080, 30.02));
    assert!(p.iter().all(|p| p.fps == FrameRate::new(30, 1) && p.gop == 60), "{:?}", fps(&p));
    // 60.05 fps: 60 at 720p and 1080p, 30 below (was 20 fps).
    let p = select_profiles(&src(1920, 1080, 60.05));
    assert_eq!(fps(&p), ["30/1", "30/1", "30/1", "60/1", "60/1"]);
    assert_eq!(p.iter().map(|p| p.gop).collect::<Vec<_>>(), [60, 60, 60, 120, 120]);
    // An interlaced 1080i25 source reaches the ladder as 50 fields per second.
    let p = select_profiles(&src(1920, 1080, 50.0));
    assert_eq!(p.last().unwrap().fps, FrameRate::new(50, 1));
    // A VFR average far below its natural nominal rate takes the nominal rate.
    let vfr = LadderSource { nominal_fps: Some(30.0), ..src(1280, 720, 26.4) };
    assert!(select_profiles(&vfr).iter().all(|p| p.fps == FrameRate::new(30, 1)));
}

#[test]
fn fitting_keeps_the_aspect_and_never_upscales() {
    assert_eq!(fit(1920, 1080, (1280, 720)), (1280, 720));
    assert_eq!(fit(1920, 800, (1280, 720)), (1280, 534));
    assert_eq!(fit(640, 360, (1280, 720)), (640, 360));
    assert_eq!(fit(1, 1, (1280, 720)), (2, 2));
    assert!(reaches(1920, 800, (1920, 1080)) && !reaches(1800, 800, (1920, 1080)));
    assert!(reaches(1440, 1080, (1920, 1080)));
}

fn stream(width: u32, height: u32, sar: (u32, u32), rotation: i32, fps: f64) -> VideoStream {
    VideoStream {
        index: 0,
        codec: "h264".into(),
        profile: None,
        pix_fmt: Some("yuv420p".into()),
        bit_depth: 8,
        colour: framelog_core::probe::Colour::default(),
        field_order: framelog_core::probe::FieldOrder::Progressive,
        sar,
        width,
        height,
        rotation,
        avg_fps: fps,
        r_fps: Some(fps),
        ends_early_secs: 0.0,
    }
}

#[test]
fn the_ladder_reads_the_display_size_and_the_field_rate_of_the_video_stream() {
    use framelog_core::probe::FieldOrder;
    // HDV: 1440x1080 coded with 4:3 pixels is shown 1920x1080.
    let hdv = LadderSource::from_video(&stream(1440, 1080, (4, 3), 0, 25.0));
    assert_eq!((hdv.width, hdv.height), (1920, 1080));
    assert_eq!(sizes(&select_profiles(&hdv)).last().unwrap(), &("1080p".into(), 1920, 1080));
    // A phone's portrait video: coded 1920x1080, a quarter turn.
    let phone = LadderSource::from_video(&stream(1920, 1080, (1, 1), 90, 30.02));
    let p = select_profiles(&phone);
    assert_eq!(sizes(&p).last().unwrap(), &("1080p".into(), 1080, 1920));
    assert!(p.iter().all(|p| p.fps == FrameRate::new(30, 1)));
    // 1080i25 broadcast: deinterlaced to 50 fps (the top rungs keep it, the rest get 25).
    let mut tv = stream(1920, 1080, (1, 1), 0, 25.0);
    tv.field_order = FieldOrder::TopFirst;
    let p = select_profiles(&LadderSource::from_video(&tv));
    assert_eq!(fps(&p), ["25/1", "25/1", "25/1", "50/1", "50/1"]);
    tv.avg_fps = 30000.0 / 1001.0;
    let p = select_profiles(&LadderSource::from_video(&tv));
    assert_eq!(p.last().unwrap().fps, FrameRate::new(60000, 1001), "1080i59.94 becomes 59.94p");
}
