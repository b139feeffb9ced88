use super::*;

fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
    v.extend_from_slice(kind);
    v.extend_from_slice(body);
    v
}

fn full(kind: &[u8; 4], version: u8, body: &[u8]) -> Vec<u8> {
    let mut b = vec![version, 0, 0, 0];
    b.extend_from_slice(body);
    bx(kind, &b)
}

fn fragment(sequence: u32, tfdt: Option<u64>, tfdt_v0: Option<u32>) -> Vec<u8> {
    let mut traf = full(b"tfhd", 0, &1u32.to_be_bytes());
    if let Some(t) = tfdt {
        traf.extend(full(b"tfdt", 1, &t.to_be_bytes()));
    }
    if let Some(t) = tfdt_v0 {
        traf.extend(full(b"tfdt", 0, &t.to_be_bytes()));
    }
    traf.extend(full(b"trun", 0, &0u32.to_be_bytes()));
    let mut moof = full(b"mfhd", 0, &sequence.to_be_bytes());
    moof.extend(bx(b"traf", &traf));
    let mut seg = bx(b"styp", b"msdh\0\0\0\0");
    seg.extend(bx(b"moof", &moof));
    seg.extend(bx(b"mdat", &[7; 16]));
    seg
}

fn read_u64(b: &[u8], tail_of: &[u8]) -> u64 {
    let i = b.windows(4).position(|w| w == tail_of).unwrap() + 8;
    u64::from_be_bytes(b[i..i + 8].try_into().unwrap())
}

#[test]
fn decode_times_move_by_the_offset_and_sequence_numbers_become_global() {
    let mut seg = fragment(1, Some(512), None);
    seg.extend(fragment(2, Some(180_000), None));
    let before = seg.clone();
    let next = shift_fragments(&mut seg, 368_640, 13).unwrap();
    assert_eq!(next, 15);
    assert_eq!(seg.len(), before.len(), "no box changes size");
    let moofs: Vec<usize> =
        seg.windows(4).enumerate().filter(|(_, w)| w == b"mfhd").map(|(i, _)| i).collect();
    let seq = |i: usize| u32::from_be_bytes(seg[i + 8..i + 12].try_into().unwrap());
    assert_eq!((seq(moofs[0]), seq(moofs[1])), (13, 14));
    assert_eq!(read_u64(&seg, b"tfdt"), 512 + 368_640);
    let second = seg.windows(4).rposition(|w| w == b"tfdt").unwrap() + 8;
    assert_eq!(u64::from_be_bytes(seg[second..second + 8].try_into().unwrap()), 548_640);
    let mdat = seg.windows(4).position(|w| w == b"mdat").unwrap();
    assert_eq!(seg[mdat..mdat + 20], before[mdat..mdat + 20], "samples untouched");
}

#[test]
fn a_version_0_tfdt_is_shifted_until_it_would_overflow() {
    let mut seg = fragment(1, None, Some(10));
    shift_fragments(&mut seg, 90, 1).unwrap();
    let i = seg.windows(4).position(|w| w == b"tfdt").unwrap() + 8;
    assert_eq!(u32::from_be_bytes(seg[i..i + 4].try_into().unwrap()), 100);
    let mut big = fragment(1, None, Some(u32::MAX - 5));
    assert!(matches!(shift_fragments(&mut big, 6, 1), Err(BoxError::Overflow(_))));
}

#[test]
fn malformed_segments_are_refused() {
    let mut seg = fragment(1, Some(0), None);
    seg.truncate(seg.len() - 3);
    assert!(matches!(shift_fragments(&mut seg, 1, 1), Err(BoxError::Truncated(..))));
    let mut no_tfdt = fragment(1, None, None);
    assert_eq!(shift_fragments(&mut no_tfdt, 1, 1), Err(BoxError::Missing("tfdt")));
    let mut overlong = bx(b"moof", &[]);
    overlong[3] = 200;
    assert!(shift_fragments(&mut overlong, 1, 1).is_err());
}

