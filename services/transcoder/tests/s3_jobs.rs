//! Whole transcode jobs on a real S3 server (SeaweedFS) as the media store: a chunked job, a
//! passthrough (H.264/AAC by stream copy), an audio-only source and a whole job (chunks off)
//! each reach ready and ffmpeg decodes what is in the bucket, while the source is never copied
//! to the transcoder's disk: the store (the real S3 store, wrapped to count) never ran
//! `fetch_to` of the source key, every ffmpeg read the source by URL, and a sampler walking
//! the work dir every 50 ms never saw a file half the source's size. A source removed from
//! the bucket mid-job fails that attempt and then the job for good, not a hang.

mod common;
#[path = "s3_jobs/counting.rs"]
mod counting;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::{Env, env, run_to_end};
use counting::Counting;
use framelog_core::media::{hls_prefix, source_key};
use framelog_core::media_s3::S3MediaStore;
use framelog_tests::SeaweedFs;
use framelog_transcoder::job::TMP_DIR;
use framelog_transcoder::{Outcome, TranscoderSettings};

const BUCKET: &str = "jobs";

struct S3Env {
    env: Env,
    store: Arc<Counting>,
    weed: SeaweedFs,
    scratch: tempfile::TempDir,
}

async fn s3_env() -> S3Env {
    let weed = SeaweedFs::start().await;
    let env = env().await;
    let s3 = S3MediaStore::open(&weed.settings(BUCKET), &env.ctx.platform.js, 1).await.unwrap();
    let store = Counting::wrap(Arc::new(s3));
    let env = env.with_media(store.clone());
    S3Env { env, store, weed, scratch: tempfile::tempdir().unwrap() }
}

fn ffmpeg(args: &[&str]) {
    let st = Command::new("ffmpeg").args(["-hide_banner", "-v", "error", "-y"]).args(args).status();
    assert!(st.unwrap().success(), "ffmpeg {args:?}");
}

/// 12 s of 640x360 H.264 (keyframes every second, ~3 Mb/s so no output file comes near its
/// size) with AAC audio, or without audio.
fn video(dir: &Path, name: &str, audio: bool) -> PathBuf {
    let out = dir.join(name);
    let mut a = vec!["-f", "lavfi", "-i", "testsrc2=s=640x360:r=30:d=12,noise=alls=40:allf=t"];
    if audio {
        a.extend(["-f", "lavfi", "-i", "sine=f=440:r=48000:d=12", "-c:a", "aac", "-b:a", "128k"]);
    }
    a.extend(["-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-pix_fmt", "yuv420p"]);
    a.extend(["-b:v", "3M", out.to_str().unwrap()]);
    ffmpeg(&a);
    out
}

/// An ffmpeg that appends its arguments to `log`, one run a line, and runs the real one.
fn logging_ffmpeg(dir: &Path) -> (PathBuf, PathBuf) {
    let (script, log) = (dir.join("ffmpeg"), dir.join("ffmpeg.log"));
    let body = format!("#!/bin/sh\necho \"$*\" >> '{}'\nexec ffmpeg \"$@\"\n", log.display());
    std::fs::write(&script, body).unwrap();
    let mut perm = std::fs::metadata(&script).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&script, perm).unwrap();
    (script, log)
}

/// Samples the work tree every 50 ms until dropped: the largest file it saw.
struct Sampler {
    stop: Arc<AtomicBool>,
    largest: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn largest_file(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else { return 0 };
    rd.flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => largest_file(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .max()
        .unwrap_or(0)
}

impl Sampler {
    fn start(dir: PathBuf) -> Sampler {
        let (stop, largest) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
        let (s, l) = (stop.clone(), largest.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                l.fetch_max(largest_file(&dir), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(50));
            }
            l.fetch_max(largest_file(&dir), Ordering::Relaxed);
        });
        Sampler { stop, largest, thread: Some(thread) }
    }

    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap();
        self.largest.load(Ordering::Relaxed)
    }
}

impl S3Env {
    fn settings(&self, ffmpeg: &Path) -> TranscoderSettings {
        let mut s = TranscoderSettings::for_test();
        s.segment_secs = 2;
        s.chunks.range_segments = 2;
        s.chunks.passthrough = false;
        s.ffmpeg = ffmpeg.to_owned();
        s
    }

    /// Transcodes `src` as video `id` with `settings` and checks the source stayed in the
    /// bucket; returns the live master's text.
    async fn transcode(&self, id: &str, src: &Path, settings: TranscoderSettings) -> String {
        let size = std::fs::metadata(src).unwrap().len();
        let log = settings.ffmpeg.with_file_name("ffmpeg.log");
        self.env.request_file(id, src).await;
        let work = self.env.ctx.platform.settings.data_dir.join(TMP_DIR);
        let sampler = Sampler::start(work.clone());
        let mut w = self.env.worker(settings, "w1").await;
        let outcome = run_to_end(&mut w).await;
        let largest = sampler.finish();
        assert!(matches!(outcome, Outcome::Completed { .. }), "{outcome:?}");
        let key = source_key("acme", id);
        assert_eq!(self.store.fetched(&key), 0, "the source was never copied to local disk");
        assert!(self.store.presigned(&key) >= 1, "it was read through its URL");
        println!("{id}: source {size} bytes, largest file in the work dir {largest}");
        assert!(largest * 2 < size, "a file of {largest} bytes (source {size}) under {work:?}");
        let runs = std::fs::read_to_string(&log).unwrap();
        assert!(runs.lines().any(|r| r.contains(" -i http://")), "{runs}");
        assert!(!runs.contains("/source "), "no ffmpeg read a local copy: {runs}");
        let prefix = hls_prefix("acme", id);
        let current = self.env.ctx.media.current(&prefix).await.unwrap().expect("a live version");
        assert!(current.pointer.complete);
        let v = current.pointer.version;
        let master = self.get(&format!("{prefix}/v/{v}/master.m3u8")).await;
        self.decode_all(&prefix, &master).await;
        master
    }

