//! Helpers of `tests/ranges.rs`: sources, the two ways of encoding them, assembling ranges
//! into a playlist, and measuring playlists with ffprobe/ffmpeg.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use framelog_core::probe::VideoStream;
use framelog_transcoder::Encoder;
use framelog_transcoder::chunks::{ChunkPlan, plan};
use framelog_transcoder::command::{MEDIA_PLAYLIST, Stage, Thumbnails, stage_args};
use framelog_transcoder::ffmpeg::{Priority, run};
use framelog_transcoder::ladder::{LadderSource, select_profiles};
use framelog_transcoder::profile::Profile;
use framelog_transcoder::range_encode::{RangeJob, RangeOutput, encode_range};
use framelog_transcoder::source::Source;
use framelog_transcoder::storyboard::{Storyboard, poster_size, tile_interval};
use tokio_util::sync::CancellationToken;

/// A `secs` long 640x360 `testsrc2` (moving) at `rate`, H.264 with 1 s GOPs, no audio.
pub fn source(dir: &Path, rate: &str, secs: u32) -> PathBuf {
    let out = dir.join(format!("src-{}.mp4", rate.replace('/', "_")));
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size=640x360:rate={rate}:duration={secs}"))
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-pix_fmt", "yuv420p"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    out
}

/// Everything one test needs: the source, its ladder and plan.
pub struct Case {
    pub input: PathBuf,
    pub video: Option<VideoStream>,
    pub duration: f64,
    pub profiles: Vec<Profile>,
    pub board: Storyboard,
    pub poster_at: f64,
    pub segment_secs: u32,
    pub plan: ChunkPlan,
}

pub async fn case(input: PathBuf, segment_secs: u32, range_segments: u32) -> Case {
    let inspection = framelog_core::probe::inspect(&input, Duration::from_secs(30)).await.unwrap();
    let (probe, video) = (inspection.probe, inspection.video);
    let nominal_fps = video.as_ref().and_then(|v| v.r_fps);
    let (w, h) = if probe.rotation % 180 == 0 {
        (probe.width, probe.height)
    } else {
        (probe.height, probe.width)
    };
    let profiles =
        select_profiles(&LadderSource { width: w, height: h, fps: probe.fps, nominal_fps });
    let lowest = profiles.iter().min_by_key(|p| p.width * p.height).unwrap();
    let duration = probe.duration_secs;
    let board = Storyboard::plan(duration, lowest.width, lowest.height, tile_interval(duration));
    let poster_at = duration / 4.0;
    let top = profiles.iter().max_by_key(|p| p.width * p.height).unwrap();
    let plan = plan(duration, top, segment_secs, range_segments, 1, &board, poster_at);
    Case { input, video, duration, profiles, board, poster_at, segment_secs, plan }
}

/// Encodes every range of the plan, one process each, into `<dir>/r<i>/`.
pub async fn encode_ranges(c: &Case, dir: &Path, enc: &Encoder) -> Vec<RangeOutput> {
    encode_ranges_from(c, &Source::File(c.input.clone()), dir, enc).await
}

/// [`encode_ranges`] reading `source` (the case's file or its URL).
pub async fn encode_ranges_from(
    c: &Case,
    source: &Source,
    dir: &Path,
    enc: &Encoder,
) -> Vec<RangeOutput> {
    let top = c.profiles.iter().max_by_key(|p| p.width * p.height).unwrap();
    let mut outs = Vec::new();
    for r in &c.plan.ranges {
        let out = dir.join(format!("r{}", r.index));
        let token = format!("{:08x}", 0xa000_0000u32 + r.index);
        let job = RangeJob {
            input: source,
            profiles: &c.profiles,
            encoder: enc,
            video: c.video.as_ref(),
            range: r,
            segment_secs: c.segment_secs,
            board: Some(&c.board),
            poster_size: poster_size(top.width, top.height),
            poster_at_secs: c.poster_at,
            out: &out,
            token: &token,
        };
        let cancel = CancellationToken::new();
        let o = encode_range(&job, Path::new("ffmpeg"), Priority::Normal, &cancel, &mut |_| {})
            .await
            .unwrap_or_else(|e| panic!("range {}: {e}", r.index));
        outs.push(o);
    }
    outs
}

/// The single-process encode of the whole source (the job's way), into `dir`.
pub async fn encode_single(c: &Case, dir: &Path, enc: &Encoder) -> f64 {
    let top = c.profiles.iter().max_by_key(|p| p.width * p.height).unwrap();
    for p in &c.profiles {
        std::fs::create_dir_all(dir.join(&p.name)).unwrap();
    }
    let thumbnails = Thumbnails {
        board: c.board,
        poster_at_secs: c.poster_at,
        poster_size: poster_size(top.width, top.height),
        sprites_dir: dir.to_owned(),
        poster: dir.join("poster.jpg"),
    };
    let stage = Stage {
        input: &Source::File(c.input.clone()),
        profiles: &c.profiles,
        out_dir: dir,
        encoder: enc,
        audio: None,
        segment_secs: c.segment_secs,
        thumbnails: Some(&thumbnails),
        video: c.video.as_ref(),
    };
    let cancel = CancellationToken::new();
    let stats =
        run(Path::new("ffmpeg"), &stage_args(&stage), Priority::Normal, &cancel, &mut |_| {})
            .await
            .unwrap();
    stats.cpu_secs
}

