//! Hostile requests and media against a real nats-server and real ffmpeg: a forged request
//! naming another tenant's source, a source over the media limits, a duration bomb stopped at
//! its deadline while another tenant's job completes, and playlists or concat lists that
//! would make ffmpeg read files (or URLs) outside the source.

mod common;

use std::time::{Duration, Instant};

use common::{any_probe, env, ffmpeg_pids, run_to_end};
use framelog_core::media::source_key;
use framelog_core::probe::ALLOWED_PROTOCOLS;
use framelog_events::Kind;
use framelog_tests::media::{
    VideoSpec, generate_duration_bomb, generate_ts, generate_video, unfenced_ffprobe_reads_video,
    write_ffconcat_naming, write_hls_playlist_naming,
};
use framelog_transcoder::limits::TranscodeLimits;
use framelog_transcoder::{Outcome, TranscoderSettings, Worker};

/// Drives `w` until `n` jobs end; returns them with when they ended.
async fn run_jobs(w: &mut Worker, n: usize) -> Vec<(Outcome, Instant)> {
    let mut ended = Vec::new();
    let step = async {
        while ended.len() < n {
            let o = w.process_next().await;
            if o.is_job_end() {
                ended.push((o, Instant::now()));
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(180), step).await.expect("the jobs ended in time");
    ended
}

fn video_of(o: &Outcome) -> String {
    match o {
        Outcome::Completed { video, .. } | Outcome::Failed { video, .. } => video.to_string(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_forged_request_naming_another_tenants_source_is_refused_and_nothing_is_read() {
    let env = env().await;
    let theirs = generate_video(env.sources.path(), "b.mp4", &VideoSpec::new(320, 180, 1.0));
    let key = source_key("globex", "vsecret");
    env.store_source(&key, &theirs).await;
    let stored = env.media(&key);
    let bytes = std::fs::read(&stored).unwrap();
    let mtime = stored.metadata().unwrap().modified().unwrap();
    // Tenant acme's request for its own video vsteal, naming globex's source; and the same
    // through a traversal from acme's own prefix.
    env.publish_request("acme", "vsteal", &key, any_probe()).await;
    let sneaky = "sources/acme/vsteal/../../globex/vsecret/source";
    env.publish_request("acme", "vsneak", sneaky, any_probe()).await;
    let mut w = env.worker(TranscoderSettings::for_test(), "w1").await;
    for (id, named) in [("vsteal", key.as_str()), ("vsneak", sneaky)] {
        let Outcome::Failed { permanent, dead_lettered, reason, .. } = run_to_end(&mut w).await
        else {
            panic!("not refused")
        };
        assert!(permanent && !dead_lettered, "{reason}");
        assert!(reason.contains("is not a source of tenant acme") && reason.contains(named));
        assert!(env.events(id, Kind::Transcode, "started").await.is_empty(), "never started");
        assert!(!env.media(&format!("hls/acme/{id}")).exists(), "no outputs");
    }
    assert_eq!(w.process_next().await, Outcome::Idle, "terminated, not redelivered");
    assert_eq!(std::fs::read(&stored).unwrap(), bytes, "their source is untouched");
    assert_eq!(stored.metadata().unwrap().modified().unwrap(), mtime);
    assert!(!env.media("hls/globex").exists());
}

#[tokio::test]
async fn a_source_over_the_media_limits_fails_permanently_before_encoding() {
    let env = env().await;
    // Straight to the log: ingest never saw it.
    env.request("vwide", &VideoSpec::new(8400, 64, 0.1).without_audio()).await;
    let mut w = env.worker(TranscoderSettings::for_test(), "w1").await;
    let Outcome::Failed { permanent, reason, .. } = run_to_end(&mut w).await else {
        panic!("not failed")
    };
    assert!(permanent, "{reason}");
    assert!(reason.contains("resolution_too_large") && reason.contains("8192×8192"), "{reason}");
    assert!(env.events("vwide", Kind::Transcode, "started").await.is_empty());
    let failed = env.events("vwide", Kind::Transcode, "failed").await;
    assert_eq!((failed.len(), &failed[0]["data"]["permanent"]), (1, &true.into()));
    assert_eq!(w.process_next().await, Outcome::Idle, "not retried");
}

#[tokio::test]
async fn a_duration_bomb_is_killed_at_its_deadline_while_another_tenants_job_completes() {
    let env = env().await;
    // 3 frames declaring 10 hours at 30 fps: a million frames to encode if trusted.
    let bomb = generate_duration_bomb(env.sources.path(), "bomb.mkv", (160, 90, 30), 36_000);
    env.request_file_as("acme", "vbomb", &bomb).await;
    let fine =
        generate_video(env.sources.path(), "fine.mp4", &VideoSpec::new(160, 90, 1.0).fps(10));
    env.request_file_as("globex", "vfine", &fine).await;
    let settings = TranscoderSettings {
        concurrency: 2,
        // Past the upload check (limits raised), so only the deadline can stop it.
        limits: TranscodeLimits { max_duration_secs: 11.0 * 3600.0, ..Default::default() },
        deadline_floor_secs: 8,
        deadline_factor: 0.0,
        ..TranscoderSettings::for_test()
    };
    let mut w = env.worker(settings, "w1").await;
    let started = Instant::now();
    let ended = run_jobs(&mut w, 2).await;
    let by_video = |id: &str| ended.iter().find(|(o, _)| video_of(o) == id).unwrap();

    let (fine_outcome, _) = by_video("vfine");
    assert!(matches!(fine_outcome, Outcome::Completed { .. }), "{fine_outcome:?}");
    assert_eq!(env.events_of("globex", "vfine", Kind::Ready, "published").await.len(), 1);

    let (bomb_outcome, bomb_end) = by_video("vbomb");
    let Outcome::Failed { permanent, dead_lettered, reason, .. } = bomb_outcome else {
        panic!("{bomb_outcome:?}")
    };
    assert!(*permanent && !dead_lettered, "{reason}");
    assert!(reason.contains("past its deadline of 8 s"), "{reason}");
    let took = bomb_end.duration_since(started);
    assert!(took >= Duration::from_secs(7) && took < Duration::from_secs(40), "{took:?}");
    assert!(ffmpeg_pids("acme-vbomb-").is_empty(), "its ffmpeg was killed");
    assert!(env.events("vbomb", Kind::Ready, "published").await.is_empty());
    assert_eq!(env.events("vbomb", Kind::Transcode, "failed").await.len(), 1);
    assert_eq!(w.process_next().await, Outcome::Idle, "not retried");
}

#[tokio::test]
async fn an_hls_playlist_or_concat_list_as_the_source_cannot_read_a_file_outside_it() {
    let env = env().await;
    let outside = tempfile::tempdir().unwrap();
    let secret = generate_ts(outside.path(), "secret.ts");
    let playlist = write_hls_playlist_naming(env.sources.path(), "evil.m3u8", &secret);
    assert!(unfenced_ffprobe_reads_video(&playlist, &[]), "hostile when unfenced");
    env.request_file("vhls", &playlist).await;
    // An ffconcat list stored next to a file it names (relative, so concat's own check passes).
    let source_dir = env.media("sources/acme/vconcat");
    std::fs::create_dir_all(&source_dir).unwrap();
    std::fs::copy(&secret, source_dir.join("neighbour.ts")).unwrap();
    let list = write_ffconcat_naming(&source_dir, "probe-list", "neighbour.ts");
    assert!(unfenced_ffprobe_reads_video(&list, &[]), "hostile when unfenced");
    env.request_file("vconcat", &list).await;

    let mut w = env.worker(TranscoderSettings::for_test(), "w1").await;
    for id in ["vhls", "vconcat"] {
        let Outcome::Failed { permanent, reason, .. } = run_to_end(&mut w).await else {
            panic!("{id} not refused")
        };
        assert!(permanent && reason.contains("not_a_video"), "{id}: {reason}");
        assert!(env.events(id, Kind::Transcode, "started").await.is_empty());
        assert!(!env.media(&format!("hls/acme/{id}")).exists(), "no outputs");
    }
}

/// Standard base64 (test helper; no dependency for 10 lines).
fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            let pad = i > c.len();
            out.push(if pad { '=' } else { A[(n >> (18 - 6 * i) & 63) as usize] as char });
        }
    }
    out
}

#[tokio::test]
async fn the_protocol_allow_list_binds_the_urls_a_demuxer_opens_itself() {
    let dir = tempfile::tempdir().unwrap();
    let ts = std::fs::read(generate_ts(dir.path(), "inner.ts")).unwrap();
    // An ffconcat list whose entry is a `data:` URL: a nested open by the concat demuxer
    // (allowed by ffmpeg's default protocols, with concat's own name check off).
    let entry = format!("data:video/mp2t;base64,{}", base64(&ts));
    let list = write_ffconcat_naming(dir.path(), "nested.txt", &entry);
    assert!(unfenced_ffprobe_reads_video(&list, &["-safe", "0"]), "read when unfenced");
    // With only the protocol allow list (concat itself not refused here), the nested open
    // is refused.
    let fenced = ["-safe", "0", "-protocol_whitelist", ALLOWED_PROTOCOLS];
    assert!(!unfenced_ffprobe_reads_video(&list, &fenced), "a nested open escaped the list");
}
