//! Output files: measuring a finished rendition (segment sizes, bit rates, codecs), sharing
//! finished files with the early publication by hard links, the completion marker, and
//! [`Deletion`]: no output of a deleted video stays published.

use std::path::{Path, PathBuf};

use framelog_core::media::{SharedMediaStore, hls_prefix, source_key};
use framelog_core::tombstones::Tombstones;
use framelog_events::{AudioRendition, Rendition};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing::instrument;

use crate::audio::{AudioOut, AudioPlan, MULTICHANNEL_GROUP, STEREO_GROUP};
use crate::codecs;
use crate::command::MEDIA_PLAYLIST;
use crate::error::JobError;
use crate::playlist::{
    AudioMedia, Variant, average_bandwidth, parse_media_playlist, peak_bandwidth,
};
use crate::profile::Profile;

/// Name of the completion marker, written last under the video's HLS prefix.
pub const MARKER: &str = "complete.json";

/// A measured rendition: its event form (with the default audio) and its master playlist
/// entry (the video alone: the master adds each audio group).
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    pub rendition: Rendition,
    pub variant: Variant,
}

/// Sizes and codecs of one rendition directory that ffmpeg wrote.
struct DirFigures {
    bandwidth: u64,
    average_bandwidth: u64,
    init_path: PathBuf,
    init: Vec<u8>,
    bytes: u64,
}

async fn measure_dir(dir: &Path) -> Result<DirFigures, JobError> {
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
    Ok(DirFigures {
        bandwidth: peak_bandwidth(&sizes, f64::from(playlist.target_duration.max(1))),
        average_bandwidth: average_bandwidth(&sizes),
        init_path,
        init,
        bytes: dir_size(dir).await?,
    })
}

/// Measures `<out_dir>/<profile name>/` after ffmpeg wrote it (the video alone).
#[instrument(skip_all, fields(rendition = %profile.name), err)]
pub async fn measure(out_dir: &Path, profile: &Profile) -> Result<Measured, JobError> {
    let f = measure_dir(&out_dir.join(&profile.name)).await?;
    let codecs = codecs::codecs(&f.init).map_err(|e| JobError::output(&f.init_path, e))?;
    let fps = (profile.fps.as_f64() * 1000.0).round() / 1000.0;
    Ok(Measured {
        rendition: Rendition {
            name: profile.name.clone(),
            width: profile.width,
            height: profile.height,
            fps,
            bandwidth: f.bandwidth,
            average_bandwidth: f.average_bandwidth,
            codecs: codecs.clone(),
            bytes: f.bytes,
        },
        variant: Variant {
            uri: format!("{}/{MEDIA_PLAYLIST}", profile.name),
            bandwidth: f.bandwidth,
            average_bandwidth: f.average_bandwidth,
            width: profile.width,
            height: profile.height,
            codecs,
            frame_rate: profile.fps.as_f64(),
        },
    })
}

impl Measured {
    /// This video rendition's event form as players fetch it with the default `audio`: bit
    /// rates added (a sum of peaks bounds the peak of the sum), codecs joined. The master
    /// variant stays the video alone.
    pub fn with_audio(mut self, audio: &AudioRendition) -> Measured {
        let r = &mut self.rendition;
        r.bandwidth += audio.bandwidth;
        r.average_bandwidth += audio.average_bandwidth;
        r.codecs = format!("{},{}", r.codecs, audio.codecs);
        self
    }
}

/// A measured audio rendition: its event form and its master playlist entry.
#[derive(Debug, Clone, PartialEq)]
pub struct MeasuredAudio {
    pub audio: AudioRendition,
    pub media: AudioMedia,
}

/// Measures `<out_dir>/<out.dir>/` after ffmpeg wrote it, as a member of `group`.
#[instrument(skip_all, fields(rendition = %out.dir), err)]
pub async fn measure_audio(
    out_dir: &Path,
    out: &AudioOut,
    group: &str,
) -> Result<MeasuredAudio, JobError> {
    let f = measure_dir(&out_dir.join(&out.dir)).await?;
    let codecs = codecs::audio_codecs(&f.init).map_err(|e| JobError::output(&f.init_path, e))?;
    Ok(MeasuredAudio {
        audio: AudioRendition {
            codecs: codecs.clone(),
            bandwidth: f.bandwidth,
            average_bandwidth: f.average_bandwidth,
            bytes: f.bytes,
            name: Some(out.dir.clone()),
            language: out.language.clone(),
            channels: Some(out.channels),
        },
        media: AudioMedia {
            uri: format!("{}/{MEDIA_PLAYLIST}", out.dir),
            group: group.to_owned(),
            name: out.name.clone(),
            language: out.language.clone(),
            channels: out.channels,
            bandwidth: f.bandwidth,
            average_bandwidth: f.average_bandwidth,
            codecs,
        },
    })
}

/// Measures every rendition of `plan`: the stereo ones in play order, then the 5.1 ones.
pub async fn measure_all_audio(
    out_dir: &Path,
    plan: &AudioPlan,
) -> Result<Vec<MeasuredAudio>, JobError> {
    let mut out = Vec::new();
    for a in &plan.stereo {
        out.push(measure_audio(out_dir, a, STEREO_GROUP).await?);
    }
    for a in &plan.multichannel {
        out.push(measure_audio(out_dir, a, MULTICHANNEL_GROUP).await?);
    }
    Ok(out)
}

