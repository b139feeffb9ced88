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
//! - [`url_ingest`]: `POST /v1/videos {"input"}`, the server pulls the source into an upload
//!   session (durable fetch record, lease, restart); [`url_fetch`]: the download itself.
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
pub mod metrics;
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
pub mod url_fetch;
pub mod url_ingest;
pub mod usage;
pub mod videos;

use axum::Router;
use framelog_core::service::{ServiceContext, ServiceHandle};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use settings::IngestSettings;
pub use state::IngestState;

/// The REST and tus upload routes: behind an API key here, behind a token in [`direct_gate`].
fn upload_routes() -> OpenApiRouter<IngestState> {
    OpenApiRouter::new()
        .routes(routes!(rest::create))
        .routes(routes!(rest::status, rest::abort))
        .routes(routes!(rest::put_chunk))
        .routes(routes!(rest::complete))
        .merge(tus::router())
}

/// The one list of the ingest routes: the router and the OpenAPI part both come from it
/// (the direct-upload gate re-dispatches to the upload routes; [`direct_gate::openapi`]).
fn routes() -> OpenApiRouter<IngestState> {
    upload_routes()
        .routes(routes!(url_ingest::create))
        .routes(routes!(videos::delete))
        .routes(routes!(direct_api::create))
        .routes(routes!(direct_api::show, direct_api::cancel))
}

/// The ingest routes.
pub fn router(state: IngestState) -> Router {
    let direct_uploads = upload_routes()
        .split_for_parts()
        .0
        .fallback(framelog_core::error::fallback)
        .with_state(state.clone());
    routes().split_for_parts().0.merge(direct_gate::router(direct_uploads)).with_state(state)
}

/// The ingest routes' part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = routes().split_for_parts().1;
    doc.merge(direct_gate::openapi());
    doc
}

/// Starts ingest: its routes and the idle-upload cleaner.
pub async fn start(
    ctx: &ServiceContext,
    settings: IngestSettings,
) -> Result<ServiceHandle, session::StoreError> {
    let state = IngestState::new(ctx.platform.clone(), ctx.media.clone(), settings).await?;
    let cleaner = tokio::spawn(gc::run(state.clone(), ctx.shutdown.clone()));
    let requester = tokio::spawn(jobs::run(ctx.platform.events.clone(), ctx.shutdown.clone()));
    let fetches = tokio::spawn(url_ingest::run(state.clone(), ctx.shutdown.clone()));
    Ok(ServiceHandle::new("ingest", router(state))
        .with_openapi(openapi())
        .with_task(cleaner)
        .with_task(requester)
        .with_task(fetches))
}
