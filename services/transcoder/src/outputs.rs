//! Output files: measuring a finished rendition (segment sizes, bit rates, codecs), sharing
//! finished files with the early publication by hard links, and the completion marker.

use std::path::{Path, PathBuf};

use framelog_core::media::SharedMediaStore;
use framelog_events::Rendition;
use serde::{Deserialize, Serialize};
use tracing::instrument;

use crate::codecs;
use crate::command::MEDIA_PLAYLIST;
use crate::error::JobError;
use crate::playlist::{Variant, average_bandwidth, parse_media_playlist, peak_bandwidth};
use crate::profile::Profile;

/// Name of the completion marker, written last under the video's HLS prefix.
pub const MARKER: &str = "complete.json";

/// A measured rendition: its event form and its master playlist entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    pub rendition: Rendition,
    pub variant: Variant,
}

/// Measures `<out_dir>/<profile name>/` after ffmpeg wrote it.
#[instrument(skip_all, fields(rendition = %profile.name), err)]
pub async fn measure(out_dir: &Path, profile: &Profile) -> Result<Measured, JobError> {
    let dir = out_dir.join(&profile.name);
    let playlist_path = dir.join(MEDIA_PLAYLIST);
    let text = tokio::fs::read_to_string(&playlist_path)
        .await
        .map_err(|e| JobError::output(&playlist_path, e))?;
    let playlist = parse_media_playlist(&text).map_err(|e| JobError::output(&playlist_path, e))?;
    let mut sizes = Vec::with_capacity(playlist.segments.len());
    for s in &playlist.segments {
        let p = dir.join(&s.uri);
        let len = tokio::fs::metadata(&p).await.map_err(|e| JobError::output(&p, e))?.len();
        sizes.push((s.duration, len));
    }
    let init_name = playlist
        .init
        .as_deref()
        .ok_or_else(|| JobError::output(&playlist_path, "no EXT-X-MAP: not an fMP4 playlist"))?;
    let init_path = dir.join(init_name);
    let init = tokio::fs::read(&init_path).await.map_err(|e| JobError::output(&init_path, e))?;
    let codecs = codecs::codecs(&init).map_err(|e| JobError::output(&init_path, e))?;
    let bytes = dir_size(&dir).await?;
    let fps = (profile.fps.as_f64() * 1000.0).round() / 1000.0;
    let bandwidth = peak_bandwidth(&sizes, f64::from(playlist.target_duration.max(1)));
    let average = average_bandwidth(&sizes);
    Ok(Measured {
        rendition: Rendition {
            name: profile.name.clone(),
            width: profile.width,
            height: profile.height,
            fps,
            bandwidth,
            average_bandwidth: average,
            codecs: codecs.clone(),
            bytes,
        },
        variant: Variant {
            uri: format!("{}/{MEDIA_PLAYLIST}", profile.name),
            bandwidth,
            average_bandwidth: average,
            width: profile.width,
            height: profile.height,
            codecs,
            frame_rate: profile.fps.as_f64(),
        },
    })
}

/// Total bytes of the files directly in `dir`.
pub async fn dir_size(dir: &Path) -> Result<u64, JobError> {
    let mut total = 0;
    let mut entries = tokio::fs::read_dir(dir).await.map_err(|e| JobError::output(dir, e))?;
    while let Some(e) = entries.next_entry().await.map_err(|e| JobError::output(dir, e))? {
        let meta = e.metadata().await.map_err(|err| JobError::output(&e.path(), err))?;
        if meta.is_file() {
            total += meta.len();
        }
    }
    Ok(total)
}

/// Makes `dst` a copy of the flat directory `src` by hard links (copies across filesystems).
pub async fn link_dir(src: &Path, dst: &Path) -> Result<(), JobError> {
    tokio::fs::create_dir_all(dst)
        .await
        .map_err(JobError::io(format!("creating {}", dst.display())))?;
    let mut entries = tokio::fs::read_dir(src).await.map_err(|e| JobError::output(src, e))?;
    while let Some(e) = entries.next_entry().await.map_err(|e| JobError::output(src, e))? {
        let (from, to) = (e.path(), dst.join(e.file_name()));
        if tokio::fs::hard_link(&from, &to).await.is_err() {
            tokio::fs::copy(&from, &to)
                .await
                .map_err(JobError::io(format!("copying {}", from.display())))?;
        }
    }
    Ok(())
}

/// The completion marker: which request made the published outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Marker {
    /// Id of the `requested` event whose job completed.
    pub request_id: String,
    pub renditions: Vec<String>,
    /// RFC 3339.
    pub completed_at: String,
}

/// Reads the marker under `prefix`, if any (`scratch` holds a copy for non-local stores).
#[instrument(skip_all, fields(prefix = %prefix), err)]
pub async fn read_marker(
    media: &SharedMediaStore,
    prefix: &str,
    scratch: &Path,
) -> Result<Option<Marker>, JobError> {
    let key = format!("{prefix}/{MARKER}");
    let path: PathBuf = match media.local_path(&key) {
        Some(p) => p,
        None => {
            if !media.exists(&key).await? {
                return Ok(None);
            }
            let p = scratch.join(MARKER);
            media.fetch_to(&key, &p).await?;
            p
        }
    };
    match tokio::fs::read(&path).await {
        Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(JobError::Io { context: format!("reading {key}"), source: e }),
    }
}

/// Writes the marker under `prefix` (after every output and event is durable).
#[instrument(skip_all, fields(prefix = %prefix), err)]
pub async fn write_marker(
    media: &SharedMediaStore,
    prefix: &str,
    scratch: &Path,
    marker: &Marker,
) -> Result<(), JobError> {
    let path = scratch.join(MARKER);
    let json = serde_json::to_vec_pretty(marker).expect("a marker serialises");
    tokio::fs::write(&path, json).await.map_err(JobError::io("writing the marker"))?;
    media.put_file(&format!("{prefix}/{MARKER}"), &path).await?;
    Ok(())
}
