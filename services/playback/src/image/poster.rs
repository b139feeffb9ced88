//! A video's poster time: the time `thumbnail.*` shows when the request names none.
//! `PUT /v1/videos/{id}/poster {"time": 12.5}` (`null` clears it) stores it in the KV bucket
//! `framelog_poster_times`, key `<tenant>.<video>`, value the milliseconds in decimal; unset,
//! the thumbnail is taken a quarter in, where the transcoder takes `poster.jpg`.

use async_nats::jetstream::{self, kv};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use framelog_core::ApiError;
use framelog_core::error::extract::{Json, Path};
use framelog_core::openapi::{AuthErrors, ErrorBody, InternalError, JsonBodyErrors};
use framelog_core::tenants::Tenant;
use framelog_events::AggregateId;
use serde::{Deserialize, Serialize};

use crate::error::PlaybackError;
use crate::state::PlaybackState;

/// KV bucket: `<tenant>.<video>` -> poster time in milliseconds.
pub const KV_POSTER_TIMES: &str = "framelog_poster_times";

/// The poster times; cheap to clone.
#[derive(Clone)]
pub struct PosterTimes {
    kv: kv::Store,
}

impl std::fmt::Debug for PosterTimes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PosterTimes")
    }
}

fn key(tenant: &str, video: &str) -> String {
    format!("{tenant}.{video}")
}

impl PosterTimes {
    /// Creates (or updates) the bucket and opens it.
    pub async fn open(js: &jetstream::Context, replicas: usize) -> Result<Self, PlaybackError> {
        let kv = js
            .create_or_update_key_value(kv::Config {
                bucket: KV_POSTER_TIMES.into(),
                description: "Framelog poster times: <tenant>.<video> -> milliseconds".into(),
                history: 1,
                storage: jetstream::stream::StorageType::File,
                num_replicas: replicas.max(1),
                ..Default::default()
            })
            .await
            .map_err(|e| PlaybackError::Kv { bucket: KV_POSTER_TIMES, source: Box::new(e) })?;
        Ok(PosterTimes { kv })
    }

    /// The poster time of `video`, milliseconds, if one is set.
    #[tracing::instrument(skip(self), err)]
    pub async fn get(&self, tenant: &str, video: &str) -> Result<Option<u64>, ApiError> {
        let v = self
            .kv
            .get(key(tenant, video))
            .await
            .map_err(|e| ApiError::unavailable(e.to_string()))?;
        Ok(v.and_then(|b| std::str::from_utf8(&b).ok()?.parse().ok()))
    }

    /// Drops the poster time of a deleted video.
    pub async fn forget(&self, tenant: &str, video: &str) -> Result<(), ApiError> {
        self.set(tenant, video, None).await
    }

    #[tracing::instrument(skip(self), err)]
    async fn set(&self, tenant: &str, video: &str, ms: Option<u64>) -> Result<(), ApiError> {
        let k = key(tenant, video);
        let res = match ms {
            Some(ms) => {
                self.kv.put(k, ms.to_string().into()).await.map(|_| ()).map_err(|e| e.to_string())
            }
            None => self.kv.delete(k).await.map_err(|e| e.to_string()),
        };
        res.map_err(ApiError::unavailable)
    }
}

/// Body of `PUT /v1/videos/{id}/poster`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PosterTime {
    /// Seconds from the start; `null` goes back to the default (a quarter in).
    pub time: Option<f64>,
}

/// Answer of `PUT /v1/videos/{id}/poster`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PosterView {
    pub video_id: String,
    /// The time thumbnails without `time` now show, seconds.
    pub time: f64,
    /// Whether it was set (false: the default).
    pub set: bool,
}

/// `PUT /v1/videos/{id}/poster` `{"time": 12.5}` (tenant API key, `videos:write`): the time
/// `thumbnail.*` shows when the request names none. 404 unless the tenant has a ready
/// rendition of this id; 400 `out_of_range` for a time outside the video.
#[utoipa::path(put, path = "/v1/videos/{id}/poster", tag = "videos", operation_id = "set_video_poster_time",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "the video id")),
    request_body(content = PosterTime, content_type = "application/json"),
    responses(
        (status = 200, description = "the poster time now", body = PosterView),
        (status = 400, body = ErrorBody,
            description = "malformed input or a time outside the video (`invalid_json`, `out_of_range` ...)"),
        AuthErrors, JsonBodyErrors, InternalError,
        (status = 404, body = ErrorBody,
            description = "no such video for this tenant (`not_found`)"),
    ))]
pub async fn set_poster(
    State(st): State<PlaybackState>,
    Tenant(tenant): Tenant,
    Path(video): Path<String>,
    Json(body): Json<PosterTime>,
) -> Result<Response, ApiError> {
    let video = AggregateId::new(video).map_err(|_| ApiError::not_found("video"))?;
    let (t, v) = (tenant.as_str(), video.as_str());
    crate::deleted::refuse(&st, t, v).await?;
    let source = super::source::open(&st, t, v).await?;
    let duration_ms = source.duration_ms(&st).await?;
    let ms = match body.time {
        None => None,
        Some(secs)
            if secs.is_finite()
                && secs >= 0.0
                && ((secs * 1000.0).round() as u64) < duration_ms =>
        {
            Some((secs * 1000.0).round() as u64)
        }
        Some(_) => {
            return Err(ApiError::bad_request(
                "out_of_range",
                format!("time must be in [0, {:.3}) seconds", duration_ms as f64 / 1000.0),
            ));
        }
    };
    st.images.posters.set(t, v, ms).await?;
    let time = ms.unwrap_or(duration_ms / 4) as f64 / 1000.0;
    Ok(Json(PosterView { video_id: v.to_owned(), time, set: ms.is_some() }).into_response())
}
