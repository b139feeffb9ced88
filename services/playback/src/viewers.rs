//! Live concurrent viewers, the same on every replica, and the events of a live beacon.
//!
//! Players of a live stream send a beacon at least once per view window; each becomes a
//! `presence` event (deduplicated per viewer and window by JetStream), never a view. A live
//! *view* is one `counted` event per (viewer, live session): its id is deterministic over
//! both, and each replica sends it once per viewer while that viewer keeps beaconing (a repeat
//! after a pause, or from another replica, has the same id: JetStream drops it within its
//! duplicate window and the projection's seen-ids after). The session is the one live-auth
//! keeps in the stream record (KV, read at most every few seconds per stream); while no session
//! is live, beacons only count presence.
//!
//! Every replica follows `vid.*.view.presence.*` (and the `counted` events with `live: true`
//! that older replicas wrote for each window) in `VID_VIEW` with an ordered consumer (starting
//! two windows back, so a replica that just started knows the current figure) and keeps, per
//! stream, the distinct viewers of the current and the previous window. The figure answered is
//! the larger of the two: the previous window is complete, the current one may already have
//! more viewers. A viewer who leaves stops counting within two windows.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use framelog_core::ApiError;
use framelog_core::error::extract::{Json, Path, Query};
use framelog_core::nats::STREAM_VIEW;
use framelog_core::openapi::{ErrorBody, InternalError};
use framelog_core::signing::verify_playback_token;
use framelog_core::tenants::Tenant;
use framelog_events::{AggregateId, Event, EventData, Kind, TenantId, ViewData};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::state::PlaybackState;

/// Distinct viewers of one stream in one window.
#[derive(Debug, Default)]
struct WindowSet {
    start: i64,
    viewers: HashSet<String>,
}

#[derive(Debug, Default)]
struct StreamWindows {
    current: WindowSet,
    previous: WindowSet,
}

/// How long a stream's live session, read from KV, is used before it is read again.
const SESSION_TTL: Duration = Duration::from_secs(5);

/// (tenant, stream) → its live session id (if any) and when it was read.
type SessionCache = HashMap<(String, String), (Option<String>, std::time::Instant)>;

/// The live audience of every stream, per replica; cheap to clone.
#[derive(Debug, Clone)]
pub struct LiveViewers {
    window: i64,
    streams: Arc<Mutex<HashMap<(String, String), StreamWindows>>>,
    sessions: Arc<Mutex<SessionCache>>,
    /// Ids of the session views this replica sent → the last window their viewer beaconed in.
    counted: Arc<Mutex<HashMap<Uuid, i64>>>,
}

/// What `GET /v1/live/{stream_id}/viewers` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ViewerCount {
    pub stream_id: String,
    /// Concurrent viewers: max(previous, current).
    pub viewers: usize,
    /// Distinct viewers so far in the current window.
    pub current: usize,
    /// Distinct viewers in the previous (complete) window.
    pub previous: usize,
    /// Start of the current window, unix seconds.
    pub window: i64,
    pub window_secs: i64,
}

impl LiveViewers {
    /// An empty audience with `window`-second windows.
    pub fn new(window: i64) -> LiveViewers {
        LiveViewers {
            window: window.max(1),
            streams: Arc::default(),
            sessions: Arc::default(),
            counted: Arc::default(),
        }
    }

    /// The window containing unix time `t`.
    pub fn window_of(&self, t: i64) -> i64 {
        t.div_euclid(self.window) * self.window
    }

    /// Records that `viewer` watched `stream` of `tenant` in the window starting at `window`.
    pub fn record(&self, tenant: &str, stream: &str, window: i64, viewer: &str) {
        let mut map = self.streams.lock().expect("live viewers poisoned");
        let s = map.entry((tenant.to_owned(), stream.to_owned())).or_default();
        if window > s.current.start {
            let old = std::mem::take(&mut s.current);
            s.previous = if old.start == window - self.window { old } else { WindowSet::default() };
            s.current.start = window;
        }
        let set = if window == s.current.start {
            &mut s.current
        } else if window == s.previous.start && window == s.current.start - self.window {
            &mut s.previous
        } else {
            return;
        };
        set.viewers.insert(viewer.to_owned());
    }

    /// The audience of `stream` at unix time `now`.
    pub fn count(&self, tenant: &str, stream: &str, now: i64) -> ViewerCount {
        let cw = self.window_of(now);
        let map = self.streams.lock().expect("live viewers poisoned");
        let of = |start: i64| -> usize {
            map.get(&(tenant.to_owned(), stream.to_owned()))
                .and_then(|s| {
                    [&s.current, &s.previous].into_iter().find(|w| w.start == start && start != 0)
                })
                .map_or(0, |w| w.viewers.len())
        };
        let (current, previous) = (of(cw), of(cw - self.window));
        ViewerCount {
            stream_id: stream.to_owned(),
            viewers: current.max(previous),
            current,
            previous,
            window: cw,
            window_secs: self.window,
        }
    }

