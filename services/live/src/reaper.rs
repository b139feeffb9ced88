//! The live sessions reaper: ends a session whose media server stopped reporting it (it
//! crashed or lost the publisher without `publish_done`), so its minutes are billed and the
//! live directory stops listing it.
//!
//! "Seen" is nginx-rtmp's `on_update`, sent every `notify_update_timeout` (5 s in the shipped
//! config) for every publisher; each valid answer records `last_seen` on the session in the
//! stream record (at most every `--live-seen-every` seconds). A session not seen for
//! `--live-reap-after` seconds is ended with `ended { duration_secs: last_seen − started_at,
//! reason: "not seen since <t>" }`. MediaMTX sends no periodic hook: its sightings come from
//! polling its Control API ([`crate::mediamtx_poll`]), and its sessions are reaped only while
//! that poll succeeds (without the API, or while it is down, they end with the `unavailable`
//! hook, or when a new session replaces them).
//!
//! Several replicas may reap at once: the session leaves the record by compare-and-set (only
//! one replica's update takes it out) and `ended` has an id deterministic per session, so one
//! `ended` is written whatever the number of replicas.

use std::time::Duration;

use framelog_core::ApiError;
use framelog_events::MediaServer;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio_util::sync::CancellationToken;

use crate::sessions::{close, publish_ended};
use crate::state::LiveState;
use crate::store::LiveSession;

/// Whether the sessions of `s`'s media server are reported periodically now (only those can
/// be told apart from a session that is silent because it died): nginx-rtmp always
/// (`on_update`), MediaMTX while `mediamtx_polled` (its API poll succeeds).
pub fn is_watched(s: &LiveSession, mediamtx_polled: bool) -> bool {
    match s.server {
        MediaServer::NginxRtmp => true,
        MediaServer::Mediamtx => mediamtx_polled,
    }
}

/// Whether `s` has not been seen for `after` at `now` (pure).
pub fn is_stale(
    s: &LiveSession,
    now: OffsetDateTime,
    after: Duration,
    mediamtx_polled: bool,
) -> bool {
    is_watched(s, mediamtx_polled) && now - s.last_sight() >= after
}

/// How often the reaper looks: a sixth of the limit (between 250 ms and 15 s), so a dead
/// session ends within about `after` × 7/6.
pub fn interval(after: Duration) -> Duration {
    (after / 6).clamp(Duration::from_millis(250), Duration::from_secs(15))
}

/// One pass at `now`: ends every stale session this replica knows of. Returns the ids of the
/// sessions this replica ended (another replica that got there first ends them instead).
pub async fn reap_once(st: &LiveState, now: OffsetDateTime) -> Result<Vec<String>, ApiError> {
    let after = Duration::from_secs(st.settings.reap_after_secs);
    let polled = st.mediamtx_poll.is_up();
    let mut ended = Vec::new();
    for r in st.streams.cached_live() {
        let Some(s) = r.session.as_ref().filter(|s| is_stale(s, now, after, polled)) else {
            continue;
        };
        if let Some(id) = reap(st, r.stream_id.as_str(), &s.session_id, now, after).await? {
            ended.push(id);
        }
    }
    Ok(ended)
}

/// Ends `session` of `stream` if it is still open and stale in KV (compare-and-set).
async fn reap(
    st: &LiveState,
    stream: &str,
    session: &str,
    now: OffsetDateTime,
    after: Duration,
) -> Result<Option<String>, ApiError> {
    let mut taken = None;
    let r = st
        .streams
        .update(stream, |r| {
            taken = None;
            match &r.session {
                Some(s)
                    if s.session_id == session
                        && is_stale(s, now, after, st.mediamtx_poll.is_up()) =>
                {
                    taken = close(r);
                    Ok::<_, ApiError>(true)
                }
                _ => Ok(false),
            }
        })
        .await?;
    let (Some(r), Some(s)) = (r, taken) else { return Ok(None) };
    let last = s.last_sight();
    let since = last.format(&Rfc3339).unwrap_or_else(|_| last.to_string());
    publish_ended(st, &r, &s, last, &format!("not seen since {since}")).await?;
    Ok(Some(s.session_id))
}

/// Reaps every [`interval`] until `shutdown` (nothing when `--live-reap-after` is 0).
pub async fn run(st: LiveState, shutdown: CancellationToken) {
    if st.settings.reap_after_secs == 0 {
        return;
    }
    let mut tick =
        tokio::time::interval(interval(Duration::from_secs(st.settings.reap_after_secs)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = reap_once(&st, OffsetDateTime::now_utc()).await {
            tracing::warn!(error = %e, "live reaper pass failed; retrying next tick");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(server: MediaServer, started: i64, seen: Option<i64>) -> LiveSession {
        let t = |s: i64| OffsetDateTime::from_unix_timestamp(s).unwrap();
        LiveSession {
            session_id: "ses_1".into(),
            server,
            connection_id: "7".into(),
            protocol: "rtmp".into(),
            remote_addr: None,
            app: None,
            started_at: t(started),
            generation: 0,
            last_seen: seen.map(t),
        }
    }

    #[test]
    fn a_session_is_stale_only_when_its_last_sight_is_older_than_the_limit() {
        let now = OffsetDateTime::from_unix_timestamp(1000).unwrap();
        let after = Duration::from_secs(90);
        assert!(!is_stale(&session(MediaServer::NginxRtmp, 950, None), now, after, false));
        assert!(is_stale(&session(MediaServer::NginxRtmp, 900, None), now, after, false));
        assert!(!is_stale(&session(MediaServer::NginxRtmp, 100, Some(950)), now, after, false));
        assert!(is_stale(&session(MediaServer::NginxRtmp, 100, Some(909)), now, after, false));
        // MediaMTX is reaped only while its API poll succeeds.
        assert!(!is_stale(&session(MediaServer::Mediamtx, 100, None), now, after, false));
        assert!(is_stale(&session(MediaServer::Mediamtx, 100, None), now, after, true));
        assert!(!is_stale(&session(MediaServer::Mediamtx, 100, Some(950)), now, after, true));
        // A sighting before the start (clock skew) counts as the start.
        assert_eq!(
            session(MediaServer::NginxRtmp, 500, Some(400)).last_sight().unix_timestamp(),
            500
        );
        assert_eq!(interval(Duration::from_secs(90)), Duration::from_secs(15));
        assert_eq!(interval(Duration::from_secs(1)), Duration::from_millis(250));
    }
}