/// Copies every range's files of `rung` into `<dir>/<rung>/` and writes its VOD playlist
/// (a new `EXT-X-MAP` where the init fingerprint changes).
pub fn assemble(dir: &Path, ranges_dir: &Path, outs: &[RangeOutput], rung: &str) -> PathBuf {
    let to = dir.join(rung);
    std::fs::create_dir_all(&to).unwrap();
    let mut body = String::new();
    let mut target = 1.0f64;
    let mut last_fp = String::new();
    for o in outs {
        let r = o.rungs.iter().find(|r| r.name == rung).unwrap();
        let from = ranges_dir.join(format!("r{}", o.index)).join(rung);
        std::fs::copy(from.join(&r.init), to.join(&r.init)).unwrap();
        if r.init_fingerprint != last_fp {
            body.push_str(&format!("#EXT-X-MAP:URI=\"{}\"\n", r.init));
            last_fp = r.init_fingerprint.clone();
        }
        for s in &r.segments {
            std::fs::copy(from.join(&s.uri), to.join(&s.uri)).unwrap();
            assert_eq!(std::fs::metadata(to.join(&s.uri)).unwrap().len(), s.bytes);
            target = target.max(s.duration.ceil());
            body.push_str(&format!("#EXTINF:{:.6},\n{}\n", s.duration, s.uri));
        }
    }
    let text = format!(
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:0\n\
         #EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n{body}#EXT-X-ENDLIST\n"
    );
    let path = to.join(MEDIA_PLAYLIST);
    std::fs::write(&path, text).unwrap();
    path
}

/// `(pts, dts)` of every video packet of a playlist, in stream time-base units.
pub fn packets(playlist: &Path) -> Vec<(i64, i64)> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts,dts"])
        .args(["-of", "csv=p=0"])
        .arg(playlist)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (p, d) = l.trim().trim_end_matches(',').split_once(',').unwrap();
            (p.parse().unwrap(), d.parse().unwrap())
        })
        .collect()
}

/// ffmpeg's errors decoding the whole playlist (empty when clean).
pub fn decode_errors(playlist: &Path) -> String {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error", "-i"])
        .arg(playlist)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Per-frame SSIM (`All`) of a rung's playlist against the source scaled to the rung.
pub fn ssim(playlist: &Path, source: &Path, p: &Profile, stats: &Path) -> Vec<f64> {
    let graph = format!(
        "[1:v]scale={}:{}[ref];[0:v][ref]ssim=stats_file={}",
        p.width,
        p.height,
        stats.display()
    );
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error", "-i"])
        .arg(playlist)
        .arg("-i")
        .arg(source)
        .args(["-lavfi", &graph, "-f", "null", "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::read_to_string(stats)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().find_map(|w| w.strip_prefix("All:")))
        .map(|v| v.parse().unwrap())
        .collect()
}

pub fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// SSIM against `reference` (the source, or the single encode) of the frame before and the frame at each range start (their
/// indices), their mean and the mean of the other frames.
pub fn join_ssim(
    c: &Case,
    p: &Profile,
    playlist: &Path,
    reference: &Path,
    stats: &Path,
) -> (Vec<usize>, f64, f64) {
    let frames = ssim(playlist, reference, p, stats);
    assert!(frames.len() as f64 >= c.duration * p.fps.as_f64() - 1.0, "{}", frames.len());
    let rate = p.fps.as_f64();
    let mut at_joins = Vec::new();
    for r in &c.plan.ranges[1..] {
        let f = (r.start_secs * rate).round() as usize;
        at_joins.extend([f - 1, f]);
    }
    let boundary: Vec<f64> = at_joins.iter().map(|&i| frames[i]).collect();
    let rest: Vec<f64> =
        (0..frames.len()).filter(|i| !at_joins.contains(i)).map(|i| frames[i]).collect();
    (at_joins, mean(&boundary), mean(&rest))
}

/// The `mfhd` sequence number of the first fragment of a segment.
pub fn first_sequence(segment: &[u8]) -> u32 {
    let i = segment.windows(4).position(|w| w == b"mfhd").expect("an mfhd box") + 8;
    u32::from_be_bytes(segment[i..i + 4].try_into().unwrap())
}

/// SSIM (`All`) of two pictures, `a` cropped to `crop` (`w:h:x:y`) first.
pub fn picture_ssim(a: &Path, crop: &str, b: &Path) -> f64 {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-i"])
        .arg(a)
        .arg("-i")
        .arg(b)
        .args(["-lavfi", &format!("[0:v]crop={crop}[a];[a][1:v]ssim"), "-f", "null", "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    let all = err.rsplit("All:").next().unwrap();
    all.split_whitespace().next().unwrap().parse().unwrap()
}
