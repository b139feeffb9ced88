//! The assembled playlists read by tools nobody here wrote: ffmpeg and ffprobe, over a real
//! fMP4 HLS encoded as two ranges by two ffmpeg runs (`-ss`, `-start_number`), whose second
//! range's `tfdt`s are shifted by its start as the range encoder does.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::iframes::{parse_fragments, parse_init};
use crate::playlist::parse_media_playlist;
use crate::profile::{FrameRate, VideoCodec};
use crate::range_types::SegmentOut;

/// Range 0 is 0..2 s (one segment), range 1 is 2..6 s (two): 30 fps, 2 s GOPs and segments.
const RANGES: [(f64, f64, u32); 2] = [(0.0, 2.0, 0), (2.0, 6.0, 1)];

async fn run(program: &str, args: &[&str]) -> std::process::Output {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args).kill_on_drop(true);
    tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{program} {args:?} timed out"))
        .unwrap()
}

fn profile() -> Profile {
    Profile {
        name: "360p".into(),
        width: 640,
        height: 360,
        fps: FrameRate::new(30, 1),
        gop: 60,
        video_bps: 800_000,
        codec: VideoCodec::H264,
    }
}

/// Adds `offset` to every `tfdt` of the moofs in `b` (what `fmp4::shift_fragments` does).
fn shift_tfdt(b: &mut [u8], offset: u64) {
    fn walk(b: &mut [u8], offset: u64) {
        let mut at = 0;
        while at + 8 <= b.len() {
            let size = u32::from_be_bytes(b[at..at + 4].try_into().unwrap()) as usize;
            assert!(size >= 8 && at + size <= b.len(), "a box runs past its parent");
            let kind: [u8; 4] = b[at + 4..at + 8].try_into().unwrap();
            let body = &mut b[at + 8..at + size];
            match &kind {
                b"moof" | b"traf" => walk(body, offset),
                b"tfdt" if body[0] == 1 => {
                    let t = u64::from_be_bytes(body[4..12].try_into().unwrap());
                    body[4..12].copy_from_slice(&(t + offset).to_be_bytes());
                }
                b"tfdt" => panic!("ffmpeg writes version-1 tfdt boxes"),
                _ => {}
            }
            at += size;
        }
    }
    walk(b, offset);
}

