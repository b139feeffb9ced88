use super::*;
use framelog_core::probe::FieldOrder;

fn stream(width: u32, height: u32) -> VideoStream {
    VideoStream {
        index: 0,
        codec: "h264".into(),
        profile: None,
        pix_fmt: Some("yuv420p".into()),
        bit_depth: 8,
        colour: Colour::default(),
        field_order: FieldOrder::Progressive,
        sar: (1, 1),
        width,
        height,
        rotation: 0,
        avg_fps: 30.0,
        r_fps: Some(30.0),
        ends_early_secs: 0.0,
    }
}

fn colour(primaries: &str, transfer: &str, matrix: &str) -> Colour {
    Colour {
        primaries: Some(primaries.into()),
        transfer: Some(transfer.into()),
        matrix: Some(matrix.into()),
        range: Some("tv".into()),
    }
}

#[test]
fn a_progressive_bt709_source_needs_nothing_before_the_cascade() {
    let mut v = stream(1920, 1080);
    assert!(pre_filters(&v).is_empty());
    assert_eq!(pre_chain(Some(&v)), "");
    v.colour = colour("bt709", "bt709", "bt709");
    assert!(pre_filters(&v).is_empty());
    assert_eq!(pre_chain(None), "");
}

#[test]
fn an_hlg_source_is_tone_mapped_once_from_what_ffprobe_said() {
    let mut v = stream(3840, 2160);
    v.colour = colour("bt2020", "arib-std-b67", "bt2020nc");
    assert_eq!(
        pre_chain(Some(&v)),
        "zscale=tin=arib-std-b67:pin=2020:min=2020_ncl:rin=limited:t=linear:npl=100:p=709,\
         format=gbrpf32le,tonemap=tonemap=mobius:desat=0,zscale=t=709:m=709:r=limited,\
         format=yuv420p,"
    );
}

#[test]
fn a_pq_source_with_incomplete_tags_is_read_as_bt2020() {
    let mut v = stream(1920, 1080);
    v.colour = Colour { transfer: Some("smpte2084".into()), ..Colour::default() };
    let chain = pre_filters(&v);
    assert_eq!(chain.len(), 5);
    assert!(chain[0].starts_with("zscale=tin=smpte2084:pin=2020:min=2020_ncl:rin=limited:"));
    // A tag no table knows is never written into the graph.
    v.colour.primaries = Some("x:y=z".into());
    v.colour.matrix = Some("[evil]".into());
    v.colour.range = Some("pc".into());
    let first = &pre_filters(&v)[0];
    assert!(first.starts_with("zscale=tin=smpte2084:pin=2020:min=2020_ncl:rin=full:"), "{first}");
}

#[test]
fn an_interlaced_source_is_deinterlaced_at_field_rate_before_the_tone_map() {
    let mut v = stream(1920, 1080);
    v.field_order = FieldOrder::TopFirst;
    assert_eq!(pre_filters(&v), ["bwdif=mode=send_field:parity=auto:deint=all"]);
    v.field_order = FieldOrder::BottomFirst;
    v.colour = colour("bt2020", "arib-std-b67", "bt2020nc");
    let chain = pre_filters(&v);
    assert_eq!(chain[0], DEINTERLACE);
    assert!(chain[1].starts_with("zscale=tin=arib-std-b67"));
    v.field_order = FieldOrder::Unknown;
    assert!(!pre_filters(&v).iter().any(|f| f.starts_with("bwdif")));
}

#[test]
fn an_sd_bt601_source_gets_the_bt709_matrix_its_tags_will_say() {
    let mut v = stream(720, 576);
    // Untagged SD is BT.601, as players take it.
    assert_eq!(pre_filters(&v), ["scale=in_color_matrix=bt601:out_color_matrix=bt709"]);
    v.colour = colour("smpte170m", "smpte170m", "smpte170m");
    v.width = 720;
    v.height = 480;
    assert_eq!(pre_filters(&v), ["scale=in_color_matrix=bt601:out_color_matrix=bt709"]);
    // Untagged HD is BT.709; a tagged BT.601 HD source is still converted.
    let mut hd = stream(1280, 720);
    assert!(pre_filters(&hd).is_empty());
    hd.colour.matrix = Some("bt470bg".into());
    assert_eq!(pre_filters(&hd), ["scale=in_color_matrix=bt601:out_color_matrix=bt709"]);
}

