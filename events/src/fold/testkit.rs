//! Event builders for the fold tests.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::data::*;
use crate::envelope::{Event, EventData};
use crate::id::{AggregateId, TenantId};

pub fn at(s: &str) -> OffsetDateTime {
    OffsetDateTime::parse(s, &Rfc3339).expect("an RFC 3339 time")
}

pub fn t0() -> OffsetDateTime {
    at("2026-11-23T10:00:00Z")
}

/// An event of tenant `acme` about `aggregate`, with a fresh id.
pub fn ev(aggregate: &str, time: OffsetDateTime, data: impl Into<EventData>) -> Event {
    Event::new(
        Uuid::now_v7(),
        time,
        "framelog/test",
        TenantId::new("acme").unwrap(),
        AggregateId::new(aggregate).unwrap(),
        data,
    )
}

/// `n` seconds after [`t0`].
pub fn secs(n: i64) -> OffsetDateTime {
    t0() + time::Duration::seconds(n)
}

pub fn probe() -> Probe {
    Probe {
        duration_secs: 12.5,
        width: 1920,
        height: 1080,
        rotation: 0,
        fps: 30.0,
        video_codec: "h264".into(),
        audio_codec: Some("aac".into()),
        format: "mov,mp4,m4a,3gp,3g2,mj2".into(),
        bit_rate: Some(4_000_000),
    }
}

pub fn initiated() -> UploadData {
    UploadData::Initiated {
        upload_id: "up1".into(),
        filename: "cat.mp4".into(),
        size: 1000,
        content_type: Some("video/mp4".into()),
        protocol: UploadProtocol::Rest,
        title: None,
        external_id: None,
        metadata: Default::default(),
    }
}

pub fn completed() -> UploadData {
    UploadData::Completed {
        upload_id: "up1".into(),
        source: SourceKind::Upload,
        filename: "cat.mp4".into(),
        size: 1000,
        sha256: "ab".repeat(32),
        source_key: "sources/acme/v1/source".into(),
        probe: probe(),
        stream_id: None,
    }
}

pub fn rejected() -> UploadData {
    UploadData::Rejected {
        upload_id: "up1".into(),
        code: "not_video".into(),
        reason: "no video stream".into(),
    }
}

pub fn aborted() -> UploadData {
    UploadData::Aborted { upload_id: "up1".into() }
}

pub fn deleted() -> UploadData {
    UploadData::Deleted {}
}

pub fn requested() -> TranscodeData {
    TranscodeData::Requested { source_key: "sources/acme/v1/source".into(), probe: probe() }
}

pub fn started(attempt: u32) -> TranscodeData {
    TranscodeData::Started {
        worker: "w1".into(),
        encoder: "libx264".into(),
        attempt,
        profiles: vec!["360p".into(), "720p".into()],
    }
}

pub fn rendition(name: &str, height: u32, bytes: u64) -> Rendition {
    Rendition {
        name: name.into(),
        width: height * 16 / 9,
        height,
        fps: 30.0,
        bandwidth: 1_000_000,
        average_bandwidth: 900_000,
        codecs: "avc1.64001f,mp4a.40.2".into(),
        bytes,
    }
}

pub fn rendition_completed(name: &str, height: u32) -> TranscodeData {
    TranscodeData::RenditionCompleted { rendition: rendition(name, height, 100) }
}

pub fn playable() -> TranscodeData {
    TranscodeData::Playable { renditions: vec!["360p".into()] }
}

pub fn transcoded(cpu_seconds: f64) -> TranscodeData {
    TranscodeData::Completed {
        renditions: vec![rendition("360p", 360, 100), rendition("720p", 720, 400)],
        audio: Some(AudioRendition {
            codecs: "mp4a.40.2".into(),
            bandwidth: 130_000,
            average_bandwidth: 128_500,
            bytes: 30,
            name: None,
            language: None,
            channels: None,
        }),
        more_audio: vec![],
        cpu_seconds,
        wall_secs: 5.0,
        source_duration_secs: 12.5,
        encoder: "libx264".into(),
    }
}

pub fn failed(attempt: u32, permanent: bool) -> TranscodeData {
    TranscodeData::Failed { reason: format!("boom {attempt}"), permanent, attempt }
}

pub fn dead_lettered(attempts: u32) -> TranscodeData {
    TranscodeData::DeadLettered { reason: "gave up".into(), attempts }
}

pub fn published() -> ReadyData {
    ReadyData::Published {
        renditions: vec!["360p".into(), "720p".into()],
        duration_secs: 12.5,
        poster: "hls/acme/v1/poster.jpg".into(),
        storyboard: "hls/acme/v1/storyboard.vtt".into(),
        audio_only: false,
    }
}

pub fn view(viewer: &str) -> ViewData {
    ViewData::Counted { viewer: viewer.into(), window: 0, live: false }
}

/// A live viewer's `presence` in the window starting at `window`.
pub fn presence(viewer: &str, window: i64) -> ViewData {
    ViewData::Presence { viewer: viewer.into(), window, session_id: Some("sess1".into()) }
}

pub fn egress(period_start: OffsetDateTime, bytes: u64) -> ViewData {
    ViewData::EgressMetered { period_start, period_secs: 60, bytes, requests: 3 }
}

pub fn stream_created(name: &str) -> LiveData {
    LiveData::StreamCreated { name: name.into(), record: true, public: false }
}

pub fn live_started(session: &str) -> LiveData {
    LiveData::Started {
        session_id: session.into(),
        server: MediaServer::Mediamtx,
        connection_id: "c1".into(),
        protocol: "rtmp".into(),
        remote_addr: None,
    }
}

pub fn live_ended(session: &str, duration_secs: f64) -> LiveData {
    LiveData::Ended { session_id: session.into(), duration_secs, reason: "publisher left".into() }
}

pub fn recording_ready(session: &str, video: &str) -> LiveData {
    LiveData::RecordingReady {
        session_id: session.into(),
        video_id: AggregateId::new(video).unwrap(),
        source_key: format!("sources/acme/{video}/source"),
    }
}
