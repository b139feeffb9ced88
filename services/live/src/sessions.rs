//! Publish authorisation and live sessions, shared by the MediaMTX and nginx-rtmp front ends.

use framelog_core::ApiError;
use framelog_events::{LiveData, MediaServer};
use time::OffsetDateTime;

use crate::keys;
use crate::state::LiveState;
use crate::store::{EndedConnection, LiveSession, StreamRecord};

/// Why a publish was refused (never carries the key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    Malformed,
    UnknownStream,
    WrongStream,
    InvalidKey,
}

impl Denial {
    pub fn reason(&self) -> &'static str {
        match self {
            Denial::Malformed => "malformed stream key",
            Denial::UnknownStream => "unknown or deleted stream",
            Denial::WrongStream => "the key belongs to another stream",
            Denial::InvalidKey => "invalid or rotated stream key",
        }
    }
}

/// Where a publish attempt comes from.
#[derive(Debug, Clone)]
pub struct Publisher {
    pub server: MediaServer,
    pub connection_id: String,
    pub protocol: String,
    pub remote_addr: Option<String>,
    pub app: Option<String>,
}

/// Checks `key` (and, if the publisher named one, that it opens `claimed` stream).
/// Denials of a known stream are published as `publish_denied` for audit.
pub async fn authorize(
    st: &LiveState,
    key: &str,
    claimed: Option<&str>,
    from: &Publisher,
) -> Result<Result<StreamRecord, Denial>, ApiError> {
    let Some(stream) = keys::stream_of(key) else {
        return Ok(Err(Denial::Malformed));
    };
    let lookup = claimed.unwrap_or(stream);
    let record = st.streams.get_cached(lookup).await?.filter(|r| !r.deleted);
    let Some(r) = record else {
        return Ok(Err(Denial::UnknownStream));
    };
    let denial = if claimed.is_some_and(|c| c != stream) {
        Some(Denial::WrongStream)
    } else if !keys::matches(key, &r.key_hash) {
        Some(Denial::InvalidKey)
    } else {
        None
    };
    if let Some(d) = denial {
        // The answer never depends on the audit: a full or unreachable JetStream still gets
        // the denial from the local copy of the record.
        if let Err(e) = audit_denial(st, &r, d.reason(), from).await {
            tracing::warn!(stream = %r.stream_id, error = %e, "publish denied, but not audited");
        }
        tracing::info!(stream = %r.stream_id, reason = d.reason(), "publish denied");
        return Ok(Err(d));
    }
    Ok(Ok(r))
}

/// Publishes `publish_denied`, at most once per (stream, remote address) and window (see
/// [`crate::denials`]); the event carries how many denials it stands for.
async fn audit_denial(
    st: &LiveState,
    r: &StreamRecord,
    reason: &str,
    from: &Publisher,
) -> Result<(), ApiError> {
    let addr = crate::denials::host_of(from.remote_addr.as_deref().unwrap_or(""));
    let admitted = st.denials.lock().expect("denial limiter poisoned").admit(
        r.stream_id.as_str(),
        addr,
        std::time::Instant::now(),
    );
    let Some(suppressed) = admitted else { return Ok(()) };
    let data = LiveData::PublishDenied {
        reason: reason.to_owned(),
        server: from.server,
        protocol: Some(from.protocol.clone()),
        remote_addr: from.remote_addr.clone(),
        suppressed: (suppressed > 0).then_some(suppressed),
    };
    st.publish(r, data, None).await?;
    Ok(())
}

/// Audits a publish that used the stream key as the stream name (refused: the name would
/// become the HLS path and leak the key).
pub async fn deny_misplaced_key(
    st: &LiveState,
    name: &str,
    from: &Publisher,
) -> Result<(), ApiError> {
    let Some(stream) = keys::stream_of(name) else { return Ok(()) };
    if let Some((r, _)) = st.streams.get(stream).await? {
        audit_denial(st, &r, "stream key used as the stream name", from).await?;
    }
    Ok(())
}

