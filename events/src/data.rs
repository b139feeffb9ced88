//! The `data` of each event type. Every enum is tagged by `phase` (a past-tense fact) and
//! serialises to the shape its JSON Schema in `schemas/` describes. Readers ignore unknown fields
//! (a newer writer may add optional ones); removing or retyping a field needs a new version.
//! Each enum has an `Unknown` variant that a phase this build does not know decodes to, so an
//! old reader meeting a newer writer's phase reads past it instead of failing (rolling upgrades).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::id::AggregateId;

/// What ffprobe found in a source file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    /// Container duration in seconds.
    pub duration_secs: f64,
    /// Coded width of the video stream, before rotation; 0 for an audio-only source.
    pub width: u32,
    /// Coded height of the video stream, before rotation; 0 for an audio-only source.
    pub height: u32,
    /// Display rotation in degrees (0, 90, 180, 270), from the display matrix.
    pub rotation: i32,
    /// Average frame rate; 0 for an audio-only source.
    pub fps: f64,
    /// Video codec name as ffprobe reports it (`h264`, `hevc`, `vp9`...); `none` for an
    /// audio-only source.
    pub video_codec: String,
    /// Audio codec, absent when the source has no audio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_codec: Option<String>,
    /// Container format name (`mov,mp4,m4a,3gp,3g2,mj2`, `matroska,webm`...).
    pub format: String,
    /// Overall bit rate in bits per second, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bit_rate: Option<u64>,
}

/// How an upload reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadProtocol {
    /// The REST chunked protocol (`/v1/videos/upload`).
    Rest,
    /// tus 1.0 (`/v1/tus/`).
    Tus,
    /// A live recording imported by the live service (no client upload).
    Recording,
    /// Pulled by ingest from a URL the tenant named (`POST /v1/videos {"input"}`).
    Url,
}

/// Where a source file came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// Uploaded by a client.
    Upload,
    /// The recording of a live session.
    LiveRecording,
}

/// `VID_UPLOAD`: upload sessions and source files. Aggregate: the video id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum UploadData {
    /// An upload session was opened.
    Initiated {
        upload_id: String,
        filename: String,
        size: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content_type: Option<String>,
        protocol: UploadProtocol,
        /// The video's title, when the upload was created with one (direct uploads).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        /// The tenant's own id for the video (direct uploads).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        external_id: Option<String>,
        /// The tenant's key/value metadata for the video (direct uploads).
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        metadata: BTreeMap<String, String>,
    },
    /// Every byte arrived, the file checks out and is a playable video.
    Completed {
        upload_id: String,
        source: SourceKind,
        filename: String,
        size: u64,
        /// Hex sha256 of the whole source file.
        sha256: String,
        /// Media-store key of the source file.
        source_key: String,
        probe: Probe,
        /// The live stream a recording came from.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stream_id: Option<AggregateId>,
    },
    /// The file arrived but is not a playable video (or its checksum is wrong).
    Rejected { upload_id: String, code: String, reason: String },
    /// The client aborted the upload.
    Aborted { upload_id: String },
    /// The upload was idle too long and its bytes were removed.
    Expired { upload_id: String, idle_secs: u64 },
    /// The owner deleted the video; its media are removed.
    Deleted {},
    /// A phase this build does not know (written by a newer version). Folds leave every
    /// state unchanged; it is read-only (serialising it writes `"phase":"unknown"`).
    #[serde(other)]
    Unknown,
}

/// One rendition of the ladder, as produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rendition {
    /// Profile name: `360p`, `480p`, `720p`, `1080p`, `2160p`.
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub fps: f64,
    /// Peak segment bit rate, bits per second (master `BANDWIDTH`: with the audio rendition,
    /// when there is one).
    pub bandwidth: u64,
    /// Mean bit rate, bits per second (master `AVERAGE-BANDWIDTH`, audio included).
    pub average_bandwidth: u64,
    /// RFC 6381 codecs string (master `CODECS`: video, then audio when there is audio).
    pub codecs: String,
    /// Bytes written for this rendition (segments and playlist; the shared audio is counted
    /// once, in [`AudioRendition::bytes`]).
    pub bytes: u64,
}

/// One audio rendition (an `EXT-X-MEDIA` entry that every video rendition plays with).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioRendition {
    /// RFC 6381 codecs string, e.g. `mp4a.40.2`.
    pub codecs: String,
    /// Peak segment bit rate, bits per second.
    pub bandwidth: u64,
    /// Mean bit rate, bits per second.
    pub average_bandwidth: u64,
    /// Bytes written (segments and playlist).
    pub bytes: u64,
    /// Its directory (`audio`, `audio_1`, `audio_mc`); absent in older events (`audio`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// BCP 47 language tag, when the source track has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Channels encoded (2, or 6 for 5.1); absent in older events (2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<u32>,
}

