//! Live sessions whose media server dies: the reaper ends them, billed up to their last sight,
//! once whatever the number of live-auth replicas; and a reconnect under a new client id ends
//! the old session before the new one starts.

mod common;

use std::time::{Duration, Instant};

use common::*;
use framelog_core::service::ServiceContext;
use framelog_events::fold::{Ledger, Month, StreamEntry};
use framelog_events::{Event, EventData, LiveData};
use framelog_live::{LiveSettings, LiveState, reaper};
use framelog_projection::{Outcome, ProjectionSettings, store::View, store::key};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

fn fast() -> LiveSettings {
    LiveSettings { reap_after_secs: 3, seen_every_secs: 1, ..Default::default() }
}

/// The `ended` events (session id, duration, reason) in the log.
fn ended(events: &[Event]) -> Vec<(String, f64, String)> {
    events
        .iter()
        .filter_map(|e| match &e.data {
            EventData::Live(LiveData::Ended { session_id, duration_secs, reason }) => {
                Some((session_id.clone(), *duration_secs, reason.clone()))
            }
            _ => None,
        })
        .collect()
}

fn started(events: &[Event]) -> Vec<(String, String)> {
    events
        .iter()
        .filter_map(|e| match &e.data {
            EventData::Live(LiveData::Started { session_id, connection_id, .. }) => {
                Some((session_id.clone(), connection_id.clone()))
            }
            _ => None,
        })
        .collect()
}

/// A stream live on nginx-rtmp client `client`; returns its id and key.
async fn go_live_with_key(env: &Env, client: &str) -> (String, String) {
    let s = create_stream(env, &env.key_a, "cam", false).await;
    let id = s["stream_id"].as_str().unwrap().to_owned();
    let key = s["stream_key"].as_str().unwrap().to_owned();
    let form = [("name", id.as_str()), ("key", &key), ("clientid", client), ("addr", "127.0.0.1")];
    assert_eq!(nginx_hook(env, "publish", &form).await.status(), 200);
    (id, key)
}

async fn go_live(env: &Env, client: &str) -> String {
    go_live_with_key(env, client).await.0
}

async fn update(env: &Env, id: &str, client: &str) -> u16 {
    nginx_hook(env, "update", &[("name", id), ("clientid", client)]).await.status().as_u16()
}

/// Another live-auth replica on the same NATS server, following the stream records.
async fn replica(env: &Env, settings: LiveSettings) -> (LiveState, tempfile::TempDir) {
    let (p, dir) = framelog_tests::platform(&env.nats).await;
    let ctx =
        ServiceContext { platform: p, media: env.media.clone(), shutdown: Default::default() };
    let ingest = framelog_ingest::IngestSettings::default();
    (framelog_live::state(&ctx, settings, ingest).await.unwrap(), dir)
}

#[tokio::test]
async fn fault_a_media_server_that_dies_without_publish_done_is_reaped_and_billed_to_its_last_sight()
 {
    let env = env_with(fast()).await;
    let stop = CancellationToken::new();
    tokio::spawn(env.st.streams.clone().follow(stop.clone()));
    tokio::spawn(reaper::run(env.st.clone(), stop.clone()));
    let before_start = OffsetDateTime::now_utc();
    let id = go_live(&env, "7").await;
    let after_start = OffsetDateTime::now_utc();
    // nginx-rtmp reports the publisher (on_update) for 4 s, longer than the reap limit...
    let mut last_update = OffsetDateTime::now_utc();
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        last_update = OffsetDateTime::now_utc();
        assert_eq!(update(&env, &id, "7").await, 200);
    }
    assert!(ended(&events(&env).await).is_empty(), "a reported session is never reaped");
    // ...then dies: no publish_done, no more on_update.
    let died = Instant::now();
    let e = wait_for(&env, "live:ended", 3 + 3).await;
    let waited = died.elapsed();
    assert!(waited >= Duration::from_millis(1900), "reaped too early: {waited:?}");
    assert!(waited <= Duration::from_millis(3000 + 500 + 1500), "reaped too late: {waited:?}");
    let EventData::Live(LiveData::Ended { duration_secs, reason, .. }) = &e.data else {
        unreachable!()
    };
    // Billed up to the last sighting written (at most --live-seen-every before the last
    // on_update), never up to the reap.
    let most = (last_update - before_start).as_seconds_f64() + 0.05;
    let least = (last_update - after_start).as_seconds_f64() - 1.0 - 0.3;
    assert!((least..=most).contains(duration_secs), "{least} <= {duration_secs} <= {most}");
    assert!(reason.starts_with("not seen since 20"), "{reason}");
    // Give the reaper a few more passes: still exactly one `ended`.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let all = events(&env).await;
    assert_eq!(ended(&all).len(), 1, "{:?}", ended(&all));
    // The media server, back, is told the session is over; its late publish_done ends nothing.
    assert_eq!(update(&env, &id, "7").await, 403);
    let done = nginx_hook(&env, "publish_done", &[("name", &id), ("clientid", "7")]).await;
    assert_eq!(done.status(), 404);
    assert_eq!(ended(&events(&env).await).len(), 1);

    // The live directory (the projection) no longer lists it, and the minutes are billed.
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
    assert_eq!(entry.sessions.len(), 1);
    let ledger = all.iter().fold(Ledger::default(), |l, e| l.apply(e));
    let month = Month::of(before_start);
    let minutes = ledger.month(month).live_minutes + ledger.month(month.next()).live_minutes;
    assert!((minutes * 60.0 - duration_secs).abs() < 1e-6, "{minutes} min, {duration_secs} s");
    stop.cancel();
}

