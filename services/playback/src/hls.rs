//! The HLS routes: signed VOD (`/hls/<token>/<video>/...`), public VOD
//! (`/hls/public/<video>/...`) and live (`/live/<token>/<stream>/...`).
//!
//! Order of checks: the token (403, [`crate::token`]: no IO for an HMAC token or a known JWT), then the file name (404 for anything
//! [`crate::paths`] or [`crate::mime`] refuses), then the video's tombstone (404 once deleted,
//! from a local set), then the file (404 if absent). A root file (`master.m3u8`, `poster.jpg`,
//! ...) is read from the live version ([`crate::current`]). Playlists are served as written:
//! their relative URIs resolve under the same token prefix. Only then may immutable media be
//! redirected ([`crate::redirect`]); else it is served from a local path, streamed from the
//! store ([`crate::remote`]), or (a store without ranged reads) from a fetched copy.

use std::path::PathBuf;

use axum::extract::{RawQuery, State};
use axum::response::Response;
use framelog_core::ApiError;
use framelog_core::error::extract::Path;
use framelog_core::openapi::{ErrorBody, InternalError};
use http::{HeaderMap, Method};

use crate::mime::{self, FileKind};
use crate::paths;
use crate::serve::{self, Opened, ServeError};
use crate::state::PlaybackState;
use crate::token::{Target, authorize};
use crate::{current, dash, deleted, mp4, redirect, remote};

/// `GET|HEAD /hls/{token}/{video_id}/{*path}`.
#[utoipa::path(get, path = "/hls/{token}/{video_id}/{*path}", tag = "playback", operation_id = "hls_signed",
    params(
        ("token" = String, Path, description = "a playback token: the HMAC token the API mints, or a JWT signed with one of the tenant's signing keys (`kid`, `sub` = video id, `aud`, `exp`)"),
        ("video_id" = String, Path, description = "the video id"),
        ("path" = String, Path, description = "the file inside the video's HLS output, e.g. `master.m3u8`, or `manifest.mpd` (its MPEG-DASH manifest over the same segments)"),
    ),
    responses(
        (status = 200,
            description = "the file: playlist, DASH manifest (`application/dash+xml`), init segment, segment, poster, thumbnails, storyboard (`Range`, `If-None-Match` honoured; may be a `302` to the store or CDN)"),
        (status = 206, description = "a range of the file"),
        (status = 304, description = "not modified"),
        (status = 403, body = ErrorBody,
            description = "the token is invalid, expired or for another video (`invalid_token`)"),
        (status = 404, description = "no such file (`not_found`); `manifest.mpd` of a video still transcoding (`not_ready`) or one DASH cannot describe (`dash_unsupported`)", body = ErrorBody),
        (status = 416, description = "the range is outside the file", body = ErrorBody),
        InternalError,
        (status = 503, body = ErrorBody,
            description = "a dependency is unavailable (`unavailable`)"),
    ))]
pub async fn signed(
    State(st): State<PlaybackState>,
    Path((token, video, path)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &token, &video, &path, &headers, Target::Video).await?;
    let res = vod(&st, &tenant, &video, &path, &method, &headers).await?;
    Ok(mp4::with_disposition(res, &path, query.as_deref(), &video))
}

/// `GET|HEAD /hls/public/{video_id}/{*path}`: 404 unless the video is marked public.
#[utoipa::path(get, path = "/hls/public/{video_id}/{*path}", tag = "playback", operation_id = "hls_public",
    params(
        ("video_id" = String, Path, description = "the video id"),
        ("path" = String, Path, description = "the file inside the video's HLS output, e.g. `master.m3u8`, or `manifest.mpd` (its MPEG-DASH manifest over the same segments)"),
    ),
    responses(
        (status = 200,
            description = "the file: playlist, DASH manifest (`application/dash+xml`), init segment, segment, poster, thumbnails, storyboard (`Range`, `If-None-Match` honoured; may be a `302` to the store or CDN)"),
        (status = 206, description = "a range of the file"),
        (status = 304, description = "not modified"),
        (status = 404, body = ErrorBody,
            description = "no such file, or the video is not public (`not_found`)"),
        (status = 416, description = "the range is outside the file", body = ErrorBody),
        InternalError,
        (status = 503, body = ErrorBody,
            description = "a dependency is unavailable (`unavailable`)"),
    ))]
