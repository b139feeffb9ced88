//! The Image API: `/image/{token}/{video}/thumbnail.{jpg,png,webp}?time=&width=&height=&fit_mode=`
//! and `/image/{token}/{video}/animated.{gif,webp}?start=&end=&width=&fps=` (and
//! `/image/public/{video}/...` for public videos), cut from the video's renditions, not its
//! source.
//!
//! Order of work: the token (403, the HLS rules: HMAC, or a JWT with audience `t` for
//! thumbnails and `g` for animations), the query ([`params`], 400 before any IO), the
//! tombstone (404), the live version (one pointer read), then the store cache ([`cache`]: a
//! hit answers without ffmpeg). On a miss: the master's smallest rendition covering the
//! picture ([`ladder`], [`fit`]), its segments holding the time or span (400 `out_of_range`
//! past the duration), the init and those segments joined into a scratch file
//! ([`source`]), one ffmpeg ([`render`]) once a render slot is free, and the result stored.
//!
//! Bounds: ffmpeg renders run at most `--playback-image-renders` at once; a request waits up
//! to `--playback-image-queue-ms` for a slot, then answers 503 `busy` with `Retry-After`.
//! Each ffmpeg is killed after `--playback-image-timeout-secs` (503 `render_timeout`).
//! Answers are `immutable` (a version's rendering never changes) except a thumbnail without
//! `time`, which follows the poster time ([`poster`]), and any picture of a version published
//! early (its playlists still grow; not stored either): those are cached for a minute.

pub mod cache;
pub mod fit;
pub mod ladder;
pub mod params;
pub mod poster;
pub mod render;
pub mod source;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use framelog_core::ApiError;
use framelog_core::error::extract::{Path, Query};
use framelog_core::openapi::{ErrorBody, InternalError};
use http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, ETAG, IF_NONE_MATCH, RETRY_AFTER};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use prometheus_client::metrics::counter::Counter;
use tokio::sync::Semaphore;

use self::params::{Animated, ImageRequest, Thumbnail};
use self::render::RenderError;
use self::source::VideoSource;
use crate::error::PlaybackError;
use crate::state::PlaybackState;
use crate::token::{Target, authorize};

/// `X-Image-Cache: hit | miss`: whether the answer came from the store cache.
pub const X_IMAGE_CACHE: HeaderName = HeaderName::from_static("x-image-cache");

/// Settings of the Image API (`--playback-image-*`).
#[derive(Debug, Clone, clap::Args)]
pub struct ImageSettings {
    /// ffmpeg renders of images at once (thumbnails and animations); more requests queue.
    #[arg(
        long = "playback-image-renders",
        env = "FRAMELOG_PLAYBACK_IMAGE_RENDERS",
        default_value_t = 2
    )]
    pub renders: usize,

    /// How long a request waits for a render slot before it is answered 503 `busy`, ms.
    #[arg(
        long = "playback-image-queue-ms",
        env = "FRAMELOG_PLAYBACK_IMAGE_QUEUE_MS",
        default_value_t = 5000
    )]
    pub queue_ms: u64,

    /// Longest one ffmpeg render may run, seconds (then it is killed: 503 `render_timeout`).
    #[arg(
        long = "playback-image-timeout-secs",
        env = "FRAMELOG_PLAYBACK_IMAGE_TIMEOUT_SECS",
        default_value_t = 30
    )]
    pub timeout_secs: u64,
}

impl Default for ImageSettings {
    fn default() -> Self {
        ImageSettings { renders: 2, queue_ms: 5000, timeout_secs: 30 }
    }
}

/// The Image API's shared parts; cheap to clone.
#[derive(Debug, Clone)]
pub struct Images {
    pub posters: poster::PosterTimes,
    /// Render slots.
    pub slots: Arc<Semaphore>,
    /// ffmpeg renders run (exported as `playback_image_renders_total`).
    pub renders: Counter,
    /// Answers from the store cache (`playback_image_cache_hits_total`).
    pub hits: Counter,
    /// Requests refused for want of a render slot (`playback_image_busy_total`).
    pub busy: Counter,
    queue: Duration,
    timeout: Duration,
    work_dir: PathBuf,
    /// One lock per picture being rendered (by cache key).
    inflight: Inflight,
}

