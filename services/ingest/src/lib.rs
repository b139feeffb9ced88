//! Ingest: resumable uploads into `VID_UPLOAD` events.
//!
//! Two front ends share one upload lifecycle: the REST chunked protocol
//! (`/v1/videos/upload/...`) and tus 1.0 (`/v1/tus/`). Bytes go straight to a part file at their
//! final offset (no assembly copy), are fsynced and recorded in NATS KV before a 2xx; completion
//! verifies, probes with ffprobe, moves the file into the media store by rename and publishes
//! `VID_UPLOAD completed` + `VID_TRANSCODE requested` with deterministic ids (idempotent).
//!
//! # Layout
//! - [`settings`]: `--ingest-*` flags.
//! - [`state`]: [`IngestState`], per-upload locks and chunk claims.
//! - [`session`]: upload sessions and chunk records; [`session_kv`]: their store in NATS KV
//!   (sessions, chunks, the video index), shared by every replica; [`session_migrate`]: the
//!   one-time copy of an old sled store.
//! - [`files`]: part files (positional writes, fsync), hashing, file-name sanitising.
//! - [`lifecycle`]: open, complete, reject, abort, expire — shared by both protocols.
//! - [`rest`], [`tus`]: the HTTP front ends. [`videos`]: `DELETE /v1/videos/{id}`.
//! - [`direct`]: direct uploads (one-use, expiring upload URLs for browsers) and their KV
//!   records; [`direct_api`]: `/v1/uploads/direct` (API key); [`direct_gate`]:
//!   `/v1/direct/{token}/..` (token, CORS) in front of the same REST and tus handlers;
//!   [`direct_auth`]: the [`direct_auth::Principal`] those handlers take (API key or token).
//! - [`gc`]: the idle-upload cleaner. [`jobs`]: every `completed` upload gets its transcode
//!   request (a durable consumer covering a crash between the two events).
//! - [`quota`]: per-tenant open-upload and storage quotas at creation; [`usage`]: the
//!   per-tenant record they read (one KV record per tenant, compare-and-set: global).
//!
//! Architecture invariant: the client's file name is metadata only, never part of a path.

pub mod complete_source;
pub mod direct;
pub mod direct_api;
pub mod direct_auth;
pub mod direct_gate;
pub mod files;
pub mod gc;
pub mod jobs;
pub mod lifecycle;
pub mod part_cutter;
pub mod quota;
pub mod rest;
pub mod rest_store;
pub mod session;
pub mod session_kv;
pub mod session_migrate;
pub mod settings;
pub mod state;
pub mod store_upload;
pub mod tus;
pub mod usage;
pub mod videos;

use axum::Router;
use axum::routing::{delete, get, post, put};
use framelog_core::service::{ServiceContext, ServiceHandle};

pub use settings::IngestSettings;
pub use state::IngestState;

/// The ingest routes.
pub fn router(state: IngestState) -> Router {
    let direct_uploads = upload_routes().fallback(framelog_core::error::fallback);
    upload_routes()
        .route("/v1/videos/{id}", delete(videos::delete))
        .route("/v1/uploads/direct", post(direct_api::create))
        .route("/v1/uploads/direct/{id}", get(direct_api::show).delete(direct_api::cancel))
        .merge(direct_gate::router(direct_uploads.with_state(state.clone())))
        .with_state(state)
}

/// The REST and tus upload routes: behind an API key here, behind a token in [`direct_gate`].
fn upload_routes() -> Router<IngestState> {
    Router::new()
        .route("/v1/videos/upload", post(rest::create))
        .route("/v1/videos/upload/{id}", get(rest::status).delete(rest::abort))
        .route("/v1/videos/upload/{id}/chunk/{n}", put(rest::put_chunk))
        .route("/v1/videos/upload/{id}/complete", post(rest::complete))
        .merge(tus::router())
}

/// Starts ingest: its routes and the idle-upload cleaner.
pub async fn start(
    ctx: &ServiceContext,
    settings: IngestSettings,
) -> Result<ServiceHandle, session::StoreError> {
    let state = IngestState::new(ctx.platform.clone(), ctx.media.clone(), settings).await?;
    let cleaner = tokio::spawn(gc::run(state.clone(), ctx.shutdown.clone()));
    let requester = tokio::spawn(jobs::run(ctx.platform.events.clone(), ctx.shutdown.clone()));
    Ok(ServiceHandle::new("ingest", router(state)).with_task(cleaner).with_task(requester))
}