fn init(timescale: u32, edts: Option<&[u8]>, avcc: &[u8]) -> Vec<u8> {
    let mut mdhd_body = vec![0u8; 8];
    mdhd_body.extend(timescale.to_be_bytes());
    mdhd_body.extend([0u8; 8]);
    let mut stbl = bx(b"stsd", avcc);
    stbl.extend(bx(b"stts", &[0; 8]));
    let mdia = [full(b"mdhd", 0, &mdhd_body), bx(b"minf", &bx(b"stbl", &stbl))].concat();
    let mut trak = full(b"tkhd", 0, &[0; 80]);
    if let Some(e) = edts {
        trak.extend(bx(b"edts", e));
    }
    trak.extend(bx(b"mdia", &mdia));
    let moov = [full(b"mvhd", 0, &[0; 96]), bx(b"trak", &trak)].concat();
    [bx(b"ftyp", b"iso5\0\0\0\x01"), bx(b"moov", &moov)].concat()
}

#[test]
fn the_timescale_comes_from_mdhd() {
    assert_eq!(track_timescale(&init(15360, None, b"a")).unwrap(), 15360);
    assert!(track_timescale(&bx(b"ftyp", b"iso5")).is_err());
}

#[test]
fn inits_differing_only_in_their_edit_list_have_one_fingerprint() {
    let a = init_fingerprint(&init(30000, Some(b"elst-a"), b"avcC-1")).unwrap();
    let b = init_fingerprint(&init(30000, Some(b"elst-longer-b"), b"avcC-1")).unwrap();
    let none = init_fingerprint(&init(30000, None, b"avcC-1")).unwrap();
    assert_eq!(a.len(), 64);
    assert_eq!((a.as_str(), a.as_str()), (b.as_str(), none.as_str()));
    let other_codec = init_fingerprint(&init(30000, Some(b"elst-a"), b"avcC-2")).unwrap();
    let other_scale = init_fingerprint(&init(15360, Some(b"elst-a"), b"avcC-1")).unwrap();
    assert_ne!(a, other_codec);
    assert_ne!(a, other_scale);
}

/// An fMP4 HLS encode by the real ffmpeg: its init and first segment.
fn real_segment(dir: &std::path::Path) -> (Vec<u8>, Vec<u8>) {
    let status = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=160x90:rate=30:duration=4")
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-f", "hls"])
        .args(["-hls_time", "2", "-hls_segment_type", "fmp4", "-hls_playlist_type", "vod"])
        .arg("-hls_segment_filename")
        .arg(dir.join("seg_%d.m4s"))
        .arg(dir.join("p.m3u8"))
        .status()
        .unwrap();
    assert!(status.success());
    (std::fs::read(dir.join("init.mp4")).unwrap(), std::fs::read(dir.join("seg_1.m4s")).unwrap())
}

#[test]
fn a_real_ffmpeg_segment_is_shifted_and_still_parses_with_its_samples() {
    let dir = tempfile::tempdir().unwrap();
    let (init, seg) = real_segment(dir.path());
    let timescale = track_timescale(&init).unwrap();
    assert_eq!(timescale, 15360, "ffmpeg's mp4 timescale for 30 fps");
    let defaults = crate::iframes::parse_init(&init).unwrap();
    let before = crate::iframes::parse_fragments(&seg, &defaults).unwrap();
    let tfdt = read_u64(&seg, b"tfdt");
    assert_eq!(tfdt, 2 * 15360, "ffmpeg writes tfdt version 1; the second segment starts at 2 s");
    let mut shifted = seg.clone();
    assert_eq!(shift_fragments(&mut shifted, 10 * 15360, 7).unwrap(), 8);
    assert_eq!(read_u64(&shifted, b"tfdt"), 12 * 15360);
    assert_eq!(crate::iframes::parse_fragments(&shifted, &defaults).unwrap(), before);
}
