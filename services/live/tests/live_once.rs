//! A live session's `started` and `ended` (and a recording's `recording_ready`) are stored once
//! forever: their subject carries the session, so a repeat long after the duplicate window
//! (shrunk to 1 s here) is refused by the expected subject sequence, while two sessions of one
//! stream each keep their own facts. Live events written before, on five-token subjects, still
//! fold into the live directory.

mod common;

use std::time::Duration;

use common::*;
use framelog_core::eventlog::Published;
use framelog_core::nats::STREAM_VID;
use framelog_core::service::ServiceContext;
use framelog_events::fold::StreamEntry;
use framelog_events::{AggregateId, Event, EventData, Kind, LiveData, MediaServer, TenantId};
use framelog_live::LiveSettings;
use framelog_projection::{Outcome, ProjectionSettings, store::View, store::key};
use time::OffsetDateTime;

/// Every (subject, event) stored in `VID`.
async fn stored(env: &Env) -> Vec<(String, Event)> {
    let js = &env.st.platform.js;
    let mut stream = js.get_stream(STREAM_VID).await.unwrap();
    let last = stream.info().await.unwrap().state.last_sequence;
    let mut out = Vec::new();
    for seq in 1..=last {
        if let Ok(m) = stream.get_raw_message(seq).await {
            out.push((m.subject.to_string(), Event::from_json(&m.payload).unwrap()));
        }
    }
    out
}

fn session_of(e: &Event) -> Option<(&'static str, String)> {
    match &e.data {
        EventData::Live(LiveData::Started { session_id, .. }) => {
            Some(("started", session_id.clone()))
        }
        EventData::Live(LiveData::Ended { session_id, .. }) => Some(("ended", session_id.clone())),
        _ => None,
    }
}

/// One nginx-rtmp session of `id` on client `client`, from publish to publish_done.
async fn session(env: &Env, id: &str, key: &str, client: &str) {
    let form = [("name", id), ("key", key), ("clientid", client), ("addr", "127.0.0.1")];
    assert_eq!(nginx_hook(env, "publish", &form).await.status(), 200);
    let done = nginx_hook(env, "publish_done", &[("name", id), ("clientid", client)]).await;
    assert_eq!(done.status(), 200);
}

#[tokio::test]
async fn fault_ended_of_a_session_republished_after_the_duplicate_window_stores_nothing_new() {
    let env = env_with_window(LiveSettings::default(), Duration::from_secs(1)).await;
    let vid = env.st.platform.js.get_stream(STREAM_VID).await.unwrap();
    assert_eq!(vid.cached_info().config.duplicate_window, Duration::from_secs(1));
    let s = create_stream(&env, &env.key_a, "cam", false).await;
    let (id, key) = (s["stream_id"].as_str().unwrap(), s["stream_key"].as_str().unwrap());
    session(&env, id, key, "7").await;
    let all = stored(&env).await;
    let (subject, ended) = all
        .iter()
        .find(|(_, e)| matches!(e.data, EventData::Live(LiveData::Ended { .. })))
        .cloned()
        .expect("ended stored");
    let (_, sid) = session_of(&ended).unwrap();
    assert_eq!(subject, format!("vid.acme.live.ended.{id}.{sid}"), "the subject names the session");
    let before = all.len();

    // Long after the window: a crash between ack and outbox removal sends it again, and a
    // direct republish (a retried hook on another replica) too.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let events = &env.st.platform.events;
    events.queue(&[&ended]).await.unwrap();
    assert_eq!(events.drain_outbox().await.unwrap(), 1);
    assert!(events.refused_entries().is_empty(), "a duplicate is a success, not a refusal");
    let again = events.publish(&ended).await.unwrap();
    assert!(matches!(again, Published::Stored { duplicate: true, .. }), "{again:?}");
    let after = stored(&env).await;
    assert_eq!(after.len(), before, "nothing new stored: {:?}", after.last());

    // Control: the window really is 1 s, so a fact that repeats per stream (an audit, five
    // tokens) is stored again by the same republish.
    let r = env.st.streams.get(id).await.unwrap().unwrap().0;
    let denied = LiveData::PublishDenied {
        reason: "r".into(),
        server: MediaServer::NginxRtmp,
        protocol: None,
        remote_addr: None,
        suppressed: None,
    };
    let at = OffsetDateTime::now_utc();
    let denied = Event::new(uuid::Uuid::now_v7(), at, "t", r.tenant.clone(), r.stream_id, denied);
    assert!(matches!(events.publish(&denied).await.unwrap(), Published::Stored { .. }));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let twice = events.publish(&denied).await.unwrap();
    assert!(matches!(twice, Published::Stored { duplicate: false, .. }), "{twice:?}");
}

