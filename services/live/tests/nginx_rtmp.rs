//! Live ingest end to end: a real nginx-rtmp calling our webhooks and a real ffmpeg push.

mod common;

use std::time::{Duration, Instant};

use common::*;
use framelog_live::LiveSettings;
use framelog_tests::nginx::{NginxRtmp, push};

/// The env with nginx-rtmp wired both ways (its hooks call us with the webhook secret; we
/// call its control endpoint), its recordings directory the only one live-auth accepts.
async fn live_env() -> (Env, NginxRtmp) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hooks = format!("http://{}/v1/hooks/nginx-rtmp", listener.local_addr().unwrap());
    let secret = format!("test-secret-{}", uuid_like());
    let nginx = NginxRtmp::start(&hooks, &secret);
    let settings = LiveSettings {
        rtmp_url: nginx.rtmp_url(),
        nginx_control_url: Some(nginx.control_url()),
        hook_secret: Some(secret),
        recordings_dirs: vec![nginx.recordings_dir()],
        ..Default::default()
    };
    (env_on(listener, settings).await, nginx)
}

/// A unique, URL-safe suffix.
fn uuid_like() -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    format!("{}-{}", t.as_nanos(), std::process::id())
}

fn listing(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        out.push(e.file_name().to_string_lossy().into_owned());
        if e.path().is_dir() {
            out.extend(listing(&e.path()).into_iter().map(|x| format!("  {x}")));
        }
    }
    out
}

