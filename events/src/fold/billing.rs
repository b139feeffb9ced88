//! The billing ledger. Usage is folded into small per-source records that are *set*, never
//! added to, so a usage event repeated for the same video, session or metering period counts
//! once; a month's [`MonthUsage`] is then computed from the records of one tenant
//! ([`Ledger::month`], or [`month_usage`] over records kept elsewhere).
//!
//! Meters and rules:
//! - `transcode_cpu_seconds` by profile: the first `transcode.completed` of a video, in the month
//!   of its time. Its `cpu_seconds` are apportioned over its renditions by pixel rate
//!   (width × height × fps); with no usable renditions they go to profile `other`.
//! - `storage_bytes`: closing balance at the end of the month: source size (first
//!   `upload.completed`) plus rendition bytes (first `transcode.completed`) of every video
//!   uploaded by then and not deleted by then. Deleted videos stop counting.
//! - `egress_bytes`: `egress_metered` bytes whose period starts in the month, one value per
//!   (reporting instance, period start).
//! - `live_minutes`: `ended.duration_secs / 60` of sessions that ended in the month, once per
//!   (stream, session).
//! - `uploads`: videos whose first `upload.completed` is in the month.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::data::{LiveData, Rendition, TranscodeData, UploadData, ViewData};
use crate::envelope::{Event, EventData};
use crate::id::AggregateId;

/// Profile that takes CPU seconds that cannot be apportioned.
pub const OTHER_PROFILE: &str = "other";

/// A calendar month, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Month {
    pub year: i32,
    /// 1..=12
    pub month: u8,
}

/// Not `YYYY-MM`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a month is written YYYY-MM (e.g. 2026-11), found {0:?}")]
pub struct MonthError(pub String);

impl Month {
    /// The UTC month of `t`.
    pub fn of(t: OffsetDateTime) -> Month {
        let t = t.to_offset(time::UtcOffset::UTC);
        Month { year: t.year(), month: t.month() as u8 }
    }

    /// Whether `t` falls in this month (UTC).
    pub fn contains(self, t: OffsetDateTime) -> bool {
        Month::of(t) == self
    }

    /// Whether `t` is at or before the end of this month (UTC).
    pub fn ended_by(self, t: OffsetDateTime) -> bool {
        Month::of(t) <= self
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl FromStr for Month {
    type Err = MonthError;
    fn from_str(s: &str) -> Result<Month, MonthError> {
        let err = || MonthError(s.to_owned());
        let (y, m) = s.split_once('-').ok_or_else(err)?;
        if y.len() != 4 || m.len() != 2 || !(y.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()))
        {
            return Err(err());
        }
        let year: i32 = y.parse().map_err(|_| err())?;
        let month: u8 = m.parse().map_err(|_| err())?;
        if !(1..=12).contains(&month) {
            return Err(err());
        }
        Ok(Month { year, month })
    }
}

/// Usage of one video: set by its first qualifying events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VideoUsage {
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub uploaded_at: Option<OffsetDateTime>,
    pub source_bytes: u64,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub transcoded_at: Option<OffsetDateTime>,
    /// CPU seconds by profile.
    pub cpu_by_profile: BTreeMap<String, f64>,
    /// Bytes of every rendition, the shared audio included.
    pub rendition_bytes: u64,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub deleted_at: Option<OffsetDateTime>,
}

/// Usage of one live session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionUsage {
    #[serde(with = "time::serde::rfc3339")]
    pub ended_at: OffsetDateTime,
    pub duration_secs: f64,
}

/// One egress metering period of one reporting instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EgressUsage {
    #[serde(with = "time::serde::rfc3339")]
    pub period_start: OffsetDateTime,
    pub bytes: u64,
    pub requests: u64,
}

/// Splits `cpu_seconds` over `renditions` by pixel rate.
pub fn apportion(cpu_seconds: f64, renditions: &[Rendition]) -> BTreeMap<String, f64> {
    let weight = |r: &Rendition| {
        let fps = if r.fps.is_finite() && r.fps > 0.0 { r.fps } else { 0.0 };
        f64::from(r.width) * f64::from(r.height) * fps
    };
    let total: f64 = renditions.iter().map(weight).sum();
    let mut out = BTreeMap::new();
    if total.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) || !cpu_seconds.is_finite() {
        out.insert(
            OTHER_PROFILE.to_owned(),
            if cpu_seconds.is_finite() { cpu_seconds } else { 0.0 },
        );
        return out;
    }
    for r in renditions {
        *out.entry(r.name.clone()).or_insert(0.0) += cpu_seconds * weight(r) / total;
    }
    out
}