#[tokio::test]
async fn two_sessions_of_one_stream_each_keep_their_own_started_and_ended() {
    let env = env_with_window(LiveSettings::default(), Duration::from_secs(1)).await;
    let s = create_stream(&env, &env.key_a, "cam", false).await;
    let (id, key) = (s["stream_id"].as_str().unwrap(), s["stream_key"].as_str().unwrap());
    session(&env, id, key, "7").await;
    session(&env, id, key, "8").await;
    let facts: Vec<(String, &'static str, String)> = stored(&env)
        .await
        .into_iter()
        .filter_map(|(subject, e)| session_of(&e).map(|(p, s)| (subject, p, s)))
        .collect();
    assert_eq!(facts.len(), 4, "{facts:?}");
    let (first, second) = (&facts[0].2, &facts[2].2);
    assert_ne!(first, second);
    let want = [("started", first), ("ended", first), ("started", second), ("ended", second)];
    for ((subject, phase, sid), (want_phase, want_sid)) in facts.iter().zip(want) {
        assert_eq!((*phase, sid), (want_phase, want_sid));
        assert_eq!(subject, &format!("vid.acme.live.{phase}.{id}.{sid}"));
    }
    // The live directory folds both sessions, neither live.
    let entry = fold_directory(&env, id).await;
    assert_eq!(entry.sessions.len(), 2, "{entry:?}");
    assert!(entry.live_session().is_none());
}

/// Runs the projection over `VID` and reads the directory entry of `stream`.
async fn fold_directory(env: &Env, stream: &str) -> StreamEntry {
    let ctx = ServiceContext {
        platform: env.st.platform.clone(),
        media: env.media.clone(),
        shutdown: Default::default(),
    };
    let mut p = framelog_projection::build(&ctx, ProjectionSettings::for_test()).await.unwrap();
    while let Outcome::Applied { .. } =
        p.vid.process_next(Duration::from_millis(300)).await.unwrap()
    {}
    p.store.get_json(View::Streams, &key("acme", &[stream.as_bytes()])).unwrap().unwrap()
}

#[tokio::test]
async fn live_events_written_on_five_token_subjects_before_still_fold_into_the_directory() {
    let env = env().await;
    let s = create_stream(&env, &env.key_a, "cam", false).await;
    let id = s["stream_id"].as_str().unwrap();
    let (t, st) = (TenantId::new("acme").unwrap(), AggregateId::new(id).unwrap());
    let at = OffsetDateTime::now_utc();
    let started = LiveData::Started {
        session_id: "ses_old".into(),
        server: MediaServer::NginxRtmp,
        connection_id: "3".into(),
        protocol: "rtmp".into(),
        remote_addr: None,
    };
    let ended =
        LiveData::Ended { session_id: "ses_old".into(), duration_secs: 42.0, reason: "x".into() };
    // As an older build wrote them: no session token.
    for (phase, data) in [("started", started), ("ended", ended)] {
        let e = Event::new(uuid::Uuid::now_v7(), at, "old", t.clone(), st.clone(), data);
        assert_eq!(e.kind(), Kind::Live);
        let subject = format!("vid.acme.live.{phase}.{id}");
        let ack = env.st.platform.js.publish(subject, e.to_json().into()).await.unwrap();
        ack.await.unwrap();
    }
    let entry = fold_directory(&env, id).await;
    let old = entry.sessions.get("ses_old").expect("the old session folds");
    assert!(!old.is_live(), "{old:?}");
    assert_eq!(old.duration_secs, Some(42.0));
    assert!(entry.live_session().is_none());
}