/// `VID_TRANSCODE`: transcode jobs. Aggregate: the video id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum TranscodeData {
    /// A job was asked for (the job queue is these events).
    Requested { source_key: String, probe: Probe },
    /// A worker took the job.
    Started { worker: String, encoder: String, attempt: u32, profiles: Vec<String> },
    /// One rendition is finished and durable.
    RenditionCompleted { rendition: Rendition },
    /// The lowest rendition and a master naming only finished renditions are servable.
    Playable { renditions: Vec<String> },
    /// Every output is durable. Usage figures feed billing.
    Completed {
        renditions: Vec<Rendition>,
        /// The shared audio rendition; absent for a source without audio (and in events
        /// written before audio was split out of the video renditions).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        audio: Option<AudioRendition>,
        /// Every other audio rendition (more languages, 5.1), in master order; absent when
        /// there is none and in older events.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        more_audio: Vec<AudioRendition>,
        /// CPU seconds (user + system) of the encoder processes.
        cpu_seconds: f64,
        wall_secs: f64,
        source_duration_secs: f64,
        encoder: String,
    },
    /// An attempt failed. `permanent` failures are not retried.
    Failed { reason: String, permanent: bool, attempt: u32 },
    /// The last attempt failed; the job is parked.
    DeadLettered { reason: String, attempts: u32 },
    /// The tenant set the video's static MP4 renditions (`PUT /v1/videos/{id}/mp4`); the
    /// transcoder makes them once the video is ready (at once if it already is).
    Mp4Requested { mp4: crate::mp4::Mp4Setting },
    /// The static MP4 files of `version` match `mp4`: `files` is the whole set stored (empty
    /// for `none`, whose files were removed), remuxed from the ladder without re-encoding.
    Mp4Ready {
        mp4: crate::mp4::Mp4Setting,
        /// The output version the files belong to (`hls/<t>/<v>/v/<version>/mp4/`).
        version: String,
        files: Vec<crate::mp4::Mp4Output>,
        /// CPU seconds (user + system) of the remuxing ffmpeg processes.
        cpu_seconds: f64,
    },
    /// A phase this build does not know (written by a newer version). Folds leave every
    /// state unchanged; it is read-only (serialising it writes `"phase":"unknown"`).
    #[serde(other)]
    Unknown,
}

/// `VID_READY`: a video is fully published (aggregate: the video id), or a tenant's month of
/// `VID_VIEW` usage is final (`month_closed`, aggregate `usage-YYYY-MM`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum ReadyData {
    /// Every rendition, the poster and the storyboard are in place.
    Published {
        renditions: Vec<String>,
        duration_secs: f64,
        poster: String,
        storyboard: String,
        /// The source has no video: an audio-only asset (`renditions` names its audio
        /// renditions, the poster is a waveform). Absent (false) for a video.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        audio_only: bool,
    },
    /// The totals of one tenant's month from `VID_VIEW` (which ages out), kept in the domain
    /// log so bills and view counts can be rebuilt after the views are gone. One-shot per
    /// (tenant, month): deterministic id, expected last subject sequence 0. Readers take a
    /// closed month from here and ignore that month's `VID_VIEW` events.
    MonthClosed(MonthTotals),
    /// A phase this build does not know (written by a newer version). Folds leave every
    /// state unchanged; it is read-only (serialising it writes `"phase":"unknown"`).
    #[serde(other)]
    Unknown,
}

/// A month's `VID_VIEW` totals of one tenant (`ReadyData::MonthClosed`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthTotals {
    /// `YYYY-MM`, UTC.
    pub month: String,
    /// Egress bytes of periods starting in the month.
    pub egress_bytes: u64,
    /// Requests of those periods.
    pub egress_requests: u64,
    /// Views counted in the month.
    pub views: u64,
    /// Views by video (or live stream) id.
    #[serde(default)]
    pub views_by_video: std::collections::BTreeMap<String, u64>,
}

/// Which media server reported a live fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaServer {
    Mediamtx,
    NginxRtmp,
}

/// `VID_LIVE`: live streams and sessions. Aggregate: the stream id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum LiveData {
    StreamCreated {
        name: String,
        record: bool,
        #[serde(default)]
        public: bool,
    },
    /// The stream key changed; every older key fails from now on.
    KeyRotated {
        generation: u32,
    },
    StreamDeleted {},
    /// A publish was refused (audit; never carries the key).
    PublishDenied {
        reason: String,
        server: MediaServer,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        protocol: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        remote_addr: Option<String>,
        /// Denials of the same (stream, address) since the previous event that wrote none
        /// (the audit is rate-limited); absent when none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        suppressed: Option<u64>,
    },
    /// A recording hook was refused (a file outside the recordings directory, not named for
    /// this stream, or no authorised session); the file was left untouched. Audit only.
    RecordingRefused {
        reason: String,
        server: MediaServer,
    },
    /// A publisher went live.
    Started {
        session_id: String,
        server: MediaServer,
        connection_id: String,
        protocol: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        remote_addr: Option<String>,
    },
    /// The publisher stopped (or was cut).
    Ended {
        session_id: String,
        duration_secs: f64,
        reason: String,
    },
    /// A recording file is closed and became the source of a video.
    RecordingReady {
        session_id: String,
        video_id: AggregateId,
        source_key: String,
    },
    /// A phase this build does not know (written by a newer version). Folds leave every
    /// state unchanged; it is read-only (serialising it writes `"phase":"unknown"`).
    #[serde(other)]
    Unknown,
}

