//! Range encoding with seamless joins (issue 16): a source encoded as several ranges, each by
//! its own ffmpeg process, assembled into one playlist per rung, must play as a single-process
//! encode of the whole source does: the same frames, the same init segment, decode times that
//! run on across every join without a gap, no quality dip at the joins, and the storyboard's
//! thumbnails all there in order. Real ffmpeg/ffprobe, in-process.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use framelog_core::probe::VideoStream;
use framelog_tests::corpus::Class;
use framelog_transcoder::Encoder;
use framelog_transcoder::chunks::{ChunkPlan, plan};
use framelog_transcoder::command::{MEDIA_PLAYLIST, Stage, Thumbnails, stage_args};
use framelog_transcoder::ffmpeg::{Priority, run};
use framelog_transcoder::fmp4::init_fingerprint;
use framelog_transcoder::ladder::{LadderSource, select_profiles};
use framelog_transcoder::playlist::parse_media_playlist;
use framelog_transcoder::profile::Profile;
use framelog_transcoder::range_encode::{RangeJob, RangeOutput, encode_range};
use framelog_transcoder::storyboard::{Storyboard, poster_size, tile_interval};
use tokio_util::sync::CancellationToken;

/// A `secs` long 640x360 `testsrc2` (moving) at `rate`, H.264 with 1 s GOPs, no audio.
fn source(dir: &Path, rate: &str, secs: u32) -> PathBuf {
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
struct Case {
    input: PathBuf,
    video: Option<VideoStream>,
    duration: f64,
    profiles: Vec<Profile>,
    board: Storyboard,
    poster_at: f64,
    segment_secs: u32,
    plan: ChunkPlan,
}

async fn case(input: PathBuf, segment_secs: u32, range_segments: u32) -> Case {
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
async fn encode_ranges(c: &Case, dir: &Path, enc: &Encoder) -> Vec<RangeOutput> {
    let top = c.profiles.iter().max_by_key(|p| p.width * p.height).unwrap();
    let mut outs = Vec::new();
    for r in &c.plan.ranges {
        let out = dir.join(format!("r{}", r.index));
        let token = format!("{:08x}", 0xa000_0000u32 + r.index);
        let job = RangeJob {
            input: &c.input,
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
async fn encode_single(c: &Case, dir: &Path, enc: &Encoder) -> f64 {
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
        input: &c.input,
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
fn assemble(dir: &Path, ranges_dir: &Path, outs: &[RangeOutput], rung: &str) -> PathBuf {
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
fn packets(playlist: &Path) -> Vec<(i64, i64)> {
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
fn decode_errors(playlist: &Path) -> String {
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
fn ssim(playlist: &Path, source: &Path, p: &Profile, stats: &Path) -> Vec<f64> {
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

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// SSIM against `reference` (the source, or the single encode) of the frame before and the frame at each range start (their
/// indices), their mean and the mean of the other frames.
fn join_ssim(
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

/// The whole check for one source; prints the figures.
async fn check_joins(name: &str, c: Case) {
    let dir = tempfile::tempdir().unwrap();
    let enc = Encoder::libx264("veryfast");
    let started = Instant::now();
    let outs = encode_ranges(&c, &dir.path().join("ranges"), &enc).await;
    let ranges_wall = started.elapsed();
    let started = Instant::now();
    let single_cpu = encode_single(&c, &dir.path().join("single"), &enc).await;
    let single_wall = started.elapsed();
    let ranges_cpu: f64 = outs.iter().map(|o| o.cpu_secs).sum();
    println!(
        "{name}: {:.3} s, {} ranges of {:?} segments ({:.4} s each); ranges {:.1} s wall / {:.1} s \
         CPU, single {:.1} s wall / {:.1} s CPU",
        c.duration,
        c.plan.ranges.len(),
        c.plan.ranges.iter().map(|r| r.segments).collect::<Vec<_>>(),
        c.plan.segment_secs,
        ranges_wall.as_secs_f64(),
        ranges_cpu,
        single_wall.as_secs_f64(),
        single_cpu
    );
    for p in &c.profiles {
        let playlist =
            assemble(&dir.path().join("joined"), &dir.path().join("ranges"), &outs, &p.name);
        let single = dir.path().join("single").join(&p.name);
        // One init for every range, playing as the single encode's.
        let single_playlist = std::fs::read_to_string(single.join(MEDIA_PLAYLIST)).unwrap();
        let single_map = parse_media_playlist(&single_playlist).unwrap().init.unwrap();
        let single_init = std::fs::read(single.join(single_map)).unwrap();
        let fps_of = |o: &RangeOutput| {
            o.rungs.iter().find(|r| r.name == p.name).unwrap().init_fingerprint.clone()
        };
        let first = fps_of(&outs[0]);
        assert!(outs.iter().all(|o| fps_of(o) == first), "{}: one init fingerprint", p.name);
        assert_eq!(first, init_fingerprint(&single_init).unwrap(), "{}: the single init", p.name);
        let joined_init = std::fs::read(playlist.with_file_name(&outs[0].rungs[0].init)).unwrap();
        let byte_equal = joined_init == single_init;

        let errors = decode_errors(&playlist);
        assert!(errors.is_empty(), "{}: decoding the joined playlist: {errors}", p.name);
        let joined = packets(&playlist);
        let reference = packets(&single.join(MEDIA_PLAYLIST));
        assert_eq!(joined.len(), reference.len(), "{}: frames", p.name);
        let dts: Vec<i64> = joined.iter().map(|x| x.1).collect();
        let steps: Vec<i64> = dts.windows(2).map(|w| w[1] - w[0]).collect();
        let (lo, hi) = (*steps.iter().min().unwrap(), *steps.iter().max().unwrap());
        assert!(lo > 0, "{}: dts strictly increasing", p.name);
        assert_eq!(lo, hi, "{}: every dts step is one frame (no gap at a join)", p.name);
        let mut pts: Vec<i64> = joined.iter().map(|x| x.0).collect();
        pts.sort_unstable();
        assert!(
            pts.windows(2).all(|w| w[1] - w[0] == lo),
            "{}: pts cover every frame once",
            p.name
        );
        // x264 may place B-frames differently inside a range (pictures after a colour
        // conversion): the frame times must match, the packet order need not.
        let same_packets = joined == reference;
        let ref_dts: Vec<i64> = reference.iter().map(|x| x.1).collect();
        assert_eq!(dts, ref_dts, "{}: the single encode's decode times", p.name);
        let mut ref_pts: Vec<i64> = reference.iter().map(|x| x.0).collect();
        ref_pts.sort_unstable();
        assert_eq!(pts, ref_pts, "{}: the single encode's presentation times", p.name);

        // Quality at the joins: the frame before and the frame at each range start.
        let (at_joins, b, m) = join_ssim(&c, p, &playlist, &c.input, &dir.path().join("j.log"));
        assert_eq!(at_joins.len(), 2 * (c.plan.ranges.len() - 1));
        let (_, sb, sm) =
            join_ssim(&c, p, &single.join(MEDIA_PLAYLIST), &c.input, &dir.path().join("s.log"));
        // Against the single encode itself: a range that took another source frame at its
        // start (or end) than the single encode did shows as a dip there.
        let single_playlist = single.join(MEDIA_PLAYLIST);
        let (_, vb, vm) = join_ssim(&c, p, &playlist, &single_playlist, &dir.path().join("v.log"));
        println!(
            "  {} ({}x{} @ {}): {} frames = single; dts step {lo}, monotonic, = single; pts = \
             single; packets (B-frame placement) = single: {same_packets}; init byte-equal to \
             single: {byte_equal}; SSIM at joins {b:.5}, rest {m:.5} ({:+.3}%); single encode \
             at the same frames {sb:.5}, rest {sm:.5} ({:+.3}%); joined against single at \
             joins {vb:.5}, rest {vm:.5}",
            p.name,
            p.width,
            p.height,
            p.fps,
            joined.len(),
            (b - m) / m * 100.0,
            (sb - sm) / sm * 100.0
        );
        assert!(b >= sb * 0.995, "{}: SSIM at the joins {b}, the single encode's {sb}", p.name);
        assert!(vb >= vm * 0.995, "{}: against the single encode, joins {vb}, rest {vm}", p.name);
        // Against the rest of the frames: unless the single encode itself dips there (a
        // variable-rate source, whose jittered frames the SSIM filter pairs by time).
        if sb >= sm * 0.995 {
            assert!(b >= m * 0.995, "{}: SSIM at the joins {b} against {m}", p.name);
        }
    }
    // Thumbnails: the storyboard's count, in global order, and one poster.
    let thumbs: Vec<&String> = outs.iter().flat_map(|o| &o.thumbs).collect();
    let want: Vec<String> = c
        .plan
        .ranges
        .iter()
        .zip(&outs)
        .flat_map(|(r, o)| {
            (r.first_thumb..r.first_thumb + r.thumbs)
                .map(|i| format!("thumb_{i:05}-{}.jpg", o.token))
        })
        .collect();
    assert_eq!(thumbs.len() as u32, c.board.count, "thumbnails: {thumbs:?}");
    assert_eq!(thumbs.iter().map(|t| t.as_str()).collect::<Vec<_>>(), want);
    for o in &outs {
        for t in &o.thumbs {
            let path =
                dir.path().join("ranges").join(format!("r{}", o.index)).join("thumbs").join(t);
            assert!(std::fs::metadata(&path).unwrap().len() > 0, "{t}");
        }
    }
    let posters: Vec<&String> = outs.iter().filter_map(|o| o.poster.as_ref()).collect();
    assert_eq!(posters.len(), 1, "one poster");
    println!(
        "  {} thumbnails in order (single storyboard: {}), poster {}",
        thumbs.len(),
        c.board.count,
        posters[0]
    );
}

#[tokio::test]
async fn four_ranges_of_a_30_fps_source_join_into_the_single_process_encode() {
    let dir = tempfile::tempdir().unwrap();
    let c = case(source(dir.path(), "30", 24), 2, 4).await;
    assert_eq!(c.profiles.len(), 2, "{:?}", c.profiles);
    assert_eq!(c.plan.ranges.len(), 4);
    check_joins("30 fps", c).await;
}

#[tokio::test]
async fn ranges_of_a_29_97_fps_source_join_on_2_002_s_gops() {
    let dir = tempfile::tempdir().unwrap();
    let c = case(source(dir.path(), "30000/1001", 16), 2, 3).await;
    assert!((c.plan.segment_secs - 2.002).abs() < 1e-9);
    assert_eq!(c.plan.ranges.len(), 4);
    check_joins("29.97 fps", c).await;
}

#[tokio::test]
async fn ranges_of_a_variable_rate_rotated_hevc_phone_video_join_into_the_single_encode() {
    let dir = tempfile::tempdir().unwrap();
    let phone = framelog_tests::corpus::generate(Class::PhoneVfrRotated, dir.path());
    let c = case(phone.path, 2, 1).await;
    assert_eq!(c.plan.ranges.len(), 3, "{:?}", c.plan);
    assert!(c.profiles.iter().all(|p| p.height > p.width), "portrait rungs: {:?}", c.profiles);
    check_joins("phone VFR HEVC rotated", c).await;
}