async fn wait_exit(child: &mut std::process::Child, secs: u64) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_valid_key_goes_live_under_its_stream_id_and_stopping_emits_ended() {
    let (env, nginx) = live_env().await;
    let s = create_stream(&env, &env.key_a, "show", false).await;
    let id = s["stream_id"].as_str().unwrap().to_owned();
    let key = s["stream_key"].as_str().unwrap().to_owned();
    let mut ff = push(s["publish_url"].as_str().unwrap(), 6);
    let started = wait_for(&env, "live:started", 15).await;
    let framelog_events::EventData::Live(framelog_events::LiveData::Started {
        protocol,
        connection_id,
        ..
    }) = &started.data
    else {
        panic!()
    };
    assert_eq!(protocol, "rtmp");
    assert!(!connection_id.is_empty());
    // Live HLS is written under the stream id, never under the key.
    let playlist = nginx.hls_dir().join(&id).join("index.m3u8");
    let deadline = Instant::now() + Duration::from_secs(15);
    while !playlist.exists() {
        assert!(
            Instant::now() < deadline,
            "no live HLS at {}; hls dir: {:?}; nginx: {}",
            playlist.display(),
            listing(&nginx.hls_dir()),
            nginx.error_log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let names: Vec<String> = std::fs::read_dir(nginx.hls_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains(&key)), "a directory named by the key: {names:?}");
    let status = wait_exit(&mut ff, 30).await.expect("the push ends");
    assert!(status.success(), "ffmpeg push failed");
    let ended = wait_for(&env, "live:ended", 10).await;
    let framelog_events::EventData::Live(framelog_events::LiveData::Ended {
        duration_secs, ..
    }) = ended.data
    else {
        panic!()
    };
    assert!(duration_secs > 3.0, "{duration_secs}");
}

#[tokio::test]
async fn an_invalid_key_is_refused_by_nginx_and_audited() {
    let (env, nginx) = live_env().await;
    let s = create_stream(&env, &env.key_a, "show", false).await;
    let id = s["stream_id"].as_str().unwrap();
    let forged = format!("{id}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    let mut ff = push(&format!("{}/{id}?key={forged}", nginx.rtmp_url()), 5);
    let status = wait_exit(&mut ff, 15).await.expect("refused pushes end quickly");
    assert!(!status.success());
    wait_for(&env, "live:publish_denied", 5).await;
    // The real key used as the stream name is refused too (it would name the HLS output).
    let key = s["stream_key"].as_str().unwrap();
    let mut ff = push(&format!("{}/{key}", nginx.rtmp_url()), 5);
    assert!(!wait_exit(&mut ff, 15).await.expect("refused").success());
    assert!(!phases(&env).await.contains(&"live:started".to_owned()));
    let names = listing(&nginx.hls_dir());
    assert!(names.iter().all(|n| !n.contains(key)), "{names:?}");
}

#[tokio::test]
async fn rotating_the_key_during_a_publish_cuts_it_within_two_seconds_and_the_old_key_fails() {
    let (env, nginx) = live_env().await;
    let s = create_stream(&env, &env.key_a, "show", false).await;
    let id = s["stream_id"].as_str().unwrap().to_owned();
    let key = s["stream_key"].as_str().unwrap().to_owned();
    let mut ff = push(s["publish_url"].as_str().unwrap(), 60);
    wait_for(&env, "live:started", 15).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let t = Instant::now();
    let rot: serde_json::Value =
        post(&env, &env.key_a, &format!("/v1/streams/{id}/key/rotate")).await.json().await.unwrap();
    assert_eq!(rot["publisher_cut"], true);
    let status = wait_exit(&mut ff, 10).await;
    let cut_after = t.elapsed();
    if status.is_none() {
        let _ = ff.kill();
    }
    assert!(status.is_some(), "the publish was not cut");
    assert!(cut_after < Duration::from_secs(2), "cut after {cut_after:?}");
    wait_for(&env, "live:ended", 10).await;
    // The old key no longer publishes.
    let mut again = push(&format!("{}/{id}?key={key}", nginx.rtmp_url()), 5);
    assert!(!wait_exit(&mut again, 15).await.expect("refused").success());
}

#[tokio::test]
async fn a_recorded_stream_becomes_a_video_through_the_upload_path() {
    let (env, _nginx) = live_env().await;
    let s = create_stream(&env, &env.key_a, "recorded show", true).await;
    let id = s["stream_id"].as_str().unwrap().to_owned();
    let mut ff = push(s["publish_url"].as_str().unwrap(), 4);
    assert!(wait_exit(&mut ff, 30).await.expect("push ends").success());
    let ready = wait_for(&env, "live:recording_ready", 20).await;
    let framelog_events::EventData::Live(framelog_events::LiveData::RecordingReady {
        video_id,
        ..
    }) = &ready.data
    else {
        panic!()
    };
    let evs = events(&env).await;
    let completed = evs
        .iter()
        .find(|e| e.data.phase() == "completed" && e.subject == *video_id)
        .expect("VID_UPLOAD completed for the recording");
    let framelog_events::EventData::Upload(framelog_events::UploadData::Completed {
        source,
        stream_id,
        probe,
        ..
    }) = &completed.data
    else {
        panic!()
    };
    assert_eq!(*source, framelog_events::SourceKind::LiveRecording);
    assert_eq!(stream_id.as_ref().map(|s| s.as_str()), Some(id.as_str()));
    assert!(probe.duration_secs > 2.0);
    assert!(
        evs.iter().any(|e| e.data.phase() == "requested" && e.subject == *video_id),
        "transcode requested"
    );
    assert!(env.media.exists(&format!("sources/acme/{video_id}/source")).await.unwrap());
}

#[tokio::test]
async fn a_stream_that_does_not_record_leaves_no_recording_behind() {
    let (env, nginx) = live_env().await;
    let s = create_stream(&env, &env.key_a, "ephemeral", false).await;
    let mut ff = push(s["publish_url"].as_str().unwrap(), 3);
    assert!(wait_exit(&mut ff, 30).await.expect("push ends").success());
    wait_for(&env, "live:ended", 10).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = std::fs::read_dir(nginx.recordings_dir()).unwrap().count();
        if left == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{left} recording files left");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!phases(&env).await.contains(&"live:recording_ready".to_owned()));
}

#[tokio::test]
async fn rtmp_play_of_a_live_stream_is_refused_while_it_is_pushed() {
    let (env, nginx) = live_env().await;
    let s = create_stream(&env, &env.key_a, "private show", false).await;
    let id = s["stream_id"].as_str().unwrap().to_owned();
    let mut ff = push(s["publish_url"].as_str().unwrap(), 20);
    wait_for(&env, "live:started", 15).await;
    // The stream is really there: its live HLS is being written.
    let playlist = nginx.hls_dir().join(&id).join("index.m3u8");
    let deadline = Instant::now() + Duration::from_secs(15);
    while !playlist.exists() {
        assert!(Instant::now() < deadline, "no live HLS; nginx: {}", nginx.error_log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A viewer pulling it over RTMP, with no token (none could be checked here anyway).
    let out = tokio::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-rw_timeout", "8000000", "-i"])
        .arg(format!("{}/{id}", nginx.rtmp_url()))
        .args(["-t", "2", "-f", "framecrc", "-"])
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(20), out)
        .await
        .expect("ffmpeg play ends")
        .unwrap();
    let frames =
        String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.starts_with('#')).count();
    assert!(!out.status.success(), "RTMP play succeeded; frames: {frames}");
    assert_eq!(frames, 0, "RTMP play got frames");
    assert!(ff.try_wait().unwrap().is_none(), "the publisher is unaffected");
    let _ = ff.kill();
}
