//! Trick play, checked with real ffmpeg/ffprobe: the storyboard sheets the lowest rendition's
//! process writes (several sheets, the last one partly filled, a VTT naming them all), the
//! I-frame playlists (ffprobe reads each one as HLS and every byte range, cut out with its init
//! segment in front, decodes as exactly one key frame), and a poster no larger than 1080p from a
//! 4K-sized source.

mod common;

use std::path::Path;
use std::process::Command;

use common::{ffprobe, video_stream};
use framelog_events::Probe;
use framelog_tests::media::{VideoSpec, generate_video};
use framelog_transcoder::command::{Stage, Thumbnails, stage_args};
use framelog_transcoder::encoder::Encoder;
use framelog_transcoder::iframes::{self, IFRAME_PLAYLIST};
use framelog_transcoder::ladder::LadderSource;
use framelog_transcoder::playlist::{Variant, attributes, parse_media_playlist};
use framelog_transcoder::profile::{Profile, select_profiles};
use framelog_transcoder::storyboard::{Storyboard, parse_vtt, poster_size, storyboard_vtt};

fn probe_of(width: u32, height: u32, fps: f64, secs: f64) -> Probe {
    Probe {
        duration_secs: secs,
        width,
        height,
        rotation: 0,
        fps,
        video_codec: "h264".into(),
        audio_codec: Some("aac".into()),
        format: "mp4".into(),
        bit_rate: None,
    }
}

/// Runs the lowest rendition's ffmpeg process (as a job does) on `source` into `out`.
async fn run_lowest(source: &Path, lowest: &Profile, thumbs: &Thumbnails, out: &Path) {
    let encoder = Encoder::libx264("veryfast");
    let profiles = [lowest.clone()];
    let inspection =
        framelog_core::probe::inspect(source, std::time::Duration::from_secs(30)).await.unwrap();
    let audio = framelog_transcoder::audio::plan_for(&inspection);
    let stage = Stage {
        input: &framelog_transcoder::source::Source::File(source.to_owned()),
        profiles: &profiles,
        out_dir: out,
        encoder: &encoder,
        audio: audio.as_ref(),
        segment_secs: 6,
        thumbnails: Some(thumbs),
        video: inspection.video.as_ref(),
    };
    let out = Command::new("ffmpeg").args(stage_args(&stage)).output().unwrap();
    assert!(out.status.success(), "ffmpeg: {}", String::from_utf8_lossy(&out.stderr));
}