    /// Concurrent viewers of every stream at unix time `now` (each stream's
    /// [`LiveViewers::count`] summed), for `framelog_live_viewers`.
    pub fn total(&self, now: i64) -> usize {
        let keys: Vec<(String, String)> =
            self.streams.lock().expect("live viewers poisoned").keys().cloned().collect();
        keys.iter().map(|(tenant, stream)| self.count(tenant, stream, now).viewers).sum()
    }

    /// Forgets streams nobody watched in the last two windows (and their viewers' sent views).
    pub fn prune(&self, now: i64) {
        let oldest = self.window_of(now) - self.window;
        self.streams
            .lock()
            .expect("live viewers poisoned")
            .retain(|_, s| s.current.start >= oldest);
        self.counted.lock().expect("live viewers poisoned").retain(|_, w| *w >= oldest);
        self.sessions
            .lock()
            .expect("live viewers poisoned")
            .retain(|_, (_, at)| at.elapsed() < SESSION_TTL);
    }

    /// The live session of `stream` (live-auth's stream record in KV), cached for a few
    /// seconds; `None` when none is live, the record is another tenant's, or KV is unreachable.
    pub async fn session_of(
        &self,
        js: &jetstream::Context,
        tenant: &str,
        stream: &str,
    ) -> Option<String> {
        let k = (tenant.to_owned(), stream.to_owned());
        if let Some((s, at)) = self.sessions.lock().expect("live viewers poisoned").get(&k)
            && at.elapsed() < SESSION_TTL
        {
            return s.clone();
        }
        let kv = js.get_key_value(framelog_core::nats::KV_STREAM_KEYS).await.ok()?;
        let rec: serde_json::Value = match kv.get(format!("s.{stream}")).await {
            Ok(Some(v)) => serde_json::from_slice(&v).unwrap_or_default(),
            Ok(None) => serde_json::Value::Null,
            Err(e) => {
                tracing::debug!(error = %e, "stream record unreadable");
                return None;
            }
        };
        let session = (rec["tenant"] == tenant && rec["deleted"] != true)
            .then(|| rec["session"]["session_id"].as_str().map(str::to_owned))
            .flatten();
        let now = std::time::Instant::now();
        self.sessions.lock().expect("live viewers poisoned").insert(k, (session.clone(), now));
        session
    }

    /// Whether this replica should send the session view `id` now (not sent while its viewer
    /// kept beaconing); marks it sent in `window`.
    pub(crate) fn first_count(&self, id: Uuid, window: i64) -> bool {
        self.counted.lock().expect("live viewers poisoned").insert(id, window).is_none()
    }

    /// Forgets that `id` was sent (it could not be queued).
    pub(crate) fn uncount(&self, id: Uuid) {
        self.counted.lock().expect("live viewers poisoned").remove(&id);
    }

    /// Follows live `counted` events in `VID_VIEW` until `shutdown`, reconnecting after errors.
    pub async fn follow(self, js: jetstream::Context, shutdown: CancellationToken) {
        loop {
            match self.follow_once(&js, &shutdown).await {
                Ok(()) => return,
                Err(e) => tracing::warn!(error = %e, "live viewer feed interrupted"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    async fn follow_once(
        &self,
        js: &jetstream::Context,
        shutdown: &CancellationToken,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let stream = js.get_stream(STREAM_VIEW).await?;
        let from = OffsetDateTime::now_utc() - Duration::from_secs(2 * self.window as u64);
        let consumer = stream
            .create_consumer(consumer::pull::OrderedConfig {
                filter_subjects: vec![
                    "vid.*.view.presence.*".into(),
                    "vid.*.view.counted.*".into(),
                ],
                deliver_policy: consumer::DeliverPolicy::ByStartTime { start_time: from },
                ..Default::default()
            })
            .await?;
        let mut messages = consumer.messages().await?;
        let mut tick = tokio::time::interval(Duration::from_secs(self.window as u64));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = tick.tick() => self.prune(OffsetDateTime::now_utc().unix_timestamp()),
                m = messages.next() => match m {
                    Some(Ok(m)) => self.apply(&m.payload),
                    Some(Err(e)) => return Err(e.into()),
                    None => return Err("the ordered consumer ended".into()),
                },
            }
        }
    }

    fn apply(&self, payload: &[u8]) {
        let Ok(ev) = Event::from_json(payload) else { return };
        match &ev.data {
            EventData::View(ViewData::Presence { viewer, window, .. }) => {
                self.record(ev.tenant.as_str(), ev.subject.as_str(), *window, viewer);
            }
            // Written once per window by replicas from before `presence`; a session view
            // (its id is not the window's) is no presence.
            EventData::View(ViewData::Counted { viewer, window, live: true })
                if ev.id == legacy_live_id(&ev.tenant, &ev.subject, viewer, *window) =>
            {
                self.record(ev.tenant.as_str(), ev.subject.as_str(), *window, viewer);
            }
            _ => {}
        }
    }
}

/// The id older replicas gave a live `counted` event of one window.
fn legacy_live_id(tenant: &TenantId, stream: &AggregateId, viewer: &str, window: i64) -> Uuid {
    Event::deterministic_id(tenant, stream, Kind::View, "counted", &format!("{viewer}/{window}"))
}

/// Query of `GET /v1/live/{stream_id}/viewers`.
#[derive(Debug, Deserialize)]
pub struct ViewersQuery {
    /// A playback token for the stream (players); without it, a tenant API key is required.
    pub token: Option<String>,
}

/// `GET /v1/live/{stream_id}/viewers`: the tenant's API key, or `?token=<playback token>`.
#[utoipa::path(get, path = "/v1/live/{stream_id}/viewers", tag = "live", operation_id = "live_viewers",
    security(("bearer" = []), ()),
    params(
        ("stream_id" = String, Path, description = "the stream id"),
        ("token" = Option<String>, Query, description = "a playback token for the stream; without it an API key is required"),
    ),
    responses(
        (status = 200, description = "concurrent viewers now", body = ViewerCount),
        (status = 400, body = ErrorBody,
            description = "malformed input (`invalid_path`, `invalid_query`, `invalid_json` ...)"),
        (status = 401, body = ErrorBody,
            description = "missing or unknown API key (`unauthorized`)"),
        (status = 403, body = ErrorBody,
            description = "the token is invalid (`forbidden`), or the key lacks the scope (`insufficient_scope`)"),
        (status = 404, body = ErrorBody,
            description = "no such resource for this tenant (`not_found`)"),
        InternalError,
    ))]
