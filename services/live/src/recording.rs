//! A recording becomes a video: once the media server has closed the file, it enters the same
//! path as a completed upload (`VID_UPLOAD completed` with source = live recording, then
//! transcode), and `VID_LIVE recording_ready` names the new video.
//!
//! A recording hook is accepted only for a file [`crate::recording_path`] accepts and only for
//! a session an authorised publish opened (current or just ended); otherwise it is answered
//! 403, audited as `recording_refused`, and the file is left untouched.

use std::path::Path;

use axum::http::StatusCode;
use framelog_core::ApiError;
use framelog_events::{LiveData, MediaServer, SourceKind, UploadProtocol};
use framelog_ingest::lifecycle::{self, Completion, NewUpload};

use crate::recording_path::{self, Refusal};
use crate::state::LiveState;
use crate::store::StreamRecord;

/// Whether an authorised session of `server` (current, or the last one that ended) made the
/// recording. nginx-rtmp names the connection (`clientid`), which must match; MediaMTX's
/// segment hook names none (`None`), so any authorised MediaMTX session of the stream counts.
pub fn from_authorised_session(
    r: &StreamRecord,
    server: MediaServer,
    connection: Option<&str>,
) -> bool {
    let current = r.session.as_ref().map(|s| (s.server, s.connection_id.as_str()));
    let last = r.last_connection.as_ref().map(|c| (c.server, c.connection_id.as_str()));
    [current, last]
        .into_iter()
        .flatten()
        .any(|(s, id)| s == server && !id.is_empty() && connection.is_none_or(|c| c == id))
}

async fn refuse(st: &LiveState, r: &StreamRecord, server: MediaServer, why: Refusal) -> ApiError {
    tracing::warn!(stream = %r.stream_id, reason = why.reason(), "recording hook refused");
    // Audited, rate-limited like publish denials (a caller looping on it cannot grow VID).
    let key = format!("{}#recording", r.stream_id);
    let admitted = st.denials.lock().expect("denial limiter poisoned").admit(
        &key,
        "",
        std::time::Instant::now(),
    );
    if admitted.is_some() {
        let data = LiveData::RecordingRefused { reason: why.reason().to_owned(), server };
        if let Err(e) = st.publish(r, data, None).await {
            return e;
        }
    }
    ApiError::new(StatusCode::FORBIDDEN, "recording_refused", why.message())
}

/// Handles a closed recording `file` of `r` reported by `server` (`connection`: the
/// connection id the hook names, if the server sends one): imports it, or deletes it if the
/// stream does not record, but only once the file and the session are checked.
pub async fn recording_done(
    st: &LiveState,
    r: &StreamRecord,
    server: MediaServer,
    connection: Option<&str>,
    file: &Path,
) -> Result<Option<Completion>, ApiError> {
    if !from_authorised_session(r, server, connection) {
        return Err(refuse(st, r, server, Refusal::NoAuthorisedSession).await);
    }
    let dirs = st.recordings_dirs.clone();
    let (stream, given) = (r.stream_id.as_str().to_owned(), file.to_owned());
    let checked =
        tokio::task::spawn_blocking(move || recording_path::check(&dirs, server, &stream, &given))
            .await
            .map_err(|e| ApiError::internal(&e))?;
    let file = match checked {
        Ok(f) => f,
        Err(why) => return Err(refuse(st, r, server, why).await),
    };
    if !r.record || r.deleted {
        let _ = tokio::fs::remove_file(&file).await;
        tracing::info!(stream = %r.stream_id, "recording discarded (stream does not record)");
        return Ok(None);
    }
    // The session the recording belongs to: the current one if it made the file, else the
    // one that just ended.
    let session_id = match &r.session {
        Some(s) if s.server == server && connection.is_none_or(|c| c == s.connection_id) => {
            s.session_id.clone()
        }
        _ => r.last_session.clone().unwrap_or_default(),
    };
    import(st, r, &file, session_id).await.map(Some)
}

async fn import(
    st: &LiveState,
    r: &StreamRecord,
    file: &Path,
    session_id: String,
) -> Result<Completion, ApiError> {
    let size = tokio::fs::metadata(file)
        .await
        .map_err(|e| {
            ApiError::bad_request("recording_missing", format!("cannot read the recording: {e}"))
        })?
        .len();
    let ext = file.extension().and_then(|e| e.to_str()).unwrap_or("flv");
    let filename = format!("{} {}.{ext}", r.name, time::OffsetDateTime::now_utc().date());
    let new = NewUpload {
        tenant: r.tenant.clone(),
        protocol: UploadProtocol::Recording,
        source: SourceKind::LiveRecording,
        stream_id: Some(r.stream_id.clone()),
        filename,
        content_type: None,
        size,
        expected_sha256: None,
        tus_metadata: None,
        preset: None,
    };
    let done = lifecycle::import_file(&st.ingest, new, file).await?;
    let video = framelog_events::AggregateId::new(done.video_id.clone())
        .map_err(|e| ApiError::internal(&e))?;
    let data = LiveData::RecordingReady {
        session_id,
        video_id: video.clone(),
        source_key: framelog_core::media::source_key(r.tenant.as_str(), video.as_str()),
    };
    st.publish(r, data, Some(video.as_str())).await?;
    tracing::info!(stream = %r.stream_id, video = %video, "recording became a video");
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{EndedConnection, LiveSession};
    use time::OffsetDateTime;

    fn record(
        session: Option<(MediaServer, &str)>,
        last: Option<(MediaServer, &str)>,
    ) -> StreamRecord {
        StreamRecord {
            stream_id: framelog_events::AggregateId::new("str_1").unwrap(),
            tenant: framelog_events::TenantId::new("acme").unwrap(),
            name: "show".into(),
            record: true,
            public: false,
            generation: 0,
            key_hash: String::new(),
            created_at: OffsetDateTime::UNIX_EPOCH,
            deleted: false,
            session: session.map(|(server, id)| LiveSession {
                session_id: "ses_1".into(),
                server,
                connection_id: id.into(),
                protocol: "rtmp".into(),
                remote_addr: None,
                app: None,
                started_at: OffsetDateTime::UNIX_EPOCH,
                generation: 0,
                last_seen: None,
            }),
            last_session: None,
            pending_connection: None,
            last_connection: last
                .map(|(server, id)| EndedConnection { server, connection_id: id.into() }),
        }
    }

    #[test]
    fn only_the_sessions_own_connection_and_server_may_hand_over_a_recording() {
        use MediaServer::{Mediamtx, NginxRtmp};
        let live = record(Some((NginxRtmp, "7")), None);
        assert!(from_authorised_session(&live, NginxRtmp, Some("7")));
        assert!(!from_authorised_session(&live, NginxRtmp, Some("8")));
        assert!(!from_authorised_session(&live, NginxRtmp, Some("")));
        assert!(!from_authorised_session(&live, Mediamtx, None), "another server's hook");
        // record_done after publish_done: the ended session's connection still counts.
        let ended = record(None, Some((NginxRtmp, "7")));
        assert!(from_authorised_session(&ended, NginxRtmp, Some("7")));
        assert!(!from_authorised_session(&ended, NginxRtmp, Some("9")));
        // MediaMTX names no connection: any authorised MediaMTX session of the stream.
        assert!(from_authorised_session(&record(None, Some((Mediamtx, "c"))), Mediamtx, None));
        assert!(!from_authorised_session(&record(None, None), Mediamtx, None), "never published");
        assert!(!from_authorised_session(&record(None, None), NginxRtmp, Some("7")));
    }
}
