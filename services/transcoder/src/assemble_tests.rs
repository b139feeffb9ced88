use super::*;
use crate::playlist::parse_media_playlist;
use crate::profile::{FrameRate, VideoCodec};
use crate::range_types::{RangeSpec, SegmentOut};

fn seg(n: u32, token: &str, duration: f64, bytes: u64) -> SegmentOut {
    SegmentOut {
        uri: format!("seg_{n:05}-{token}.m4s"),
        duration,
        bytes,
        iframe: Some((800, bytes / 10)),
    }
}

/// Range `index` of rung `360p`, init fingerprint `fp`, segments numbered from `first`.
fn range(index: u32, fp: &str, first: u32, durations: &[f64]) -> RangeOutput {
    let token = format!("t{index:07}");
    let segments = durations
        .iter()
        .enumerate()
        .map(|(k, d)| seg(first + k as u32, &token, *d, 100_000 * (k as u64 + 1)))
        .collect();
    RangeOutput {
        index,
        token: token.clone(),
        rungs: vec![RungOutput {
            name: "360p".into(),
            init: format!("init-{token}.mp4"),
            init_fingerprint: fp.into(),
            segments,
        }],
        thumbs: vec![],
        poster: None,
        cpu_secs: 1.0,
    }
}

fn profile() -> Profile {
    Profile {
        name: "360p".into(),
        width: 640,
        height: 360,
        fps: FrameRate::new(30000, 1001),
        gop: 60,
        video_bps: 800_000,
        codec: VideoCodec::H264,
    }
}

#[test]
fn contiguous_ranges_stop_at_the_first_one_missing() {
    let mut done = BTreeMap::new();
    assert!(contiguous(&done).is_empty());
    for i in [0, 1, 3] {
        done.insert(i, range(i, "a", 0, &[2.0]));
    }
    let idx: Vec<u32> = contiguous(&done).iter().map(|r| r.index).collect();
    assert_eq!(idx, [0, 1]);
    done.remove(&0);
    assert!(contiguous(&done).is_empty(), "nothing before range 0 is playable");
}

#[test]
fn a_growing_playlist_is_an_event_that_starts_at_the_beginning_and_has_no_endlist() {
    let r0 = range(0, "a", 0, &[2.0]);
    let r1 = range(1, "a", 1, &[2.0, 2.0]);
    let text = media_playlist("360p", &[&r0, &r1], false, 2);
    assert_eq!(
        text,
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n\
         #EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-START:TIME-OFFSET=0\n#EXT-X-INDEPENDENT-SEGMENTS\n\
         #EXT-X-MAP:URI=\"init-t0000000.mp4\"\n\
         #EXTINF:2.000000,\nseg_00000-t0000000.m4s\n\
         #EXTINF:2.000000,\nseg_00001-t0000001.m4s\n\
         #EXTINF:2.000000,\nseg_00002-t0000001.m4s\n"
    );
    let parsed = parse_media_playlist(&text).unwrap();
    assert!(!parsed.ended && parsed.independent_segments);
}

#[test]
fn a_complete_playlist_is_vod_with_endlist_and_one_map_while_inits_play_the_same() {
    let r0 = range(0, "a", 0, &[2.0]);
    let r1 = range(1, "a", 1, &[2.0, 1.5]);
    let text = media_playlist("360p", &[&r0, &r1], true, 2);
    assert!(text.contains("#EXT-X-PLAYLIST-TYPE:VOD\n"));
    assert!(!text.contains("EXT-X-START"), "a VOD playlist starts at 0 anyway");
    assert!(text.ends_with("#EXTINF:1.500000,\nseg_00002-t0000001.m4s\n#EXT-X-ENDLIST\n"));
    assert_eq!(text.matches("#EXT-X-MAP").count(), 1);
    let parsed = parse_media_playlist(&text).unwrap();
    assert!(parsed.ended);
    assert_eq!(parsed.init.as_deref(), Some("init-t0000000.mp4"));
    assert_eq!(parsed.segments.len(), 3);
    assert!((parsed.duration() - 5.5).abs() < 1e-9);
}