#[test]
fn a_full_range_source_is_brought_to_limited_range() {
    let mut v = stream(1920, 1080);
    v.colour.range = Some("pc".into());
    assert_eq!(pre_filters(&v), ["scale=in_range=full:out_range=limited"]);
    let mut j = stream(640, 480);
    j.pix_fmt = Some("yuvj420p".into());
    assert_eq!(
        pre_filters(&j),
        ["scale=in_color_matrix=bt601:out_color_matrix=bt709:in_range=full:out_range=limited"]
    );
}

#[test]
fn every_scale_step_makes_square_pixels_and_every_output_says_bt709() {
    assert_eq!(scale_step(1920, 1080), "scale=1920:1080,setsar=1");
    let args = OUTPUT_COLOUR_ARGS.join(" ");
    assert_eq!(args, "-color_primaries bt709 -color_trc bt709 -colorspace bt709 -color_range tv");
}

#[test]
fn the_pre_filters_run_once_before_the_poster_and_sprite_taps_and_on_the_first_frame_poster() {
    use crate::command::{Stage, Thumbnails, filter_graph, poster_args};
    use crate::encoder::Encoder;
    use crate::profile::select_profiles;
    use crate::storyboard::Storyboard;
    use std::path::Path;

    let source =
        crate::ladder::LadderSource { width: 1280, height: 720, fps: 50.0, nominal_fps: None };
    let profiles = select_profiles(&source);
    let mut v = stream(1280, 720);
    v.field_order = FieldOrder::TopFirst;
    v.colour = colour("bt2020", "smpte2084", "bt2020nc");
    let t = Thumbnails {
        board: Storyboard::plan(4.0, 640, 360, 0.04),
        poster_at_secs: 1.0,
        poster_size: (1280, 720),
        sprites_dir: "/o".into(),
        poster: "/o/poster.jpg".into(),
    };
    let enc = Encoder::libx264("veryfast");
    let stage = Stage {
        input: &crate::source::Source::File("/in.ts".into()),
        profiles: &profiles[..1],
        out_dir: Path::new("/o"),
        encoder: &enc,
        audio: None,
        segment_secs: 6,
        thumbnails: Some(&t),
        video: Some(&v),
    };
    let graph = filter_graph(&stage);
    let pre = pre_filters(&v).join(",");
    assert!(graph.starts_with(&format!("[0:v]{pre},split=2[src][pst];")), "{graph}");
    assert_eq!(graph.matches("tonemap=tonemap=").count(), 1, "{graph}");
    assert_eq!(graph.matches("bwdif=").count(), 1, "{graph}");
    let poster = poster_args(
        &crate::source::Source::File("/in.ts".into()),
        Some(&v),
        (1280, 720),
        Path::new("/o/p.jpg"),
    );
    let vf = &poster[poster.iter().position(|a| a == "-vf").unwrap() + 1];
    assert_eq!(vf, &format!("{pre},scale=1280:720,setsar=1"));
}

#[test]
fn a_video_track_that_stops_before_its_audio_is_held_on_its_last_picture() {
    let mut v = stream(1280, 720);
    v.ends_early_secs = 0.05;
    assert!(pre_filters(&v).is_empty(), "a frame's worth of difference is not padded");
    v.ends_early_secs = 27.0;
    v.field_order = FieldOrder::TopFirst;
    assert_eq!(
        pre_filters(&v),
        ["tpad=stop_mode=clone:stop_duration=27.000", DEINTERLACE],
        "held first, then deinterlaced like every other frame"
    );
}
