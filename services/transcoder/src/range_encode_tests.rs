use std::path::Path;

use super::*;
use crate::chunks::plan;
use crate::ladder::{LadderSource, select_profiles};

fn ladder(fps: f64) -> Vec<Profile> {
    select_profiles(&LadderSource { width: 1280, height: 720, fps, nominal_fps: None })
}

static SOURCE: std::sync::LazyLock<crate::source::Source> =
    std::sync::LazyLock::new(|| crate::source::Source::File("/s/source".into()));

fn job<'a>(
    profiles: &'a [Profile],
    enc: &'a Encoder,
    range: &'a RangeSpec,
    board: &'a Storyboard,
) -> RangeJob<'a> {
    RangeJob {
        input: &SOURCE,
        profiles,
        encoder: enc,
        video: None,
        range,
        segment_secs: 6,
        board: Some(board),
        poster_size: (1280, 720),
        poster_at_secs: 15.0,
        out: Path::new("/o"),
        token: "0a1b2c3d",
    }
}

fn after<'a>(args: &'a [String], flag: &str) -> Vec<&'a str> {
    args.windows(2).filter(|w| w[0] == flag).map(|w| w[1].as_str()).collect()
}

#[test]
fn a_middle_range_seeks_its_input_reads_only_its_length_and_numbers_segments_globally() {
    let profiles = ladder(30000.0 / 1001.0);
    let enc = Encoder::libx264("veryfast");
    let board = Storyboard::plan(60.0, 640, 360, 2.0);
    let p = plan(60.0, &profiles[0], 6, 2, 1, &board, 15.0);
    let r = &p.ranges[1];
    assert_eq!((r.first_segment, r.segments, r.first_thumb, r.thumbs), (1, 2, 3, 6));
    let args = range_args(&job(&profiles, &enc, r, &board));
    let i = args.iter().position(|a| a == "-i").unwrap();
    assert_eq!(args[i - 8..i - 4], ["-ss", "5.989316", "-t", "12.012000"]);
    assert_eq!(args[i + 1], "file:/s/source");
    assert!(args.contains(&"-an".to_owned()));
    assert_eq!(after(&args, "-start_number"), ["1", "3"], "segments, then thumbnails");
    assert_eq!(after(&args, "-hls_time"), ["5.989316"], "6.006 s less half a frame");
    let joined = args.join(" ");
    assert!(joined.contains("-g:v:0 60 -keyint_min:v:0 60"), "the ladder's GOP: {joined}");
    assert!(joined.contains("-sc_threshold 0"));
    assert!(joined.contains("-var_stream_map v:0,name:720p v:1,name:480p"), "{joined}");
    assert!(
        joined
            .contains("-map [thumbnails] -fps_mode passthrough -frames:v 6 -start_number 3 -q:v 4")
    );
    assert!(joined.ends_with(
        "/o/thumbs/thumb_%05d.jpg -map [poster] -frames:v 1 -update 1 -q:v 3 /o/poster.jpg"
    ));
    assert!(r.poster, "15 s is in [6.006, 18.018)");
}

#[test]
fn the_graph_is_the_ladder_cascade_with_the_taps_on_the_source_clock() {
    let profiles = ladder(30.0);
    let enc = Encoder::libx264("veryfast");
    let board = Storyboard::plan(24.0, 640, 360, 2.0);
    let p = plan(24.0, &profiles[0], 2, 4, 1, &board, 6.0);
    let mut j = job(&profiles, &enc, &p.ranges[1], &board);
    j.poster_at_secs = 6.0;
    j.segment_secs = 2;
    let g = filter_graph(&j);
    let want = [
        "[0:v]setpts=PTS-0.016666/TB,split=2[src][pst]",
        "[pst]select='isnan(prev_selected_t)*gte(t,4.000000)',scale=1280:720,setsar=1[poster]",
        "[src]fps=30/1:start_time=0,tpad=stop_mode=clone:stop=240,trim=end_frame=240,scale=1280:720,setsar=1,split=2[r0][n1]",
        "[r0]format=yuv420p[v0]",
    ];
    assert_eq!(g.split(';').take(4).collect::<Vec<_>>(), want, "{g}");
    assert!(g.contains(",split=2[r3][thumbs];"), "thumbnails from the lowest rung: {g}");
    assert!(
        g.ends_with(
            "[thumbs]setpts=PTS+round(2.000000/TB),\
             select='gt(floor((t+1/30+0.000001)*(1/2)-0.5),floor((t+0.000001)*(1/2)-0.5))',\
             scale=160:90[thumbnails]"
        ),
        "{g}"
    );
}

#[test]
fn the_last_range_runs_to_the_end_and_only_it_holds_an_early_ending_video_track() {
    let profiles = ladder(30.0);
    let enc = Encoder::libx264("veryfast");
    let board = Storyboard::plan(20.0, 640, 360, 2.0);
    let p = plan(20.0, &profiles[0], 6, 5, 1, &board, 5.0);
    let video = framelog_core::probe::VideoStream {
        index: 0,
        codec: "h264".into(),
        profile: None,
        pix_fmt: Some("yuv420p".into()),
        bit_depth: 8,
        colour: Default::default(),
        field_order: framelog_core::probe::FieldOrder::Progressive,
        sar: (1, 1),
        width: 1280,
        height: 720,
        rotation: 0,
        avg_fps: 30.0,
        r_fps: Some(30.0),
        ends_early_secs: 2.0,
    };
    let (first, last) = (&p.ranges[0], p.ranges.last().unwrap());
    assert!(last.last && !first.last);
    let mut j = job(&profiles, &enc, last, &board);
    j.video = Some(&video);
    let args = range_args(&j);
    assert!(!args.contains(&"-t".to_owned()), "to the end of the source");
    assert!(!filter_graph(&j).contains("trim="), "every frame to the end");
    assert!(!filter_graph(&j).contains("stop=180"), "and no more");
    assert!(
        filter_graph(&j)
            .contains("[0:v]setpts=PTS-0.016666/TB,tpad=stop_mode=clone:stop_duration=2.000,")
    );
    j.range = first;
    assert!(!filter_graph(&j).contains("stop_duration=2.000,"), "range 0 is not padded");
    assert!(range_args(&j).contains(&"-t".to_owned()));
    assert!(!filter_graph(&j).contains("setpts=PTS-"), "range 0 reads from 0, unshifted");
    assert!(
        filter_graph(&j).contains(",tpad=stop_mode=clone:stop=180,trim=end_frame=180,"),
        "its 180 frames and no more"
    );
}

#[test]
fn a_range_without_thumbnails_or_poster_has_no_taps() {
    let profiles = ladder(25.0);
    let enc = Encoder::libx264("veryfast");
    let board = Storyboard::plan(40.0, 640, 360, 20.0);
    let p = plan(40.0, &profiles[0], 2, 1, 1, &board, 10.0);
    let r = &p.ranges[2];
    assert_eq!((r.thumbs, r.poster), (0, false));
    let j = job(&profiles, &enc, r, &board);
    let g = filter_graph(&j);
    assert!(!g.contains("[thumbs]") && !g.contains("[poster]"), "{g}");
    let args = range_args(&j);
    assert_eq!(args.iter().filter(|a| *a == "-map").count(), profiles.len());
    assert_eq!(crate::range_encode::args::secs(2.0000004), "2.000000");
    assert_eq!(crate::range_encode::args::secs(-1.0), "0.000000");
}
