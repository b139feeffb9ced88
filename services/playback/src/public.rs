//! Public videos: a tenant marks one of its videos public and it plays at
//! `/hls/public/<video id>/master.m3u8` with no token.
//!
//! The mark lives in the JetStream KV bucket `framelog_public_videos` (key = video id, value =
//! tenant), so every replica agrees. Each replica keeps the marks it has seen in memory, fed by a
//! watch of the bucket (an unmarked video stops playing everywhere within the watch's delay) and
//! filled on a miss by a direct read. Ownership: playback has no catalog, so a tenant may mark a
//! video only if `hls/<tenant>/<video>/master.m3u8` exists in the media store; the first tenant
//! to mark an id keeps it (ids are random UUIDv7s, so two tenants never share one).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use framelog_core::ApiError;
use framelog_core::error::extract::{Json, Path};
use framelog_core::media::hls_prefix;
use framelog_core::openapi::{AuthErrors, ErrorBody, InternalError, JsonBodyErrors};
use framelog_core::tenants::Tenant;
use framelog_events::AggregateId;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::error::PlaybackError;
use crate::state::PlaybackState;

/// KV bucket: video id -> tenant of every public video.
pub const KV_PUBLIC_VIDEOS: &str = framelog_core::tombstones::KV_PUBLIC_VIDEOS;

/// Why a mark could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PublicError {
    #[error("public video registry unavailable: {0}")]
    Store(String),
}

fn store_err(e: impl std::fmt::Display) -> PublicError {
    PublicError::Store(e.to_string())
}

impl From<PublicError> for ApiError {
    fn from(e: PublicError) -> ApiError {
        ApiError::unavailable(e.to_string())
    }
}

/// The registry of public videos; cheap to clone.
#[derive(Clone)]
pub struct PublicVideos {
    kv: kv::Store,
    known: Arc<RwLock<HashMap<String, String>>>,
}

impl std::fmt::Debug for PublicVideos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PublicVideos")
    }
}

impl PublicVideos {
    /// Creates (or updates) the bucket and opens it.
    pub async fn open(js: &jetstream::Context, replicas: usize) -> Result<Self, PlaybackError> {
        let kv = js
            .create_or_update_key_value(kv::Config {
                bucket: KV_PUBLIC_VIDEOS.into(),
                description: "Framelog public videos: video id -> tenant".into(),
                history: 1,
                storage: jetstream::stream::StorageType::File,
                num_replicas: replicas.max(1),
                ..Default::default()
            })
            .await
            .map_err(|e| PlaybackError::Kv { bucket: KV_PUBLIC_VIDEOS, source: Box::new(e) })?;
        Ok(PublicVideos { kv, known: Arc::default() })
    }

    /// The tenant owning public video `video`, or `None` if it is not public.
    pub async fn tenant_of(&self, video: &str) -> Result<Option<String>, PublicError> {
        if let Some(t) = self.known.read().expect("public map poisoned").get(video) {
            return Ok(Some(t.clone()));
        }
        let Some(v) = self.kv.get(video).await.map_err(store_err)? else { return Ok(None) };
        let tenant = String::from_utf8_lossy(&v).into_owned();
        self.known.write().expect("public map poisoned").insert(video.to_owned(), tenant.clone());
        Ok(Some(tenant))
    }