type Inflight = Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>;

/// The right to render one picture; the next request for it waits, then reads the store.
#[derive(Debug)]
pub struct Turn {
    inflight: Inflight,
    key: String,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.guard.take();
        let mut m = self.inflight.lock().expect("inflight map poisoned");
        if m.get(&self.key).is_some_and(|l| Arc::strong_count(l) == 1) {
            m.remove(&self.key);
        }
    }
}

impl Images {
    /// Opens the poster-time bucket and registers the counters.
    pub async fn new(
        platform: &framelog_core::Platform,
        settings: &ImageSettings,
    ) -> Result<Images, PlaybackError> {
        let posters = poster::PosterTimes::open(&platform.js, platform.settings.replicas).await?;
        let images = Images {
            posters,
            slots: Arc::new(Semaphore::new(settings.renders.max(1))),
            renders: Counter::default(),
            hits: Counter::default(),
            busy: Counter::default(),
            queue: Duration::from_millis(settings.queue_ms),
            timeout: Duration::from_secs(settings.timeout_secs.max(1)),
            work_dir: platform.settings.data_dir.join("image-work"),
            inflight: Arc::default(),
        };
        let m = &platform.metrics;
        m.register("playback_image_renders", "Image API ffmpeg renders", images.renders.clone());
        m.register(
            "playback_image_cache_hits",
            "Image API answers from the cache",
            images.hits.clone(),
        );
        m.register(
            "playback_image_busy",
            "Image API requests refused: no render slot",
            images.busy.clone(),
        );
        Ok(images)
    }
}

impl Images {
    /// Waits for the turn to render the picture stored at `key` (503 `busy` if the request
    /// before it takes longer than a queue wait and a render).
    pub async fn turn(&self, key: &str) -> Result<Turn, ApiError> {
        let lock = {
            let mut m = self.inflight.lock().expect("inflight map poisoned");
            m.entry(key.to_owned()).or_default().clone()
        };
        let mut turn = Turn { inflight: self.inflight.clone(), key: key.to_owned(), guard: None };
        let wait = self.queue + self.timeout * 2;
        let guard = tokio::time::timeout(wait, lock.lock_owned()).await.map_err(|_| busy())?;
        turn.guard = Some(guard);
        Ok(turn)
    }
}

/// The path whose JWT audience a request needs (`t` for thumbnails, `g` for animations).
fn audience_path(file: &str) -> &'static str {
    if file.starts_with("animated.") { "animated.gif" } else { "thumbnail.jpg" }
}

/// `GET|HEAD /image/{token}/{video_id}/{file}`.
#[utoipa::path(get, path = "/image/{token}/{video_id}/{file}", tag = "playback", operation_id = "image_signed",
    params(
        ("token" = String, Path, description = "a playback token (HMAC, or a JWT with `aud` `t` for thumbnails, `g` for animations)"),
        ("video_id" = String, Path, description = "the video id"),
        ("file" = String, Path, description = "`thumbnail.jpg`, `thumbnail.png`, `thumbnail.webp`, `animated.gif` or `animated.webp`"),
        ("time" = Option<f64>, Query, description = "thumbnail: seconds (default: the poster time)"),
        ("width" = Option<u32>, Query, description = "pixels (thumbnail ≤ 1920; animation ≤ 640, default 320)"),
        ("height" = Option<u32>, Query, description = "thumbnail: pixels, ≤ 1920"),
        ("fit_mode" = Option<String>, Query, description = "thumbnail with width and height: `preserve` (default), `crop` or `pad`"),
        ("start" = Option<f64>, Query, description = "animation: seconds (default 0)"),
        ("end" = Option<f64>, Query, description = "animation: seconds, at most 10 s after start (default start + 5 s)"),
        ("fps" = Option<u32>, Query, description = "animation: frames per second, ≤ 30 (default 10)"),
    ),
    responses(
        (status = 200, description = "the image (`Cache-Control: immutable` unless it follows the poster time)"),
        (status = 304, description = "not modified"),
        (status = 400, body = ErrorBody,
            description = "a bad parameter (`invalid_query`, `out_of_range`, `unsupported_format`)"),
        (status = 403, body = ErrorBody, description = "the token is invalid (`invalid_token`)"),
        (status = 404, body = ErrorBody, description = "no such video or image (`not_found`)"),
        InternalError,
        (status = 503, body = ErrorBody,
            description = "no render slot free in time (`busy`), a render timed out, or a dependency is unavailable"),
    ))]
