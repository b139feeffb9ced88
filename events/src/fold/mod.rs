//! Pure folds, `apply(state, &Event) -> state`, that the projection uses to build its views
//! from the log. No IO: the projection decides where states live (sled trees keyed by tenant
//! and aggregate) and calls these functions.
//!
//! - [`catalog`]: one [`VideoEntry`] per video: status, metadata, renditions, poster.
//! - [`live`]: one [`StreamEntry`] per live stream: name, key generation, sessions, live now.
//! - [`billing`]: usage records (set once, so repeats count once) and monthly meters.
//! - [`views`]: view counts per video, in total and per UTC day.
//! - [`meters`]: monthly meters as running deltas of the usage records (bills without scans).
//! - [`qoe`]: viewer QoE summaries summed per video / tenant and day, and their report.
//!
//! Every fold is deterministic (the same events in the same order give the same state) and
//! never panics on an event that does not fit the state (out of order, duplicate, unknown
//! aggregate): it applies what still makes sense and ignores the rest. The catalog, live and
//! billing folds are idempotent by construction; counters use [`Deduped`].

pub mod billing;
pub mod catalog;
pub mod catalog_mp4;
pub mod live;
pub mod meters;
pub mod qoe;
pub mod views;

#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::envelope::Event;

pub use billing::{Ledger, Month, MonthUsage, VideoUsage};
pub use catalog::{Status, VideoEntry};
pub use live::{Session, StreamEntry};
pub use qoe::{QoeReport, QoeTally};
pub use views::ViewTally;

/// How long after its event time an event id may still be seen again. Assumption (documented
/// for every publisher of counted facts): a publisher never re-sends an event more than this
/// after the event's time (the view batcher holds beacons for seconds; NATS drops repeats inside
/// its 2-minute duplicate window), so an id older than the window cannot repeat and need not
/// be remembered.
pub const DEDUP_WINDOW: time::Duration = time::Duration::days(2);

/// A state with the ids of the events recently folded into it: a repeated event id changes
/// nothing. For folds that are not idempotent by themselves (counters), in memory; the
/// projection keeps the same set as a sled tree (`proj_view_ids`).
///
/// The set is windowed by event time, so it stays bounded: each time the highest event time
/// folded enters a new UTC day, ids older than `window` behind it are forgotten. It depends only
/// on the events and their order, so a rebuild remembers exactly the same ids.
#[derive(Debug, Clone, PartialEq)]
pub struct Deduped<S> {
    pub state: S,
    /// Event ids folded within the window, with their event time (unix seconds).
    pub seen: BTreeMap<Uuid, i64>,
    /// The highest event time folded, unix seconds.
    pub high_water: Option<i64>,
    /// How far behind the high water an id is remembered ([`DEDUP_WINDOW`] by default).
    pub window: time::Duration,
}

impl<S: Default> Default for Deduped<S> {
    fn default() -> Self {
        Deduped::new(S::default())
    }
}

impl<S> Deduped<S> {
    /// `state` with no event seen yet, windowed by [`DEDUP_WINDOW`].
    pub fn new(state: S) -> Self {
        Deduped::with_window(state, DEDUP_WINDOW)
    }

    /// `state` with no event seen yet, remembering ids for `window` of event time.
    pub fn with_window(state: S, window: time::Duration) -> Self {
        Deduped { state, seen: BTreeMap::new(), high_water: None, window }
    }

    /// Folds `event` with `f` unless its id was folded before (within the window).
    pub fn apply(mut self, event: &Event, f: impl FnOnce(S, &Event) -> S) -> Self {
        if self.seen.contains_key(&event.id) {
            return self;
        }
        let t = event.time.unix_timestamp();
        self.seen.insert(event.id, t);
        self.state = f(self.state, event);
        let day = |s: i64| s.div_euclid(86_400);
        if self.high_water.is_none_or(|h| h < t) {
            let new_day = self.high_water.is_none_or(|h| day(h) < day(t));
            self.high_water = Some(t);
            if new_day {
                let cutoff = t - self.window.whole_seconds();
                self.seen.retain(|_, at| *at >= cutoff);
            }
        }
        self
    }
}

#[cfg(test)]
mod dedup_tests {
    use super::*;
    use crate::fold::testkit::{at, ev, view};
    use crate::fold::views::{self, ViewTally};

    #[test]
    fn given_ten_thousand_views_over_a_hundred_days_then_only_the_last_window_is_remembered() {
        // Given 100 distinct views a day for 100 days
        let start = at("2026-01-01T00:00:00Z");
        let mut d = Deduped::new(ViewTally::default());
        let mut last = None;
        for i in 0..10_000i64 {
            let e = ev("v1", start + time::Duration::seconds(i * 864), view(&format!("u{i}")));
            d = d.apply(&e, views::apply);
            last = Some(e);
        }
        // Then every view counted, and the set holds only ids within the window (+ one day)
        assert_eq!(d.state.total, 10_000);
        let hw = d.high_water.unwrap();
        let oldest = hw - DEDUP_WINDOW.whole_seconds() - 86_400;
        assert!(d.seen.values().all(|t| *t >= oldest), "an id older than the window is kept");
        assert!(d.seen.len() <= 300, "{} ids remembered", d.seen.len());
        // When a recent event arrives again, then it still counts once
        let again = last.unwrap();
        d = d.apply(&again, views::apply);
        assert_eq!(d.state.total, 10_000);
    }

    #[test]
    fn given_a_rebuild_of_the_same_events_then_the_same_ids_are_remembered() {
        let start = at("2026-03-01T00:00:00Z");
        let events: Vec<_> = (0..500i64)
            .map(|i| ev("v1", start + time::Duration::hours(i), view(&format!("u{i}"))))
            .collect();
        let fold = || {
            events.iter().fold(Deduped::new(ViewTally::default()), |d, e| d.apply(e, views::apply))
        };
        assert_eq!(fold(), fold());
    }
}
