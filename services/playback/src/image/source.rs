//! A ready video's files as the Image API reads them: the version its pointer names (or the
//! video's prefix, before versions existed), its master's video renditions, a rendition's
//! segments, and the joined input ffmpeg reads (init segment + segments, fetched through the
//! [`MediaStore`](framelog_core::media::MediaStore) seam, so every store works).

use std::path::Path;

use framelog_core::ApiError;
use framelog_core::media::versions::version_prefix;
use framelog_core::media::{MediaError, hls_prefix};
use tokio::io::AsyncWriteExt;

use super::ladder::{self, Rung, Segment};
use crate::serve::ServeError;
use crate::state::PlaybackState;

/// A video's live output.
#[derive(Debug, Clone)]
pub struct VideoSource {
    /// `hls/<tenant>/<video>`: the master's URIs are relative to it.
    pub prefix: String,
    /// Where the live version's files are (the prefix itself without versions).
    pub root: String,
    /// Whether the live version is the whole output (false: a lowest rung or passthrough
    /// published early, whose playlists still grow).
    pub complete: bool,
}

fn media_err(e: MediaError) -> ApiError {
    ApiError::from(ServeError::from(e))
}

/// The live output of `tenant`'s `video` (one pointer read).
#[tracing::instrument(skip(st), err)]
pub async fn open(st: &PlaybackState, tenant: &str, video: &str) -> Result<VideoSource, ApiError> {
    let prefix = hls_prefix(tenant, video);
    let (root, complete) = match st.media.current(&prefix).await.map_err(media_err)? {
        Some(cur) => (version_prefix(&prefix, &cur.pointer.version), cur.pointer.complete),
        None => (prefix.clone(), true),
    };
    Ok(VideoSource { prefix, root, complete })
}

/// A rendition's segments and the directory their URIs are relative to.
#[derive(Debug, Clone)]
pub struct Rendition {
    pub rung: Rung,
    pub dir: String,
    pub segments: Vec<Segment>,
}

async fn text(st: &PlaybackState, key: &str) -> Result<String, ApiError> {
    let b = st.media.get_bytes(key).await.map_err(media_err)?;
    String::from_utf8(b.to_vec()).map_err(|_| ApiError::not_found("video"))
}

impl VideoSource {
    /// The video renditions of the live master, smallest first (404: no master, or an audio-only
    /// video).
    #[tracing::instrument(skip_all, fields(root = %self.root), err)]
    pub async fn rungs(&self, st: &PlaybackState) -> Result<Vec<Rung>, ApiError> {
        let master = text(st, &format!("{}/master.m3u8", self.root))
            .await
            .map_err(|_| ApiError::not_found("video"))?;
        let rungs = ladder::rungs(&master);
        if rungs.is_empty() {
            return Err(ApiError::not_found("video rendition"));
        }
        Ok(rungs)
    }

    /// The segments of `rung`.
    #[tracing::instrument(skip_all, fields(root = %self.root, rung = %rung.uri), err)]
    pub async fn rendition(&self, st: &PlaybackState, rung: &Rung) -> Result<Rendition, ApiError> {
        let key =
            ladder::join(&self.prefix, &rung.uri).ok_or_else(|| ApiError::not_found("video"))?;
        let playlist = text(st, &key).await?;
        let segments = ladder::segments(&playlist);
        if segments.is_empty() {
            return Err(ApiError::not_found("video segments"));
        }
        Ok(Rendition { rung: rung.clone(), dir: ladder::dir_of(&key).to_owned(), segments })
    }

    /// The duration of the smallest rendition, milliseconds.
    pub async fn duration_ms(&self, st: &PlaybackState) -> Result<u64, ApiError> {
        let rungs = self.rungs(st).await?;
        Ok(ladder::duration_ms(&self.rendition(st, &rungs[0]).await?.segments))
    }
}

impl Rendition {
    /// Writes the init segment of `segs[0]` then every segment of `segs` into `dest`; whether
    /// the input is fMP4 (has an init segment). A segment under another init than the first
    /// ends the input (it would not decode with the first one's parameters).
    #[tracing::instrument(skip_all, fields(dir = %self.dir, segments = segs.len()), err)]
    pub async fn join(
        &self,
        st: &PlaybackState,
        segs: &[Segment],
        dest_dir: &Path,
    ) -> Result<(std::path::PathBuf, bool), ApiError> {
        let first = segs.first().ok_or_else(|| ApiError::not_found("video segments"))?;
        let fmp4 = first.init.is_some();
        let dest = super::render::input_path(dest_dir, fmp4);
        let io = |e: std::io::Error| {
            ApiError::internal(&super::render::RenderError::io(dest.display().to_string(), e))
        };
        let mut f = tokio::fs::File::create(&dest).await.map_err(io)?;
        let key = |uri: &str| {
            ladder::join(&self.dir, uri).ok_or_else(|| ApiError::not_found("video segment"))
        };
        if let Some(init) = &first.init {
            let b = st.media.get_bytes(&key(init)?).await.map_err(media_err)?;
            f.write_all(&b).await.map_err(io)?;
        }
        for s in segs.iter().take_while(|s| s.init == first.init) {
            let b = st.media.get_bytes(&key(&s.uri)?).await.map_err(media_err)?;
            f.write_all(&b).await.map_err(io)?;
        }
        f.flush().await.map_err(io)?;
        Ok((dest, fmp4))
    }
}
