//! MPEG-DASH from the same CMAF files as HLS: `GET /hls/{token}/{video}/manifest.mpd`
//! (and `/hls/public/{video}/manifest.mpd`), a static MPD whose relative `BaseURL`s name the
//! ladder's own init and media segments under the same token prefix. No second copy of media.
//!
//! The manifest is rendered here, on request, from the stored master and media playlists (and
//! each rendition's init segment and first segment head, for the timescale and the first
//! `tfdt`), not by the transcoder: so every video already transcoded has one, it can never
//! disagree with the playlists it is made from, and nothing new is stored or garbage-collected.
//! A rendered manifest is kept in memory per version ([`MpdCache`]): a complete version's files
//! never change, so it is read once per replica.
//!
//! A video still growing (its pointer not complete, or a playlist without `EXT-X-ENDLIST`)
//! answers `404 not_ready` until it is ready: a static MPD must know every segment, and the
//! HLS master already plays while it grows. A rendition DASH cannot describe with one
//! Representation (several init segments, byte-range segments) answers `404 dash_unsupported`.
//!
//! # Layout
//! - [`hls_read`]: the master's variants and audio renditions, a media playlist's segments.
//! - [`boxes`]: the init's `mdhd` timescale, a segment's first `tfdt`.
//! - [`mpd`]: the MPD renderer.

pub mod boxes;
pub mod hls_read;
pub mod mpd;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::response::Response;
use bytes::Bytes;
use framelog_core::ApiError;
use framelog_core::media::versions::version_prefix;
use framelog_core::media::{MediaError, SharedMediaStore, hls_prefix, validate_key};
use http::{HeaderMap, Method, StatusCode};
use sha2::{Digest, Sha256};

use crate::mime;
use crate::serve::{self, Content, FileMeta, Opened};
use crate::state::PlaybackState;
use hls_read::{HlsError, MasterAudio, MasterVideo};
use mpd::{Kind, Track};

/// The manifest's file name at a video's root.
pub const MANIFEST: &str = "manifest.mpd";

/// Bytes of a segment read to find its first `moof` (a 6 s 4K fragment's `moof` is ~6 KB).
const HEAD_BYTES: u64 = 64 * 1024;

/// Most manifests kept; past it the cache starts over.
const MAX_CACHED: usize = 4096;

/// Why a video has no manifest.
#[derive(Debug, thiserror::Error)]
pub enum DashError {
    #[error("the video is still being transcoded")]
    NotReady,
    #[error("{0}")]
    Unsupported(String),
    #[error(transparent)]
    Media(#[from] MediaError),
}

impl From<DashError> for ApiError {
    fn from(e: DashError) -> ApiError {
        match e {
            DashError::NotReady => ApiError::new(
                StatusCode::NOT_FOUND,
                "not_ready",
                "the DASH manifest is served once the video is ready (its HLS master plays meanwhile)",
            ),
            DashError::Unsupported(why) => {
                tracing::warn!(reason = %why, "no DASH manifest for a video");
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "dash_unsupported",
                    format!("this video has no DASH manifest ({why}); play its HLS master"),
                )
            }
            DashError::Media(m) => serve::ServeError::from(m).into(),
        }
    }
}

fn unsupported(what: &str, e: impl std::fmt::Display) -> DashError {
    DashError::Unsupported(format!("{what}: {e}"))
}

/// A rendered manifest and its entity tag.
#[derive(Debug)]
struct Rendered {
    bytes: Bytes,
    tag: String,
}

/// Manifests of complete versions by version prefix; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct MpdCache(Arc<RwLock<HashMap<String, Arc<Rendered>>>>);

impl MpdCache {
    fn get(&self, key: &str) -> Option<Arc<Rendered>> {
        self.0.read().expect("mpd cache poisoned").get(key).cloned()
    }

    fn insert(&self, key: String, r: Arc<Rendered>) {
        let mut m = self.0.write().expect("mpd cache poisoned");
        if m.len() >= MAX_CACHED {
            m.clear();
        }
        m.insert(key, r);
    }

