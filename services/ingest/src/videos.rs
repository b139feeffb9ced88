//! `DELETE /v1/videos/{id}`: deletes a video, for good. In this order: writes its tombstone
//! ([`framelog_core::tombstones`]: from then on no transcoder publishes it and no playback
//! replica serves it, even mid-transcode), publishes `VID_UPLOAD deleted` (the projection drops
//! the video), drops its public mark, and removes its source and HLS output from the media
//! store. A transcoder that writes outputs after this cleanup sees the tombstone and removes
//! them itself. Every step is idempotent, so a client retries a failed delete.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use framelog_core::ApiError;
use framelog_core::error::extract::Path;
use framelog_core::media::{hls_prefix, source_key};
use framelog_core::nats::STREAM_VID;
use framelog_core::openapi::{AuthErrors, ErrorBody, InternalError};
use framelog_core::tenants::Tenant;
use framelog_core::tombstones::{self, TombstoneError, Tombstones};
use framelog_events::{AggregateId, Event, Kind, Subject, TenantId, UploadData};
use time::OffsetDateTime;

use crate::lifecycle::{SOURCE, publish_err, store_err};
use crate::session::SessionState;
use crate::state::IngestState;

/// `DELETE /v1/videos/{id}`.
#[utoipa::path(delete, path = "/v1/videos/{id}", tag = "videos", operation_id = "delete_video",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "the video id")),
    responses(
        (status = 202, body = serde_json::Value,
            description = "deleted: tombstoned at once, files removed"),
        (status = 400, body = ErrorBody,
            description = "malformed input (`invalid_path`, `invalid_query`, `invalid_json` ...)"),
        AuthErrors, InternalError,
        (status = 404, body = ErrorBody,
            description = "no such resource for this tenant (`not_found`)"),
    ))]
pub async fn delete(
    State(st): State<IngestState>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let video = AggregateId::new(id).map_err(|_| ApiError::not_found("video"))?;
    match st.sessions.by_video(&tenant, &video).await.map_err(store_err)? {
        Some(s) if s.state == SessionState::Open => {
            return Err(ApiError::conflict(
                "upload_in_progress",
                format!("the video is still uploading: DELETE /v1/videos/upload/{}", s.upload_id),
            ));
        }
        Some(_) => {}
        // Uploaded through another ingest replica (sessions are local): the log says whether
        // this tenant has such a video, not yet deleted.
        None if in_log(&st, &tenant, &video, "completed").await?
            && !in_log(&st, &tenant, &video, "deleted").await? => {}
        None => return Err(ApiError::not_found("video")),
    }
    let ev = Event::new(
        Event::deterministic_id(&tenant, &video, Kind::Upload, "deleted", ""),
        OffsetDateTime::now_utc(),
        SOURCE,
        tenant.clone(),
        video.clone(),
        UploadData::Deleted {},
    );
    let unavailable = |e: TombstoneError| ApiError::unavailable(e.to_string());
    let graves = Tombstones::open(&st.platform.js).await.map_err(unavailable)?;
    graves.bury(tenant.as_str(), video.as_str()).await.map_err(unavailable)?;
    let published = st.platform.events.publish(&ev).await.map_err(publish_err)?;
    tombstones::drop_public_mark(&st.platform.js, tenant.as_str(), video.as_str())
        .await
        .map_err(unavailable)?;
    for key in
        [source_key(tenant.as_str(), video.as_str()), hls_prefix(tenant.as_str(), video.as_str())]
    {
        let parent = key.rsplit_once('/').map(|(p, _)| p.to_owned()).unwrap_or_default();
        let target = if key.ends_with("/source") { parent } else { key };
        st.media.delete_prefix(&target).await.map_err(|e| ApiError::internal(&e))?;
    }
    st.sessions.unindex_video(&tenant, &video).await.map_err(store_err)?;
    st.sessions.flush().await.map_err(store_err)?;
    tracing::info!(%tenant, %video, "video deleted");
    let body =
        serde_json::json!({"video_id": video, "deleted": true, "sequence": published.sequence()});
    Ok((StatusCode::OK, axum::Json(body)).into_response())
}

/// Whether `VID` holds `upload.<phase>` for `tenant`'s `video` (one get by subject).
async fn in_log(
    st: &IngestState,
    tenant: &TenantId,
    video: &AggregateId,
    phase: &str,
) -> Result<bool, ApiError> {
    let subject = Subject::new(tenant.clone(), Kind::Upload, phase, video.clone()).to_string();
    let stream = st
        .platform
        .js
        .get_stream_no_info(STREAM_VID)
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    match stream.get_last_raw_message_by_subject(&subject).await {
        Ok(_) => Ok(true),
        Err(e)
            if e.kind()
                == async_nats::jetstream::stream::LastRawMessageErrorKind::NoMessageFound =>
        {
            Ok(false)
        }
        Err(e) => Err(ApiError::unavailable(e.to_string())),
    }
}
