//! Versioned outputs end to end (transcoder + playback on a real nats-server, real ffmpeg):
//! a retry of a ready video never swaps its ladder for a lowest rung, never rewrites a file of
//! the live version, and the version it replaces keeps playing for the grace period, then is
//! removed.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{Env, env, run_to_end};
use framelog_core::media::hls_prefix;
use framelog_core::media::versions::VERSIONS_DIR;
use framelog_playback::{PlaybackSettings, PlaybackState, system_clock};
use framelog_tests::TestApp;
use framelog_tests::media::VideoSpec;
use framelog_transcoder::{Outcome, TranscoderSettings};
use futures::StreamExt;
use tokio::process::Command;

/// Playback serving `env`'s media store.
async fn playback(env: &Env) -> TestApp {
    let (st, _workers) = PlaybackState::new(
        env.ctx.platform.clone(),
        env.ctx.media.clone(),
        PlaybackSettings::default(),
        system_clock(),
    )
    .await
    .unwrap();
    TestApp::serve(framelog_playback::router(st)).await
}

/// URIs of a playlist (lines that are not tags), with `EXT-X-MAP` and `EXT-X-MEDIA` URIs.
fn uris(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(i) = line.find("URI=\"") {
            let rest = &line[i + 5..];
            out.push(rest[..rest.find('"').unwrap()].to_owned());
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            out.push(line.trim().to_owned());
        }
    }
    out
}

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    app.http.get(app.url(path)).send().await.unwrap()
}

/// The live version of `id` (from the store's pointer).
async fn live(env: &Env, id: &str) -> (String, bool) {
    let cur = env.ctx.media.current(&hls_prefix("acme", id)).await.unwrap().expect("a pointer");
    (cur.pointer.version, cur.pointer.complete)
}

/// Every file a player reaches from the master at `base/master.m3u8` (URL path -> bytes).
async fn reachable(app: &TestApp, base: &str) -> BTreeMap<String, Vec<u8>> {
    let master = get(app, &format!("{base}/master.m3u8")).await.text().await.unwrap();
    let mut out = BTreeMap::new();
    for playlist in uris(&master) {
        let url = format!("{base}/{playlist}");
        let text = get(app, &url).await.text().await.unwrap();
        let dir = url.rsplit_once('/').unwrap().0.to_owned();
        for file in uris(&text) {
            let f = format!("{dir}/{file}");
            let res = get(app, &f).await;
            assert_eq!(res.status(), 200, "{f}");
            assert_eq!(res.headers()["cache-control"], "public, max-age=31536000, immutable");
            out.insert(f, res.bytes().await.unwrap().to_vec());
        }
    }
    out
}

/// Frames ffprobe decodes from `url` (the first video or audio stream). Awaited, so the
/// playback server on this runtime answers it.
async fn decoded_frames(url: &str, stream: &str) -> u64 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", stream])
        .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", url])
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), out).await.unwrap().unwrap();
    assert!(out.status.success(), "ffprobe {url}: {}", String::from_utf8_lossy(&out.stderr));
    // One line per stream, listed once per program as well: the largest count.
    let text = String::from_utf8_lossy(&out.stdout);
    let n = text.lines().filter_map(|l| l.trim().trim_matches(',').parse().ok()).max();
    n.unwrap_or_else(|| panic!("ffprobe {url} counted no frames: {text:?}"))
}

