//! Which facts happen at most once per subject, forever.
//!
//! A subject is `vid.<tenant>.<kind>.<phase>.<aggregate id>`: for a fact that happens once per
//! aggregate, the subject itself names the fact, so the publisher asks JetStream to store it
//! only if the subject is still empty (expected last subject sequence 0). A repeat (a retried
//! request, an outbox entry re-sent after the duplicate window) is then refused with "wrong
//! last sequence", which the publisher reads as "already stored". Facts that legitimately
//! repeat per aggregate (one per attempt, rendition, session, key generation, window or
//! period) keep only the duplicate window's protection and must never be listed here, unless
//! their subject carries what tells them apart: a live stream's `started` and `ended` carry
//! their session, `recording_ready` its video, as a sixth subject token ([`occurrence`]), so
//! each is once per subject too.

use crate::data::{LiveData, ReadyData, TranscodeData, UploadData};
use crate::envelope::EventData;
use crate::id::AggregateId;

/// The occurrence a live fact's subject carries after its stream id: the session of `started`
/// and `ended`, the video of `recording_ready` (one per recording file: a long session has
/// several). `None` for every other fact, and for a session id that is not a valid subject
/// token (then the fact keeps the five-token subject and only the duplicate window).
pub fn occurrence(data: &EventData) -> Option<AggregateId> {
    let EventData::Live(d) = data else { return None };
    match d {
        LiveData::Started { session_id, .. } | LiveData::Ended { session_id, .. } => {
            AggregateId::new(session_id.as_str()).ok()
        }
        LiveData::RecordingReady { video_id, .. } => Some(video_id.clone()),
        _ => None,
    }
}

