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
//! - `live_minutes`: `ended.duration_secs / 60`, once per (stream, session), split at UTC month
//!   boundaries ([`split_by_month`]) from the session's start (`started`'s time; without it,
//!   the `ended` time minus the duration). A session that has not ended bills nothing yet.
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

    /// The month after this one.
    pub fn next(self) -> Month {
        if self.month >= 12 {
            Month { year: self.year + 1, month: 1 }
        } else {
            Month { year: self.year, month: self.month + 1 }
        }
    }

    /// Midnight UTC of its first day.
    pub fn start(self) -> OffsetDateTime {
        let m = time::Month::try_from(self.month).unwrap_or(time::Month::January);
        time::Date::from_calendar_date(self.year, m, 1)
            .map(|d| d.midnight().assume_utc())
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
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
    /// When static MP4 files were first stored (`mp4_ready`); absent in older records.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub mp4_at: Option<OffsetDateTime>,
    /// Bytes of the static MP4 files the latest `mp4_ready` names (0 after `none`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub mp4_bytes: u64,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub deleted_at: Option<OffsetDateTime>,
}

/// Usage of one live session: its start from `started`, its end and duration from the first
/// `ended` (either may come first; repeats change nothing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionUsage {
    /// The time of `started` (absent in records written before it was kept).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    /// The time of the first `ended`; `None` while the session is open.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
    #[serde(default)]
    pub duration_secs: f64,
}

impl SessionUsage {
    /// The billed interval: its start and its length in seconds (`None` until it ended).
    pub fn billed(&self) -> Option<(OffsetDateTime, f64)> {
        let ended = self.ended_at?;
        let secs = self.duration_secs;
        let start = self.started_at.unwrap_or_else(|| ended - time::Duration::seconds_f64(secs));
        Some((start, secs))
    }
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
        | (EventData::Upload(UploadData::Deleted {}), u)
        | (EventData::Transcode(TranscodeData::Mp4Ready { .. }), u) => u.unwrap_or_default(),
        (_, u) => return u,
    };
    match &event.data {
        EventData::Upload(UploadData::Completed { size, .. }) if u.uploaded_at.is_none() => {
            u.uploaded_at = Some(event.time);
            u.source_bytes = *size;
        }
        EventData::Transcode(TranscodeData::Completed {
            renditions,
            audio,
            more_audio,
            cpu_seconds,
            ..
        }) if u.transcoded_at.is_none() => {
            u.transcoded_at = Some(event.time);
            u.cpu_by_profile = apportion(*cpu_seconds, renditions);
            u.rendition_bytes = renditions.iter().map(|r| r.bytes).sum::<u64>()
                + audio.iter().chain(more_audio).map(|a| a.bytes).sum::<u64>();
        }
        EventData::Upload(UploadData::Deleted {}) if u.deleted_at.is_none() => {
            u.deleted_at = Some(event.time);
        }
        EventData::Transcode(TranscodeData::Mp4Ready { files, .. }) => {
            // The latest set of files is what is stored; counted from the first one's month.
            u.mp4_at = Some(u.mp4_at.map_or(event.time, |t| t.min(event.time)));
            u.mp4_bytes = files.iter().map(|f| f.bytes).sum();
        }
        _ => {}
    }
    Some(u)
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The session a `started` or `ended` event is about (`None` for other events).
pub fn session_of(event: &Event) -> Option<&str> {
    match &event.data {
        EventData::Live(LiveData::Started { session_id, .. })
        | EventData::Live(LiveData::Ended { session_id, .. }) => Some(session_id),
        _ => None,
    }
}

/// Folds a `started` or `ended` event into its session's usage record; other events leave it
/// unchanged. Idempotent and order-tolerant: the earliest `started` and the first `ended` win.
pub fn apply_session(usage: Option<SessionUsage>, event: &Event) -> Option<SessionUsage> {
    let blank = || SessionUsage { started_at: None, ended_at: None, duration_secs: 0.0 };
    match &event.data {
        EventData::Live(LiveData::Started { .. }) => {
            let mut u = usage.unwrap_or_else(blank);
            u.started_at = Some(u.started_at.map_or(event.time, |t| t.min(event.time)));
            Some(u)
        }
        EventData::Live(LiveData::Ended { duration_secs, .. }) => {
            let mut u = usage.unwrap_or_else(blank);
            if u.ended_at.is_none() {
                u.ended_at = Some(event.time);
                u.duration_secs =
                    if duration_secs.is_finite() { duration_secs.max(0.0) } else { 0.0 };
            }
            Some(u)
        }
        _ => usage,
    }
}

/// Splits `secs` seconds from `start` at UTC month boundaries: the seconds that fall in each
/// month, in order (months with none are left out). Pure; leap years come from the calendar.
pub fn split_by_month(start: OffsetDateTime, secs: f64) -> Vec<(Month, f64)> {
    let mut out = Vec::new();
    if !(secs.is_finite() && secs > 0.0) {
        return out;
    }
    let mut from = start.to_offset(time::UtcOffset::UTC);
    let mut left = secs;
    while left > 0.0 {
        let month = Month::of(from);
        let in_month = (month.next().start() - from).as_seconds_f64().min(left);
        if in_month > 0.0 {
            out.push((month, in_month));
        }
        left -= in_month;
        from = month.next().start();
    }
    out
}

/// A session's billed time per UTC month, in whole milliseconds (what the monthly live meter
/// adds up; integers, so adding and taking back a session's share never drifts). Nothing
/// until the session ended.
pub fn session_millis(u: &SessionUsage) -> Vec<(Month, i64)> {
    let Some((start, secs)) = u.billed() else { return Vec::new() };
    split_by_month(start, secs)
        .into_iter()
        .map(|(m, part)| (m, (part * 1000.0).round() as i64))
        .filter(|(_, ms)| *ms > 0)
        .collect()
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
            if v.mp4_at.is_some_and(|t| month.ended_by(t)) {
                m.storage_bytes += v.mp4_bytes;
            }
        }
    }
    for s in sessions {
        let Some((start, secs)) = s.billed() else { continue };
        for (in_month, part) in split_by_month(start, secs) {
            if in_month == month {
                m.live_minutes += part / 60.0;
            }
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
        if let Some(session) = session_of(event) {
            let key = (event.subject.clone(), session.to_owned());
            let old = self.sessions.remove(&key);
            if let Some(u) = apply_session(old, event) {
                self.sessions.insert(key, u);
            }
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