pub async fn get(
    State(st): State<PlaybackState>,
    Path(stream): Path<String>,
    Query(q): Query<ViewersQuery>,
    mut parts: Parts,
) -> Result<Response, ApiError> {
    let stream = AggregateId::new(stream).map_err(|_| ApiError::not_found("stream"))?;
    let now = st.now();
    let tenant = match q.token {
        Some(token) => verify_playback_token(
            &st.platform.secret,
            &token,
            stream.as_str(),
            now.unix_timestamp(),
        )
        .map_err(|e| ApiError::forbidden(e.to_string()))?
        .to_owned(),
        None => {
            let tenant = Tenant::from_request_parts(&mut parts, &st).await?.0.to_string();
            // Another tenant's stream answers 404, like a missing one (a token is already
            // bound to its stream by its MAC).
            if !stream_belongs_to(&st, &tenant, stream.as_str()).await? {
                return Err(ApiError::not_found("stream"));
            }
            tenant
        }
    };
    let count = st.viewers.count(&tenant, stream.as_str(), now.unix_timestamp());
    Ok(Json(count).into_response())
}

/// Whether the live stream record (kept by live-auth in the stream-keys KV bucket) exists, is
/// not deleted and belongs to `tenant`.
pub(crate) async fn stream_belongs_to(
    st: &PlaybackState,
    tenant: &str,
    stream: &str,
) -> Result<bool, ApiError> {
    let kv = st
        .platform
        .js
        .get_key_value(framelog_core::nats::KV_STREAM_KEYS)
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    let Some(v) =
        kv.get(format!("s.{stream}")).await.map_err(|e| ApiError::unavailable(e.to_string()))?
    else {
        return Ok(false);
    };
    let rec: serde_json::Value = serde_json::from_slice(&v).unwrap_or_default();
    Ok(rec["tenant"] == tenant && rec["deleted"] != true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_viewers_of_the_current_and_previous_window_are_counted() {
        let v = LiveViewers::new(30);
        v.record("t", "s", 30, "a");
        v.record("t", "s", 30, "a");
        v.record("t", "s", 30, "b");
        assert_eq!(v.count("t", "s", 45).viewers, 2);
        v.record("t", "s", 60, "a");
        let c = v.count("t", "s", 61);
        assert_eq!((c.current, c.previous, c.viewers), (1, 2, 2));
        v.record("t", "s", 30, "late");
        assert_eq!(v.count("t", "s", 61).previous, 3, "a late event of the previous window counts");
        assert_eq!(v.count("t", "s", 125).viewers, 0, "two windows later, nobody");
        assert_eq!(v.count("other", "s", 61).viewers, 0, "tenants are apart");
    }

    #[test]
    fn a_gap_of_more_than_one_window_forgets_the_old_audience_and_prune_drops_idle_streams() {
        let v = LiveViewers::new(30);
        v.record("t", "s", 30, "a");
        v.record("t", "s", 120, "b");
        let c = v.count("t", "s", 121);
        assert_eq!((c.current, c.previous), (1, 0));
        v.prune(1000);
        assert!(v.streams.lock().unwrap().is_empty());
    }
}
