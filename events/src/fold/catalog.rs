//! The catalog fold: one [`VideoEntry`] per (tenant, video id), from `VID_UPLOAD`,
//! `VID_TRANSCODE` and `VID_READY` events.
//!
//! Statuses move forward by a fixed table ([`Status::accepts`]), never by arrival luck:
//! `uploading → processing → playable → ready`, with `failed` reachable from every non-ready
//! status and left only by success evidence (`published`) or a retry with a higher attempt
//! number. `deleted` and `abandoned` (an upload aborted or expired before it completed) are
//! terminal tombstones: the entry is hidden from every query (404) but kept, so a late or
//! repeated event can never resurrect it.
//!
//! Every transition is idempotent: applying an event a second time, at any later point, changes
//! nothing (metadata is set, not added; attempts only grow; times use min/max). Views are not
//! counted here: they arrive on their own stream and live in the [`super::views`] fold.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::data::{Probe, ReadyData, Rendition, SourceKind, TranscodeData, UploadData};
use crate::envelope::{Event, EventData};
use crate::id::{AggregateId, TenantId};

/// Where a video is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// An upload session is open.
    Uploading,
    /// The source is complete; transcoding is pending or running.
    Processing,
    /// The lowest rendition is servable; the rest are still encoding.
    Playable,
    /// Every rendition, the poster and the storyboard are published.
    Ready,
    /// The upload was rejected or transcoding failed for good.
    Failed,
    /// The owner deleted the video (tombstone, hidden).
    Deleted,
    /// The upload was aborted or expired before it completed (tombstone, hidden).
    Abandoned,
}

impl Status {
    /// Statuses a client can see and filter on.
    pub const VISIBLE: [Status; 5] =
        [Status::Uploading, Status::Processing, Status::Playable, Status::Ready, Status::Failed];

