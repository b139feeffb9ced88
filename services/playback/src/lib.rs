//! Playback: signed HLS serving, view beacons and egress metering (DESIGN §3, §4).
//!
//! Players fetch `/hls/<token>/<video id>/master.m3u8`; the token (an HMAC over tenant, video
//! and expiry) is a path segment, so every relative URI of the playlists inherits it and the
//! playlists are served exactly as the transcoder wrote them. Public videos play at
//! `/hls/public/<video id>/...`, live streams at `/live/<token>/<stream id>/...` (nginx-rtmp's
//! HLS directory). Players send view beacons to `POST /v1/views`; they become deduplicated
//! `VID_VIEW counted` events published in batches. Bytes served are metered per tenant into
//! `VID_VIEW egress_metered` events.
//!
//! # Layout
//! - [`settings`]: `--playback-*` flags.
//! - [`state`]: [`PlaybackState`] (shared by handlers, with an injectable clock) and [`Workers`].
//! - [`hls`]: the three serving routes; [`paths`]: request path to file, refusing traversal;
//!   [`current`]: a video's root files from the version its pointer names;
//!   [`mime`]: content types and cache policies; [`serve`]: one file with ranges, validators,
//!   `HEAD`; [`range`]: `Range` parsing; [`cache`]: hot immutable segments in memory;
//!   [`remote`]: objects of a store without local paths, by ranged reads;
//!   [`redirect`]: `302`s of immutable media to presigned store URLs or a CDN;
//!   [`mp4`]: static MP4 downloads (`mp4/<name>` from the live version, `?download=`).
//! - [`dash`]: `manifest.mpd`, a static MPEG-DASH manifest rendered from the stored playlists
//!   over the same CMAF segments (cached per complete version).
//! - [`token`]: the one check of the `{token}` slot (HMAC or JWT); [`jwt`]: JWT parsing,
//!   signatures and claims (pure); [`key_cache`]: signing keys in memory, fed by a KV watch;
//!   [`signing_keys`]: their KV store; [`signing_keys_api`]: `/v1/signing-keys`;
//!   [`keygen`]: RS256/ES256 key pairs.
//! - [`public`]: the public-video registry (KV) and `PUT /v1/videos/{id}/visibility`.
//! - [`image`]: the Image API (thumbnails and animations cut from the renditions, cached in
//!   the store under their version) and `PUT /v1/videos/{id}/poster`.
//! - [`mp4_api`]: `PUT /v1/videos/{id}/mp4` and `GET|PUT /v1/settings/mp4` (static MP4 settings).
//! - [`deleted`]: deleted videos (tombstones) answer 404 on every URL, on every replica.
//! - [`views`]: `POST /v1/views`; [`client`]: client address and viewer hash;
//!   [`limiter`]: beacons per address and sessions per address and window;
//!   [`batcher`]: batched, deduplicated publishing of view events.
//! - [`viewers`]: live concurrent viewers and `GET /v1/live/{stream_id}/viewers`;
//!   [`live_beacon`]: a live beacon's `presence` and its one view per live session;
//!   [`qoe`]: a QoE beacon's one clamped `qoe` summary per session and window.
//! - [`viewers_metric`]: `framelog_live_viewers`, the concurrent viewers of every stream.
//! - [`egress`]: per-tenant byte meters and the metered body; [`flush`]: the period flusher.
//!
//! Architecture invariants: a token is checked before any IO, with no IO; no request path
//! reaches a file outside its video's (or stream's) directory; playback never rewrites a
//! playlist; a view event's id is a function of (tenant, video, viewer, window) only (of
//! (tenant, stream, viewer, live session) for a live view); no file of a video with a tombstone
//! is served.

pub mod batcher;
pub mod cache;
pub mod client;
pub mod current;
pub mod dash;
pub mod deleted;
pub mod egress;
pub mod error;
pub mod flush;
pub mod hls;
pub mod image;
pub mod jwt;
pub mod key_cache;
pub mod keygen;
pub mod limiter;
pub mod live_beacon;
pub mod mime;
pub mod mp4;
pub mod mp4_api;
pub mod paths;
pub mod public;
pub mod qoe;
pub mod range;
pub mod redirect;
pub mod remote;
pub mod serve;
pub mod settings;
pub mod signing_keys;
pub mod signing_keys_api;
pub mod state;
pub mod token;
pub mod viewers;
pub mod viewers_metric;
pub mod views;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use framelog_core::service::{ServiceContext, ServiceHandle};
use http::{HeaderName, Method, header};
use tower_http::cors::{Any, CorsLayer};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

pub use error::PlaybackError;
pub use settings::{PlaybackSettings, RedirectMode};
pub use state::{Clock, PlaybackState, Workers, system_clock};

/// The `source` of the events playback emits.
pub const SOURCE: &str = "framelog/playback";

/// Largest view beacon body.
const MAX_BEACON_BYTES: usize = 4096;

/// CORS for players on other origins: any origin, the methods players use, the headers a
/// player (hls.js, video.js, Shaka) reads.
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::HEAD, Method::POST, Method::OPTIONS])
        .allow_headers([
            header::RANGE,
            header::CONTENT_TYPE,
            header::IF_NONE_MATCH,
            header::IF_MODIFIED_SINCE,
        ])
        .expose_headers([
            header::CONTENT_LENGTH,
            header::CONTENT_RANGE,
            header::ACCEPT_RANGES,
            header::ETAG,
            HeaderName::from_static("last-modified"),
        ])
        .max_age(Duration::from_secs(24 * 3600))
}

/// The one list of the playback routes: the router and the OpenAPI part both come from it.
fn routes() -> OpenApiRouter<PlaybackState> {
    let players = OpenApiRouter::new()
        .routes(routes!(hls::public))
        .routes(routes!(hls::signed))
        .routes(routes!(hls::live))
        .routes(routes!(views::beacon).layer(DefaultBodyLimit::max(MAX_BEACON_BYTES)))
        .routes(routes!(viewers::get))
        .routes(routes!(image::public))
        .routes(routes!(image::signed))
        .layer(cors());
    OpenApiRouter::new()
        .routes(routes!(public::set_visibility))
        .routes(routes!(image::poster::set_poster))
        .routes(routes!(mp4_api::set_video))
        .routes(routes!(mp4_api::get_default, mp4_api::set_default))
        .routes(routes!(signing_keys_api::list, signing_keys_api::create))
        .routes(routes!(signing_keys_api::get, signing_keys_api::delete))
        .merge(players)
}

/// The playback routes.
pub fn router(state: PlaybackState) -> Router {
    routes().split_for_parts().0.with_state(state)
}

/// The playback routes' part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().split_for_parts().1
}

/// Starts playback: its routes, the view batch publisher, the egress flusher, the public-video
/// watch and the live viewer feed (all stop on `ctx.shutdown`).
pub async fn start(
    ctx: &ServiceContext,
    settings: PlaybackSettings,
) -> Result<ServiceHandle, PlaybackError> {
    let (state, workers) =
        PlaybackState::new(ctx.platform.clone(), ctx.media.clone(), settings, system_clock())
            .await?;
    let tasks = workers.spawn(&state, ctx.shutdown.clone());
    let handle = ServiceHandle::new("playback", router(state)).with_openapi(openapi());
    Ok(tasks.into_iter().fold(handle, ServiceHandle::with_task))
}