/// Folds a video event into its usage record (`event.subject` is the video).
pub fn apply_video(usage: Option<VideoUsage>, event: &Event) -> Option<VideoUsage> {
    let mut u = match (&event.data, usage) {
        (EventData::Upload(UploadData::Completed { .. }), u)
        | (EventData::Transcode(TranscodeData::Completed { .. }), u)
        | (EventData::Upload(UploadData::Deleted {}), u) => u.unwrap_or_default(),
        (_, u) => return u,
    };
    match &event.data {
        EventData::Upload(UploadData::Completed { size, .. }) if u.uploaded_at.is_none() => {
            u.uploaded_at = Some(event.time);
            u.source_bytes = *size;
        }
        EventData::Transcode(TranscodeData::Completed {
            renditions, audio, cpu_seconds, ..
        }) if u.transcoded_at.is_none() => {
            u.transcoded_at = Some(event.time);
            u.cpu_by_profile = apportion(*cpu_seconds, renditions);
            u.rendition_bytes = renditions.iter().map(|r| r.bytes).sum::<u64>()
                + audio.as_ref().map_or(0, |a| a.bytes);
        }
        EventData::Upload(UploadData::Deleted {}) if u.deleted_at.is_none() => {
            u.deleted_at = Some(event.time);
        }
        _ => {}
    }
    Some(u)
}

/// The session an `ended` event closes, and its usage (`None` for other events).
pub fn session_usage(event: &Event) -> Option<(&str, SessionUsage)> {
    match &event.data {
        EventData::Live(LiveData::Ended { session_id, duration_secs, .. }) => Some((
            session_id,
            SessionUsage {
                ended_at: event.time,
                duration_secs: if duration_secs.is_finite() { duration_secs.max(0.0) } else { 0.0 },
            },
        )),
        _ => None,
    }
}

/// The egress record of an `egress_metered` event (`None` for other events).
pub fn egress_usage(event: &Event) -> Option<EgressUsage> {
    match &event.data {
        EventData::View(ViewData::EgressMetered { period_start, bytes, requests, .. }) => {
            Some(EgressUsage { period_start: *period_start, bytes: *bytes, requests: *requests })
        }
        _ => None,
    }
}

/// The meters of one tenant for one month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonthUsage {
    pub month: String,
    pub transcode_cpu_seconds: BTreeMap<String, f64>,
    pub storage_bytes: u64,
    pub egress_bytes: u64,
    pub live_minutes: f64,
    pub uploads: u64,
}

/// A month's meters from a tenant's usage records.
pub fn month_usage<'a>(
    month: Month,
    videos: impl IntoIterator<Item = &'a VideoUsage>,
    sessions: impl IntoIterator<Item = &'a SessionUsage>,
    egress: impl IntoIterator<Item = &'a EgressUsage>,
) -> MonthUsage {
    let mut m = MonthUsage {
        month: month.to_string(),
        transcode_cpu_seconds: BTreeMap::new(),
        storage_bytes: 0,
        egress_bytes: 0,
        live_minutes: 0.0,
        uploads: 0,
    };
    for v in videos {
        if v.uploaded_at.is_some_and(|t| month.contains(t)) {
            m.uploads += 1;
        }
        if v.transcoded_at.is_some_and(|t| month.contains(t)) {
            for (p, s) in &v.cpu_by_profile {
                *m.transcode_cpu_seconds.entry(p.clone()).or_insert(0.0) += s;
            }
        }
        let deleted = v.deleted_at.is_some_and(|t| month.ended_by(t));
        if !deleted && v.uploaded_at.is_some_and(|t| month.ended_by(t)) {
            m.storage_bytes += v.source_bytes;
            if v.transcoded_at.is_some_and(|t| month.ended_by(t)) {
                m.storage_bytes += v.rendition_bytes;
            }
        }
    }
    for s in sessions {
        if month.contains(s.ended_at) {
            m.live_minutes += s.duration_secs / 60.0;
        }
    }
    for e in egress {
        if month.contains(e.period_start) {
            m.egress_bytes += e.bytes;
        }
    }
    m
}

/// One tenant's usage records in memory: the whole ledger as a value (the projection keeps the
/// same records as separate keys).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ledger {
    pub videos: BTreeMap<AggregateId, VideoUsage>,
    /// By (stream, session id).
    pub sessions: BTreeMap<(AggregateId, String), SessionUsage>,
    /// By (reporting instance, period start, unix seconds).
    pub egress: BTreeMap<(AggregateId, i64), EgressUsage>,
}

impl Ledger {
    /// Folds one event of this tenant.
    pub fn apply(mut self, event: &Event) -> Ledger {
        let v = self.videos.remove(&event.subject);
        if let Some(u) = apply_video(v, event) {
            self.videos.insert(event.subject.clone(), u);
        }
        if let Some((session, usage)) = session_usage(event) {
            self.sessions.entry((event.subject.clone(), session.to_owned())).or_insert(usage);
        }
        if let Some(e) = egress_usage(event) {
            let key = (event.subject.clone(), e.period_start.unix_timestamp());
            self.egress.entry(key).or_insert(e);
        }
        self
    }

    /// The meters of `month`.
    pub fn month(&self, month: Month) -> MonthUsage {
        month_usage(month, self.videos.values(), self.sessions.values(), self.egress.values())
    }
}

#[cfg(test)]
#[path = "billing_tests.rs"]
mod tests;