    /// The lower-case token (`ready`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Uploading => "uploading",
            Status::Processing => "processing",
            Status::Playable => "playable",
            Status::Ready => "ready",
            Status::Failed => "failed",
            Status::Deleted => "deleted",
            Status::Abandoned => "abandoned",
        }
    }

    /// Whether queries show an entry with this status (tombstones answer 404).
    pub fn is_visible(self) -> bool {
        !matches!(self, Status::Deleted | Status::Abandoned)
    }

    /// Whether `self` may move to `to`. The one table that makes statuses deterministic.
    /// (`failed → processing` on a retry is decided by attempt numbers in [`apply`].)
    pub fn accepts(self, to: Status) -> bool {
        use Status::*;
        match (self, to) {
            (Deleted, _) => false,
            (Abandoned, Deleted) => true,
            (Abandoned, _) => false,
            (_, Deleted) => true,
            (Uploading, Abandoned) => true,
            (_, Abandoned) => false,
            (Uploading, Processing) => true,
            (Uploading | Processing, Playable) => true,
            (Uploading | Processing | Playable | Failed, Ready) => true,
            (Uploading | Processing | Playable, Failed) => true,
            _ => false,
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rendition as the catalog knows it: the name at least, details once the transcoder
/// reported them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenditionEntry {
    pub name: String,
    /// Size, rates, codecs and bytes, from `rendition_completed` or `completed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Rendition>,
}

/// The catalog's view of one video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoEntry {
    pub tenant: TenantId,
    pub id: AggregateId,
    pub status: Status,
    pub filename: Option<String>,
    /// Source size in bytes.
    pub size: Option<u64>,
    /// Hex sha256 of the source.
    pub sha256: Option<String>,
    pub source: Option<SourceKind>,
    /// Media-store key of the source file.
    pub source_key: Option<String>,
    /// The live stream a recording came from.
    pub stream_id: Option<AggregateId>,
    /// What ffprobe found: duration, size, rotation, fps, codecs.
    pub probe: Option<Probe>,
    /// By profile name.
    pub renditions: BTreeMap<String, RenditionEntry>,
    /// Published duration (from `VID_READY`), seconds.
    pub duration_secs: Option<f64>,
    /// Media-store key of the poster image.
    pub poster_key: Option<String>,
    /// Media-store key of the storyboard WebVTT.
    pub storyboard_key: Option<String>,
    /// Published as an audio-only asset (the source has no video; `VID_READY` says so).
    #[serde(default)]
    pub audio_only: bool,
    /// The latest failure reason (kept after a successful retry, for the record).
    pub error: Option<String>,
    /// The highest transcode attempt seen (0 before the first).
    pub attempt: u32,
    /// Title, the tenant's own id and metadata given when the upload was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// Static MP4 renditions, once one was asked for or made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mp4: Option<super::catalog_mp4::Mp4Entry>,
    /// Time of the earliest event seen for this video.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Time of the latest event seen for this video.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl VideoEntry {
    /// An empty entry for a video first seen in `event`.
    fn new(event: &Event, status: Status) -> VideoEntry {
        VideoEntry {
            tenant: event.tenant.clone(),
            id: event.subject.clone(),
            status,
            filename: None,
            size: None,
            sha256: None,
            source: None,
            source_key: None,
            stream_id: None,
            probe: None,
            renditions: BTreeMap::new(),
            duration_secs: None,
            poster_key: None,
            storyboard_key: None,
            audio_only: false,
            error: None,
            attempt: 0,
            title: None,
            external_id: None,
            metadata: BTreeMap::new(),
            mp4: None,
            created_at: event.time,
            updated_at: event.time,
        }
    }

    fn advance(&mut self, to: Status) {
        if self.status.accepts(to) {
            self.status = to;
        }
    }

    /// Adds a rendition by name. `final_details` (from `completed`, the transcoder's summary)
    /// always win; details from `rendition_completed` only fill a gap, so a late repeat of the
    /// latter never overwrites the summary.
    fn add_rendition(&mut self, name: &str, details: Option<&Rendition>, final_details: bool) {
        let entry = self
            .renditions
            .entry(name.to_owned())
            .or_insert_with(|| RenditionEntry { name: name.to_owned(), details: None });
        if let Some(d) = details
            && (final_details || entry.details.is_none())
        {
            entry.details = Some(d.clone());
        }
    }

    /// Records a failure of `attempt` unless a later attempt is already known.
    fn record_failure(&mut self, attempt: u32, reason: &str, terminal: bool) {
        if attempt < self.attempt {
            return;
        }
        self.attempt = attempt;
        self.error = Some(reason.to_owned());
        if terminal {
            self.advance(Status::Failed);
        }
    }
}

/// Whether an event is about a video (and so belongs to this fold).
pub fn concerns(event: &Event) -> bool {
    // A phase this build does not know (a newer writer's) changes nothing; month totals are
    // not about a video.
    !event.is_unknown()
        && matches!(
            event.data,
            EventData::Upload(_) | EventData::Transcode(_) | EventData::Ready(_)
        )
        && !matches!(event.data, EventData::Ready(ReadyData::MonthClosed(_)))
}

/// Folds one event into the entry of its video (`event.subject`). Events of other kinds, and
/// events that do not fit the state, leave it unchanged; nothing here panics.
pub fn apply(entry: Option<VideoEntry>, event: &Event) -> Option<VideoEntry> {
    if !concerns(event) {
        return entry;
    }
    let existed = entry.is_some();
    let mut e = match entry {
        Some(e) => e,
        None => {
            let first = match &event.data {
                // A tombstone for something never seen is still a tombstone: a late event must
                // not resurrect the video.
                EventData::Upload(UploadData::Aborted { .. } | UploadData::Expired { .. }) => {
                    Status::Abandoned
                }
                EventData::Upload(UploadData::Deleted {}) => Status::Deleted,
                _ => Status::Uploading,
            };
            VideoEntry::new(event, first)
        }
    };
    e.created_at = e.created_at.min(event.time);
    e.updated_at = e.updated_at.max(event.time);
    if existed || e.status.is_visible() {
        apply_data(&mut e, event);
    }
    Some(e)
}