    /// Marks `video` public for `tenant`. Returns false if another tenant holds the id.
    #[tracing::instrument(skip(self), err)]
    pub async fn mark(&self, tenant: &str, video: &str) -> Result<bool, PublicError> {
        match self.kv.create(video, tenant.to_owned().into()).await {
            Ok(_) => {}
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                let owner = self.kv.get(video).await.map_err(store_err)?;
                if owner.as_deref() != Some(tenant.as_bytes()) {
                    return Ok(false);
                }
            }
            Err(e) => return Err(store_err(e)),
        }
        self.known
            .write()
            .expect("public map poisoned")
            .insert(video.to_owned(), tenant.to_owned());
        Ok(true)
    }

    /// Makes `video` private again (if `tenant` holds the mark).
    #[tracing::instrument(skip(self), err)]
    pub async fn unmark(&self, tenant: &str, video: &str) -> Result<(), PublicError> {
        let owner = self.kv.get(video).await.map_err(store_err)?;
        if owner.as_deref() == Some(tenant.as_bytes()) {
            self.kv.delete(video).await.map_err(store_err)?;
            self.known.write().expect("public map poisoned").remove(video);
        }
        Ok(())
    }

    /// Forgets this replica's copy of `video`'s mark (its video was deleted).
    pub fn forget(&self, video: &str) {
        self.known.write().expect("public map poisoned").remove(video);
    }

    /// Follows the bucket so that marks made or removed on other replicas apply here, until
    /// `shutdown`. Restarts the watch (forgetting what it knew) after an error.
    pub async fn watch(self, shutdown: CancellationToken) {
        loop {
            match self.kv.watch_all().await {
                Ok(mut w) => loop {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        e = w.next() => match e {
                            Some(Ok(entry)) => self.apply(entry),
                            Some(Err(e)) => {
                                tracing::warn!(error = %e, "public video watch failed");
                                break;
                            }
                            None => break,
                        },
                    }
                },
                Err(e) => tracing::warn!(error = %e, "public video watch not started"),
            }
            self.known.write().expect("public map poisoned").clear();
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    fn apply(&self, entry: kv::Entry) {
        let mut known = self.known.write().expect("public map poisoned");
        match entry.operation {
            kv::Operation::Put => {
                known.insert(entry.key, String::from_utf8_lossy(&entry.value).into_owned());
            }
            kv::Operation::Delete | kv::Operation::Purge => {
                known.remove(&entry.key);
            }
        }
    }
}

/// Body of `PUT /v1/videos/{id}/visibility`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Visibility {
    pub public: bool,
}

/// Answer of `PUT /v1/videos/{id}/visibility`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VisibilityView {
    pub video_id: String,
    pub public: bool,
    /// The tokenless master playlist path, when public.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master: Option<String>,
}

/// `PUT /v1/videos/{id}/visibility` `{"public": true|false}` (tenant API key). 404 unless the
/// tenant has an HLS output for this id.
#[utoipa::path(put, path = "/v1/videos/{id}/visibility", tag = "videos", operation_id = "set_video_visibility",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "the video id")),
    request_body(content = Visibility, content_type = "application/json"),
    responses(
        (status = 200, description = "the visibility now", body = VisibilityView),
        (status = 400, body = ErrorBody,
            description = "malformed input (`invalid_path`, `invalid_query`, `invalid_json` ...)"),
        AuthErrors, JsonBodyErrors, InternalError,
        (status = 404, body = ErrorBody,
            description = "no such resource for this tenant (`not_found`)"),
    ))]
pub async fn set_visibility(
    State(st): State<PlaybackState>,
    Tenant(tenant): Tenant,
    Path(video): Path<String>,
    Json(body): Json<Visibility>,
) -> Result<Response, ApiError> {
    let video = AggregateId::new(video).map_err(|_| ApiError::not_found("video"))?;
    crate::deleted::refuse(&st, tenant.as_str(), video.as_str()).await?;
    let (t, v) = (tenant.as_str(), video.as_str());
    let master = format!("{}/master.m3u8", hls_prefix(t, v));
    let master = crate::current::resolve(&st.media, t, v, "master.m3u8", master)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let exists = st.media.exists(&master).await.map_err(|e| ApiError::internal(&e))?;
    if !exists {
        return Err(ApiError::not_found("video"));
    }
    if body.public {
        if !st.public.mark(tenant.as_str(), video.as_str()).await? {
            return Err(ApiError::not_found("video"));
        }
    } else {
        st.public.unmark(tenant.as_str(), video.as_str()).await?;
    }
    let master = body.public.then(|| format!("/hls/public/{video}/master.m3u8"));
    Ok(Json(VisibilityView { video_id: video.to_string(), public: body.public, master })
        .into_response())
}