/// The mean luma of a `w`x`h` region of an image at `x`,`y` (ffmpeg's signalstats).
fn mean_luma(image: &Path, (x, y, w, h): (u32, u32, u32, u32)) -> f64 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-f", "lavfi", "-show_entries", "frame_tags=lavfi.signalstats.YAVG"])
        .args(["-of", "csv=p=0"])
        .arg(format!("movie={},crop={w}:{h}:{x}:{y},signalstats", image.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().parse().unwrap()
}

/// (frames, key frames) ffprobe decodes from `path` (its video stream).
fn decoded_frames(path: &Path) -> (usize, usize) {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries", "frame=key_frame"])
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let frames: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    (frames.len(), frames.iter().filter(|f| f.starts_with('1')).count())
}

#[tokio::test]
async fn a_15_s_video_gets_two_storyboard_sheets_and_iframe_entries_that_decode_as_key_frames() {
    let dir = tempfile::tempdir().unwrap();
    let (secs, fps) = (15.0, 10);
    let source = generate_video(dir.path(), "src.mp4", &VideoSpec::new(320, 180, secs).fps(fps));
    let lowest =
        select_profiles(&LadderSource::from_probe(&probe_of(320, 180, f64::from(fps), secs)))[0]
            .clone();
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    // A tile every 0.12 s: 125 thumbnails, a full sheet of 100 and one of 25.
    let board = Storyboard::plan(secs, lowest.width, lowest.height, 0.12);
    assert_eq!((board.count, board.sheets()), (125, 2));
    let thumbs = Thumbnails {
        board,
        poster_at_secs: secs * 0.25,
        poster_size: poster_size(lowest.width, lowest.height),
        sprites_dir: out.clone(),
        poster: out.join("poster.jpg"),
    };
    run_lowest(&source, &lowest, &thumbs, &out).await;

    // Storyboard: exactly two sheets of 10x10 tiles; the last one holds 25 thumbnails.
    let g = board.grid;
    for sheet in thumbs.sheets() {
        let s = video_stream(&ffprobe(&sheet)).clone();
        let size = (s["width"].as_u64().unwrap(), s["height"].as_u64().unwrap());
        assert_eq!(size, (u64::from(10 * g.thumb_width), u64::from(10 * g.thumb_height)));
    }
    assert!(!out.join("sprites_2.jpg").exists(), "no third sheet");
    let tile = |k: u32| {
        ((k % 10) * g.thumb_width, (k / 10) * g.thumb_height, g.thumb_width, g.thumb_height)
    };
    let last = out.join("sprites_1.jpg");
    assert!(mean_luma(&last, tile(24)) > 40.0, "the 125th thumbnail is a picture");
    assert!(mean_luma(&last, tile(25)) < 20.0, "the sheet's rest is blank");
    assert!(mean_luma(&out.join("sprites_0.jpg"), tile(99)) > 40.0, "the first sheet is full");

    assert_eq!(thumbs.sheets_written(), 2);
    let vtt = storyboard_vtt(&board, "v/1/", thumbs.sheets_written());
    let cues = parse_vtt(&vtt).unwrap();
    assert_eq!(cues.len(), 125);
    assert_eq!((cues[0].0, cues[124].1), (0, 15_000), "covers the whole duration");
    assert!(cues.windows(2).all(|c| c[0].1 == c[1].0), "no gaps");
    assert_eq!(
        cues[99].2,
        format!(
            "v/1/sprites_0.jpg#xywh={},{},{},{}",
            9 * g.thumb_width,
            9 * g.thumb_height,
            g.thumb_width,
            g.thumb_height
        )
    );
    assert_eq!(
        cues[100].2,
        format!("v/1/sprites_1.jpg#xywh=0,0,{},{}", g.thumb_width, g.thumb_height)
    );
    assert_eq!(
        cues[124].2,
        format!(
            "v/1/sprites_1.jpg#xywh={},{},{},{}",
            4 * g.thumb_width,
            2 * g.thumb_height,
            g.thumb_width,
            g.thumb_height
        )
    );

    // I-frame playlist of the rendition.
    let variant = Variant {
        uri: format!("{}/playlist.m3u8", lowest.name),
        bandwidth: 1,
        average_bandwidth: 1,
        width: lowest.width,
        height: lowest.height,
        codecs: "avc1.64000d,mp4a.40.2".into(),
        frame_rate: lowest.fps.as_f64(),
    };
    let iv = iframes::for_variant(&out, &variant).await.unwrap();
    assert_eq!(iv.uri, format!("{}/{IFRAME_PLAYLIST}", lowest.name));
    assert_eq!(iv.codecs, "avc1.64000d", "video codecs only");
    let rdir = out.join(&lowest.name);
    let text = std::fs::read_to_string(rdir.join(IFRAME_PLAYLIST)).unwrap();
    assert!(text.contains("#EXT-X-I-FRAMES-ONLY\n"));
    let media = parse_media_playlist(&std::fs::read_to_string(rdir.join("playlist.m3u8")).unwrap())
        .unwrap();
    let entries = parse_entries(&text);
    assert_eq!(entries.len(), media.segments.len(), "one I-frame per segment (fragment)");
    let total: f64 = entries.iter().map(|e| e.0).sum();
    assert!((total - media.duration()).abs() < 0.05, "durations add up to {total}");
    let max_rate = entries.iter().map(|e| e.1 as f64 * 8.0 / e.0).fold(0.0, f64::max);
    assert!(iv.bandwidth as f64 >= max_rate.floor(), "BANDWIDTH {} under {max_rate}", iv.bandwidth);

    // Every entry decodes as exactly one key frame (init + the byte range, ffprobe).
    let init = std::fs::read(rdir.join(media.init.as_deref().unwrap())).unwrap();
    assert!(text.contains(&format!("#EXT-X-MAP:URI=\"{}\"\n", media.init.as_deref().unwrap())));
    for (k, (_, len, off, uri)) in entries.iter().enumerate() {
        let seg = std::fs::read(rdir.join(uri)).unwrap();
        let mut bytes = init.clone();
        bytes.extend_from_slice(&seg[*off as usize..(*off + *len) as usize]);
        let cut = dir.path().join(format!("iframe-{k}.mp4"));
        std::fs::write(&cut, bytes).unwrap();
        assert_eq!(decoded_frames(&cut), (1, 1), "entry {k}: one key frame");
    }
    // (ffmpeg's HLS demuxer is no judge of the playlist as a whole: it concatenates the ranges
    // into one stream, and the first cut `mdat` swallows the next `moof`.)
}

/// (duration, length, offset, uri) of every entry of an I-frame playlist.
fn parse_entries(text: &str) -> Vec<(f64, u64, u64, String)> {
    let mut out = Vec::new();
    let (mut dur, mut range) = (None, None);
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("#EXTINF:") {
            dur = Some(v.trim_end_matches(',').parse::<f64>().unwrap());
        } else if let Some(v) = line.strip_prefix("#EXT-X-BYTERANGE:") {
            let (l, o) = v.split_once('@').expect("an offset on every range");
            range = Some((l.parse().unwrap(), o.parse().unwrap()));
        } else if !line.starts_with('#') && !line.is_empty() {
            let (l, o) = range.take().expect("a byte range");
            out.push((dur.take().unwrap(), l, o, line.to_owned()));
        }
    }
    out
}