/// Whether `data` is a fact stored at most once per subject (its aggregate and phase).
pub fn once_per_subject(data: &EventData) -> bool {
    match data {
        // One upload per video id: every phase of its story happens at most once.
        EventData::Upload(d) => match d {
            UploadData::Initiated { .. }
            | UploadData::Completed { .. }
            | UploadData::Rejected { .. }
            | UploadData::Aborted { .. }
            | UploadData::Expired { .. }
            | UploadData::Deleted {} => true,
            // A phase from a newer build: no promise this build can keep.
            UploadData::Unknown => false,
        },
        EventData::Transcode(d) => match d {
            // One job per video; redeliveries and retries are attempts of that one request.
            TranscodeData::Requested { .. } | TranscodeData::Completed { .. } => true,
            // Per attempt, per rendition; `playable` may be said again by a retried attempt
            // and `dead_lettered` again after an operator re-drives a parked job.
            TranscodeData::Started { .. }
            | TranscodeData::RenditionCompleted { .. }
            | TranscodeData::Playable { .. }
            | TranscodeData::Failed { .. }
            | TranscodeData::DeadLettered { .. }
            | TranscodeData::Unknown => false,
            // A setting may change any number of times; each result is one per version and
            // setting, which the deterministic id (not the subject) tells apart.
            TranscodeData::Mp4Requested { .. } | TranscodeData::Mp4Ready { .. } => false,
        },
        EventData::Ready(ReadyData::Published { .. }) => true,
        // One month's totals per tenant (aggregate `usage-YYYY-MM`).
        EventData::Ready(ReadyData::MonthClosed(_)) => true,
        EventData::Ready(ReadyData::Unknown) => false,
        EventData::Live(d) => match d {
            LiveData::StreamCreated { .. } | LiveData::StreamDeleted {} => true,
            // Once per session (or recording): their subject carries it.
            LiveData::Started { .. } | LiveData::Ended { .. } | LiveData::RecordingReady { .. } => {
                occurrence(data).is_some()
            }
            // The subject carries the stream id only: a stream has many key generations and
            // denials.
            LiveData::KeyRotated { .. }
            | LiveData::PublishDenied { .. }
            | LiveData::RecordingRefused { .. }
            | LiveData::Unknown => false,
        },
        // Per viewer and window, per period: many per subject.
        EventData::View(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{MediaServer, Probe, ViewData};

    fn probe() -> Probe {
        Probe {
            duration_secs: 1.0,
            width: 2,
            height: 2,
            rotation: 0,
            fps: 1.0,
            video_codec: "h264".into(),
            audio_codec: None,
            format: "mp4".into(),
            bit_rate: None,
        }
    }

    #[test]
    fn the_facts_of_one_video_story_are_stored_once() {
        let once = [
            EventData::Upload(UploadData::Deleted {}),
            EventData::Upload(UploadData::Aborted { upload_id: "u".into() }),
            EventData::Transcode(TranscodeData::Requested {
                source_key: "k".into(),
                probe: probe(),
            }),
            EventData::Transcode(TranscodeData::Completed {
                renditions: vec![],
                audio: None,
                more_audio: vec![],
                cpu_seconds: 1.0,
                wall_secs: 1.0,
                source_duration_secs: 1.0,
                encoder: "libx264".into(),
            }),
            EventData::Ready(ReadyData::Published {
                renditions: vec![],
                duration_secs: 1.0,
                poster: "p".into(),
                storyboard: "s".into(),
                audio_only: false,
            }),
            EventData::Live(LiveData::StreamDeleted {}),
            EventData::Live(LiveData::Ended {
                session_id: "ses_1".into(),
                duration_secs: 1.0,
                reason: "r".into(),
            }),
            EventData::Live(LiveData::RecordingReady {
                session_id: String::new(),
                video_id: AggregateId::new("vid_1").unwrap(),
                source_key: "k".into(),
            }),
        ];
        for d in &once {
            assert!(once_per_subject(d), "{d:?}");
        }
    }

    #[test]
    fn facts_that_repeat_per_attempt_rendition_key_generation_or_window_are_not_once() {
        let many = [
            EventData::Transcode(TranscodeData::Started {
                worker: "w".into(),
                encoder: "e".into(),
                attempt: 2,
                profiles: vec![],
            }),
            EventData::Transcode(TranscodeData::Failed {
                reason: "r".into(),
                permanent: false,
                attempt: 1,
            }),
            EventData::Transcode(TranscodeData::Playable { renditions: vec![] }),
            EventData::Transcode(TranscodeData::DeadLettered { reason: "r".into(), attempts: 3 }),
            // A session id that cannot be a subject token: no occurrence, window only.
            EventData::Live(LiveData::Ended {
                session_id: "Ses 1".into(),
                duration_secs: 1.0,
                reason: "r".into(),
            }),
            EventData::Live(LiveData::RecordingRefused {
                reason: "r".into(),
                server: MediaServer::NginxRtmp,
            }),
            EventData::Live(LiveData::KeyRotated { generation: 2 }),
            EventData::View(ViewData::Counted { viewer: "v".into(), window: 1, live: false }),
        ];
        for d in &many {
            assert!(!once_per_subject(d), "{d:?}");
        }
    }

    #[test]
    fn live_facts_of_a_session_or_recording_name_it_as_their_occurrence() {
        let started = EventData::Live(LiveData::Started {
            session_id: "ses_2".into(),
            server: MediaServer::Mediamtx,
            connection_id: "c".into(),
            protocol: "rtmp".into(),
            remote_addr: None,
        });
        assert_eq!(occurrence(&started), Some(AggregateId::new("ses_2").unwrap()));
        let ready = EventData::Live(LiveData::RecordingReady {
            session_id: "ses_2".into(),
            video_id: AggregateId::new("vid_7").unwrap(),
            source_key: "k".into(),
        });
        assert_eq!(occurrence(&ready), Some(AggregateId::new("vid_7").unwrap()));
        assert_eq!(occurrence(&EventData::Live(LiveData::KeyRotated { generation: 1 })), None);
        assert_eq!(occurrence(&EventData::Upload(UploadData::Deleted {})), None);
    }
}
