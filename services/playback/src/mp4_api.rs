//! The static MP4 settings API: `PUT /v1/videos/{id}/mp4` (a video's override, made at once
//! when the video is ready) and `GET|PUT /v1/settings/mp4` (the tenant's default, for videos
//! that become ready afterwards). Settings live in [`framelog_core::mp4_settings`]; a video's
//! change is also the fact `VID_TRANSCODE mp4_requested`, which the transcoder's MP4 worker and
//! the catalog consume.

use async_nats::jetstream::stream::LastRawMessageErrorKind;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use framelog_core::ApiError;
use framelog_core::error::extract::{Json, Path};
use framelog_core::mp4_settings::Mp4Settings;
use framelog_core::nats::STREAM_VID;
use framelog_core::openapi::{AuthErrors, ErrorBody, InternalError, JsonBodyErrors};
use framelog_core::tenants::Tenant;
use framelog_events::mp4::Mp4Setting;
use framelog_events::{AggregateId, Event, Kind, Subject, TenantId, TranscodeData};
use http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::state::PlaybackState;

/// Body of `PUT /v1/videos/{id}/mp4` and `PUT /v1/settings/mp4`.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
pub struct Mp4Body {
    /// `none`, `capped-1080p`, `audio-only` or `all`.
    #[schema(value_type = String, example = "capped-1080p")]
    pub mp4: String,
}

/// Answer of `PUT /v1/videos/{id}/mp4`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VideoMp4View {
    pub video_id: String,
    #[schema(value_type = String)]
    pub mp4: Mp4Setting,
}

fn parse(body: &Mp4Body) -> Result<Mp4Setting, ApiError> {
    Mp4Setting::parse(&body.mp4).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_mp4",
            "mp4 must be one of none, capped-1080p, audio-only, all",
        )
    })
}

async fn settings(st: &PlaybackState) -> Result<Mp4Settings, ApiError> {
    Mp4Settings::open(&st.platform.js).await.map_err(|e| ApiError::unavailable(e.to_string()))
}

/// Whether the log holds `upload.completed` of this tenant's video (it exists and is ours).
async fn uploaded(
    st: &PlaybackState,
    tenant: &TenantId,
    video: &AggregateId,
) -> Result<bool, ApiError> {
    let subject =
        Subject::new(tenant.clone(), Kind::Upload, "completed", video.clone()).to_string();
    let stream = st
        .platform
        .js
        .get_stream_no_info(STREAM_VID)
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    match stream.get_last_raw_message_by_subject(&subject).await {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(false),
        Err(e) => Err(ApiError::unavailable(e.to_string())),
    }
}

/// `PUT /v1/videos/{id}/mp4` `{"mp4": "capped-1080p"}`: sets the video's static MP4
/// renditions (overriding the tenant default) and asks for them; 404 for another tenant's video.
#[utoipa::path(put, path = "/v1/videos/{id}/mp4", tag = "videos", operation_id = "set_video_mp4",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "the video id")),
    request_body(content = Mp4Body, content_type = "application/json"),
    responses(
        (status = 202, description = "the setting is stored; the files follow (`mp4` in `GET /v1/videos/{id}`)", body = VideoMp4View),
        (status = 400, body = ErrorBody,
            description = "malformed input (`invalid_path`, `invalid_json` ...)"),
        (status = 422, body = ErrorBody, description = "an unknown setting (`invalid_mp4`)"),
        AuthErrors, JsonBodyErrors, InternalError,
        (status = 404, body = ErrorBody,
            description = "no such video for this tenant (`not_found`)"),
    ))]
pub async fn set_video(
    State(st): State<PlaybackState>,
    Tenant(tenant): Tenant,
    Path(video): Path<String>,
    Json(body): Json<Mp4Body>,
) -> Result<Response, ApiError> {
    let setting = parse(&body)?;
    let video = AggregateId::new(video).map_err(|_| ApiError::not_found("video"))?;
    crate::deleted::refuse(&st, tenant.as_str(), video.as_str()).await?;
    if !uploaded(&st, &tenant, &video).await? {
        return Err(ApiError::not_found("video"));
    }
    let revision = settings(&st)
        .await?
        .set_video(tenant.as_str(), video.as_str(), setting)
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    let data = TranscodeData::Mp4Requested { mp4: setting };
    let id = Event::deterministic_id(
        &tenant,
        &video,
        Kind::Transcode,
        "mp4_requested",
        &revision.to_string(),
    );
    let event = Event::new(id, st.now(), crate::SOURCE, tenant.clone(), video.clone(), data);
    st.platform.events.publish(&event).await.map_err(ApiError::from)?;
    let view = VideoMp4View { video_id: video.to_string(), mp4: setting };
    Ok((StatusCode::ACCEPTED, Json(view)).into_response())
}

/// `GET /v1/settings/mp4`: the tenant's default static MP4 setting.
#[utoipa::path(get, path = "/v1/settings/mp4", tag = "videos", operation_id = "get_mp4_default",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the default", body = Mp4Body),
        AuthErrors, InternalError,
    ))]
pub async fn get_default(
    State(st): State<PlaybackState>,
    Tenant(tenant): Tenant,
) -> Result<Response, ApiError> {
    let setting = settings(&st)
        .await?
        .tenant_default(tenant.as_str())
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    Ok(Json(Mp4Body { mp4: setting.as_str().to_owned() }).into_response())
}

/// `PUT /v1/settings/mp4` `{"mp4": "audio-only"}`: the tenant's default, applied to every
/// video without an override when it becomes ready.
#[utoipa::path(put, path = "/v1/settings/mp4", tag = "videos", operation_id = "set_mp4_default",
    security(("bearer" = [])),
    request_body(content = Mp4Body, content_type = "application/json"),
    responses(
        (status = 200, description = "the default now", body = Mp4Body),
        (status = 400, body = ErrorBody, description = "malformed input (`invalid_json` ...)"),
        (status = 422, body = ErrorBody, description = "an unknown setting (`invalid_mp4`)"),
        AuthErrors, JsonBodyErrors, InternalError,
    ))]
pub async fn set_default(
    State(st): State<PlaybackState>,
    Tenant(tenant): Tenant,
    Json(body): Json<Mp4Body>,
) -> Result<Response, ApiError> {
    let setting = parse(&body)?;
    settings(&st)
        .await?
        .set_tenant_default(tenant.as_str(), setting)
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    Ok(Json(Mp4Body { mp4: setting.as_str().to_owned() }).into_response())
}
