//! `GET /v1/events`: the tenant's events as Server-Sent Events.
//!
//! Design: each connection reads `VID` through its own ordered consumer (ephemeral, flow
//! controlled, no acks) filtered to `vid.<tenant>.>` (or to the kinds of `?types=`), starting at
//! the next new message, or right after `Last-Event-ID` when reconnecting. The same consumer
//! replays what was missed and then follows live, so there is no gap and no repeat between the
//! two. Each event is sent with its `VID` stream sequence as `id`, its type as `event` and the
//! CloudEvents JSON as `data`. Transcode progress comes from a core NATS subscription on
//! `vidp.<tenant>.>` as `event: progress` without an id (it is not a log fact; a reconnect does
//! not replay it). Keep-alive comments every `sse_keepalive_secs`. The tenant comes from the
//! API key and is one subject token (ids are `[a-z0-9_-]`), so another tenant's events are
//! never delivered; decoded events are checked again. Views (`VID_VIEW`) are not in the feed.

use std::convert::Infallible;
use std::time::Duration;

use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use framelog_core::ApiError;
use framelog_core::error::extract::Query;
use framelog_core::nats::STREAM_VID;
use framelog_core::openapi::{AuthErrors, ErrorBody, InternalError};
use framelog_core::tenants::Tenant;
use framelog_events::{Event, Kind, Subject, TenantId};
use futures::{Stream, StreamExt, stream};
use serde::Deserialize;
use serde_json::{Value, json};

use super::ApiState;

/// Seconds a client over its feed quota is told to wait.
const FEED_RETRY_AFTER: &str = "5";

/// `GET /v1/events` parameters.
#[derive(Debug, Deserialize)]
pub struct FeedQuery {
    /// Comma-separated event types, e.g. `VID_UPLOAD,VID_READY` (default: all of `VID`).
    pub types: Option<String>,
    /// Same as the `Last-Event-ID` header (for clients that cannot set headers).
    pub last_event_id: Option<String>,
}

fn parse_types(types: &str) -> Result<Vec<Kind>, ApiError> {
    let mut kinds = Vec::new();
    for t in types.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        match Kind::from_event_type(t) {
            Some(k) if k != Kind::View => kinds.push(k),
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_types",
                    format!(
                        "unknown event type {t:?}: use VID_UPLOAD, VID_TRANSCODE, VID_READY, VID_LIVE"
                    ),
                ));
            }
        }
    }
    kinds.sort();
    kinds.dedup();
    if kinds.is_empty() {
        return Err(ApiError::bad_request("invalid_types", "types names no event type"));
    }
    Ok(kinds)
}

fn last_event_id(headers: &HeaderMap, q: &FeedQuery) -> Result<Option<u64>, ApiError> {
    let raw = match headers.get("last-event-id") {
        Some(h) => Some(h.to_str().unwrap_or("x").to_owned()),
        None => q.last_event_id.clone(),
    };
    raw.map(|r| {
        r.trim().parse::<u64>().map_err(|_| {
            ApiError::bad_request(
                "invalid_last_event_id",
                "Last-Event-ID must be a stream sequence",
            )
        })
    })
    .transpose()
}

/// The feed of one tenant.
#[utoipa::path(get, path = "/v1/events", tag = "events", operation_id = "events_feed",
    security(("bearer" = [])),
    params(
        ("types" = Option<String>, Query, description = "comma-separated event types, e.g. `VID_UPLOAD,VID_READY`"),
        ("last_event_id" = Option<String>, Query, description = "resume after this event (as `Last-Event-ID`)"),
        ("Last-Event-ID" = Option<String>, Header, description = "resume after this event"),
    ),
    responses(
        (status = 200, content_type = "text/event-stream", body = String,
            description = "Server-Sent Events: one CloudEvents JSON per event (schemas/), `id` = the resume cursor"),
        (status = 400, body = ErrorBody,
            description = "malformed input (`invalid_path`, `invalid_query`, `invalid_json` ...)"),
        AuthErrors, InternalError,
        (status = 429, body = ErrorBody,
            description = "over the tenant's open feeds (`Retry-After`)"),
    ))]
