//! One video on many workers (issue 16), end to end on a real nats-server with real ffmpeg:
//! a job split into ranges is shared by two worker processes and plays through without a seam;
//! a range whose encode is killed is retried alone; a source browsers can play as it is, is
//! playable (by stream copy) before any encode starts; an HEVC source is playable from the
//! ladder's first range, long before the ladder is done.
//!
//! Every ffmpeg run goes through a wrapper that logs its start time and arguments, so the
//! tests can say which encodes ran, how often, and when.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use framelog_events::Kind;
use framelog_tests::media::VideoSpec;
use framelog_transcoder::item_worker::{ItemOutcome, ItemWorker};
use framelog_transcoder::{Outcome, TranscoderSettings};
use serde_json::Value;

/// An ffmpeg that appends `<unix secs> <args>` to `log` and runs the real one.
fn logging_ffmpeg(dir: &Path) -> (PathBuf, PathBuf) {
    let log = dir.join("ffmpeg.log");
    let script = dir.join("ffmpeg");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$(date +%s.%N) $*\" >> '{}'\nexec ffmpeg \"$@\"\n",
            log.display()
        ),
    )
    .unwrap();
    let mut perm = std::fs::metadata(&script).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&script, perm).unwrap();
    (script, log)
}

/// (start time, args) of every logged ffmpeg run.
fn runs(log: &Path) -> Vec<(f64, String)> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (t, args) = l.split_once(' ')?;
            Some((t.parse().ok()?, args.to_owned()))
        })
        .collect()
}

/// The range encodes among `runs`: the value of their `-ss`.
fn range_starts(runs: &[(f64, String)]) -> Vec<(f64, String)> {
    runs.iter()
        .filter_map(|(t, a)| {
            let mut it = a.split(' ');
            it.position(|w| w == "-ss")?;
            Some((*t, it.next()?.to_owned()))
        })
        .collect()
}

/// The work-item loop of a second transcoder process on `ctx`.
async fn item_worker(
    env: &Env,
    ctx: &framelog_core::service::ServiceContext,
    s: TranscoderSettings,
    name: &str,
) -> (ItemWorker, tokio_util::sync::CancellationToken) {
    let w = env.worker_on(ctx, s, name).await;
    let items = w.item_worker().await.unwrap().with_poll(Duration::from_millis(200));
    (items, ctx.shutdown.clone())
}

/// Drives `items` until `stop`; how many items it encoded.
async fn drive_items(
    (mut items, stop): (ItemWorker, tokio_util::sync::CancellationToken),
) -> usize {
    let mut done = 0;
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            o = items.process_next() => {
                if let ItemOutcome::Done { .. } = o {
                    done += 1;
                }
            }
        }
    }
    let late = items.shutdown().await;
    done + late.iter().filter(|o| matches!(o, ItemOutcome::Done { .. })).count()
}

/// Small ranges: 2 s segments, range 0 one segment, then two per range.
fn settings(ffmpeg: &Path) -> TranscoderSettings {
    let mut s = TranscoderSettings::for_test();
    s.segment_secs = 2;
    s.chunks.range_segments = 2;
    s.chunks.first_range_segments = 1;
    s.ffmpeg = ffmpeg.to_owned();
    s
}

fn event_secs(v: &Value) -> f64 {
    let t = v["time"].as_str().unwrap();
    let t = time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).unwrap();
    t.unix_timestamp_nanos() as f64 / 1e9
}

/// Decodes every rung of the live master with ffmpeg (errors fail) and returns, per rung, the
/// frame count and the video packets' dts.
fn decode_rungs(dir: &Path) -> Vec<(String, u64, Vec<f64>)> {
    let master = std::fs::read_to_string(dir.join("master.m3u8")).unwrap();
    let mut out = Vec::new();
    for line in master.lines().filter(|l| l.ends_with("/playlist.m3u8") && !l.starts_with('#')) {
        // URIs are rooted at the video: v/<version>/<rung>/playlist.m3u8.
        let rel: Vec<&str> = line.split('/').skip(2).collect();
        let rung = rel[0].to_owned();
        if rel.len() != 2 || rung.starts_with("a-") || rung == "source" {
            continue;
        }
        let playlist = dir.join(&rung).join("playlist.m3u8");
        let dec = Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(&playlist)
            .args(["-f", "null", "-"])
            .output()
            .unwrap();
        assert!(
            dec.status.success() && dec.stderr.is_empty(),
            "{rung}: {}",
            String::from_utf8_lossy(&dec.stderr)
        );
        let probe = Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-select_streams",
                "v:0",
                "-show_entries",
                "packet=dts_time",
                "-of",
                "csv=p=0",
            ])
            .arg(&playlist)
            .output()
            .unwrap();
        let dts: Vec<f64> = String::from_utf8_lossy(&probe.stdout)
            .lines()
            .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
            .collect();
        out.push((rung, dts.len() as u64, dts));
    }
    out
}

