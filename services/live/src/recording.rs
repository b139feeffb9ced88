//! A recording becomes a video: once the media server has closed the file, it enters the same
//! path as a completed upload (`VID_UPLOAD completed` with source = live recording, then
//! transcode), and `VID_LIVE recording_ready` names the new video.

use std::path::Path;

use framelog_core::ApiError;
use framelog_events::{LiveData, SourceKind, UploadProtocol};
use framelog_ingest::lifecycle::{self, Completion, NewUpload};

use crate::state::LiveState;
use crate::store::StreamRecord;

/// Imports the recording at `file` for `r` (or deletes it if the stream does not record).
pub async fn recording_ready(
    st: &LiveState,
    r: &StreamRecord,
    file: &Path,
) -> Result<Option<Completion>, ApiError> {
    if !r.record || r.deleted {
        let _ = tokio::fs::remove_file(file).await;
        tracing::info!(stream = %r.stream_id, "recording discarded (stream does not record)");
        return Ok(None);
    }
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
    };
    let done = lifecycle::import_file(&st.ingest, new, file).await?;
    let session_id = r
        .last_session
        .clone()
        .or_else(|| r.session.as_ref().map(|s| s.session_id.clone()))
        .unwrap_or_default();
    let video = framelog_events::AggregateId::new(done.video_id.clone())
        .map_err(|e| ApiError::internal(&e))?;
    let data = LiveData::RecordingReady {
        session_id,
        video_id: video.clone(),
        source_key: framelog_core::media::source_key(r.tenant.as_str(), video.as_str()),
    };
    st.publish(r, data, Some(video.as_str())).await?;
    tracing::info!(stream = %r.stream_id, video = %video, "recording became a video");
    Ok(Some(done))
}