pub async fn public(
    State(st): State<PlaybackState>,
    Path((video, path)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if paths::vod_key("x", &video, &path).is_none() {
        return Err(ApiError::not_found("file"));
    }
    let tenant = st.public.tenant_of(&video).await?.ok_or_else(|| ApiError::not_found("file"))?;
    let res = vod(&st, &tenant, &video, &path, &method, &headers).await?;
    Ok(mp4::with_disposition(res, &path, query.as_deref(), &video))
}

/// `GET|HEAD /live/{token}/{stream_id}/{*path}`: nginx-rtmp's HLS of a live stream.
#[utoipa::path(get, path = "/live/{token}/{stream_id}/{*path}", tag = "playback", operation_id = "hls_live",
    params(
        ("token" = String, Path, description = "a playback token for the stream (HMAC, or a JWT with `sub` = stream id)"),
        ("stream_id" = String, Path, description = "the stream id"),
        ("path" = String, Path, description = "`index.m3u8` or a segment"),
    ),
    responses(
        (status = 200, description = "the live playlist or segment"),
        (status = 403, body = ErrorBody,
            description = "the token is invalid, expired or for another video (`invalid_token`)"),
        (status = 404, description = "no such file (`not_found`)", body = ErrorBody),
        (status = 416, description = "the range is outside the file", body = ErrorBody),
        InternalError,
    ))]
pub async fn live(
    State(st): State<PlaybackState>,
    Path((token, stream, path)): Path<(String, String, String)>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &token, &stream, &path, &headers, Target::Stream).await?;
    let kind = mime::live_kind(&path).ok_or_else(|| ApiError::not_found("file"))?;
    let file = paths::live_file(&st.live_dir, &stream, &path)
        .ok_or_else(|| ApiError::not_found("file"))?;
    let opened = serve::open(&st.cache, file, false).await?;
    Ok(serve::respond(&method, &headers, kind, opened, st.meter.counter(&tenant)))
}

async fn vod(
    st: &PlaybackState,
    tenant: &str,
    video: &str,
    path: &str,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let static_mp4 = mp4::stable_file(path);
    let kind = match static_mp4 {
        Some(file) => mp4::kind(file),
        None => mime::vod_kind(path).ok_or_else(|| ApiError::not_found("file"))?,
    };
    let key = paths::vod_key(tenant, video, path).ok_or_else(|| ApiError::not_found("file"))?;
    deleted::refuse(st, tenant, video).await?;
    if path == dash::MANIFEST {
        return dash::respond(st, tenant, video, method, headers).await;
    }
    let key =
        current::resolve(&st.media, tenant, video, path, key).await.map_err(ServeError::from)?;
    if static_mp4.is_none()
        && let Some(url) = st.redirects.target(&st.media, &key, kind).await?
        && let Some(res) = redirect::response(&url)
    {
        st.meter.counter(tenant).request();
        return Ok(res);
    }
    let opened = open(st, &key, kind).await?;
    Ok(serve::respond(method, headers, kind, opened, st.meter.counter(tenant)))
}

/// Opens the media object `key`: the store's own path when it is a filesystem, else streamed
/// from the store, else (a store without ranged reads) a copy fetched into the fetch directory
/// (kept for immutable files, refreshed for the others at each request).
async fn open(st: &PlaybackState, key: &str, kind: FileKind) -> Result<Opened, ServeError> {
    if let Some(p) = st.media.local_path(key) {
        return serve::open(&st.cache, p, kind.cacheable()).await;
    }
    if let Some(o) = remote::open(&st.media, &st.cache, &st.fetch_dir, key, kind).await? {
        return Ok(o);
    }
    let copy = fetch(st, key, kind).await?;
    serve::open(&st.cache, copy, kind.cacheable()).await
}

#[tracing::instrument(skip_all, fields(key), err)]
async fn fetch(st: &PlaybackState, key: &str, kind: FileKind) -> Result<PathBuf, ServeError> {
    let dest = st.fetch_dir.join(key);
    let io = |e: std::io::Error| ServeError::Io { path: dest.display().to_string(), source: e };
    if kind.cacheable() && tokio::fs::try_exists(&dest).await.unwrap_or(false) {
        return Ok(dest);
    }
    if let Some(parent) = dest.parent() {
        tokio::fs::create_dir_all(parent).await.map_err(io)?;
    }
    let tmp = dest.with_extension(format!("part-{}", uuid::Uuid::now_v7().simple()));
    if let Err(e) = st.media.fetch_to(key, &tmp).await {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(e.into());
    }
    tokio::fs::rename(&tmp, &dest).await.map_err(io)?;
    Ok(dest)
}
