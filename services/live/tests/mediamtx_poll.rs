//! MediaMTX sessions reaped from its Control API: a small real HTTP server stands in for
//! MediaMTX (which cannot be installed here) and serves `GET /v3/paths/list` pages as its
//! `api/openapi.yaml` documents them. A session whose path leaves the list is ended by the
//! reaper, billed up to its last sighting; while the API is down nothing is reaped.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use common::*;
use framelog_events::{EventData, LiveData};
use framelog_live::{LiveSettings, mediamtx_poll, reaper};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

/// What the fake MediaMTX answers: the published paths (`live/<stream>` → source id), split
/// into pages of `per_page`, or `down` (a 503 and no list).
#[derive(Default)]
struct Fake {
    paths: Vec<(String, String)>,
    per_page: usize,
    down: bool,
    pages_asked: Vec<String>,
}

type Shared = Arc<Mutex<Fake>>;

async fn paths_list(State(f): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut f = f.lock().unwrap();
    f.pages_asked.push(q.get("page").cloned().unwrap_or_default());
    if f.down {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let page: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(0);
    let per = f.per_page.max(1);
    let items: Vec<Value> = f
        .paths
        .iter()
        .skip(page * per)
        .take(per)
        .map(|(name, id)| {
            json!({"name": name, "confName": "all_others", "available": true, "ready": true,
                   "availableTime": "2026-12-02T03:00:00Z", "online": true,
                   "source": {"type": "rtmpConn", "id": id}, "tracks": ["H264"],
                   "inboundBytes": 1000, "outboundBytes": 0, "readers": []})
        })
        .collect();
    let page_count = f.paths.len().div_ceil(per);
    axum::Json(json!({"pageCount": page_count, "itemCount": f.paths.len(), "items": items}))
        .into_response()
}

async fn fake_mediamtx() -> (framelog_tests::TestApp, Shared) {
    let fake: Shared = Arc::new(Mutex::new(Fake { per_page: 1, ..Default::default() }));
    let router = axum::Router::new()
        .route("/v3/paths/list", axum::routing::get(paths_list))
        .with_state(fake.clone());
    (framelog_tests::TestApp::serve(router).await, fake)
}

fn settings(api: &str) -> LiveSettings {
    LiveSettings {
        mediamtx_api_url: Some(api.to_owned()),
        reap_after_secs: 3,
        seen_every_secs: 1,
        ..Default::default()
    }
}

/// A stream live on MediaMTX connection `conn` (auth webhook, then the `available` hook).
async fn go_live(env: &Env, conn: &str) -> String {
    let s = create_stream(env, &env.key_a, "cam", false).await;
    let id = s["stream_id"].as_str().unwrap().to_owned();
    let key = s["stream_key"].as_str().unwrap();
    let auth = json!({"action": "publish", "path": format!("live/{id}"), "protocol": "rtmp",
                      "id": conn, "query": format!("key={key}")});
    assert_eq!(mtx_auth(env, auth).await.status(), 200);
    let avail = json!({"event": "available", "path": format!("live/{id}"),
                       "source_type": "rtmpConn", "source_id": conn});
    assert_eq!(mtx_event(env, avail).await.status(), 200);
    id
}

/// Waits until this replica's copy of the stream records knows `n` open sessions.
async fn known_live(env: &Env, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while env.st.streams.cached_live().len() < n {
        assert!(Instant::now() < deadline, "the records never reached the local copy");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn ended(events: &[framelog_events::Event]) -> Vec<(String, f64, String)> {
    events
        .iter()
        .filter_map(|e| match &e.data {
            EventData::Live(LiveData::Ended { duration_secs, reason, .. }) => {
                Some((e.subject.to_string(), *duration_secs, reason.clone()))
            }
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn fault_a_mediamtx_session_whose_path_leaves_the_list_is_reaped_and_billed_to_its_last_sight()
 {
    let (api, fake) = fake_mediamtx().await;
    let env = env_with(settings(&api.url(""))).await;
    let stop = CancellationToken::new();
    tokio::spawn(env.st.streams.clone().follow(stop.clone()));
    let (a, b) = (go_live(&env, "conn-a").await, go_live(&env, "conn-b").await);
    known_live(&env, 2).await;
    let started = env.st.streams.get(&a).await.unwrap().unwrap().0.session.unwrap().started_at;
    let at = |s: i64| started + time::Duration::seconds(s);
    // Both are listed (one per page: the poller reads every page).
    fake.lock().unwrap().paths =
        vec![(format!("live/{a}"), "conn-a".into()), (format!("live/{b}"), "conn-b".into())];
    let report = mediamtx_poll::poll(&env.st, at(2)).await.expect("the API answers");
    assert_eq!(report.seen.len(), 2, "{report:?}");
    assert_eq!(fake.lock().unwrap().pages_asked, ["0", "1"]);
    let seen = env.st.streams.get(&a).await.unwrap().unwrap().0.session.unwrap();
    assert_eq!(seen.last_seen, Some(at(2)), "a listed path is a sighting");

    // `a`'s publisher is gone (MediaMTX crashed for it, no `unavailable` hook); `b` stays.
    fake.lock().unwrap().paths.remove(0);
    let report = mediamtx_poll::poll(&env.st, at(4)).await.unwrap();
    assert_eq!((report.seen, report.unseen), (vec![b.clone()], vec![a.clone()]));
    known_live(&env, 2).await;
    // Let the local copy catch up with the sightings the poll wrote.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reaped = reaper::reap_once(&env.st, at(6)).await.unwrap();
    assert_eq!(reaped.len(), 1, "only the unlisted session: {reaped:?}");
    let all = ended(&events(&env).await);
    assert_eq!(all.len(), 1, "{all:?}");
    let (stream, duration, reason) = &all[0];
    assert_eq!(stream, &a);
    assert!(
        (duration - 2.0).abs() < 1e-6,
        "billed to the last sight (+2 s), not the reap: {duration}"
    );
    assert!(reason.starts_with("not seen since 20"), "{reason}");
    assert!(env.st.streams.get(&b).await.unwrap().unwrap().0.session.is_some(), "b still live");
    stop.cancel();
}

#[tokio::test]
async fn fault_while_the_mediamtx_api_is_down_its_sessions_are_not_reaped() {
    let (api, fake) = fake_mediamtx().await;
    let env = env_with(settings(&api.url(""))).await;
    let stop = CancellationToken::new();
    tokio::spawn(env.st.streams.clone().follow(stop.clone()));
    let id = go_live(&env, "conn-a").await;
    known_live(&env, 1).await;
    let later = OffsetDateTime::now_utc() + time::Duration::seconds(100);
    // Never polled yet: nothing says the publisher is gone.
    assert!(reaper::reap_once(&env.st, later).await.unwrap().is_empty());
    fake.lock().unwrap().down = true;
    assert!(mediamtx_poll::poll(&env.st, later).await.is_none());
    assert!(mediamtx_poll::poll(&env.st, later).await.is_none());
    assert!(!env.st.mediamtx_poll.is_up());
    assert!(reaper::reap_once(&env.st, later).await.unwrap().is_empty(), "API down: not reaped");
    assert!(ended(&events(&env).await).is_empty());
    let metrics = env.st.platform.metrics.render();
    assert!(metrics.contains("framelog_live_mediamtx_api_up 0"), "{metrics}");
    assert!(metrics.contains("framelog_live_mediamtx_poll_failures_total 2"), "{metrics}");

    // Back, and the path is not listed: now the session ends, billed to its start (its only
    // sight).
    fake.lock().unwrap().down = false;
    let report = mediamtx_poll::poll(&env.st, later).await.unwrap();
    assert_eq!(report.unseen, vec![id.clone()]);
    assert!(env.st.platform.metrics.render().contains("framelog_live_mediamtx_api_up 1"));
    assert_eq!(reaper::reap_once(&env.st, later).await.unwrap().len(), 1);
    let all = ended(&events(&env).await);
    assert_eq!(all.len(), 1);
    assert!(all[0].1 < 5.0, "billed to the start, not to the outage's end: {}", all[0].1);
    stop.cancel();
}

#[tokio::test]
async fn without_an_api_url_mediamtx_sessions_are_never_polled_nor_reaped() {
    let env = env_with(LiveSettings { reap_after_secs: 3, ..Default::default() }).await;
    let stop = CancellationToken::new();
    tokio::spawn(env.st.streams.clone().follow(stop.clone()));
    go_live(&env, "conn-a").await;
    known_live(&env, 1).await;
    let later = OffsetDateTime::now_utc() + time::Duration::seconds(100);
    assert!(mediamtx_poll::poll(&env.st, later).await.is_none());
    assert!(!env.st.mediamtx_poll.is_up());
    assert!(reaper::reap_once(&env.st, later).await.unwrap().is_empty());
    stop.cancel();
}
