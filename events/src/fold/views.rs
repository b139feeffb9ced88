//! The view-count fold: views per video (or live stream) in total and per UTC day, from
//! `VID_VIEW` `counted` events (aggregate = the video or stream id). A VOD viewer is counted
//! once per dedup window, a live viewer once per live session (playback gives the event an id
//! over (viewer, session)); `presence`, the periodic beacon of a live viewer, is never a view.
//!
//! A view is a counter, so unlike the other folds it is not idempotent by itself: it counts
//! each event id once through [`super::Deduped`] (in memory) or, in the projection, through a
//! tree of seen event ids written in the same transaction as the counters.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::data::ViewData;
use crate::envelope::{Event, EventData};

/// Views of one video or stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewTally {
    pub total: u64,
    /// By UTC day, `YYYY-MM-DD`.
    pub by_day: BTreeMap<String, u64>,
}

/// The UTC day of `t`, `YYYY-MM-DD`.
pub fn day(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!("{:04}-{:02}-{:02}", t.year(), t.month() as u8, t.day())
}

/// Whether the event counts one view (of `event.subject`).
pub fn is_view(event: &Event) -> bool {
    matches!(event.data, EventData::View(ViewData::Counted { .. }))
}

/// Counts a `counted` event on the day of its time; other events leave the tally unchanged.
pub fn apply(mut tally: ViewTally, event: &Event) -> ViewTally {
    if is_view(event) {
        tally.total = tally.total.saturating_add(1);
        let d = tally.by_day.entry(day(event.time)).or_insert(0);
        *d = d.saturating_add(1);
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fold::Deduped;
    use crate::fold::testkit::{at, ev, presence, view};

    #[test]
    fn given_no_views_when_two_viewers_are_counted_then_the_total_and_the_day_are_two() {
        let a = ev("v1", at("2026-11-23T10:00:00Z"), view("alice"));
        let b = ev("v1", at("2026-11-23T23:59:59Z"), view("bob"));
        let t = apply(apply(ViewTally::default(), &a), &b);
        assert_eq!(t.total, 2);
        assert_eq!(t.by_day.get("2026-11-23"), Some(&2));
    }

    #[test]
    fn given_a_view_before_midnight_when_one_after_is_counted_then_each_day_has_one() {
        let a = ev("v1", at("2026-11-23T23:59:59Z"), view("alice"));
        let b = ev("v1", at("2026-11-24T00:00:00Z"), view("alice"));
        let t = apply(apply(ViewTally::default(), &a), &b);
        assert_eq!(t.by_day.get("2026-11-23"), Some(&1));
        assert_eq!(t.by_day.get("2026-11-24"), Some(&1));
    }

    #[test]
    fn given_a_counted_view_when_the_same_event_arrives_again_then_it_counts_once() {
        let a = ev("v1", at("2026-11-23T10:00:00Z"), view("alice"));
        let b = ev("v1", at("2026-11-23T10:01:00Z"), view("bob"));
        let mut d = Deduped::new(ViewTally::default());
        for e in [&a, &b, &a, &b, &a] {
            d = d.apply(e, apply);
        }
        assert_eq!(d.state.total, 2);
    }

    #[test]
    fn given_an_hour_of_live_presence_and_one_session_view_then_the_stream_has_one_view() {
        let mut d = Deduped::new(ViewTally::default());
        let counted = ev("live1", at("2026-11-23T10:00:01Z"), view("alice"));
        for w in 0..120 {
            let t = at("2026-11-23T10:00:00Z") + time::Duration::seconds(30 * w);
            d = d.apply(&ev("live1", t, presence("alice", t.unix_timestamp())), apply);
            // The session view is sent again with the same id (another replica, a retry).
            if w % 10 == 0 {
                d = d.apply(&counted, apply);
            }
        }
        assert_eq!(d.state.total, 1);
        assert_eq!(d.state.by_day.get("2026-11-23"), Some(&1));
        assert!(!is_view(&ev("live1", at("2026-11-23T10:00:00Z"), presence("bob", 0))));
    }

    #[test]
    fn given_a_tally_when_an_egress_or_upload_event_arrives_then_nothing_changes() {
        let t = ViewTally { total: 3, by_day: BTreeMap::new() };
        let e = ev("v1", at("2026-11-23T10:00:00Z"), crate::fold::testkit::deleted());
        assert_eq!(apply(t.clone(), &e), t);
    }
}
