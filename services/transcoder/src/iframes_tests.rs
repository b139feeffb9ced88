use super::*;

fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
    v.extend_from_slice(kind);
    v.extend_from_slice(body);
    v
}

fn words(ws: &[u32]) -> Vec<u8> {
    ws.iter().flat_map(|w| w.to_be_bytes()).collect()
}

/// An init segment: timescale 12800 and trex defaults (duration 512, flags non-sync).
fn init() -> Vec<u8> {
    let mdhd = bx(b"mdhd", &words(&[0, 0, 0, 12_800, 0, 0]));
    let trak = bx(b"trak", &bx(b"mdia", &mdhd));
    let trex = bx(b"trex", &words(&[0, 1, 1, 512, 0, NON_SYNC]));
    let mut moov = trak;
    moov.extend(bx(b"mvex", &trex));
    let mut out = bx(b"ftyp", b"iso5\0\0\x02\0");
    out.extend(bx(b"moov", &moov));
    out
}

/// A fragment as ffmpeg writes it: tfhd (default-base-is-moof, default flags non-sync), a trun
/// with a data offset, first-sample flags and per-sample durations and sizes.
fn fragment(sizes: &[u32], first_sync: bool) -> Vec<u8> {
    let tfhd = bx(b"tfhd", &words(&[0x02_0020, 1, NON_SYNC]));
    let mut trun_body =
        words(&[0x000_305, sizes.len() as u32, 0, if first_sync { 0 } else { NON_SYNC }]);
    for s in sizes {
        trun_body.extend(words(&[512, *s]));
    }
    let trun_len = 8 + trun_body.len();
    let mfhd = bx(b"mfhd", &words(&[0, 1]));
    let traf_len = 8 + tfhd.len() + trun_len;
    let moof_len = 8 + mfhd.len() + traf_len;
    // data offset: from the moof start to the first byte of mdat's payload
    let data_offset = (moof_len + 8) as u32;
    trun_body[8..12].copy_from_slice(&data_offset.to_be_bytes());
    let mut traf = tfhd;
    traf.extend(bx(b"trun", &trun_body));
    let mut moof = mfhd;
    moof.extend(bx(b"traf", &traf));
    let mut out = bx(b"moof", &moof);
    let payload: Vec<u8> = sizes.iter().flat_map(|s| vec![0xAB; *s as usize]).collect();
    out.extend(bx(b"mdat", &payload));
    out
}

fn segment(frags: &[Vec<u8>]) -> Vec<u8> {
    let mut out = bx(b"styp", b"msdh\0\0\0\0");
    out.extend(bx(b"sidx", &[0; 24]));
    for f in frags {
        out.extend_from_slice(f);
    }
    out
}

#[test]
fn the_init_segment_gives_the_timescale_and_the_trex_defaults() {
    let d = parse_init(&init()).unwrap();
    assert_eq!(
        d,
        TrackDefaults {
            timescale: 12_800,
            sample_duration: 512,
            sample_size: 0,
            sample_flags: NON_SYNC
        }
    );
    assert_eq!(parse_init(&bx(b"ftyp", b"iso5")), Err(BoxError::Missing("moov")));
}

#[test]
fn samples_are_found_with_their_absolute_offsets_and_only_the_first_is_sync() {
    let d = parse_init(&init()).unwrap();
    let seg = segment(&[fragment(&[1000, 200, 300], true)]);
    let frags = parse_fragments(&seg, &d).unwrap();
    assert_eq!(frags.len(), 1);
    let f = &frags[0];
    let moof = 16 + 32;
    assert_eq!(f.moof_offset, moof);
    assert_eq!(f.samples.len(), 3);
    assert!(f.samples[0].sync && !f.samples[1].sync && !f.samples[2].sync);
    // The first sample's payload is right after the mdat header.
    let mdat = seg.windows(4).position(|w| w == b"mdat").unwrap() as u64 + 4;
    assert_eq!(f.samples[0].offset, mdat);
    assert_eq!(seg[mdat as usize], 0xAB);
    assert_eq!(f.samples[1].offset, mdat + 1000);
    assert_eq!(f.samples[2], Sample { offset: mdat + 1200, size: 300, duration: 512, sync: false });
    assert_eq!(f.samples[2].offset + 300, seg.len() as u64, "the last sample ends the segment");
}