#[tokio::test]
async fn a_4k_source_gets_a_poster_no_larger_than_1080p() {
    let dir = tempfile::tempdir().unwrap();
    let source = generate_video(dir.path(), "uhd.mp4", &VideoSpec::new(3840, 2160, 1.0).fps(5));
    let profiles = select_profiles(&LadderSource::from_probe(&probe_of(3840, 2160, 5.0, 1.0)));
    let (lowest, top) = (&profiles[0], &profiles[profiles.len() - 1]);
    assert_eq!((top.width, top.height), (3840, 2160), "a 2160p rung");
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let thumbs = Thumbnails {
        board: Storyboard::plan(1.0, lowest.width, lowest.height, 2.0),
        poster_at_secs: 0.25,
        poster_size: poster_size(top.width, top.height),
        sprites_dir: out.clone(),
        poster: out.join("poster.jpg"),
    };
    run_lowest(&source, lowest, &thumbs, &out).await;
    let p = video_stream(&ffprobe(&thumbs.poster)).clone();
    assert_eq!((p["width"].as_u64(), p["height"].as_u64()), (Some(1920), Some(1080)));
    assert!(out.join("sprites_0.jpg").exists());
    // The master line names it with the attributes players read.
    let line = iframes::iframe_stream_inf(&iframes::IFrameVariant {
        uri: "v/1/360p/iframes.m3u8".into(),
        bandwidth: 1000,
        width: 640,
        height: 360,
        codecs: "avc1.64001e".into(),
    });
    let attrs = attributes(line.trim().strip_prefix("#EXT-X-I-FRAME-STREAM-INF:").unwrap());
    assert_eq!(attrs["URI"], "v/1/360p/iframes.m3u8");
    assert_eq!(attrs["RESOLUTION"], "640x360");
}

#[tokio::test]
async fn a_video_track_shorter_than_the_audio_is_held_to_the_end_and_fills_every_sheet() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("short-video.mp4");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=320x180:rate=10:duration=3")
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=30"])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"])
        .arg(&source)
        .status()
        .unwrap();
    assert!(status.success());
    let lowest =
        select_profiles(&LadderSource::from_probe(&probe_of(320, 180, 10.0, 30.0)))[0].clone();
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    // 250 thumbnails planned over the container's 30 s: three sheets.
    let board = Storyboard::plan(30.0, lowest.width, lowest.height, 0.12);
    assert_eq!(board.sheets(), 3);
    let thumbs = Thumbnails {
        board,
        poster_at_secs: 7.5,
        poster_size: poster_size(lowest.width, lowest.height),
        sprites_dir: out.clone(),
        poster: out.join("poster.jpg"),
    };
    run_lowest(&source, &lowest, &thumbs, &out).await;
    // The 3 s video track is held on its last picture to the audio's end (30 s): the rendition
    // lasts the whole source and every planned sheet is filled.
    let playlist = std::fs::read_to_string(out.join(&lowest.name).join("playlist.m3u8")).unwrap();
    let secs = parse_media_playlist(&playlist).unwrap().duration();
    assert!((secs - 30.0).abs() < 0.5, "the video lasts {secs} s");
    assert_eq!(thumbs.sheets_written(), 3);
    let cues = parse_vtt(&storyboard_vtt(&board, "", thumbs.sheets_written())).unwrap();
    assert_eq!(cues.len(), 250);
    // Had ffmpeg written fewer sheets, no cue would name a missing one.
    let cues = parse_vtt(&storyboard_vtt(&board, "", 1)).unwrap();
    assert_eq!(cues.len(), 100);
    assert!(cues.iter().all(|c| c.2.starts_with("sprites_0.jpg#")), "no cue names a missing sheet");
}