#[test]
fn a_range_whose_init_plays_differently_gets_its_own_map_before_its_first_segment() {
    let r0 = range(0, "a", 0, &[2.0]);
    let r1 = range(1, "b", 1, &[2.0]);
    let r2 = range(2, "b", 2, &[2.0]);
    let text = media_playlist("360p", &[&r0, &r1, &r2], true, 2);
    let maps: Vec<&str> = text.lines().filter(|l| l.starts_with("#EXT-X-MAP")).collect();
    assert_eq!(
        maps,
        ["#EXT-X-MAP:URI=\"init-t0000000.mp4\"", "#EXT-X-MAP:URI=\"init-t0000001.mp4\""]
    );
    let second = text.find("init-t0000001").unwrap();
    assert!(second > text.find("seg_00000-t0000000").unwrap());
    assert!(second < text.find("seg_00001-t0000001").unwrap());
}

#[test]
fn the_target_duration_is_the_longest_segment_rounded_up_but_never_under_the_setting() {
    let target = |ds: &[f64], secs| {
        let r = range(0, "a", 0, ds);
        parse_media_playlist(&media_playlist("360p", &[&r], true, secs)).unwrap().target_duration
    };
    assert_eq!(target(&[2.0, 2.0], 6), 6);
    assert_eq!(target(&[6.2, 2.0], 6), 7);
    assert_eq!(target(&[6.000_000_1], 6), 6, "float noise is not a longer segment");
    assert_eq!(target(&[6.001], 2), 7);
    assert_eq!(target(&[0.4], 0), 1);
}

#[test]
fn a_gap_or_a_range_without_the_rung_ends_the_playlist_and_keeps_it_growing() {
    let r0 = range(0, "a", 0, &[2.0]);
    let r2 = range(2, "a", 2, &[2.0]);
    let text = media_playlist("360p", &[&r0, &r2], true, 2);
    assert!(text.contains("EVENT") && !text.contains("ENDLIST"));
    assert_eq!(parse_media_playlist(&text).unwrap().segments.len(), 1);
    let mut r1 = range(1, "a", 1, &[2.0]);
    r1.rungs[0].name = "720p".into();
    let text = media_playlist("360p", &[&r0, &r1], true, 2);
    assert!(!text.contains("ENDLIST"));
    assert_eq!(parse_media_playlist(&text).unwrap().segments.len(), 1);
    assert_eq!(first_init("360p", &[&r0, &r1]), Some("init-t0000000.mp4"));
    assert_eq!(first_init("1080p", &[&r0]), None);
}

#[test]
fn a_one_range_iframe_playlist_is_the_one_a_single_encode_gets() {
    let mut r0 = range(0, "a", 0, &[2.0, 2.0, 2.0, 1.0]);
    r0.rungs[0].segments[2].iframe = None;
    let text = iframe_playlist("360p", &[&r0], true);
    let segs = &r0.rungs[0].segments;
    let frames = [
        IFrame { uri: segs[0].uri.clone(), offset: 800, length: 10_000, duration: 2.0 },
        IFrame { uri: segs[1].uri.clone(), offset: 800, length: 20_000, duration: 4.0 },
        IFrame { uri: segs[3].uri.clone(), offset: 800, length: 40_000, duration: 1.0 },
    ];
    assert_eq!(text, crate::iframes::iframe_playlist("init-t0000000.mp4", &frames));
    assert!(text.contains("#EXT-X-TARGETDURATION:4\n"));
}

#[test]
fn a_growing_iframe_playlist_is_an_event_and_names_a_new_init_where_it_changes() {
    let r0 = range(0, "a", 0, &[2.0]);
    let r1 = range(1, "b", 1, &[2.0, 2.0]);
    let text = iframe_playlist("360p", &[&r0, &r1], false);
    assert!(text.contains("#EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-INDEPENDENT-SEGMENTS\n"));
    assert!(text.contains("#EXT-X-I-FRAMES-ONLY\n") && !text.contains("ENDLIST"));
    assert_eq!(text.matches("#EXT-X-MAP").count(), 2);
    assert_eq!(text.matches("#EXT-X-BYTERANGE:").count(), 3);
    assert!(text.contains("#EXT-X-BYTERANGE:20000@800\nseg_00002-t0000001.m4s\n"));
}