#[test]
fn an_entry_covers_moof_mdat_header_and_key_frame_and_lasts_to_the_next_entry() {
    let d = parse_init(&init()).unwrap();
    // Segment 0: two fragments, both starting with a key frame; segment 1: a key fragment then
    // one that does not start with one (its time belongs to the previous entry).
    let s0 = segment(&[fragment(&[1000, 10, 10], true), fragment(&[900, 10], true)]);
    let s1 = segment(&[fragment(&[800, 10, 10, 10], true), fragment(&[50, 50], false)]);
    let mut all = Vec::new();
    for (uri, seg) in [("seg_0.m4s", &s0), ("seg_1.m4s", &s1)] {
        for f in parse_fragments(seg, &d).unwrap() {
            all.push((uri.to_owned(), f));
        }
    }
    let frames = iframes(&all, d.timescale);
    assert_eq!(frames.len(), 3);
    let f0 = &all[0].1;
    assert_eq!(frames[0].offset, f0.moof_offset);
    assert_eq!(frames[0].length, f0.samples[0].offset + 1000 - f0.moof_offset);
    assert_eq!(frames[1].uri, "seg_0.m4s");
    assert_eq!(frames[1].offset, all[1].1.moof_offset);
    assert_eq!(frames[2].uri, "seg_1.m4s");
    let secs = |n: u32| f64::from(n * 512) / 12_800.0;
    assert!((frames[0].duration - secs(3)).abs() < 1e-9);
    assert!((frames[1].duration - secs(2)).abs() < 1e-9);
    assert!((frames[2].duration - secs(6)).abs() < 1e-9, "runs over the non-key fragment");

    let text = iframe_playlist("init.mp4", &frames);
    assert!(text.contains("#EXT-X-I-FRAMES-ONLY\n#EXT-X-MAP:URI=\"init.mp4\"\n"));
    assert!(text.contains(&format!(
        "#EXTINF:0.120000,\n#EXT-X-BYTERANGE:{}@{}\nseg_0.m4s\n",
        frames[0].length, frames[0].offset
    )));
    assert!(text.ends_with("#EXT-X-ENDLIST\n"));
    assert_eq!(text.matches("#EXT-X-BYTERANGE:").count(), 3);
    // The densest I-frame per second: 800 B (plus boxes) over 0.24 s, or 1000 B over 0.12 s.
    let peak = frames.iter().map(|f| f.length as f64 * 8.0 / f.duration).fold(0.0, f64::max);
    assert_eq!(iframe_bandwidth(&frames), peak.ceil() as u64);
}

#[test]
fn truncated_or_empty_boxes_are_errors_not_panics() {
    let d = parse_init(&init()).unwrap();
    let seg = segment(&[fragment(&[1000, 10], true)]);
    for cut in [seg.len() - 1, 60, 70, 100] {
        assert!(parse_fragments(&seg[..cut], &d).is_err(), "cut at {cut}");
    }
    let empty_moof = bx(b"moof", &bx(b"mfhd", &words(&[0, 1])));
    assert_eq!(parse_fragments(&empty_moof, &d), Err(BoxError::Empty(0)));
    let mut huge = 0xffff_fff0u32.to_be_bytes().to_vec();
    huge.extend_from_slice(b"moof");
    assert!(matches!(parse_fragments(&huge, &d), Err(BoxError::Truncated(..))));
    assert_eq!(parse_fragments(b"", &d), Ok(vec![]));
}

#[test]
fn the_master_line_names_the_iframe_playlist_with_its_attributes() {
    let v = IFrameVariant {
        uri: "v/1/360p/iframes.m3u8".into(),
        bandwidth: 123_456,
        width: 640,
        height: 360,
        codecs: "avc1.64001e".into(),
    };
    assert_eq!(
        iframe_stream_inf(&v),
        "#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=123456,RESOLUTION=640x360,CODECS=\"avc1.64001e\",\
         URI=\"v/1/360p/iframes.m3u8\"\n"
    );
}
