//! Monthly meters kept as running deltas, so a month's bill is read without scanning a
//! tenant's videos: each video contributes [`MonthDelta`]s ([`video_deltas`]); a month's
//! storage is the sum of the storage deltas up to it, its uploads and CPU seconds are its own
//! delta. When a video's usage record changes, the projection subtracts the old record's deltas
//! and adds the new one's. Equal, by test, to [`super::billing::month_usage`] over the records.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::billing::{Month, VideoUsage};

/// What one month gains (or loses) in the meters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MonthDelta {
    /// Change of the closing storage balance from this month on.
    pub storage_bytes: i64,
    /// Uploads in this month.
    pub uploads: i64,
    /// CPU seconds by profile in this month.
    pub cpu_by_profile: BTreeMap<String, f64>,
}

impl MonthDelta {
    /// `self + sign * other` (sign is 1 or -1).
    pub fn add(&mut self, other: &MonthDelta, sign: i64) {
        self.storage_bytes += sign * other.storage_bytes;
        self.uploads += sign * other.uploads;
        for (p, s) in &other.cpu_by_profile {
            *self.cpu_by_profile.entry(p.clone()).or_insert(0.0) += sign as f64 * s;
        }
        self.cpu_by_profile.retain(|_, s| *s != 0.0);
    }

    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.storage_bytes == 0 && self.uploads == 0 && self.cpu_by_profile.is_empty()
    }
}

/// The deltas of one video's usage record, by month.
pub fn video_deltas(v: &VideoUsage) -> BTreeMap<Month, MonthDelta> {
    let mut out: BTreeMap<Month, MonthDelta> = BTreeMap::new();
    let up = v.uploaded_at.map(Month::of);
    let tr = v.transcoded_at.map(Month::of);
    let del = v.deleted_at.map(Month::of);
    if let Some(tr) = tr {
        out.entry(tr).or_default().cpu_by_profile = v.cpu_by_profile.clone();
    }
    if let Some(up) = up {
        out.entry(up).or_default().uploads += 1;
        // Counted in month M while entered <= M and not deleted by M.
        let mut stored = |enter: Month, bytes: u64| {
            let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
            if del.is_some_and(|d| d <= enter) || bytes == 0 {
                return;
            }
            out.entry(enter).or_default().storage_bytes += bytes;
            if let Some(d) = del {
                out.entry(d).or_default().storage_bytes -= bytes;
            }
        };
        stored(up, v.source_bytes);
        if let Some(tr) = tr {
            stored(up.max(tr), v.rendition_bytes);
        }
        if let Some(mp4) = v.mp4_at.map(Month::of) {
            stored(up.max(mp4), v.mp4_bytes);
        }
    }
    out.retain(|_, d| !d.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fold::billing::month_usage;
    use crate::fold::testkit::at;

    fn usage(up: Option<&str>, tr: Option<&str>, del: Option<&str>) -> VideoUsage {
        VideoUsage {
            uploaded_at: up.map(at),
            source_bytes: 1000,
            transcoded_at: tr.map(at),
            cpu_by_profile: [("720p".to_string(), 2.5)].into_iter().collect(),
            rendition_bytes: 300,
            mp4_at: None,
            mp4_bytes: 0,
            deleted_at: del.map(at),
        }
    }

    #[test]
    fn given_static_mp4_files_then_their_bytes_are_stored_from_their_month_until_the_deletion() {
        let (oct, nov, dec, jan) = (
            "2026-10-05T00:00:00Z",
            "2026-11-05T00:00:00Z",
            "2026-12-05T00:00:00Z",
            "2027-01-05T00:00:00Z",
        );
        let mut v = usage(Some(oct), Some(oct), Some(jan));
        v.mp4_at = Some(at(nov));
        v.mp4_bytes = 50;
        for (m, want) in [(oct, 1300), (nov, 1350), (dec, 1350), (jan, 0)] {
            let month = Month::of(at(m));
            let bill = month_usage(month, [&v], [], []);
            assert_eq!(bill.storage_bytes, want, "bill of {m}");
            let balance: i64 = video_deltas(&v).range(..=month).map(|(_, d)| d.storage_bytes).sum();
            assert_eq!(balance, want as i64, "meters of {m}");
        }
    }

    #[test]
    fn given_videos_in_every_order_of_events_then_the_deltas_give_the_bill_of_every_month() {
        let (oct, nov, dec) =
            ("2026-10-05T00:00:00Z", "2026-11-05T00:00:00Z", "2026-12-05T00:00:00Z");
        let videos = vec![
            usage(Some(oct), Some(oct), None),
            usage(Some(oct), Some(nov), Some(dec)),
            usage(Some(nov), Some(oct), None), // transcoded "before" its upload (clock skew)
            usage(Some(oct), None, Some(nov)),
            usage(Some(nov), Some(nov), Some(oct)), // deleted before it was uploaded
            usage(None, Some(dec), None),
            usage(Some(dec), Some(dec), Some(dec)),
        ];
        let mut sum: BTreeMap<Month, MonthDelta> = BTreeMap::new();
        for v in &videos {
            for (m, d) in video_deltas(v) {
                sum.entry(m).or_default().add(&d, 1);
            }
        }
        let mut balance = 0i64;
        for m in ["2026-09", "2026-10", "2026-11", "2026-12", "2027-01"] {
            let month: Month = m.parse().unwrap();
            let want = month_usage(month, &videos, [], []);
            let d = sum.get(&month).cloned().unwrap_or_default();
            balance += d.storage_bytes;
            assert_eq!(balance, want.storage_bytes as i64, "storage of {m}");
            assert_eq!(d.uploads, want.uploads as i64, "uploads of {m}");
            assert_eq!(d.cpu_by_profile, want.transcode_cpu_seconds, "cpu of {m}");
        }
    }

    #[test]
    fn given_a_record_that_changes_when_old_deltas_are_taken_back_then_only_the_new_remain() {
        let before = usage(Some("2026-10-05T00:00:00Z"), Some("2026-10-06T00:00:00Z"), None);
        let mut after = before.clone();
        after.deleted_at = Some(at("2026-11-01T00:00:00Z"));
        let mut sum = MonthDelta::default();
        for d in video_deltas(&before).values() {
            sum.add(d, 1);
        }
        for d in video_deltas(&before).values() {
            sum.add(d, -1);
        }
        assert!(sum.is_empty());
        let nov: Month = "2026-11".parse().unwrap();
        assert_eq!(video_deltas(&after)[&nov].storage_bytes, -1300);
    }
}