#[tokio::test]
async fn fault_two_replicas_reaping_the_same_stale_sessions_write_one_ended_each() {
    let env = env_with(fast()).await;
    let (other, _dir) = replica(&env, fast()).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(go_live(&env, &format!("{}", 10 + i)).await);
    }
    for id in &ids {
        // Both replicas know the live records (as their watch would give them).
        assert!(other.streams.get(id).await.unwrap().unwrap().0.session.is_some());
        assert!(env.st.streams.get(id).await.unwrap().unwrap().0.session.is_some());
    }
    let later = OffsetDateTime::now_utc() + time::Duration::seconds(10);
    let (a, b) = tokio::join!(reaper::reap_once(&env.st, later), reaper::reap_once(&other, later));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.len() + b.len(), ids.len(), "each session ended by exactly one: {a:?} {b:?}");
    let all = events(&env).await;
    let mut sessions: Vec<String> = ended(&all).into_iter().map(|(s, _, _)| s).collect();
    sessions.sort();
    let mut want: Vec<String> = started(&all).into_iter().map(|(s, _)| s).collect();
    want.sort();
    assert_eq!(sessions, want, "one `ended` per session, none twice");
    // A pass later finds nothing left.
    assert!(reaper::reap_once(&other, later).await.unwrap().is_empty());
    assert!(reaper::reap_once(&env.st, later).await.unwrap().is_empty());
    assert_eq!(ended(&events(&env).await).len(), ids.len());
}

#[tokio::test]
async fn fault_a_reconnect_with_a_new_client_id_ends_the_old_session_then_starts_the_new() {
    let settings = LiveSettings { seen_every_secs: 0, ..Default::default() };
    let env = env_with(settings).await;
    let (id, key) = go_live_with_key(&env, "7").await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(update(&env, &id, "7").await, 200);
    let seen = env.st.streams.get(&id).await.unwrap().unwrap().0.session.unwrap();
    let last_seen = seen.last_seen.expect("on_update records the sighting");
    tokio::time::sleep(Duration::from_millis(600)).await;
    // OBS reconnects; nginx-rtmp has not noticed the old connection is gone.
    let key_of = env.st.streams.get(&id).await.unwrap().unwrap().0;
    assert_eq!(key_of.session.as_ref().unwrap().connection_id, "7");
    let form = [("name", id.as_str()), ("key", key.as_str()), ("clientid", "8")];
    assert_eq!(nginx_hook(&env, "publish", &form).await.status(), 200);

    let all = events(&env).await;
    let lives: Vec<&Event> = all.iter().filter(|e| matches!(e.data, EventData::Live(_))).collect();
    let phases: Vec<&str> = lives.iter().map(|e| e.data.phase()).collect();
    assert_eq!(phases, ["stream_created", "started", "ended", "started"]);
    let s = started(&all);
    let (old, new) = (&s[0], &s[1]);
    assert_eq!((old.1.as_str(), new.1.as_str()), ("7", "8"));
    let e = ended(&all);
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].0, old.0, "the old session ends");
    assert_eq!(e[0].2, "replaced by a new session");
    let want = (last_seen - seen.started_at).as_seconds_f64();
    assert!((e[0].1 - want).abs() < 1e-3, "billed to its last sight: {} vs {want}", e[0].1);
    let r = env.st.streams.get(&id).await.unwrap().unwrap().0;
    assert_eq!(r.session.unwrap().connection_id, "8");
    assert_eq!(r.last_session.as_deref(), Some(old.0.as_str()));
    // The old connection's late hooks change nothing.
    assert_eq!(update(&env, &id, "7").await, 403);
    let done = nginx_hook(&env, "publish_done", &[("name", &id), ("clientid", "7")]).await;
    assert_eq!(done.status(), 404);
    assert_eq!(ended(&events(&env).await).len(), 1);
    // The live directory shows the new session live, the old one ended.
    let entry = lives.iter().fold(None, |s, e| framelog_events::fold::live::apply(s, e)).unwrap();
    assert_eq!(entry.live_session().map(|s| s.id.as_str()), Some(new.0.as_str()));
}
