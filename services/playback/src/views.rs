//! `POST /v1/views`: the player's view beacon.
//!
//! No API key: viewers are anonymous; the playback token (or the public mark) authenticates the
//! tenant and the video or live stream. A beacon becomes a `VID_VIEW counted` event for (video,
//! viewer, window) whose id is deterministic, so any number of beacons of one viewer in one
//! window, on any replica, are stored once.
//!
//! - `start` counts a VOD view; a reload within the window counts once. A VOD heartbeat is
//!   accepted and counts nothing more, so a long watch is one view.
//! - Every beacon with `live: true` (start or heartbeat) is a `presence` in its window (the
//!   source of concurrent viewers, never a view), and the viewer's first beacon in a live
//!   session is its one view of that session (see [`crate::viewers`]).
//!
//! Durability: the answer is `202 Accepted` as soon as the event is queued for the batch
//! publisher, before JetStream's ack. A beacon is a measurement the player does not act on;
//! awaiting the ack would add a NATS round trip to each beacon. What is at risk is what sits in
//! the queue when the process dies (milliseconds of beacons under load) or events given up after
//! the retries of a long NATS outage; a queue that is full answers 503 so players retry later.
//! Retries are harmless: the ids are deterministic.
//!
//! - `qoe` carries the player's QoE summary since its previous one: one `VID_VIEW qoe` per
//!   session and window, clamped (see [`crate::qoe`]).
//!
//! Floods: each beacon first takes a token from its address's bucket and a beacon that would
//! count a view must also fit the address's cap of distinct sessions per window
//! ([`crate::limiter`]); otherwise 429 with `Retry-After` and nothing is counted. The address
//! is the TCP peer, or `X-Forwarded-For` only behind an explicitly trusted proxy.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use framelog_core::ApiError;
use framelog_core::error::extract::Json;
use framelog_core::openapi::{ErrorBody, InternalError, JsonBodyErrors};
use framelog_events::{AggregateId, Event, Kind, TenantId, ViewData};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::Deserialize;
use tokio::sync::mpsc::error::TrySendError;

use crate::batcher::Outgoing;
use crate::client::{Peer, viewer_id};
use crate::limiter::Refusal;
use crate::state::PlaybackState;
use crate::token::{Target, authorize};

/// The token value that refers to a public video instead of a signed token.
pub const PUBLIC_TOKEN: &str = "public";

/// Longest accepted player session id.
const MAX_SESSION_LEN: usize = 128;

/// What a beacon says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BeaconKind {
    /// Playback started.
    #[default]
    Start,
    /// Still playing (every ≤ window seconds).
    Heartbeat,
    /// The player's QoE summary since its previous one, in `qoe` (one per session and
    /// window, see [`crate::qoe`]).
    Qoe,
}

/// Body of `POST /v1/views`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Beacon {
    /// The playback token of the URL being played, or `"public"` for a public video.
    pub token: String,
    /// The video id (or the live stream id when `live`).
    pub video_id: String,
    /// The player's session id (random per page load); with the address, it tells viewers apart.
    #[serde(default)]
    pub session: Option<String>,
    #[serde(default)]
    pub kind: BeaconKind,
    #[serde(default)]
    pub live: bool,
    /// With `"kind": "qoe"`: what the player measured since its previous summary.
    #[serde(default)]
    pub qoe: Option<crate::qoe::QoeBody>,
}

/// `POST /v1/views`: 202 once queued, 403 for a bad token, 429 beyond the address's rate or
/// session cap, 503 when the queue is full.
#[utoipa::path(post, path = "/v1/views", tag = "playback", operation_id = "view_beacon",
    request_body(content = Beacon, content_type = "application/json"),
    responses(
        (status = 202, description = "queued"),
        (status = 400, body = ErrorBody,
            description = "malformed input (`invalid_path`, `invalid_query`, `invalid_json` ...)"),
        (status = 403, body = ErrorBody,
            description = "the token is invalid or not for this video (`invalid_token`)"),
        JsonBodyErrors, InternalError,
        (status = 429, description = "over the rate or session limit", body = ErrorBody),
        (status = 503, body = ErrorBody,
            description = "a dependency is unavailable (`unavailable`)"),
    ))]