    async fn get(&self, key: &str) -> String {
        let url = format!("{}/{BUCKET}/{key}", self.weed.endpoint());
        let r = reqwest::get(&url).await.unwrap();
        assert_eq!(r.status(), 200, "{key}");
        r.text().await.unwrap()
    }

    /// ffmpeg (not our parser) decodes every stream and audio rendition the master names, from
    /// the bucket.
    async fn decode_all(&self, prefix: &str, master: &str) {
        let mut uris: Vec<&str> =
            master.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).collect();
        for l in master.lines().filter(|l| l.starts_with("#EXT-X-MEDIA:")) {
            uris.extend(l.split("URI=\"").nth(1).and_then(|r| r.split('"').next()));
        }
        assert!(!uris.is_empty(), "{master}");
        for uri in uris {
            let url = format!("{}/{BUCKET}/{prefix}/{uri}", self.weed.endpoint());
            let out = tokio::process::Command::new("ffmpeg")
                .args(["-hide_banner", "-v", "error", "-i", &url, "-f", "null", "-"])
                .output()
                .await
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success() && err.is_empty(), "{uri}: {err}");
        }
    }
}

#[tokio::test]
async fn a_chunked_job_reads_its_s3_source_by_url_and_never_copies_it() {
    let s = s3_env().await;
    let src = video(s.scratch.path(), "chunked.mp4", true);
    let (ffmpeg, _) = logging_ffmpeg(s.scratch.path());
    let master = s.transcode("s3chunk", &src, s.settings(&ffmpeg)).await;
    assert!(master.contains("#EXT-X-STREAM-INF"), "{master}");
}

#[tokio::test]
async fn a_passthrough_is_packaged_from_the_url_of_an_h264_aac_source_in_s3() {
    let s = s3_env().await;
    let src = video(s.scratch.path(), "pass.mp4", true);
    let (ffmpeg, log) = logging_ffmpeg(s.scratch.path());
    let mut settings = s.settings(&ffmpeg);
    settings.chunks.passthrough = true;
    settings.chunks.keep_passthrough = true;
    let master = s.transcode("s3pass", &src, settings).await;
    assert!(master.contains("/source/playlist.m3u8"), "the stream copy is live: {master}");
    let runs = std::fs::read_to_string(log).unwrap();
    let copy = runs.lines().find(|r| r.contains("-c:v copy")).expect("a stream copy ran");
    assert!(copy.contains("-seekable 1 ") && copy.contains(" -i http://"), "{copy}");
}

#[tokio::test]
async fn an_audio_only_source_in_s3_becomes_an_audio_asset_without_a_local_copy() {
    let s = s3_env().await;
    let src = s.scratch.path().join("talk.m4a");
    ffmpeg(
        &["-f", "lavfi", "-i", "sine=f=330:r=48000:d=30", "-ac", "2", "-c:a", "aac"]
            .into_iter()
            .chain(["-b:a", "256k", src.to_str().unwrap()])
            .collect::<Vec<_>>(),
    );
    let (ffmpeg, _) = logging_ffmpeg(s.scratch.path());
    let master = s.transcode("s3audio", &src, s.settings(&ffmpeg)).await;
    assert!(!master.contains("RESOLUTION="), "no video: {master}");
}

#[tokio::test]
async fn a_whole_job_with_chunks_off_encodes_from_the_url_of_its_s3_source() {
    let s = s3_env().await;
    let src = video(s.scratch.path(), "whole.mp4", true);
    let (ffmpeg, _) = logging_ffmpeg(s.scratch.path());
    let mut settings = s.settings(&ffmpeg);
    settings.chunks.range_segments = 0;
    let master = s.transcode("s3whole", &src, settings).await;
    assert!(master.contains("#EXT-X-STREAM-INF"), "{master}");
}

#[tokio::test]
async fn a_source_removed_from_the_bucket_mid_job_fails_for_good_without_hanging() {
    let s = s3_env().await;
    let src = video(s.scratch.path(), "gone.mp4", true);
    let (ffmpeg, _) = logging_ffmpeg(s.scratch.path());
    let id = "s3gone";
    let nats = s.env.nats.client().await;
    let mut started = nats.subscribe(format!("vid.acme.transcode.started.{id}")).await.unwrap();
    s.env.request_file(id, &src).await;
    let mut w = s.env.worker(s.settings(&ffmpeg), "w1").await;
    assert!(matches!(w.process_next().await, Outcome::Taken { .. }));
    let next = futures::StreamExt::next(&mut started);
    tokio::time::timeout(Duration::from_secs(60), next).await.unwrap().unwrap();
    s.env.ctx.media.delete_prefix(&source_key("acme", id)).await.unwrap();
    // The running attempt fails (its work items find no source); the next one fails for good
    // on locating it. Each within run_to_end's bound: no hang.
    let mut reasons = Vec::new();
    loop {
        let outcome = run_to_end(&mut w).await;
        let Outcome::Failed { permanent, reason, .. } = outcome else { panic!("{outcome:?}") };
        assert!(reason.contains("is not in the media store"), "a clear reason: {reason}");
        assert!(!reason.contains("http") && !reason.contains("X-Amz"), "no URL: {reason}");
        reasons.push(reason);
        if permanent {
            break;
        }
        assert!(reasons.len() < 3, "not permanent after {reasons:?}");
    }
    println!("failed: {reasons:?}");
}
