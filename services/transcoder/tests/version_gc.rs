//! Old output versions are collected whatever restarted (real nats-server, real ffmpeg): a
//! version retired by a process that died within its grace period, and a version stored by an
//! attempt that crashed before moving the pointer, are both removed by the sweeper once the
//! grace period has passed; the live version stays.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{env, run_to_end};
use framelog_core::media::hls_prefix;
use framelog_core::media::versions::VERSIONS_DIR;
use framelog_tests::media::VideoSpec;
use framelog_transcoder::publish::Version;
use framelog_transcoder::sweeper::Sweeper;
use framelog_transcoder::version_gc::Journal;
use framelog_transcoder::{Encoder, Outcome, TranscoderSettings, Worker};

const GRACE_SECS: u64 = 4;

fn settings() -> TranscoderSettings {
    TranscoderSettings {
        version_grace_secs: GRACE_SECS,
        sweep_interval_secs: 0,
        ..TranscoderSettings::for_test()
    }
}

/// The version directories stored for `id`.
fn stored(env: &common::Env, id: &str) -> BTreeSet<String> {
    let dir = env.media(&format!("hls/acme/{id}/{VERSIONS_DIR}"));
    std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn fault_versions_retired_or_orphaned_before_a_restart_are_collected_after_the_grace() {
    let env = env().await;
    let id = "vgc";
    let spec = VideoSpec::new(640, 360, 2.0).fps(10);
    env.request(id, &spec).await;

    // "Process A" runs both attempts on its own runtime with its own NATS connection and data
    // dir: its timers (the in-memory collection of the version it retires) live there, and
    // die with it, as in a SIGKILL. The second request is queued before A starts.
    env.request_again(id, &spec).await;
    let (url, media) = (env.nats.url(), env.ctx.media.clone());
    let process_a = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let out = rt.block_on(async {
            let data = tempfile::tempdir().unwrap();
            let common = framelog_core::CommonSettings::for_test(&url, data.path().into());
            let platform =
                framelog_core::Platform::start(common, "process-a", Duration::from_secs(10))
                    .await
                    .unwrap();
            let ctx = framelog_core::service::ServiceContext {
                platform,
                media,
                shutdown: tokio_util::sync::CancellationToken::new(),
            };
            let s = settings();
            let encoder = Encoder::libx264(&s.x264_preset);
            let mut w = Worker::new(&ctx, s, encoder, "process-a")
                .await
                .unwrap()
                .with_poll(Duration::from_millis(500));
            let prefix = hls_prefix("acme", id);
            assert!(matches!(run_to_end(&mut w).await, Outcome::Completed { .. }));
            let first = ctx.media.current(&prefix).await.unwrap().unwrap().pointer;
            assert!(matches!(run_to_end(&mut w).await, Outcome::Completed { .. }));
            let second = ctx.media.current(&prefix).await.unwrap().unwrap().pointer;
            (first, second)
        });
        // Killed within the grace period: every task of the process is gone at once.
        rt.shutdown_background();
        out
    });
    let (first, second) =
        tokio::task::spawn_blocking(move || process_a.join().unwrap()).await.unwrap();
    assert!(first.complete && second.complete && first.version != second.version);
    assert_eq!(second.retired.len(), 1, "{second:?}");
    let (v1, v2) = (first.version.clone(), second.version.clone());

    // A third attempt stored its files and died before moving the pointer: an orphan.
    let orphan = Version::new("acme", id);
    let journal = Journal::open(&env.ctx.platform.js, 1).await.unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    journal.note(&orphan.video_prefix, &orphan.id, now).await.unwrap();
    // Its files: a copy of the live version's (put_dir moves its source in).
    let scratch = tempfile::tempdir().unwrap();
    let copy = scratch.path().join("out");
    let live_dir = env.media(&format!("hls/acme/{id}/{VERSIONS_DIR}/{v2}"));
    let cp = std::process::Command::new("cp").arg("-r").arg(&live_dir).arg(&copy).status();
    assert!(cp.unwrap().success());
    env.ctx.media.put_dir(&orphan.prefix, &copy).await.unwrap();
    let v3 = orphan.id.clone();
    assert_eq!(stored(&env, id), BTreeSet::from([v1.clone(), v2.clone(), v3.clone()]));

    // The restarted process sweeps within the grace period: nothing is removed yet.
    let sweeper = Sweeper::open(&env.ctx, &settings(), "process-a2").await.unwrap();
    assert_eq!(sweeper.sweep().await.unwrap().versions_removed, 0);
    assert_eq!(stored(&env, id).len(), 3, "within the grace period every version stays");

    // After the grace period the dead process's timer removed nothing (the fault)...
    tokio::time::sleep(Duration::from_secs(GRACE_SECS + 1)).await;
    assert!(stored(&env, id).contains(&v1), "the retired version outlived its grace period");
    // ...and the sweep removes both, leaving only the live version.
    let swept = sweeper.sweep().await.unwrap();
    assert_eq!(swept.versions_removed, 2, "{swept:?}");
    assert_eq!(stored(&env, id), BTreeSet::from([v2.clone()]));
    let cur = env.ctx.media.current(&hls_prefix("acme", id)).await.unwrap().unwrap();
    assert_eq!(cur.pointer.version, v2);
    assert!(cur.pointer.retired.is_empty(), "{:?}", cur.pointer);
    let master = std::fs::read_to_string(
        env.media(&format!("hls/acme/{id}/{VERSIONS_DIR}/{v2}/master.m3u8")),
    );
    assert!(master.is_ok_and(|m| m.contains("#EXT-X-STREAM-INF")), "the live version is whole");

    // Nothing more to do: the live version's note is dropped, and the next sweep is a no-op.
    assert_eq!(sweeper.sweep().await.unwrap().versions_removed, 0);
    assert_eq!(stored(&env, id), BTreeSet::from([v2]));
}