pub async fn beacon(
    State(st): State<PlaybackState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    Json(b): Json<Beacon>,
) -> Result<Response, ApiError> {
    // Before any other work: a flood costs one map lookup per beacon.
    let ip = st.proxies.client_ip(peer, &headers);
    let addr = ip.unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    let uptime = st.uptime_secs();
    st.limiter.take(addr, uptime).map_err(|r| refused(&st, r))?;
    let video = AggregateId::new(b.video_id).map_err(|_| ApiError::not_found("video"))?;
    let now = st.now();
    let tenant = if b.token == PUBLIC_TOKEN && !b.live {
        st.public.tenant_of(video.as_str()).await?.ok_or_else(|| ApiError::not_found("video"))?
    } else {
        // The player's playback token, HMAC or JWT (a JWT's `aud` must cover playlists).
        let target = if b.live { Target::Stream } else { Target::Video };
        let file = if b.live { "index.m3u8" } else { "master.m3u8" };
        authorize(&st, &b.token, video.as_str(), file, &headers, target).await?
    };
    let tenant = TenantId::new(tenant).map_err(|_| ApiError::not_found("video"))?;
    let session = b.session.unwrap_or_default();
    if session.len() > MAX_SESSION_LEN {
        return Err(ApiError::bad_request("invalid_session", "session is longer than 128 bytes"));
    }
    if b.kind == BeaconKind::Heartbeat && !b.live {
        return Ok(StatusCode::ACCEPTED.into_response());
    }
    let window = now.unix_timestamp().div_euclid(st.window) * st.window;
    st.limiter.admit_session(addr, &session, window).map_err(|r| refused(&st, r))?;
    let viewer = viewer_id(&st.platform.secret, ip, &session);
    if b.kind == BeaconKind::Qoe {
        let (tenant, video, viewer, session) = (&tenant, &video, viewer.as_str(), session.as_str());
        let who = crate::qoe::QoeBeacon {
            tenant,
            video,
            viewer,
            addr,
            session,
            window,
            live: b.live,
            now,
        };
        return crate::qoe::accept(&st, who, b.qoe);
    }
    if b.live {
        // Presence per window, and one view per live session (see `viewers`).
        let live = crate::live_beacon::live_beacon(&st, &tenant, &video, &viewer, now).await;
        for event in &live.events {
            if let Err(e) = enqueue(&st, event) {
                live.not_queued(&st);
                return Err(e);
            }
        }
        return Ok(StatusCode::ACCEPTED.into_response());
    }
    let id = Event::deterministic_id(
        &tenant,
        &video,
        Kind::View,
        "counted",
        &format!("{viewer}/{window}"),
    );
    let data = ViewData::Counted { viewer, window, live: false };
    let event = Event::new(id, now, crate::SOURCE, tenant, video, data);
    enqueue(&st, &event)?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// Queues `event` for the batch publisher: 503 when the queue is full.
pub(crate) fn enqueue(st: &PlaybackState, event: &Event) -> Result<(), ApiError> {
    match st.beacons.try_send(Outgoing::of(event)) {
        Ok(()) => {
            st.stats.accepted.inc();
            Ok(())
        }
        Err(TrySendError::Full(_)) => {
            st.stats.rejected.inc();
            Err(ApiError::unavailable("too many view beacons, retry later")
                .with_header(http::header::RETRY_AFTER, HeaderValue::from_static("1")))
        }
        Err(TrySendError::Closed(_)) => Err(ApiError::unavailable("shutting down")),
    }
}

/// The answer to a beacon the limiter refused: 429 with `Retry-After`, nothing counted.
fn refused(st: &PlaybackState, r: Refusal) -> ApiError {
    st.stats.limited.inc();
    let (code, message, secs) = match r {
        Refusal::Rate { retry_after_secs } => {
            ("rate_limited", "too many view beacons from this address", retry_after_secs)
        }
        Refusal::Sessions => (
            "too_many_sessions",
            "too many player sessions from this address in this view window",
            u64::try_from(st.window).unwrap_or(30),
        ),
    };
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, code, message)
        .with_header(http::header::RETRY_AFTER, HeaderValue::from(secs))
}