    /// How many manifests are kept.
    pub fn len(&self) -> usize {
        self.0.read().expect("mpd cache poisoned").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The manifest response of `tenant`'s `video` (token, path and tombstone already checked):
/// `application/dash+xml`, `no-cache`, with an `ETag`, ranges and `HEAD` like any file.
pub async fn respond(
    st: &PlaybackState,
    tenant: &str,
    video: &str,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let kind = mime::vod_kind(MANIFEST).expect("the manifest has a kind");
    let rendered = manifest(&st.media, &st.dash, tenant, video).await?;
    let opened = Opened {
        meta: Arc::new(FileMeta::object(rendered.bytes.len() as u64, &rendered.tag)),
        content: Content::Memory(rendered.bytes.clone()),
    };
    Ok(serve::respond(method, headers, kind, opened, st.meter.counter(tenant)))
}

/// The manifest of the video's live version, from the cache when that version is complete.
async fn manifest(
    media: &SharedMediaStore,
    cache: &MpdCache,
    tenant: &str,
    video: &str,
) -> Result<Arc<Rendered>, DashError> {
    let root = hls_prefix(tenant, video);
    let current = media.current(&root).await?;
    let master_key = match &current {
        Some(c) if !c.pointer.complete => return Err(DashError::NotReady),
        Some(c) => format!("{}/master.m3u8", version_prefix(&root, &c.pointer.version)),
        None => format!("{root}/master.m3u8"),
    };
    // Only a complete version is immutable; a video without versions is read every time.
    let cache_key = current.map(|c| version_prefix(&root, &c.pointer.version));
    if let Some(hit) = cache_key.as_deref().and_then(|k| cache.get(k)) {
        return Ok(hit);
    }
    let text = render(media, &root, &master_key).await?;
    let tag = hex::encode(&Sha256::digest(text.as_bytes())[..8]);
    let rendered = Arc::new(Rendered { bytes: Bytes::from(text), tag });
    if let Some(k) = cache_key {
        cache.insert(k, rendered.clone());
    }
    Ok(rendered)
}

/// Reads the master at `master_key` and every rendition it names, and renders the manifest.
#[tracing::instrument(skip_all, fields(prefix = root), err)]
async fn render(
    media: &SharedMediaStore,
    root: &str,
    master_key: &str,
) -> Result<String, DashError> {
    let text = read_text(media, master_key).await?;
    let master = hls_read::parse_master(&text).map_err(|e| unsupported("master", e))?;
    if master.video.is_empty() && master.audio.is_empty() {
        return Err(DashError::Unsupported("the master names no rendition".into()));
    }
    let videos = master.video.iter().enumerate().map(|(k, v)| video_track(media, root, k, v));
    let audios = master.audio.iter().enumerate().map(|(k, a)| audio_track(media, root, k, a));
    let mut tracks = futures::future::try_join_all(videos).await?;
    tracks.extend(futures::future::try_join_all(audios).await?);
    dedupe_ids(&mut tracks);
    Ok(mpd::render(&tracks))
}

async fn read_text(media: &SharedMediaStore, key: &str) -> Result<String, DashError> {
    let bytes = media.get_bytes(key).await?;
    String::from_utf8(bytes.to_vec()).map_err(|e| unsupported(key, e))
}

/// A rendition's files: its directory relative to the video's root (`v/<version>/720p/`),
/// its init and segments, timescale and first decode time.
struct Files {
    base_url: String,
    init: String,
    segments: Vec<(String, f64)>,
    timescale: u32,
    start: u64,
}

/// The media key `<root>/<rel>`, refusing anything but a plain relative file path.
fn key_of(root: &str, rel: &str) -> Result<String, DashError> {
    validate_key(rel).map_err(|e| unsupported("a playlist URI", e))?;
    Ok(format!("{root}/{rel}"))
}

async fn files(media: &SharedMediaStore, root: &str, uri: &str) -> Result<Files, DashError> {
    let playlist_key = key_of(root, uri)?;
    let list = hls_read::parse_media(&read_text(media, &playlist_key).await?)
        .map_err(|e: HlsError| unsupported(uri, e))?;
    if !list.ended {
        return Err(DashError::NotReady);
    }
    let [init] = list.inits.as_slice() else {
        let n = list.inits.len();
        return Err(DashError::Unsupported(format!("{uri} has {n} init segments, DASH needs one")));
    };
    let Some((first, _)) = list.segments.first() else {
        return Err(DashError::Unsupported(format!("{uri} has no segments")));
    };
    let base_url = uri.rsplit_once('/').map(|(d, _)| format!("{d}/")).unwrap_or_default();
    let dir = format!("{root}/{base_url}");
    for name in list.inits.iter().chain(list.segments.iter().map(|s| &s.0)) {
        if name.contains('/') {
            return Err(DashError::Unsupported(format!("{uri} names a file in another directory")));
        }
        key_of(root, &format!("{base_url}{name}"))?;
    }
    let init_bytes = media.get_bytes(&format!("{dir}{init}")).await?;
    let timescale = boxes::timescale(&init_bytes).map_err(|e| unsupported(init, e))?;
    let start = first_decode_time(media, &format!("{dir}{first}")).await?;
    Ok(Files { base_url, init: init.clone(), segments: list.segments, timescale, start })
}

/// The first `tfdt` of the segment `key`: from its first bytes, else the whole segment.
async fn first_decode_time(media: &SharedMediaStore, key: &str) -> Result<u64, DashError> {
    let head = match media.get_range(key, 0..HEAD_BYTES).await {
        Ok(b) => Some(b),
        Err(MediaError::Unsupported) => None,
        Err(e) => return Err(e.into()),
    };
    if let Some(head) = head
        && let Some(t) = boxes::first_decode_time(&head).map_err(|e| unsupported(key, e))?
    {
        return Ok(t);
    }
    let whole = media.get_bytes(key).await?;
    boxes::first_decode_time(&whole)
        .map_err(|e| unsupported(key, e))?
        .ok_or_else(|| DashError::Unsupported(format!("{key}: no complete moof")))
}

/// The rung name of a playlist URI (`v/01/720p/playlist.m3u8` → `720p`).
fn dir_name(uri: &str) -> &str {
    uri.rsplit('/').nth(1).unwrap_or("video")
}

async fn video_track(
    media: &SharedMediaStore,
    root: &str,
    k: usize,
    v: &MasterVideo,
) -> Result<Track, DashError> {
    let f = files(media, root, &v.uri).await?;
    let id = match dir_name(&v.uri) {
        "" => format!("video-{k}"),
        name => name.to_owned(),
    };
    Ok(Track {
        id,
        base_url: f.base_url,
        init: f.init,
        segments: f.segments,
        timescale: f.timescale,
        start: f.start,
        bandwidth: v.bandwidth,
        kind: Kind::Video {
            codecs: v.codecs.clone(),
            width: v.width,
            height: v.height,
            frame_rate: v.frame_rate,
        },
    })
}

async fn audio_track(
    media: &SharedMediaStore,
    root: &str,
    k: usize,
    a: &MasterAudio,
) -> Result<Track, DashError> {
    let f = files(media, root, &a.uri).await?;
    Ok(Track {
        id: format!("audio-{k}"),
        base_url: f.base_url,
        init: f.init,
        segments: f.segments,
        timescale: f.timescale,
        start: f.start,
        bandwidth: a.bandwidth.unwrap_or(128_000),
        kind: Kind::Audio {
            codecs: a.codecs.clone(),
            lang: a.language.clone(),
            label: a.name.clone(),
            channels: a.channels,
            main: a.default && k == 0,
        },
    })
}

/// Makes Representation ids unique (two rungs in directories of the same name).
fn dedupe_ids(tracks: &mut [Track]) {
    let mut seen: Vec<String> = Vec::new();
    for (k, t) in tracks.iter_mut().enumerate() {
        if seen.contains(&t.id) {
            t.id = format!("{}-{k}", t.id);
        }
        seen.push(t.id.clone());
    }
}
