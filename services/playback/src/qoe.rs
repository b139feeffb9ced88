//! A QoE beacon (`POST /v1/views` with `"kind": "qoe"`): what the player measured since its
//! previous summary (startup, stalls, switches, fatal errors, watch time, live latency) becomes
//! one `VID_VIEW qoe` event.
//!
//! Bounds, so that a script cannot move a video's averages by more than one honest viewer:
//! - the beacon passed the address's token bucket and its cap of sessions per window
//!   ([`crate::limiter`]) like every beacon;
//! - **one summary per session and window**: the limiter remembers which sessions of the
//!   address sent theirs (a second is answered 429 with `Retry-After` = the next window; the
//!   player keeps its deltas and sends them then), and the event id is deterministic over
//!   (viewer, window), so another replica's or a retry's copy is dropped by NATS and by the
//!   projection's seen ids;
//! - every value is clamped by [`QoeBounds::for_window`]: watch time ≤ window + 15 s,
//!   startup ≤ 60 s, rebuffer time ≤ watch time, counts capped, error codes of a safe
//!   alphabet, latency only for live.

use axum::response::{IntoResponse, Response};
use framelog_core::ApiError;
use framelog_events::qoe::{QoeBounds, QoeSample};
use framelog_events::{AggregateId, Event, Kind, TenantId, ViewData};
use http::{HeaderValue, StatusCode};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::state::PlaybackState;

/// The `qoe` object of a QoE beacon: deltas since the session's previous accepted summary.
/// Numbers are unsigned integers (anything else is a 422); out-of-range values are clamped.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct QoeBody {
    /// The summary's number in the player session (0 = the first).
    #[serde(default)]
    pub seq: u64,
    /// Milliseconds watched (playing, starting or stalled; not paused).
    #[serde(default)]
    pub watch_ms: u64,
    /// Play requested to first frame, ms (in the summary in which it happened).
    #[serde(default)]
    pub startup_ms: Option<u64>,
    /// Stalls after the first frame (seeks excluded).
    #[serde(default)]
    pub rebuffer_count: u64,
    /// Milliseconds stalled.
    #[serde(default)]
    pub rebuffer_ms: u64,
    /// Rendition switches.
    #[serde(default)]
    pub switches: u64,
    /// Fatal errors.
    #[serde(default)]
    pub errors: u64,
    /// The last fatal error's code (hls.js `details`).
    #[serde(default)]
    pub error_code: Option<String>,
    /// Live: mean latency behind the live edge, ms.
    #[serde(default)]
    pub latency_ms: Option<u64>,
}

/// Who sent a QoE beacon, and when.
pub struct QoeBeacon<'a> {
    pub tenant: &'a TenantId,
    pub video: &'a AggregateId,
    pub viewer: &'a str,
    pub addr: std::net::IpAddr,
    pub session: &'a str,
    pub window: i64,
    pub live: bool,
    pub now: OffsetDateTime,
}

fn sat32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// The clamped sample of `body` for `viewer` in `window` (pure).
pub fn sample(body: QoeBody, viewer: &str, window: i64, live: bool, window_secs: i64) -> QoeSample {
    QoeBounds::for_window(window_secs).clamp(QoeSample {
        viewer: viewer.to_owned(),
        window,
        seq: sat32(body.seq),
        live,
        watch_ms: body.watch_ms,
        startup_ms: body.startup_ms,
        rebuffer_count: sat32(body.rebuffer_count),
        rebuffer_ms: body.rebuffer_ms,
        switches: sat32(body.switches),
        errors: sat32(body.errors),
        error_code: body.error_code,
        latency_ms: body.latency_ms,
    })
}

/// The id of `viewer`'s one QoE summary of `window` for `video`.
pub fn qoe_id(tenant: &TenantId, video: &AggregateId, viewer: &str, window: i64) -> uuid::Uuid {
    Event::deterministic_id(tenant, video, Kind::View, "qoe", &format!("{viewer}/{window}"))
}

/// Accepts a QoE beacon (see the module docs): 202 once queued, 400 without a `qoe` object,
/// 429 when the session already sent its summary of this window.
pub fn accept(
    st: &PlaybackState,
    b: QoeBeacon<'_>,
    body: Option<QoeBody>,
) -> Result<Response, ApiError> {
    let body = body.ok_or_else(|| {
        ApiError::bad_request("invalid_qoe", "a `qoe` beacon carries a `qoe` object")
    })?;
    if !st.limiter.admit_qoe(b.addr, b.session, b.window) {
        st.stats.limited.inc();
        let next = (b.window + st.window - b.now.unix_timestamp()).max(1);
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "qoe_already_sent",
            "this player session already sent its QoE summary of this view window",
        )
        .with_header(http::header::RETRY_AFTER, HeaderValue::from(next)));
    }
    let s = sample(body, b.viewer, b.window, b.live, st.window);
    let id = qoe_id(b.tenant, b.video, b.viewer, b.window);
    let event =
        Event::new(id, b.now, crate::SOURCE, b.tenant.clone(), b.video.clone(), ViewData::Qoe(s));
    crate::views::enqueue(st, &event)?;
    Ok(StatusCode::ACCEPTED.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_of_absurd_numbers_becomes_a_sample_within_the_bounds() {
        let body = QoeBody {
            seq: u64::MAX,
            watch_ms: u64::MAX,
            startup_ms: Some(u64::MAX),
            rebuffer_count: u64::MAX,
            rebuffer_ms: u64::MAX,
            switches: u64::MAX,
            errors: u64::MAX,
            error_code: Some("x".repeat(1000)),
            latency_ms: Some(u64::MAX),
        };
        let s = sample(body, "abc", 60, true, 30);
        assert_eq!((s.viewer.as_str(), s.window, s.seq), ("abc", 60, u32::MAX));
        assert_eq!(s.watch_ms, 45_000);
        assert_eq!(s.startup_ms, Some(60_000));
        assert!(s.rebuffer_ms <= s.watch_ms);
        assert_eq!((s.switches, s.errors), (100, 10));
        assert_eq!(s.error_code.as_deref(), Some("other"));
        assert_eq!(s.latency_ms, Some(120_000));
    }

    #[test]
    fn the_id_is_one_per_viewer_and_window() {
        let t = TenantId::new("acme").unwrap();
        let v = AggregateId::new("vid_1").unwrap();
        assert_eq!(qoe_id(&t, &v, "a", 30), qoe_id(&t, &v, "a", 30));
        assert_ne!(qoe_id(&t, &v, "a", 30), qoe_id(&t, &v, "a", 60));
        assert_ne!(qoe_id(&t, &v, "a", 30), qoe_id(&t, &v, "b", 30));
    }
}