/// Encodes the two ranges into `<dir>/r<k>/`, then lays them out as the item runner does:
/// `<dir>/out/360p/init-<token>.mp4`, `seg_%05d-<token>.m4s`, with their outputs.
async fn two_ranges(dir: &Path) -> (PathBuf, Vec<RangeOutput>) {
    let rung = dir.join("out/360p");
    std::fs::create_dir_all(&rung).unwrap();
    let mut outputs = Vec::new();
    let mut first_init: Option<Vec<u8>> = None;
    for (index, (start, end, first)) in RANGES.into_iter().enumerate() {
        let scratch = dir.join(format!("r{index}"));
        std::fs::create_dir_all(&scratch).unwrap();
        let (ss, t, n) = (start.to_string(), (end - start).to_string(), first.to_string());
        let seg_pattern = scratch.join("seg_%05d.m4s").display().to_string();
        let playlist = scratch.join("playlist.m3u8").display().to_string();
        #[rustfmt::skip]
        let args = [
            "-nostdin", "-v", "error", "-y", "-ss", &ss, "-t", &t,
            "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30:duration=6",
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
            "-g", "60", "-keyint_min", "60", "-sc_threshold", "0",
            "-f", "hls", "-hls_time", "2", "-hls_playlist_type", "vod",
            "-hls_segment_type", "fmp4", "-hls_flags", "independent_segments",
            "-start_number", &n, "-hls_fmp4_init_filename", "init.mp4",
            "-hls_segment_filename", &seg_pattern, &playlist,
        ];
        let out = run("ffmpeg", &args).await;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let token = format!("{index:08x}");
        let init = std::fs::read(scratch.join("init.mp4")).unwrap();
        let defaults = parse_init(&init).unwrap();
        let init_name = format!("init-{token}.mp4");
        std::fs::write(rung.join(&init_name), &init).unwrap();
        // Ranges encoded alike get byte-identical inits (no `-output_ts_offset`).
        let first_init = first_init.get_or_insert_with(|| init.clone());
        let fingerprint = if *first_init == init { "same".into() } else { format!("r{index}") };
        let own = parse_media_playlist(&std::fs::read_to_string(&playlist).unwrap()).unwrap();
        let mut segments = Vec::new();
        for (k, s) in own.segments.iter().enumerate() {
            let mut bytes = std::fs::read(scratch.join(&s.uri)).unwrap();
            shift_tfdt(&mut bytes, (start * f64::from(defaults.timescale)).round() as u64);
            let frag = &parse_fragments(&bytes, &defaults).unwrap()[0];
            let first_sample = frag.samples[0];
            assert!(first_sample.sync, "every segment starts with a keyframe");
            let iframe = first_sample.offset + u64::from(first_sample.size) - frag.moof_offset;
            let uri = format!("seg_{:05}-{token}.m4s", first + k as u32);
            std::fs::write(rung.join(&uri), &bytes).unwrap();
            segments.push(SegmentOut {
                uri,
                duration: s.duration,
                bytes: bytes.len() as u64,
                iframe: Some((frag.moof_offset, iframe)),
            });
        }
        outputs.push(RangeOutput {
            index: index as u32,
            token: token.clone(),
            rungs: vec![RungOutput {
                name: "360p".into(),
                init: init_name,
                init_fingerprint: fingerprint,
                segments,
            }],
            thumbs: vec![],
            poster: None,
            cpu_secs: 0.0,
        });
    }
    (dir.join("out"), outputs)
}

/// Packet `(dts, pts)` seconds of `playlist` as ffprobe reads them.
async fn packets(playlist: &Path) -> Vec<(f64, f64)> {
    let p = playlist.display().to_string();
    let out = run(
        "ffprobe",
        &["-v", "error", "-show_entries", "packet=dts_time,pts_time", "-of", "csv=p=0", &p],
    )
    .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (pts, dts) = l.split_once(',').unwrap();
            (dts.parse().unwrap(), pts.parse().unwrap())
        })
        .collect()
}