/// dts strictly increasing with no step longer than 1.5 frames (no gap at any join).
fn assert_continuous(rung: &str, dts: &[f64], fps: f64) {
    for w in dts.windows(2) {
        let step = w[1] - w[0];
        assert!(step > 0.0 && step < 1.5 / fps, "{rung}: dts {} then {} (step {step})", w[0], w[1]);
    }
}

#[tokio::test]
async fn a_job_of_five_ranges_is_shared_by_two_workers_and_plays_through_without_a_seam() {
    let env = env().await;
    let scratch = tempfile::tempdir().unwrap();
    let (ffmpeg, log) = logging_ffmpeg(scratch.path());
    let mut s = settings(&ffmpeg);
    // The ladder itself, not a stream copy, is under test here.
    s.chunks.passthrough = false;
    let mut a = env.worker(s.clone(), "worker-a").await;
    let other = env.another_process();
    let b = item_worker(&env, &other, s.clone(), "worker-b").await;
    let stop = b.1.clone();
    let b_task = tokio::spawn(drive_items(b));
    // 16 s: ranges [0,2) [2,6) [6,10) [10,14) [14,16).
    env.request("par1", &VideoSpec::new(640, 360, 16.0)).await;
    let outcome = run_to_end(&mut a).await;
    stop.cancel();
    let b_done = b_task.await.unwrap();
    let Outcome::Completed { renditions, .. } = &outcome else { panic!("{outcome:?}") };
    assert_eq!(renditions.len(), 2, "{renditions:?}");
    let starts = range_starts(&runs(&log));
    assert_eq!(starts.len(), 5, "each range encoded once: {starts:?}");
    assert!(b_done >= 1, "the second worker encoded some ranges ({b_done})");
    assert!(b_done < 5, "the job's own worker encoded some too ({b_done})");
    let dir = env.live_dir("par1");
    for (rung, frames, dts) in decode_rungs(&dir) {
        assert_eq!(frames, 480, "{rung}: as many frames as a single encode of 16 s at 30 fps");
        assert_continuous(&rung, &dts, 30.0);
    }
    let completed = env.events("par1", Kind::Transcode, "completed").await;
    assert_eq!(completed.len(), 1);
    assert!(completed[0]["data"]["cpu_seconds"].as_f64().unwrap() > 0.0);
    let playable = env.events("par1", Kind::Transcode, "playable").await;
    assert_eq!(playable.len(), 1);
    // Playable from range 0 while later ranges were still to start.
    let last_start = starts.iter().map(|(t, _)| *t).fold(0.0, f64::max);
    assert!(event_secs(&playable[0]) < last_start + 30.0);
}

