//! The reaper against a real media server: nginx-rtmp, fed by a real ffmpeg push, is SIGKILLed
//! mid-stream (so no `publish_done` ever comes); the session is ended within the reap limit,
//! billed up to nginx's last `on_update`, and the live directory stops listing it.

mod common;

use std::time::{Duration, Instant};

use common::*;
use framelog_core::service::ServiceContext;
use framelog_events::fold::StreamEntry;
use framelog_events::{EventData, LiveData};
use framelog_live::{LiveSettings, reaper};
use framelog_projection::store::{View, key};
use framelog_projection::{Outcome, ProjectionSettings};
use framelog_tests::nginx::{NginxRtmp, push};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

/// Above nginx-rtmp's `notify_update_timeout` (5 s in the shipped config), as it must be.
const REAP_AFTER: u64 = 8;

#[tokio::test]
async fn fault_nginx_rtmp_killed_mid_stream_is_reaped_and_billed_to_its_last_on_update() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hooks = format!("http://{}/v1/hooks/nginx-rtmp", listener.local_addr().unwrap());
    let secret = format!("reaper-secret-{}", std::process::id());
    let nginx = NginxRtmp::start(&hooks, &secret);
    let settings = LiveSettings {
        rtmp_url: nginx.rtmp_url(),
        hook_secret: Some(secret),
        reap_after_secs: REAP_AFTER,
        seen_every_secs: 1,
        ..Default::default()
    };
    let env = env_on(listener, settings).await;
    let stop = CancellationToken::new();
    tokio::spawn(env.st.streams.clone().follow(stop.clone()));
    tokio::spawn(reaper::run(env.st.clone(), stop.clone()));
    let s = create_stream(&env, &env.key_a, "show", false).await;
    let id = s["stream_id"].as_str().unwrap().to_owned();
    let mut ff = push(s["publish_url"].as_str().unwrap(), 60);
    wait_for(&env, "live:started", 15).await;

    // Wait for nginx's on_update (every 5 s) to be recorded as a sighting.
    let deadline = Instant::now() + Duration::from_secs(15);
    let session = loop {
        let s = env.st.streams.get(&id).await.unwrap().unwrap().0.session.unwrap();
        if s.last_seen.is_some() {
            break s;
        }
        assert!(Instant::now() < deadline, "no on_update recorded; nginx: {}", nginx.error_log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // SIGKILL: no publish_done, no on_update ever again.
    drop(nginx);
    let killed = OffsetDateTime::now_utc();
    let killed_at = Instant::now();
    let _ = ff.kill();
    let _ = ff.wait();

    let e = wait_for(&env, "live:ended", REAP_AFTER + 5 + 3).await;
    // The last sighting was at most one on_update period (5 s) before the kill.
    let waited = killed_at.elapsed();
    let limit = Duration::from_secs(REAP_AFTER) + reaper::interval(Duration::from_secs(REAP_AFTER));
    assert!(waited <= limit + Duration::from_secs(2), "reaped after {waited:?}");
    let EventData::Live(LiveData::Ended { session_id, duration_secs, reason }) = &e.data else {
        unreachable!()
    };
    assert_eq!(session_id, &session.session_id);
    let least = (session.last_seen.unwrap() - session.started_at).as_seconds_f64();
    let most = (killed - session.started_at).as_seconds_f64();
    assert!((least..=most).contains(duration_secs), "{least} <= {duration_secs} <= {most}");
    assert!(reason.starts_with("not seen since"), "{reason}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let ended: Vec<_> = live_phases(&env).await.into_iter().filter(|p| p == "live:ended").collect();
    assert_eq!(ended.len(), 1, "one ended");

    // The live directory no longer lists the stream.
    let ctx = ServiceContext {
        platform: env.st.platform.clone(),
        media: env.media.clone(),
        shutdown: stop.clone(),
    };
    let mut p = framelog_projection::build(&ctx, ProjectionSettings::for_test()).await.unwrap();
    while let Outcome::Applied { .. } =
        p.vid.process_next(Duration::from_millis(300)).await.unwrap()
    {}
    let entry: StreamEntry =
        p.store.get_json(View::Streams, &key("acme", &[id.as_bytes()])).unwrap().unwrap();
    assert!(entry.live_session().is_none(), "{entry:?}");
    stop.cancel();
}