fn apply_data(e: &mut VideoEntry, event: &Event) {
    match &event.data {
        EventData::Upload(u) => apply_upload(e, u),
        EventData::Transcode(t) => apply_transcode(e, t),
        EventData::Ready(ReadyData::Published {
            renditions,
            duration_secs,
            poster,
            storyboard,
            audio_only,
        }) => {
            if !e.status.is_visible() {
                return;
            }
            for r in renditions {
                e.add_rendition(r, None, false);
            }
            e.duration_secs = Some(*duration_secs);
            e.poster_key = Some(poster.clone());
            e.storyboard_key = Some(storyboard.clone());
            e.audio_only = *audio_only;
            e.advance(Status::Ready);
        }
        EventData::Ready(ReadyData::Unknown | ReadyData::MonthClosed(_))
        | EventData::Live(_)
        | EventData::View(_) => {}
    }
}

fn apply_upload(e: &mut VideoEntry, u: &UploadData) {
    match u {
        UploadData::Initiated { filename, size, title, external_id, metadata, .. } => {
            e.filename.get_or_insert_with(|| filename.clone());
            e.size.get_or_insert(*size);
            if e.title.is_none() {
                e.title = title.clone();
            }
            if e.external_id.is_none() {
                e.external_id = external_id.clone();
            }
            if e.metadata.is_empty() {
                e.metadata = metadata.clone();
            }
        }
        UploadData::Completed {
            source,
            filename,
            size,
            sha256,
            source_key,
            probe,
            stream_id,
            ..
        } => {
            if !e.status.is_visible() {
                return;
            }
            e.filename = Some(filename.clone());
            e.size = Some(*size);
            e.sha256 = Some(sha256.clone());
            e.source = Some(*source);
            e.source_key = Some(source_key.clone());
            e.probe = Some(probe.clone());
            e.stream_id = stream_id.clone();
            e.advance(Status::Processing);
        }
        UploadData::Rejected { code, reason, .. } => {
            if e.status == Status::Uploading {
                e.error = Some(format!("{code}: {reason}"));
                e.advance(Status::Failed);
            }
        }
        UploadData::Aborted { .. } | UploadData::Expired { .. } => e.advance(Status::Abandoned),
        UploadData::Deleted {} => e.advance(Status::Deleted),
        UploadData::Unknown => {}
    }
}

fn apply_transcode(e: &mut VideoEntry, t: &TranscodeData) {
    if !e.status.is_visible() {
        return;
    }
    match t {
        TranscodeData::Requested { source_key, probe } => {
            e.source_key.get_or_insert_with(|| source_key.clone());
            e.probe.get_or_insert_with(|| probe.clone());
            e.advance(Status::Processing);
        }
        TranscodeData::Started { attempt, .. } => {
            if e.status == Status::Failed && *attempt > e.attempt {
                // A retry after a failure: the video is being worked on again.
                e.status = Status::Processing;
            }
            e.attempt = e.attempt.max(*attempt);
            e.advance(Status::Processing);
        }
        TranscodeData::RenditionCompleted { rendition } => {
            e.add_rendition(&rendition.name, Some(rendition), false);
            e.advance(Status::Processing);
        }
        TranscodeData::Playable { renditions } => {
            for r in renditions {
                e.add_rendition(r, None, false);
            }
            e.advance(Status::Playable);
        }
        TranscodeData::Completed { renditions, .. } => {
            for r in renditions {
                e.add_rendition(&r.name, Some(r), true);
            }
            e.advance(Status::Processing);
        }
        TranscodeData::Failed { reason, permanent, attempt } => {
            e.record_failure(*attempt, reason, *permanent)
        }
        TranscodeData::DeadLettered { reason, attempts } => {
            e.record_failure(*attempts, reason, true)
        }
        TranscodeData::Mp4Requested { .. } | TranscodeData::Mp4Ready { .. } => {
            e.mp4 = super::catalog_mp4::apply(e.mp4.take(), t);
        }
        TranscodeData::Unknown => {}
    }
}

#[cfg(test)]
#[path = "catalog_tests.rs"]
mod tests;