#[test]
fn the_variant_is_measured_from_the_segments_of_every_range_so_far() {
    let mut r0 = range(0, "a", 0, &[2.0]);
    r0.rungs[0].segments[0].bytes = 250_000;
    let mut r1 = range(1, "a", 1, &[2.0, 2.0]);
    r1.rungs[0].segments[0].bytes = 500_000;
    r1.rungs[0].segments[1].bytes = 250_000;
    let v = variant(&profile(), &[&r0, &r1], "avc1.64001e", 2);
    // Windows of 1..3 s are single segments: the densest is 500 kB in 2 s.
    assert_eq!(v.bandwidth, 2_000_000);
    assert_eq!(v.average_bandwidth, 1_333_334, "1 MB in 6 s, rounded up");
    assert_eq!(v.uri, "360p/playlist.m3u8");
    assert_eq!((v.width, v.height, v.codecs.as_str()), (640, 360, "avc1.64001e"));
    assert!((v.frame_rate - 29.97).abs() < 0.001);
    let i = iframe_variant(&profile(), &[&r0, &r1], "avc1.64001e,mp4a.40.2");
    assert_eq!(i.uri, "360p/iframes.m3u8");
    assert_eq!(i.codecs, "avc1.64001e");
    // I-frames of 10, 10 and 20 kB, each lasting 2 s: the densest is 20 kB in 2 s.
    assert_eq!(i.bandwidth, 80_000);
    assert_eq!((i.width, i.height), (640, 360));
}

#[test]
fn the_growing_master_lists_the_iframe_playlists_after_the_variants() {
    let r0 = range(0, "a", 0, &[2.0]);
    let mut v = variant(&profile(), &[&r0], "avc1.64001e", 2);
    v.uri = format!("v/1/{}", v.uri);
    let mut i = iframe_variant(&profile(), &[&r0], "avc1.64001e");
    i.uri = format!("v/1/{}", i.uri);
    let text = growing_master(std::slice::from_ref(&v), &[], std::slice::from_ref(&i));
    let expected = format!("{}{}", render_master(&[v], &[]), iframe_stream_inf(&i));
    assert_eq!(text, expected);
    assert!(text.ends_with("URI=\"v/1/360p/iframes.m3u8\"\n"));
}

fn spec(index: u32, start_secs: f64, end_secs: f64) -> RangeSpec {
    RangeSpec {
        index,
        start_secs,
        end_secs,
        first_segment: 0,
        segments: 1,
        first_thumb: 0,
        thumbs: 0,
        poster: false,
        last: false,
    }
}

#[test]
fn progress_is_the_share_of_the_duration_whose_ranges_are_done() {
    let plan = ChunkPlan {
        ranges: vec![spec(0, 0.0, 2.0), spec(1, 2.0, 12.0), spec(2, 12.0, 22.0)],
        segment_secs: 2.0,
    };
    let mut done = BTreeMap::new();
    assert_eq!(done_fraction(&plan, &done), 0.0);
    done.insert(0, range(0, "a", 0, &[2.0]));
    done.insert(2, range(2, "a", 6, &[2.0]));
    assert!((done_fraction(&plan, &done) - 12.0 / 22.0).abs() < 1e-12);
    done.insert(1, range(1, "a", 1, &[2.0]));
    done.insert(7, range(7, "a", 9, &[2.0]));
    assert_eq!(done_fraction(&plan, &done), 1.0, "a stray result adds nothing");
    let empty = ChunkPlan { ranges: vec![spec(0, 0.0, 0.0), spec(1, 0.0, 0.0)], ..plan };
    let one: BTreeMap<u32, RangeOutput> = [(0, range(0, "a", 0, &[0.1]))].into();
    assert_eq!(done_fraction(&empty, &one), 0.5, "no duration: ranges count one each");
}