/// `VID_VIEW`: views and egress usage. Aggregate: the video or stream id (views) or the
/// reporting playback instance (egress).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum ViewData {
    /// One view: a VOD viewer once per dedup window; a live viewer once per live session (its
    /// id is deterministic over (viewer, session); `window` is then the window it was first
    /// counted in).
    Counted {
        /// Hash of (IP, user/session): no raw address is stored.
        viewer: String,
        /// Start of the dedup window, unix seconds.
        window: i64,
        #[serde(default)]
        live: bool,
    },
    /// A live viewer is still watching in this window (the periodic beacon of a live player):
    /// the source of concurrent viewers, never a view. A live *view* is one `counted` per
    /// (viewer, live session).
    Presence {
        /// Hash of (IP, user/session), as in `counted`.
        viewer: String,
        /// Start of the window, unix seconds.
        window: i64,
        /// The live session being watched, when playback knew it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session_id: Option<String>,
    },
    /// Bytes served for a tenant during a period (billing meter).
    EgressMetered {
        #[serde(with = "time::serde::rfc3339")]
        period_start: OffsetDateTime,
        period_secs: u32,
        bytes: u64,
        requests: u64,
    },
    /// A viewer session's quality of experience over one window (startup, rebuffering,
    /// switches, errors, watch time, live latency), clamped by [`crate::qoe::QoeBounds`]; at
    /// most one per (viewer, window): its id is deterministic over both.
    Qoe(crate::qoe::QoeSample),
    /// A phase this build does not know (written by a newer version). Folds leave every
    /// state unchanged; it is read-only (serialising it writes `"phase":"unknown"`).
    #[serde(other)]
    Unknown,
}

/// A `data` enum: knows its phase token without serialising.
pub trait Phased {
    /// The `phase` tag, e.g. `completed`.
    fn phase(&self) -> &'static str;
}

impl Phased for UploadData {
    fn phase(&self) -> &'static str {
        match self {
            UploadData::Initiated { .. } => "initiated",
            UploadData::Completed { .. } => "completed",
            UploadData::Rejected { .. } => "rejected",
            UploadData::Aborted { .. } => "aborted",
            UploadData::Expired { .. } => "expired",
            UploadData::Deleted {} => "deleted",
            UploadData::Unknown => "unknown",
        }
    }
}

impl Phased for TranscodeData {
    fn phase(&self) -> &'static str {
        match self {
            TranscodeData::Requested { .. } => "requested",
            TranscodeData::Started { .. } => "started",
            TranscodeData::RenditionCompleted { .. } => "rendition_completed",
            TranscodeData::Playable { .. } => "playable",
            TranscodeData::Completed { .. } => "completed",
            TranscodeData::Failed { .. } => "failed",
            TranscodeData::DeadLettered { .. } => "dead_lettered",
            TranscodeData::Mp4Requested { .. } => "mp4_requested",
            TranscodeData::Mp4Ready { .. } => "mp4_ready",
            TranscodeData::Unknown => "unknown",
        }
    }
}

impl Phased for ReadyData {
    fn phase(&self) -> &'static str {
        match self {
            ReadyData::Published { .. } => "published",
            ReadyData::Unknown => "unknown",
            ReadyData::MonthClosed(_) => "month_closed",
        }
    }
}

impl Phased for LiveData {
    fn phase(&self) -> &'static str {
        match self {
            LiveData::StreamCreated { .. } => "stream_created",
            LiveData::KeyRotated { .. } => "key_rotated",
            LiveData::StreamDeleted {} => "stream_deleted",
            LiveData::PublishDenied { .. } => "publish_denied",
            LiveData::RecordingRefused { .. } => "recording_refused",
            LiveData::Started { .. } => "started",
            LiveData::Ended { .. } => "ended",
            LiveData::RecordingReady { .. } => "recording_ready",
            LiveData::Unknown => "unknown",
        }
    }
}

impl Phased for ViewData {
    fn phase(&self) -> &'static str {
        match self {
            ViewData::Counted { .. } => "counted",
            ViewData::Presence { .. } => "presence",
            ViewData::EgressMetered { .. } => "egress_metered",
            ViewData::Qoe(_) => "qoe",
            ViewData::Unknown => "unknown",
        }
    }
}
