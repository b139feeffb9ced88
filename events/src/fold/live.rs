//! The live directory fold: one [`StreamEntry`] per (tenant, stream id), from `VID_LIVE`
//! events. A tenant's directory is the set of its entries; "live now" are the entries with an
//! open session (a `started` without an `ended` for the same session).
//!
//! Idempotent and order-tolerant: sessions are keyed by session id, so an `ended` that arrives
//! before its `started` (or twice) lands on the same record; key generations only grow; a
//! deleted stream stays a (hidden) tombstone. Stream keys never appear here: the log only ever
//! carries the generation number.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::data::{LiveData, MediaServer};
use crate::envelope::{Event, EventData};
use crate::id::{AggregateId, TenantId};

/// Sessions kept per stream (the most recent by start time; older ones are dropped).
pub const MAX_SESSIONS: usize = 100;

/// One publish session of a stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub id: String,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
    /// Duration reported by `ended`, seconds.
    pub duration_secs: Option<f64>,
    /// `rtmp`, `srt`, `webrtc`...
    pub protocol: Option<String>,
    pub server: Option<MediaServer>,
    /// Why it ended.
    pub end_reason: Option<String>,
    /// The video made from its recording.
    pub recording_video_id: Option<AggregateId>,
}

impl Session {
    fn new(id: &str) -> Session {
        Session {
            id: id.to_owned(),
            started_at: None,
            ended_at: None,
            duration_secs: None,
            protocol: None,
            server: None,
            end_reason: None,
            recording_video_id: None,
        }
    }

    /// Live: started and not ended.
    pub fn is_live(&self) -> bool {
        self.started_at.is_some() && self.ended_at.is_none()
    }

    fn order_key(&self) -> (Option<OffsetDateTime>, &str) {
        (self.started_at.or(self.ended_at), &self.id)
    }
}

/// The live directory's view of one stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamEntry {
    pub tenant: TenantId,
    pub id: AggregateId,
    /// `None` until `stream_created` is seen.
    pub name: Option<String>,
    pub record: bool,
    pub public: bool,
    /// Current stream key generation (0 = the key issued at creation).
    pub key_generation: u32,
    /// Tombstone: hidden from queries, never resurrected.
    pub deleted: bool,
    /// By session id.
    pub sessions: BTreeMap<String, Session>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl StreamEntry {
    fn new(event: &Event) -> StreamEntry {
        StreamEntry {
            tenant: event.tenant.clone(),
            id: event.subject.clone(),
            name: None,
            record: false,
            public: false,
            key_generation: 0,
            deleted: false,
            sessions: BTreeMap::new(),
            created_at: event.time,
            updated_at: event.time,
        }
    }

    /// The open session, if the stream is live now (the most recently started one).
    pub fn live_session(&self) -> Option<&Session> {
        if self.deleted {
            return None;
        }
        self.sessions.values().filter(|s| s.is_live()).max_by_key(|s| s.order_key())
    }

    /// Whether queries show it.
    pub fn is_visible(&self) -> bool {
        !self.deleted
    }

    fn session(&mut self, id: &str) -> &mut Session {
        self.sessions.entry(id.to_owned()).or_insert_with(|| Session::new(id))
    }

    fn trim_sessions(&mut self) {
        while self.sessions.len() > MAX_SESSIONS {
            let oldest = self
                .sessions
                .values()
                .min_by_key(|s| s.order_key())
                .map(|s| s.id.clone())
                .unwrap_or_default();
            self.sessions.remove(&oldest);
        }
    }
}

/// Folds one `VID_LIVE` event into its stream's entry (`event.subject`); other kinds leave
/// the entry unchanged.
pub fn apply(entry: Option<StreamEntry>, event: &Event) -> Option<StreamEntry> {
    let EventData::Live(data) = &event.data else {
        return entry;
    };
    if event.is_unknown() {
        return entry; // a phase this build does not know (a newer writer's) changes nothing
    }
    let mut e = entry.unwrap_or_else(|| StreamEntry::new(event));
    e.created_at = e.created_at.min(event.time);
    e.updated_at = e.updated_at.max(event.time);
    match data {
        LiveData::StreamCreated { name, record, public } => {
            e.name = Some(name.clone());
            e.record = *record;
            e.public = *public;
        }
        LiveData::KeyRotated { generation } => e.key_generation = e.key_generation.max(*generation),
        LiveData::StreamDeleted {} => e.deleted = true,
        // An audit fact about a refused key: nothing in the directory changes.
        LiveData::PublishDenied { .. } => {}
        LiveData::RecordingRefused { .. } => {}
        LiveData::Started { session_id, server, protocol, .. } => {
            let s = e.session(session_id);
            s.started_at = Some(s.started_at.map_or(event.time, |t| t.min(event.time)));
            s.protocol = Some(protocol.clone());
            s.server = Some(*server);
        }
        LiveData::Ended { session_id, duration_secs, reason } => {
            let s = e.session(session_id);
            s.ended_at = Some(s.ended_at.map_or(event.time, |t| t.max(event.time)));
            s.duration_secs = Some(*duration_secs);
            s.end_reason = Some(reason.clone());
        }
        LiveData::RecordingReady { session_id, video_id, .. } => {
            e.session(session_id).recording_video_id = Some(video_id.clone());
        }
        LiveData::Unknown => {}
    }
    e.trim_sessions();
    Some(e)
}

#[cfg(test)]
#[path = "live_tests.rs"]
mod tests;