/// How the publisher of a [`start`] was authorised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authorised {
    /// Its key was checked in this very request (nginx-rtmp `on_publish`).
    Now,
    /// An earlier publish auth recorded its connection id as `pending_connection` (MediaMTX:
    /// the auth webhook comes first, the `available` hook later). Any other connection is
    /// refused.
    Pending,
}

/// Marks the stream live and publishes `started` (idempotent per session). A connection that
/// no authorised publish opened is refused (403) and nothing changes. A session still open on
/// another connection (a reconnect under a new client id) is ended first, with `ended`
/// (reason `"replaced by a new session"`, billed up to its last sight) before `started`.
pub async fn start(
    st: &LiveState,
    stream: &str,
    from: &Publisher,
    how: Authorised,
) -> Result<Option<StreamRecord>, ApiError> {
    if from.connection_id.is_empty() {
        return Err(ApiError::bad_request(
            "missing_connection_id",
            "a session needs the media server's connection id",
        ));
    }
    let now = OffsetDateTime::now_utc();
    let session_id = framelog_core::new_id("ses").to_string();
    let (mut created, mut replaced) = (None, None);
    let r = st
        .streams
        .update(stream, |r| {
            (created, replaced) = (None, None);
            if r.deleted {
                return Ok::<_, ApiError>(false);
            }
            // A repeated hook for the same connection keeps the session it started.
            if r.session.as_ref().is_some_and(|s| s.connection_id == from.connection_id) {
                return Ok(false);
            }
            if how == Authorised::Pending
                && r.pending_connection.as_ref().is_none_or(|(id, _)| *id != from.connection_id)
            {
                return Err(ApiError::forbidden("no authorised publish opened this connection"));
            }
            replaced = close(r);
            let s = LiveSession {
                session_id: session_id.clone(),
                server: from.server,
                connection_id: from.connection_id.clone(),
                protocol: from.protocol.clone(),
                remote_addr: from.remote_addr.clone(),
                app: from.app.clone(),
                started_at: now,
                generation: r.generation,
                last_seen: None,
            };
            created = Some(s.clone());
            r.session = Some(s);
            r.pending_connection = None;
            Ok(true)
        })
        .await?;
    let (Some(r), Some(s)) = (r, created) else { return Ok(None) };
    if let Some(old) = replaced {
        publish_ended(st, &r, &old, old.last_sight(), "replaced by a new session").await?;
    }
    let data = LiveData::Started {
        session_id: s.session_id.clone(),
        server: s.server,
        connection_id: s.connection_id.clone(),
        protocol: s.protocol.clone(),
        remote_addr: s.remote_addr.clone(),
    };
    st.publish(&r, data, Some(&s.session_id)).await?;
    tracing::info!(tenant = %r.tenant, stream = %r.stream_id, session = %s.session_id, "stream live");
    Ok(Some(r))
}

/// Takes the open session out of `r`, remembering it as the last one (its recording may still
/// arrive after the end).
pub(crate) fn close(r: &mut StreamRecord) -> Option<LiveSession> {
    let s = r.session.take()?;
    r.last_session = Some(s.session_id.clone());
    r.last_connection =
        Some(EndedConnection { server: s.server, connection_id: s.connection_id.clone() });
    Some(s)
}

/// Publishes `ended` for `s`, billed from its start to `until`. Its subject carries the
/// session (`vid.<tenant>.live.ended.<stream>.<session>`, stored only while empty) and its id is
/// deterministic per session, so whoever ends it (hook, reaper, replacement, on any replica, or
/// an outbox resend long after the duplicate window) writes it once.
pub(crate) async fn publish_ended(
    st: &LiveState,
    r: &StreamRecord,
    s: &LiveSession,
    until: OffsetDateTime,
    reason: &str,
) -> Result<f64, ApiError> {
    let duration = (until - s.started_at).as_seconds_f64().max(0.0);
    let data = LiveData::Ended {
        session_id: s.session_id.clone(),
        duration_secs: duration,
        reason: reason.to_owned(),
    };
    st.publish(r, data, Some(&s.session_id)).await?;
    tracing::info!(stream = %r.stream_id, session = %s.session_id, duration, reason, "stream ended");
    Ok(duration)
}