pub async fn signed(
    State(st): State<PlaybackState>,
    Path((token, video, file)): Path<(String, String, String)>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant =
        authorize(&st, &token, &video, audience_path(&file), &headers, Target::Video).await?;
    answer(&st, &tenant, &video, &file, &query, &headers).await
}

/// `GET|HEAD /image/public/{video_id}/{file}`: 404 unless the video is public.
#[utoipa::path(get, path = "/image/public/{video_id}/{file}", tag = "playback", operation_id = "image_public",
    params(
        ("video_id" = String, Path, description = "the video id"),
        ("file" = String, Path, description = "as for `/image/{token}/...`, with the same query"),
    ),
    responses(
        (status = 200, description = "the image"),
        (status = 304, description = "not modified"),
        (status = 400, body = ErrorBody,
            description = "a bad parameter (`invalid_query`, `out_of_range`, `unsupported_format`)"),
        (status = 404, body = ErrorBody, description = "no such image, or the video is not public"),
        InternalError,
        (status = 503, body = ErrorBody, description = "busy, or a dependency is unavailable"),
    ))]
pub async fn public(
    State(st): State<PlaybackState>,
    Path((video, file)): Path<(String, String)>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if framelog_events::id::validate_id(&video).is_err() {
        return Err(ApiError::not_found("video"));
    }
    let tenant = st.public.tenant_of(&video).await?.ok_or_else(|| ApiError::not_found("video"))?;
    answer(&st, &tenant, &video, &file, &query, &headers).await
}

#[tracing::instrument(skip(st, query, headers))]
async fn answer(
    st: &PlaybackState,
    tenant: &str,
    video: &str,
    file: &str,
    query: &[(String, String)],
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let req = params::parse(file, query)?;
    if framelog_events::id::validate_id(video).is_err() {
        return Err(ApiError::not_found("video"));
    }
    crate::deleted::refuse(st, tenant, video).await?;
    let src = source::open(st, tenant, video).await?;
    let poster =
        if req.follows_poster() { st.images.posters.get(tenant, video).await? } else { None };
    let entry = cache::entry(&src.root, &req.canonical(poster), req.format().ext());
    let counter = st.meter.counter(tenant);
    counter.request();
    let lasting = src.complete && !req.follows_poster();
    if let Some(bytes) = cache::get(&st.media, &entry).await {
        st.images.hits.inc();
        return Ok(respond(&req, &entry, bytes, headers, true, lasting, &counter));
    }
    // One render per picture at a time on this replica: the others wait for it, then read it.
    let _turn = st.images.turn(&entry.key).await?;
    if let Some(bytes) = cache::get(&st.media, &entry).await {
        st.images.hits.inc();
        return Ok(respond(&req, &entry, bytes, headers, true, lasting, &counter));
    }
    let bytes = render(st, &src, &req, poster).await?;
    if src.complete {
        cache::put(&st.media, &entry, bytes.clone()).await;
    }
    Ok(respond(&req, &entry, bytes, headers, false, lasting, &counter))
}