/// The `EXT-X-MEDIA` entries of `measured` (from [`measure_all_audio`]): the stereo group,
/// then, if any track is 5.1, the multichannel group in the same play order, where a track
/// without 5.1 is listed by its stereo playlist (switching group never loses a language).
pub fn master_audio(measured: &[MeasuredAudio]) -> Vec<AudioMedia> {
    let (stereo, multi): (Vec<&MeasuredAudio>, Vec<&MeasuredAudio>) =
        measured.iter().partition(|m| m.media.group == STEREO_GROUP);
    let mut out: Vec<AudioMedia> = stereo.iter().map(|m| m.media.clone()).collect();
    if !multi.is_empty() {
        for s in &stereo {
            let same_track = multi.iter().find(|m| m.media.name == s.media.name);
            out.push(match same_track {
                Some(m) => m.media.clone(),
                None => AudioMedia { group: MULTICHANNEL_GROUP.to_owned(), ..s.media.clone() },
            });
        }
    }
    out
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

/// The completion marker: which request made the published outputs, and the job's final
/// events. It is written once every output is durable and before those events are published,
/// so a redelivered job that finds it re-emits them (one-shot: stored once, whoever sends them)
/// instead of doing nothing: a completion that only reached a lost machine's outbox is not lost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Marker {
    /// Id of the `requested` event whose job completed.
    pub request_id: String,
    pub renditions: Vec<String>,
    /// RFC 3339.
    pub completed_at: String,
    /// The final events (`VID_TRANSCODE completed`, `VID_READY published`) as JSON, in order.
    /// Absent in markers written before they were kept here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub final_events: Vec<serde_json::Value>,
}

impl Marker {
    /// The final events, decoded (an undecodable one is skipped with a warning).
    pub fn final_events(&self) -> Vec<framelog_events::Event> {
        self.final_events
            .iter()
            .filter_map(|v| {
                let bytes = serde_json::to_vec(v).ok()?;
                framelog_events::Event::from_json(&bytes)
                    .map_err(|e| tracing::warn!(error = %e, "undecodable event in the marker"))
                    .ok()
            })
            .collect()
    }
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

/// Writes the marker under `prefix` (after every output is durable, before the final events).
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

/// A job's view of its video's tombstone: every publication of an output goes through it, and
/// a deleted video's outputs (and source) are removed instead of published.
#[derive(Debug, Clone)]
pub struct Deletion {
    tombstones: Tombstones,
    media: SharedMediaStore,
    tenant: String,
    video: String,
}

impl Deletion {
    pub fn new(tombstones: Tombstones, media: SharedMediaStore, tenant: &str, video: &str) -> Self {
        Deletion { tombstones, media, tenant: tenant.to_owned(), video: video.to_owned() }
    }

    /// Whether the video is deleted (authoritative: a KV read unless already known).
    pub async fn is_deleted(&self) -> Result<bool, JobError> {
        self.tombstones.is_buried(&self.tenant, &self.video).await.map_err(|e| JobError::Io {
            context: "checking the video's tombstone".into(),
            source: std::io::Error::other(e),
        })
    }

    /// `Err(JobError::Deleted)` if the video is deleted.
    pub async fn check(&self) -> Result<(), JobError> {
        if self.is_deleted().await? { Err(JobError::Deleted) } else { Ok(()) }
    }

    /// Publishes `src` under `prefix` unless the video is deleted; a delete that lands while
    /// it writes (after the check) is seen by the second check, and the outputs are removed.
    pub async fn put_dir(&self, prefix: &str, src: &Path) -> Result<(), JobError> {
        self.check().await?;
        self.media.put_dir(prefix, src).await?;
        if self.is_deleted().await? {
            self.clean().await?;
            return Err(JobError::Deleted);
        }
        Ok(())
    }

    /// Cancels `job` (stopping its ffmpeg) as soon as the video is deleted; returns then, or
    /// when the tombstone cannot be watched (the job's own checks still apply).
    pub async fn cancel_on_delete(&self, job: &CancellationToken) {
        match self.tombstones.wait_buried(&self.tenant, &self.video).await {
            Ok(()) => {
                tracing::info!("video deleted during its transcode: stopping the job");
                job.cancel();
            }
            Err(e) => tracing::warn!(error = %e, "not watching the video's tombstone"),
        }
    }

    /// Removes everything the job or the upload stored for the video: its HLS prefix and its
    /// source (whose removal by the delete may have raced with this job's copy of it).
    #[instrument(skip_all, fields(tenant = %self.tenant, video = %self.video), err)]
    pub async fn clean(&self) -> Result<(), JobError> {
        self.media.delete_prefix(&hls_prefix(&self.tenant, &self.video)).await?;
        let source = source_key(&self.tenant, &self.video);
        let dir = source.rsplit_once('/').map_or(source.as_str(), |(dir, _)| dir);
        self.media.delete_prefix(dir).await?;
        Ok(())
    }
}