#[tokio::test]
async fn fault_a_retry_of_a_ready_video_keeps_its_ladder_live_then_replaces_it_whole() {
    let env = env().await;
    let id = "vver";
    // 854x480: a ladder of three rungs (270p to 480p), so "the lowest rung alone" is visible.
    let spec = VideoSpec::new(854, 480, 4.0).fps(10);
    env.request(id, &spec).await;
    // The grace period must outlast decoding every variant below (four, with 270p) on a busy
    // machine.
    let settings = TranscoderSettings { version_grace_secs: 10, ..TranscoderSettings::for_test() };
    let mut w = env.worker(settings, "w1").await;
    assert!(matches!(run_to_end(&mut w).await, Outcome::Completed { .. }));
    let (v1, complete) = live(&env, id).await;
    assert!(complete);
    let app = playback(&env).await;
    let token = framelog_core::signing::playback_token(
        &env.ctx.platform.secret,
        "acme",
        id,
        time::OffsetDateTime::now_utc().unix_timestamp() + 3600,
    );
    let base = format!("/hls/{token}/{id}");
    let master = get(&app, &format!("{base}/master.m3u8")).await.text().await.unwrap();
    let rungs = video_variants(&master);
    assert_eq!(rungs, 3, "{master}");
    let old = reachable(&app, &base).await;
    assert!(old.keys().all(|k| k.contains(&format!("/{VERSIONS_DIR}/{v1}/"))), "{old:?}");

    // The same video's job runs again (a new request: the marker does not stop it).
    env.request_again(id, &spec).await;
    let stop = Arc::new(AtomicBool::new(false));
    let poller = {
        let (http, url, stop) =
            (app.http.clone(), app.url(&format!("{base}/master.m3u8")), stop.clone());
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let res = http.get(&url).send().await.unwrap();
                let status = res.status().as_u16();
                seen.push((status, video_variants(&res.text().await.unwrap())));
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            seen
        })
    };
    assert!(matches!(run_to_end(&mut w).await, Outcome::Completed { .. }));
    stop.store(true, Ordering::Relaxed);
    let seen = poller.await.unwrap();
    assert!(seen.len() >= 10, "polled during the retry: {}", seen.len());
    assert!(
        seen.iter().all(|&(status, n)| status == 200 && n == rungs),
        "the master always named the whole ladder: {seen:?}"
    );

    // One complete new version is live; it shares no path with the old one.
    let (v2, complete) = live(&env, id).await;
    assert!(complete && v2 != v1, "{v1} -> {v2}");
    let new = reachable(&app, &base).await;
    assert!(new.keys().all(|k| k.contains(&format!("/{VERSIONS_DIR}/{v2}/"))));
    let (old_paths, new_paths): (BTreeSet<_>, BTreeSet<_>) =
        (old.keys().collect(), new.keys().collect());
    assert!(old_paths.is_disjoint(&new_paths), "no path written by both attempts");
    // Every variant of the live version decodes through the playback URLs.
    let master = get(&app, &format!("{base}/master.m3u8")).await.text().await.unwrap();
    // (The audio-only variant names the default audio rendition's playlist again: once.)
    let mut playlists = uris(&master);
    playlists.sort();
    playlists.dedup();
    for uri in playlists {
        let url = app.url(&format!("{base}/{uri}"));
        let stream = if uri.contains("audio") { "a:0" } else { "v:0" };
        assert!(decoded_frames(&url, stream).await > 0, "{url} decodes");
    }

    // During the grace period the old version still plays, byte for byte as before.
    for (path, bytes) in &old {
        let res = get(&app, path).await;
        assert_eq!(res.status(), 200, "{path} during the grace period");
        assert_eq!(&res.bytes().await.unwrap().to_vec(), bytes, "{path} never rewritten");
    }
    // Then it is removed (file by file: poll until every one is gone), and the live one stays.
    let mut left = old.len();
    for _ in 0..100 {
        left = 0;
        for path in old.keys() {
            if get(&app, path).await.status() != 404 {
                left += 1;
            }
        }
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(left, 0, "{left} files of the old version still answer after its grace period");
    assert!(!env.media(&format!("hls/acme/{id}/{VERSIONS_DIR}/{v1}")).exists());
    assert_eq!(reachable(&app, &base).await, new, "the live version is untouched");
    let cur = env.ctx.media.current(&hls_prefix("acme", id)).await.unwrap().unwrap();
    assert!(cur.pointer.retired.is_empty(), "{:?}", cur.pointer);
}

#[tokio::test]
async fn fault_a_worker_killed_after_its_early_rung_is_replaced_by_one_complete_version() {
    let env = env().await;
    let id = "vkill";
    let mut settings = TranscoderSettings {
        ack_wait_secs: 2,
        version_grace_secs: 3,
        ..TranscoderSettings::for_test()
    };
    // The one-process ladder (an attempt's own version); a chunked job's attempts share the
    // request's version: `parallel.rs`.
    settings.chunks.range_segments = 0;
    let nats = env.nats.client().await;
    let mut playable = nats.subscribe(format!("vid.acme.transcode.playable.{id}")).await.unwrap();
    env.request(id, &VideoSpec::new(1280, 720, 12.0)).await;
    let mut a = env.worker(settings.clone(), "worker-a").await;
    assert!(matches!(a.process_next().await, Outcome::Taken { .. }));
    tokio::time::timeout(Duration::from_secs(120), playable.next()).await.unwrap().unwrap();
    let (v1, complete) = live(&env, id).await;
    assert!(!complete, "killed while only the lowest rung is live");
    drop(a); // dies mid-job: no ack, its ffmpeg killed, its version never completed

    let mut b = env.worker(settings, "worker-b").await;
    assert!(matches!(run_to_end(&mut b).await, Outcome::Completed { .. }));
    let (v2, complete) = live(&env, id).await;
    assert!(complete && v2 != v1, "{v1} -> {v2}");
    let app = playback(&env).await;
    let token = framelog_core::signing::playback_token(
        &env.ctx.platform.secret,
        "acme",
        id,
        time::OffsetDateTime::now_utc().unix_timestamp() + 3600,
    );
    let base = format!("/hls/{token}/{id}");
    let master = get(&app, &format!("{base}/master.m3u8")).await.text().await.unwrap();
    assert_eq!(video_variants(&master), 4, "the whole ladder: {master}");
    let files = reachable(&app, &base).await;
    assert!(files.keys().all(|k| k.contains(&format!("/{VERSIONS_DIR}/{v2}/"))), "not mixed");
    // The dead attempt's version is removed once its grace period is over.
    let dead = env.media(&format!("hls/acme/{id}/{VERSIONS_DIR}/{v1}"));
    for _ in 0..60 {
        if !dead.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(!dead.exists(), "the dead attempt's version is removed");
}

/// Video variants of a master: `EXT-X-STREAM-INF` lines with a picture size (not the
/// audio-only variant, not I-frame playlists).
fn video_variants(master: &str) -> usize {
    master
        .lines()
        .filter(|l| l.starts_with("#EXT-X-STREAM-INF:") && l.contains("RESOLUTION="))
        .count()
}