#[tokio::test]
async fn a_range_whose_encode_is_killed_is_retried_alone() {
    let env = env().await;
    let scratch = tempfile::tempdir().unwrap();
    let (ffmpeg, log) = logging_ffmpeg(scratch.path());
    let mut s = settings(&ffmpeg);
    s.chunks.passthrough = false;
    let mut a = env.worker(s, "worker-a").await;
    env.request("par2", &VideoSpec::new(640, 360, 12.0).without_audio()).await;
    let job = tokio::spawn(async move { run_to_end(&mut a).await });
    // Kill the encode of the range starting at 2 s once it runs.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut killed = false;
    while !killed && Instant::now() < deadline {
        for pid in ffmpeg_pids("par2") {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            // Range 1 starts at 2 s, read from half a frame earlier.
            if cmd.contains("-ss 1.98") {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
                killed = true;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(killed, "the range's encode was seen and killed");
    let outcome = job.await.unwrap();
    assert!(matches!(outcome, Outcome::Completed { .. }), "{outcome:?}");
    let starts: Vec<String> = range_starts(&runs(&log)).into_iter().map(|(_, s)| s).collect();
    let again = starts.iter().filter(|s| s.starts_with("1.98")).count();
    assert_eq!(again, 2, "the killed range ran twice: {starts:?}");
    assert_eq!(starts.len(), 5, "every other range ran once: {starts:?}");
    for (rung, frames, dts) in decode_rungs(&env.live_dir("par2")) {
        assert_eq!(frames, 360, "{rung}");
        assert_continuous(&rung, &dts, 30.0);
    }
}

#[tokio::test]
async fn a_source_browsers_play_as_it_is_is_playable_before_any_encode_starts() {
    let env = env().await;
    let scratch = tempfile::tempdir().unwrap();
    let (ffmpeg, log) = logging_ffmpeg(scratch.path());
    let mut a = env.worker(settings(&ffmpeg), "worker-a").await;
    env.request("par3", &VideoSpec::new(640, 360, 10.0)).await;
    let outcome = run_to_end(&mut a).await;
    assert!(matches!(outcome, Outcome::Completed { .. }), "{outcome:?}");
    let playable = env.events("par3", Kind::Transcode, "playable").await;
    assert_eq!(playable.len(), 1);
    assert_eq!(playable[0]["data"]["renditions"], serde_json::json!(["source"]));
    let runs = runs(&log);
    let first_encode = range_starts(&runs).iter().map(|(t, _)| *t).fold(f64::MAX, f64::min);
    assert!(
        event_secs(&playable[0]) < first_encode,
        "playable at {} before the first range encode at {first_encode}",
        event_secs(&playable[0])
    );
    assert!(runs[0].1.contains("-c:v copy"), "the first ffmpeg is a stream copy: {}", runs[0].1);
    // Once the ladder is complete the master no longer offers the stream copy.
    let master = std::fs::read_to_string(env.live_dir("par3").join("master.m3u8")).unwrap();
    assert!(!master.contains("/source/"), "{master}");
    assert!(master.contains("/360p/playlist.m3u8"), "{master}");
}

#[tokio::test]
async fn an_hevc_source_is_playable_from_the_first_range_of_the_ladder() {
    let env = env().await;
    let scratch = tempfile::tempdir().unwrap();
    let (ffmpeg, log) = logging_ffmpeg(scratch.path());
    let src = scratch.path().join("hevc.mp4");
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i", "testsrc2=s=640x360:r=30:d=10"])
        .args([
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-tag:v",
            "hvc1",
            "-x265-params",
            "log-level=error",
        ])
        .arg(&src)
        .status()
        .unwrap();
    assert!(ok.success());
    let mut a = env.worker(settings(&ffmpeg), "worker-a").await;
    env.request_file("par4", &src).await;
    let outcome = run_to_end(&mut a).await;
    assert!(matches!(outcome, Outcome::Completed { .. }), "{outcome:?}");
    let runs = runs(&log);
    assert!(!runs.iter().any(|(_, a)| a.contains("-c:v copy")), "no stream copy of HEVC");
    let playable = env.events("par4", Kind::Transcode, "playable").await;
    assert_eq!(playable.len(), 1);
    let names = playable[0]["data"]["renditions"].as_array().unwrap().clone();
    assert!(names.iter().any(|n| n == "360p"), "{names:?}");
    let starts = range_starts(&runs);
    let last_start = starts.iter().map(|(t, _)| *t).fold(0.0, f64::max);
    assert!(
        event_secs(&playable[0]) < last_start,
        "playable ({}) before the last range started ({last_start})",
        event_secs(&playable[0])
    );
}

#[tokio::test]
async fn fault_a_coordinator_killed_mid_job_is_finished_in_the_same_version_by_another_worker() {
    let env = env().await;
    let scratch = tempfile::tempdir().unwrap();
    let (ffmpeg, log) = logging_ffmpeg(scratch.path());
    let mut s = settings(&ffmpeg);
    s.chunks.passthrough = false;
    s.ack_wait_secs = 2;
    let id = "par5";
    let nats = env.nats.client().await;
    let mut playable = nats.subscribe(format!("vid.acme.transcode.playable.{id}")).await.unwrap();
    env.request(id, &VideoSpec::new(640, 360, 16.0)).await;
    let mut a = env.worker(s.clone(), "worker-a").await;
    assert!(matches!(a.process_next().await, Outcome::Taken { .. }));
    // Range 0 and the audio are done and the growing ladder is live: then worker A dies.
    tokio::time::timeout(Duration::from_secs(120), futures::StreamExt::next(&mut playable))
        .await
        .unwrap()
        .unwrap();
    let growing = env.live_dir(id);
    let text = std::fs::read_to_string(growing.join("360p/playlist.m3u8")).unwrap();
    assert!(text.contains("#EXT-X-PLAYLIST-TYPE:EVENT") && !text.contains("ENDLIST"), "{text}");
    drop(a);
    let mut b = env.worker(s, "worker-b").await;
    let outcome = run_to_end(&mut b).await;
    assert!(matches!(outcome, Outcome::Completed { .. }), "{outcome:?}");
    assert_eq!(env.live_dir(id), growing, "the request's version is finished, not replaced");
    let starts: Vec<String> = range_starts(&runs(&log)).into_iter().map(|(_, s)| s).collect();
    let first = starts.iter().filter(|s| s.as_str() == "0.000000").count();
    assert_eq!(first, 1, "range 0, done before the crash, is not encoded again: {starts:?}");
    for (rung, frames, dts) in decode_rungs(&growing) {
        assert_eq!(frames, 480, "{rung}");
        assert_continuous(&rung, &dts, 30.0);
    }
    let text = std::fs::read_to_string(growing.join("360p/playlist.m3u8")).unwrap();
    assert!(text.contains("#EXT-X-PLAYLIST-TYPE:VOD") && text.contains("#EXT-X-ENDLIST"));
    assert_eq!(env.events(id, Kind::Transcode, "completed").await.len(), 1);
}

#[tokio::test]
async fn a_passthrough_is_playable_while_its_copy_still_runs_whatever_the_length() {
    let env = env().await;
    let scratch = tempfile::tempdir().unwrap();
    // The stream copy read at 10x real time (`-readrate`), as a long source would take: the
    // copy of 40 s lasts about 4 s.
    let script = scratch.path().join("ffmpeg");
    std::fs::write(
        &script,
        "#!/bin/sh\ncase \"$*\" in *'-c:v copy'*) exec ffmpeg -readrate 10 \"$@\";; esac\n\
         exec ffmpeg \"$@\"\n",
    )
    .unwrap();
    let mut perm = std::fs::metadata(&script).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&script, perm).unwrap();
    let src = scratch.path().join("keyed.mp4");
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i", "testsrc2=s=640x360:r=30:d=40"])
        .args(["-f", "lavfi", "-i", "sine=d=40", "-c:v", "libx264", "-preset", "ultrafast"])
        .args(["-g", "30", "-c:a", "aac"])
        .arg(&src)
        .status()
        .unwrap();
    assert!(ok.success());
    let id = "par6";
    let nats = env.nats.client().await;
    let mut playable = nats.subscribe(format!("vid.acme.transcode.playable.{id}")).await.unwrap();
    env.request_file(id, &src).await;
    let mut a = env.worker(settings(&script), "worker-a").await;
    assert!(matches!(a.process_next().await, Outcome::Taken { .. }));
    tokio::time::timeout(Duration::from_secs(60), futures::StreamExt::next(&mut playable))
        .await
        .unwrap()
        .unwrap();
    let live = env.live_dir(id);
    let early = std::fs::read_to_string(live.join("source/playlist.m3u8")).unwrap();
    assert!(early.contains("#EXT-X-START:TIME-OFFSET=0"), "{early}");
    assert!(!early.contains("#EXT-X-ENDLIST"), "playable before the copy ended: {early}");
    let listed = early.matches("#EXTINF").count();
    assert!((1..20).contains(&listed), "{listed} of 20 segments stored at playable");
    let master = std::fs::read_to_string(live.join("master.m3u8")).unwrap();
    assert!(master.contains("/source/playlist.m3u8"), "{master}");
    // A player could play what is listed: its init and segments, joined, decode now (ffmpeg's
    // HLS reader would wait on a playlist without ENDLIST; the job runs on meanwhile).
    let mut joined = Vec::new();
    for line in early.lines() {
        let name = match line.strip_prefix("#EXT-X-MAP:URI=\"") {
            Some(rest) => rest.trim_end_matches('"'),
            None if !line.starts_with('#') && !line.is_empty() => line,
            None => continue,
        };
        joined.extend(std::fs::read(live.join("source").join(name)).unwrap());
    }
    let file = scratch.path().join("listed.mp4");
    std::fs::write(&file, joined).unwrap();
    let dec = tokio::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&file)
        .args(["-f", "null", "-"])
        .output()
        .await
        .unwrap();
    assert!(
        dec.status.success() && dec.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&dec.stderr)
    );
    let outcome = run_to_end(&mut a).await;
    assert!(matches!(outcome, Outcome::Completed { .. }), "{outcome:?}");
    let done = std::fs::read_to_string(live.join("source/playlist.m3u8")).unwrap();
    assert!(done.contains("#EXT-X-ENDLIST") && done.matches("#EXTINF").count() == 20, "{done}");
}
