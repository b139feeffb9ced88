//! Live: streams and HMAC stream keys, the MediaMTX and nginx-rtmp webhooks, `VID_LIVE`
//! events, and recordings that become videos.
//!
//! # Layout
//! - [`settings`]: `--live-*` flags. [`state`]: [`LiveState`] and event publishing.
//! - [`keys`]: deriving, parsing and hashing stream keys (pure).
//! - [`store`]: stream records in KV (compare-and-set), so every replica sees a rotation at once.
//! - [`api`]: create, delete, reveal, rotate, playback URL.
//! - [`sessions`]: publish authorisation and live sessions, shared by both media servers (a
//!   new session ends the stream's previous one; sightings of a session are `last_seen`).
//! - [`reaper`]: ends sessions their media server stopped reporting, billed to the last sight;
//!   [`mediamtx_poll`]: sightings of MediaMTX sessions from its Control API's path list.
//! - [`mediamtx`], [`nginx`]: the webhook front ends; [`guard`]: their secret, proxy and
//!   address checks; [`hook_secret`]: the webhook secret file.
//! - [`denials`]: the rate limit of the `publish_denied` audit (pure).
//! - [`quota`]: the per-tenant limit of live streams.
//! - [`metrics`]: `framelog_live_sessions`, the streams publishing now.
//! - [`cut`]: cutting a publisher whose key stopped being valid.
//! - [`recording`]: a closed recording enters the upload path and becomes a video;
//!   [`recording_path`]: which file a recording hook may hand over.
//!
//! Architecture invariant: no URL a viewer sees contains a stream key; live media is
//! addressed by stream id.

pub mod api;
pub mod cut;
pub mod denials;
pub mod guard;
pub mod hook_secret;
pub mod keys;
pub mod mediamtx;
pub mod mediamtx_poll;
pub mod metrics;
pub mod nginx;
pub mod quota;
pub mod reaper;
pub mod recording;
pub mod recording_path;
pub mod sessions;
pub mod settings;
pub mod state;
pub mod store;

use std::sync::Arc;

use axum::Router;
use framelog_core::service::{ServiceContext, ServiceHandle};
use framelog_ingest::{IngestSettings, IngestState};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use settings::LiveSettings;
pub use state::LiveState;

/// The stream management routes (tenant auth): one list for the router and the OpenAPI part.
fn api_routes() -> OpenApiRouter<LiveState> {
    OpenApiRouter::new()
        .routes(routes!(api::create))
        .routes(routes!(api::delete))
        .routes(routes!(api::reveal))
        .routes(routes!(api::rotate))
        .routes(routes!(api::playback_url))
}

/// The media servers' webhooks (guarded in [`router`]).
fn hook_routes() -> OpenApiRouter<LiveState> {
    OpenApiRouter::new()
        .routes(routes!(mediamtx::auth))
        .routes(routes!(mediamtx::event))
        .routes(routes!(nginx::callback))
}

/// The live routes: stream management (tenant auth) and the webhooks (guarded).
pub fn router(state: LiveState) -> Router {
    let hooks = hook_routes()
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard::webhook_guard));
    api_routes().merge(hooks).split_for_parts().0.with_state(state)
}

/// The live routes' part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_routes().merge(hook_routes()).split_for_parts().1
}

/// Why live could not start.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Ingest(#[from] framelog_ingest::session::StoreError),
    #[error("the webhook secret {path}: {source}")]
    HookSecret { path: String, source: std::io::Error },
}

/// The webhook secret: `--live-hook-secret`, else the file (`--live-hook-secret-file`, default
/// `<data dir>/hook-secret`), generated there on first start.
fn hook_secret(
    settings: &LiveSettings,
    data_dir: &std::path::Path,
) -> Result<hook_secret::HookSecret, LiveError> {
    if let Some(v) = &settings.hook_secret {
        return hook_secret::HookSecret::from_value(v)
            .map_err(|source| LiveError::HookSecret { path: "--live-hook-secret".into(), source });
    }
    let path = settings.hook_secret_file.clone().unwrap_or_else(|| data_dir.join("hook-secret"));
    hook_secret::HookSecret::load_or_create(&path)
        .map_err(|source| LiveError::HookSecret { path: path.display().to_string(), source })
}

/// Builds the live state (recordings use ingest's upload path with `ingest` settings).
pub async fn state(
    ctx: &ServiceContext,
    settings: LiveSettings,
    ingest: IngestSettings,
) -> Result<LiveState, LiveError> {
    let data_dir = ctx.platform.settings.data_dir.clone();
    let hook_secret = hook_secret(&settings, &data_dir)?;
    let recordings_dirs = if settings.recordings_dirs.is_empty() {
        vec![data_dir.join("live").join("recordings")]
    } else {
        settings.recordings_dirs.clone()
    };
    let window = std::time::Duration::from_secs(settings.denied_audit_window_secs);
    Ok(LiveState::new(state::LiveInner {
        hook_secret,
        recordings_dirs,
        denials: std::sync::Mutex::new(denials::DenialLimiter::new(window, denials::DEFAULT_CAP)),
        mediamtx_poll: mediamtx_poll::PollHealth::registered(&ctx.platform.metrics),
        streams: store::StreamStore::open(&ctx.platform.js).await?,
        ingest: IngestState::new(ctx.platform.clone(), ctx.media.clone(), ingest).await?,
        platform: ctx.platform.clone(),
        settings: Arc::new(settings),
        http: framelog_core::tls::with_provider(reqwest::Client::builder)
            .timeout(std::time::Duration::from_secs(5))
            .build()
            .expect("HTTP client"),
    }))
}

/// Starts live-auth.
pub async fn start(
    ctx: &ServiceContext,
    settings: LiveSettings,
    ingest: IngestSettings,
) -> Result<ServiceHandle, LiveError> {
    let st = state(ctx, settings, ingest).await?;
    // Keep the local copy of stream records current (rotations from other replicas).
    let follow = tokio::spawn(st.streams.clone().follow(ctx.shutdown.clone()));
    // Reaps from the same local copy (each candidate is checked again in KV).
    let reaper = tokio::spawn(reaper::run(st.clone(), ctx.shutdown.clone()));
    // Sightings of MediaMTX sessions (nothing without --live-mediamtx-api-url).
    let poll = tokio::spawn(mediamtx_poll::run(st.clone(), ctx.shutdown.clone()));
    // `framelog_live_sessions` from the same local copy.
    let sessions_gauge = metrics::registered(&ctx.platform.metrics);
    let sessions =
        tokio::spawn(metrics::export(st.streams.clone(), sessions_gauge, ctx.shutdown.clone()));
    Ok(ServiceHandle::new("live", router(st))
        .with_openapi(openapi())
        .with_task(follow)
        .with_task(reaper)
        .with_task(poll)
        .with_task(sessions))
}
