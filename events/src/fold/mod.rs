//! Pure folds, `apply(state, &Event) -> state`, that the projection uses to build its views
//! from the log. No IO: the projection decides where states live (sled trees keyed by tenant
//! and aggregate) and calls these functions.
//!
//! - [`catalog`]: one [`VideoEntry`] per video: status, metadata, renditions, poster.
//! - [`live`]: one [`StreamEntry`] per live stream: name, key generation, sessions, live now.
//! - [`billing`]: usage records (set once, so repeats count once) and monthly meters.
//! - [`views`]: view counts per video, in total and per UTC day.
//!
//! Every fold is deterministic (the same events in the same order give the same state) and
//! never panics on an event that does not fit the state (out of order, duplicate, unknown
//! aggregate): it applies what still makes sense and ignores the rest. The catalog, live and
//! billing folds are idempotent by construction; counters use [`Deduped`].

pub mod billing;
pub mod catalog;
pub mod live;
pub mod views;

#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

use std::collections::BTreeSet;

use uuid::Uuid;

use crate::envelope::Event;

pub use billing::{Ledger, Month, MonthUsage, VideoUsage};
pub use catalog::{Status, VideoEntry};
pub use live::{Session, StreamEntry};
pub use views::ViewTally;

/// A state with the ids of the events already folded into it: a repeated event id changes
/// nothing. For folds that are not idempotent by themselves (counters), in memory; the
/// projection keeps the same set as a sled tree.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Deduped<S> {
    pub state: S,
    pub seen: BTreeSet<Uuid>,
}

impl<S> Deduped<S> {
    /// `state` with no event seen yet.
    pub fn new(state: S) -> Self {
        Deduped { state, seen: BTreeSet::new() }
    }

    /// Folds `event` with `f` unless its id was folded before.
    pub fn apply(mut self, event: &Event, f: impl FnOnce(S, &Event) -> S) -> Self {
        if self.seen.insert(event.id) {
            self.state = f(self.state, event);
        }
        self
    }
}