/// Ends the stream's session if it is `connection_id`'s and publishes `ended` with its
/// duration. A call naming no connection, or another one, ends nothing (`Ok(None)`): only the
/// media server knows the connection id of the publisher it reports.
pub async fn end(
    st: &LiveState,
    stream: &str,
    connection_id: Option<&str>,
    reason: &str,
) -> Result<Option<LiveSession>, ApiError> {
    let Some(connection_id) = connection_id.filter(|c| !c.is_empty()) else {
        return Err(ApiError::bad_request(
            "missing_connection_id",
            "ending a session needs the media server's connection id",
        ));
    };
    let mut ended = None;
    let r = st
        .streams
        .update(stream, |r| {
            ended = None;
            match &r.session {
                Some(s) if connection_id == s.connection_id => {
                    ended = close(r);
                    Ok::<_, ApiError>(true)
                }
                _ => Ok(false),
            }
        })
        .await?;
    let (Some(r), Some(s)) = (r, ended) else { return Ok(None) };
    publish_ended(st, &r, &s, OffsetDateTime::now_utc(), reason).await?;
    Ok(Some(s))
}

/// Records that the media server reported `connection_id`'s session of `stream` live at
/// `now` (`last_seen`), writing the record only when the sighting advanced by at least
/// `--live-seen-every` seconds, so frequent reports stay cheap.
pub async fn seen(
    st: &LiveState,
    stream: &str,
    connection_id: &str,
    now: OffsetDateTime,
) -> Result<(), ApiError> {
    let every = time::Duration::seconds(st.settings.seen_every_secs as i64);
    let due = |r: &StreamRecord| {
        r.session
            .as_ref()
            .is_some_and(|s| s.connection_id == connection_id && now - s.last_sight() >= every)
    };
    if !st.streams.get_cached(stream).await?.as_ref().is_some_and(due) {
        return Ok(());
    }
    st.streams
        .update(stream, |r| {
            if !due(r) {
                return Ok::<_, ApiError>(false);
            }
            if let Some(s) = r.session.as_mut() {
                s.last_seen = Some(now);
            }
            Ok(true)
        })
        .await?;
    Ok(())
}

/// Whether the key an ongoing publish presents (nginx-rtmp repeats the publisher's `?key=` on
/// every callback) still opens `stream`, from the local copy of the record: what keeps a
/// publish whose session could not be recorded (JetStream full or unreachable). A rotated key
/// or a deleted stream fails here as it does at publish.
pub async fn key_still_opens(
    st: &LiveState,
    stream: &str,
    key: Option<&str>,
) -> Result<bool, ApiError> {
    let Some(key) = key else { return Ok(false) };
    if keys::stream_of(key) != Some(stream) {
        return Ok(false);
    }
    Ok(st
        .streams
        .get_cached(stream)
        .await?
        .is_some_and(|r| !r.deleted && keys::matches(key, &r.key_hash)))
}

/// Whether an ongoing publish may continue: the stream exists and its key has not been
/// rotated since the session started. Asked by nginx-rtmp's periodic `on_update`, so a `true`
/// answer is also a sighting of the session ([`seen`]), which keeps the reaper away.
pub async fn still_valid(
    st: &LiveState,
    stream: &str,
    connection_id: &str,
) -> Result<bool, ApiError> {
    let valid = match st.streams.get(stream).await? {
        Some((r, _)) if !r.deleted => match &r.session {
            Some(s) if s.connection_id == connection_id => s.generation == r.generation,
            // A connection we do not know about is not ours to keep.
            _ => false,
        },
        _ => false,
    };
    // A sighting that could not be written must not cut the publisher (a non-2xx answer to
    // on_update does): the next report writes it.
    if valid && let Err(e) = seen(st, stream, connection_id, OffsetDateTime::now_utc()).await {
        tracing::warn!(stream, error = ?e, "live session sighting not recorded");
    }
    Ok(valid)
}