pub async fn feed(
    State(s): State<ApiState>,
    Tenant(tenant): Tenant,
    headers: HeaderMap,
    Query(q): Query<FeedQuery>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let kinds = q.types.as_deref().map(parse_types).transpose()?;
    let after = last_event_id(&headers, &q)?;
    // Taken before the consumer exists; held by the response body, so released on disconnect.
    let slot = s.feeds.acquire(&tenant).ok_or_else(|| {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_feeds",
            format!(
                "this tenant already holds {} open event feeds; close one first",
                s.settings.sse_max_per_tenant
            ),
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from_static(FEED_RETRY_AFTER))
    })?;
    let filters: Vec<String> = match &kinds {
        None => vec![Subject::tenant_filter(&tenant)],
        Some(ks) => ks.iter().map(|k| format!("vid.{tenant}.{}.>", k.token())).collect(),
    };
    let deliver_policy = match after {
        None => DeliverPolicy::New,
        Some(n) => DeliverPolicy::ByStartSequence { start_sequence: n + 1 },
    };
    let unavailable = |e: &dyn std::fmt::Display| ApiError::unavailable(format!("event feed: {e}"));
    let stream = s.js.get_stream_no_info(STREAM_VID).await.map_err(|e| unavailable(&e))?;
    let (filter_subject, filter_subjects) = match filters.as_slice() {
        [one] => (one.clone(), Vec::new()),
        many => (String::new(), many.to_vec()),
    };
    let consumer = stream
        .create_consumer(pull::OrderedConfig {
            filter_subject,
            filter_subjects,
            deliver_policy,
            ..Default::default()
        })
        .await
        .map_err(|e| unavailable(&e))?;
    let messages = consumer.messages().await.map_err(|e| unavailable(&e))?;
    // Transcode progress, and URL imports' download progress (kind `upload`).
    let want_progress =
        kinds.as_ref().is_none_or(|ks| ks.contains(&Kind::Transcode) || ks.contains(&Kind::Upload));
    let progress = if want_progress {
        let sub = s
            .nats
            .subscribe(Subject::progress_tenant_filter(&tenant))
            .await
            .map_err(|e| unavailable(&e))?;
        // Only the kinds asked for (`vidp.<tenant>.<kind>.<aggregate>`).
        let wanted = kinds.clone();
        sub.filter(move |m| {
            let kind = m.subject.as_str().split('.').nth(2).unwrap_or("");
            std::future::ready(
                wanted.as_ref().is_none_or(|ks| ks.iter().any(|k| k.token() == kind)),
            )
        })
        .map(|m| Some(progress_event(&m.subject, &m.payload)))
        .boxed()
    } else {
        stream::pending().boxed()
    };
    let t = tenant.clone();
    let events = messages
        .take_while(|m| std::future::ready(m.is_ok()))
        .map(move |m| m.ok().and_then(|m| log_event(&t, &m)));
    let feed = stream::select(events, progress)
        .filter_map(|e| std::future::ready(e.map(Ok)))
        .map(move |e| {
            let _held = &slot;
            e
        })
        .take_until(s.shutdown.clone().cancelled_owned());
    Ok(Sse::new(feed).keep_alive(
        KeepAlive::new().interval(Duration::from_secs(s.settings.sse_keepalive_secs.max(1))),
    ))
}

/// One log event as SSE: `id` = stream sequence, `event` = type, `data` = the CloudEvent.
fn log_event(tenant: &TenantId, m: &async_nats::jetstream::Message) -> Option<SseEvent> {
    let seq = m.info().ok()?.stream_sequence;
    let event = match Event::from_json(&m.payload) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(seq, error = %e, "undecodable event left out of the feed");
            return None;
        }
    };
    if &event.tenant != tenant {
        tracing::error!(seq, "an event of another tenant reached a tenant feed; dropped");
        return None;
    }
    let data = std::str::from_utf8(&m.payload).ok()?;
    Some(SseEvent::default().id(seq.to_string()).event(event.kind().event_type()).data(data))
}

/// A progress value as SSE `event: progress`.
fn progress_event(subject: &str, payload: &[u8]) -> SseEvent {
    let mut tokens = subject.split('.').skip(2);
    let (kind, aggregate) = (tokens.next(), tokens.next());
    let value: Value = serde_json::from_slice(payload)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(payload).into_owned()));
    let data =
        json!({ "subject": subject, "kind": kind, "aggregate": aggregate, "progress": value });
    SseEvent::default().event("progress").data(data.to_string())
}
