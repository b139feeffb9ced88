//! Deletes are final: a video deleted before or while it transcodes keeps no output, no source
//! and no event that says it plays, and its job is acked (neither failed nor retried).

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::{env, run_to_end};
use framelog_core::media::{MediaError, MediaStore, SharedMediaStore, hls_prefix, source_key};
use framelog_core::nats::STREAM_VID;
use framelog_core::tombstones::Tombstones;
use framelog_events::{Event, Kind, ReadyData, UploadData};
use framelog_tests::media::VideoSpec;
use framelog_transcoder::consumer::DURABLE;
use framelog_transcoder::emit::Emitter;
use framelog_transcoder::outputs::Deletion;
use framelog_transcoder::{JobError, Outcome, TranscoderSettings};
use futures::StreamExt;
use time::OffsetDateTime;

/// What `DELETE /v1/videos/{id}` does (ingest): tombstone, `deleted` event, media removed.
async fn delete_video(env: &common::Env, id: &str) {
    let graves = Tombstones::open(&env.ctx.platform.js).await.unwrap();
    graves.bury("acme", id).await.unwrap();
    let (tenant, video) = (common::tenant(), common::video(id));
    let ev = Event::new(
        Event::deterministic_id(&tenant, &video, Kind::Upload, "deleted", ""),
        OffsetDateTime::now_utc(),
        "framelog/test",
        tenant,
        video,
        UploadData::Deleted {},
    );
    env.ctx.platform.events.publish(&ev).await.unwrap();
    env.ctx.media.delete_prefix(&hls_prefix("acme", id)).await.unwrap();
    env.ctx.media.delete_prefix(&format!("sources/acme/{id}")).await.unwrap();
}