async fn decodes_without_error(playlist: &Path) {
    let p = playlist.display().to_string();
    let out = run("ffmpeg", &["-nostdin", "-v", "error", "-i", &p, "-f", "null", "-"]).await;
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn ffmpeg_plays_the_assembled_vod_playlist_of_two_ranges_gaplessly() {
    let dir = tempfile::tempdir().unwrap();
    let (out, ranges) = two_ranges(dir.path()).await;
    let refs: Vec<&RangeOutput> = ranges.iter().collect();
    let playlist = out.join("360p/playlist.m3u8");
    let text = media_playlist("360p", &refs, true, 2);
    assert_eq!(text.matches("#EXT-X-MAP").count(), 1, "the two inits are the same bytes");
    std::fs::write(&playlist, text).unwrap();
    decodes_without_error(&playlist).await;
    let p = packets(&playlist).await;
    assert_eq!(p.len(), 180, "6 s at 30 fps, every frame once");
    assert!(p.windows(2).all(|w| w[1].0 > w[0].0), "dts rises across the join");
    // Presentation times (as ffprobe reports them, shifted alike by the encoder delay) are
    // one frame apart everywhere: no gap and no overlap where range 1 joins range 0.
    let mut pts: Vec<f64> = p.iter().map(|x| x.1).collect();
    pts.sort_by(f64::total_cmp);
    let steps: Vec<f64> = pts.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(steps.iter().all(|d| (d - 1.0 / 30.0).abs() < 1e-3), "{steps:?}");
}

#[tokio::test]
async fn ffmpeg_follows_a_new_map_before_a_range_whose_init_differs() {
    let dir = tempfile::tempdir().unwrap();
    let (out, mut ranges) = two_ranges(dir.path()).await;
    ranges[1].rungs[0].init_fingerprint = "other".into();
    let refs: Vec<&RangeOutput> = ranges.iter().collect();
    let text = media_playlist("360p", &refs, true, 2);
    assert_eq!(text.matches("#EXT-X-MAP").count(), 2);
    let playlist = out.join("360p/playlist.m3u8");
    std::fs::write(&playlist, text).unwrap();
    decodes_without_error(&playlist).await;
    assert_eq!(packets(&playlist).await.len(), 180);
}

#[tokio::test]
async fn ffprobe_reads_a_growing_event_playlist() {
    let dir = tempfile::tempdir().unwrap();
    let (out, ranges) = two_ranges(dir.path()).await;
    let playlist = out.join("360p/playlist.m3u8");
    std::fs::write(&playlist, media_playlist("360p", &[&ranges[0]], false, 2)).unwrap();
    let p = playlist.display().to_string();
    let args =
        ["-v", "error", "-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", &p];
    let probe = run("ffprobe", &args).await;
    assert!(probe.status.success(), "{}", String::from_utf8_lossy(&probe.stderr));
    assert!(probe.stderr.is_empty(), "{}", String::from_utf8_lossy(&probe.stderr));
    let text = String::from_utf8_lossy(&probe.stdout);
    let streams: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    assert!(!streams.is_empty() && streams.iter().all(|s| *s == "h264,640,360"), "{text}");
}

#[tokio::test]
async fn the_assembled_figures_and_iframe_playlist_match_what_a_finished_rendition_gives() {
    let dir = tempfile::tempdir().unwrap();
    let (out, ranges) = two_ranges(dir.path()).await;
    let refs: Vec<&RangeOutput> = ranges.iter().collect();
    std::fs::write(out.join("360p/playlist.m3u8"), media_playlist("360p", &refs, true, 2)).unwrap();
    let measured = crate::outputs::measure(&out, &profile()).await.unwrap().variant;
    let ours = variant(&profile(), &refs, &measured.codecs, 2);
    assert_eq!(ours, measured);
    let iframes_path = out.join("360p/iframes.m3u8");
    let single = crate::iframes::for_variant(&out, &measured).await.unwrap();
    assert_eq!(iframe_variant(&profile(), &refs, &measured.codecs), single);
    let from_files = std::fs::read_to_string(&iframes_path).unwrap();
    assert_eq!(iframe_playlist("360p", &refs, true), from_files);
    // Each entry's byte range, after the init, is a picture ffprobe decodes as a keyframe
    // (ffmpeg's HLS demuxer does not play I-frame playlists, so they are read one by one).
    let init = std::fs::read(out.join("360p").join(&ranges[0].rungs[0].init)).unwrap();
    let entries: Vec<&SegmentOut> = ranges.iter().flat_map(|r| &r.rungs[0].segments).collect();
    for (k, s) in entries.iter().enumerate() {
        let (offset, length) = s.iframe.unwrap();
        let seg = std::fs::read(out.join("360p").join(&s.uri)).unwrap();
        let mut one = init.clone();
        one.extend_from_slice(&seg[offset as usize..(offset + length) as usize]);
        let path = dir.path().join(format!("iframe{k}.mp4"));
        std::fs::write(&path, one).unwrap();
        let p = path.display().to_string();
        let args =
            ["-v", "quiet", "-show_entries", "frame=key_frame,pict_type", "-of", "csv=p=0", &p];
        let probe = run("ffprobe", &args).await;
        let frames = String::from_utf8_lossy(&probe.stdout).trim().to_owned();
        assert!(frames.lines().count() == 1 && frames.starts_with("1,I"), "entry {k}: {frames}");
    }
}