fn respond(
    req: &ImageRequest,
    entry: &cache::Entry,
    bytes: Bytes,
    headers: &HeaderMap,
    hit: bool,
    immutable: bool,
    counter: &crate::egress::TenantCounter,
) -> Response {
    let mut h = HeaderMap::with_capacity(6);
    let policy =
        if immutable { "public, max-age=31536000, immutable" } else { "public, max-age=60" };
    h.insert(CACHE_CONTROL, HeaderValue::from_static(policy));
    h.insert(ETAG, HeaderValue::try_from(entry.etag.as_str()).expect("hex is a valid header"));
    h.insert(X_IMAGE_CACHE, HeaderValue::from_static(if hit { "hit" } else { "miss" }));
    let matches = headers.get(IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(',').map(str::trim).any(|t| t == "*" || t.trim_start_matches("W/") == entry.etag)
    });
    if matches {
        return (StatusCode::NOT_MODIFIED, h).into_response();
    }
    h.insert(CONTENT_TYPE, HeaderValue::from_static(req.format().content_type()));
    h.insert(CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    counter.bytes(bytes.len() as u64);
    (StatusCode::OK, h, Body::from(bytes)).into_response()
}

fn busy() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "busy",
        "every image render slot is taken; retry shortly",
    )
    .with_header(RETRY_AFTER, HeaderValue::from_static("1"))
}

fn render_error(e: RenderError) -> ApiError {
    match e {
        RenderError::Timeout(d) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "render_timeout",
            format!("the image took longer than {} s to render", d.as_secs()),
        ),
        other => ApiError::internal(&other),
    }
}

/// Renders `req` from `src`: the ladder read and the bounds checked first, then one ffmpeg
/// under a render slot.
#[tracing::instrument(skip_all, err)]
async fn render(
    st: &PlaybackState,
    src: &VideoSource,
    req: &ImageRequest,
    poster: Option<u64>,
) -> Result<Bytes, ApiError> {
    let rungs = src.rungs(st).await?;
    let top = rungs.last().expect("rungs() is never empty");
    let format = req.format();
    let work = render::scratch(&st.images.work_dir).map_err(render_error)?;
    let out = work.path().join(format!("out.{}", format.ext()));
    let (args, fallback) = match req {
        ImageRequest::Thumbnail(q @ Thumbnail { width, height, fit, .. }) => {
            let need = fit::geometry((top.width, top.height), *width, *height, *fit).needs();
            let rung = ladder::choose(&rungs, need).expect("rungs() is never empty");
            let g = fit::geometry((rung.width, rung.height), *width, *height, *fit);
            let rend = src.rendition(st, rung).await?;
            let t_ms = params::thumbnail_time(q, ladder::duration_ms(&rend.segments), poster)?;
            let t = t_ms as f64 / 1000.0;
            let segs = ladder::span(&rend.segments, t, t, 0.5);
            let (input, fmp4) = rend.join(st, segs, work.path()).await?;
            let args = render::thumbnail_args(&input, fmp4, t - segs[0].start, &g, format, &out);
            (args, Some(render::last_frame_args(&input, fmp4, &g, format, &out)))
        }
        ImageRequest::Animated(a @ Animated { width, fps, .. }) => {
            let rung = ladder::choose(&rungs, (*width, 1)).expect("rungs() is never empty");
            let height = ((f64::from(*width) * f64::from(rung.height) / f64::from(rung.width))
                .round() as u32)
                .max(1);
            let rend = src.rendition(st, rung).await?;
            let (s, e) = params::animated_span(a, ladder::duration_ms(&rend.segments))?;
            let (s, e) = (s as f64 / 1000.0, e as f64 / 1000.0);
            let segs = ladder::span(&rend.segments, s, e, 0.0);
            let (input, fmp4) = rend.join(st, segs, work.path()).await?;
            let span = (s - segs[0].start, e - segs[0].start);
            let args =
                render::animated_args(&input, fmp4, span, (*width, height), *fps, format, &out);
            (args, None)
        }
    };
    let images = &st.images;
    let Ok(Ok(_slot)) =
        tokio::time::timeout(images.queue, images.slots.clone().acquire_owned()).await
    else {
        images.busy.inc();
        return Err(busy());
    };
    images.renders.inc();
    let res = match render::run(&args, &out, images.timeout).await {
        Err(RenderError::Empty) if fallback.is_some() => {
            let last = fallback.expect("checked");
            render::run(&last, &out, images.timeout).await
        }
        other => other,
    };
    res.map(Bytes::from).map_err(render_error)
}