/// Every file under `dir` (none if it does not exist).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for e in entries.flatten() {
        if e.path().is_dir() {
            out.extend(files_under(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

/// Everything the media store holds for a video: its HLS prefix, staged swaps next to it, its
/// source.
fn leftovers(env: &common::Env, id: &str) -> Vec<PathBuf> {
    let mut out = files_under(&env.media(&hls_prefix("acme", id)));
    if let Ok(siblings) = std::fs::read_dir(env.media("hls/acme")) {
        for e in siblings.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(&format!("{id}.")) {
                out.push(e.path());
            }
        }
    }
    out.extend(files_under(&env.media(&format!("sources/acme/{id}"))));
    out
}

/// Pids of live ffmpeg processes whose command line mentions `needle` (a job's work dir).
fn ffmpeg_pids(needle: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let cmd = String::from_utf8_lossy(&cmd);
        if cmd.starts_with("ffmpeg") && cmd.contains(needle) {
            pids.push(pid);
        }
    }
    pids
}

async fn consumer_state(env: &common::Env) -> (usize, u64) {
    let stream = env.ctx.platform.js.get_stream(STREAM_VID).await.unwrap();
    let mut c: async_nats::jetstream::consumer::PullConsumer =
        stream.get_consumer(DURABLE).await.unwrap();
    let info = c.info().await.unwrap();
    (info.num_ack_pending, info.num_pending)
}

/// Subjects of the video's events logged after its `deleted` event.
async fn after_delete(env: &common::Env, id: &str) -> Vec<String> {
    let subjects: Vec<String> = env
        .log("vid.acme.")
        .await
        .into_iter()
        .map(|(s, _)| s)
        .filter(|s| s.ends_with(&format!(".{id}")))
        .collect();
    let at = subjects
        .iter()
        .position(|s| s.starts_with("vid.acme.upload.deleted."))
        .expect("the deleted event is logged");
    subjects[at + 1..].to_vec()
}

#[tokio::test]
async fn a_video_deleted_while_it_transcodes_keeps_nothing_and_its_job_is_acked() {
    let env = env().await;
    let id = "vdelmid";
    let mut playable = env
        .nats
        .client()
        .await
        .subscribe(format!("vid.acme.transcode.playable.{id}"))
        .await
        .unwrap();
    env.request(id, &VideoSpec::new(1280, 720, 16.0)).await;
    let mut w = env.worker(TranscoderSettings::for_test(), "w1").await;
    assert!(matches!(w.process_next().await, Outcome::Taken { .. }));
    // The lowest rung is published early; the rest of the ladder is still encoding.
    tokio::time::timeout(Duration::from_secs(120), playable.next()).await.unwrap().unwrap();
    assert!(env.live_dir(id).join("master.m3u8").exists(), "published early");
    assert_eq!(w.running(), 1, "the job still runs");
    let needle = format!("acme-{id}-");
    // Playable may come from the passthrough, just before the ladder's first encode starts.
    let seen = std::time::Instant::now();
    while ffmpeg_pids(&needle).is_empty() {
        assert!(seen.elapsed() < Duration::from_secs(30), "the ladder's ffmpeg runs");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    delete_video(&env, id).await;
    let deleted_at = std::time::Instant::now();
    // Its ffmpeg is stopped at once, not left to finish the ladder.
    while !ffmpeg_pids(&needle).is_empty() {
        assert!(
            deleted_at.elapsed() < Duration::from_secs(2),
            "ffmpeg still runs after the delete"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let outcome = run_to_end(&mut w).await;
    assert!(matches!(outcome, Outcome::Deleted { .. }), "{outcome:?}");
    assert_eq!(leftovers(&env, id), Vec::<PathBuf>::new(), "no output and no source remain");
    let late = after_delete(&env, id).await;
    assert!(late.is_empty(), "nothing emitted after the delete: {late:?}");
    assert!(env.events(id, Kind::Ready, "published").await.is_empty());
    assert!(env.events(id, Kind::Transcode, "failed").await.is_empty(), "not a failure");
    assert_eq!(consumer_state(&env).await, (0, 0), "acked");
    assert_eq!(w.process_next().await, Outcome::Idle, "not redelivered");
}

#[tokio::test]
async fn a_job_for_a_video_deleted_before_it_starts_is_acked_without_any_work() {
    let env = env().await;
    let id = "vdelfirst";
    env.request(id, &VideoSpec::new(640, 360, 1.0).fps(10)).await;
    delete_video(&env, id).await;
    let mut w = env.worker(TranscoderSettings::for_test(), "w1").await;
    let outcome = run_to_end(&mut w).await;
    assert!(matches!(outcome, Outcome::Deleted { .. }), "{outcome:?}");
    assert_eq!(env.phases(id).await, ["transcode.requested"], "no started, failed, or playable");
    assert_eq!(leftovers(&env, id), Vec::<PathBuf>::new());
    assert_eq!(consumer_state(&env).await, (0, 0));
    assert_eq!(w.process_next().await, Outcome::Idle);
}

/// A store whose `put_dir` lets a delete land right after the job's check: it writes, then
/// buries the video.
#[derive(Debug)]
struct DeleteDuringWrite {
    inner: SharedMediaStore,
    graves: Tombstones,
}

#[async_trait::async_trait]
impl MediaStore for DeleteDuringWrite {
    async fn put_file(&self, key: &str, src: &Path) -> Result<u64, MediaError> {
        self.inner.put_file(key, src).await
    }
    async fn put_dir(&self, prefix: &str, src: &Path) -> Result<(), MediaError> {
        self.inner.put_dir(prefix, src).await?;
        self.graves.bury("acme", "vrace").await.unwrap();
        Ok(())
    }
    fn local_path(&self, key: &str) -> Option<PathBuf> {
        self.inner.local_path(key)
    }
    async fn fetch_to(&self, key: &str, dest: &Path) -> Result<(), MediaError> {
        self.inner.fetch_to(key, dest).await
    }
    async fn exists(&self, key: &str) -> Result<bool, MediaError> {
        self.inner.exists(key).await
    }
    async fn delete_prefix(&self, prefix: &str) -> Result<(), MediaError> {
        self.inner.delete_prefix(prefix).await
    }
}

#[tokio::test]
async fn a_delete_landing_between_the_check_and_the_write_removes_what_was_written() {
    let env = env().await;
    let request = env.request("vrace", &VideoSpec::new(320, 180, 1.0).fps(10)).await;
    let graves = Tombstones::open(&env.ctx.platform.js).await.unwrap();
    let racing: SharedMediaStore =
        Arc::new(DeleteDuringWrite { inner: env.ctx.media.clone(), graves: graves.clone() });
    let deletion = Deletion::new(graves, racing, "acme", "vrace");
    let out = env.sources.path().join("out");
    std::fs::create_dir_all(out.join("360p")).unwrap();
    std::fs::write(out.join("master.m3u8"), "#EXTM3U\n").unwrap();
    std::fs::write(out.join("360p/seg_000.m4s"), b"segment").unwrap();

    let res = deletion.put_dir(&hls_prefix("acme", "vrace"), &out).await;
    assert!(matches!(res, Err(JobError::Deleted)), "{res:?}");
    assert_eq!(leftovers(&env, "vrace"), Vec::<PathBuf>::new(), "written, then removed");
    assert!(!env.media(&source_key("acme", "vrace")).exists());

    // And nothing is emitted for it any more.
    let emit = Emitter::new(env.ctx.platform.events.clone(), request).guarded(deletion);
    let ready = ReadyData::Published {
        renditions: vec!["360p".into()],
        duration_secs: 1.0,
        poster: "p".into(),
        storyboard: "s".into(),
        audio_only: false,
    };
    assert!(matches!(emit.emit(ready, "").await, Err(JobError::Deleted)));
    assert!(env.events("vrace", Kind::Ready, "published").await.is_empty());
}
