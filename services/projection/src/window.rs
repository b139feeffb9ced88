//! The view-id dedup set, windowed by event time so it stays bounded.
//!
//! A `counted` view id is deterministic per (viewer, window) and the server drops a repeat
//! inside its duplicate window; this set catches a repeat stored after that (a batch re-sent
//! late). Assumption: a publisher never re-sends a view more than [`VIEW_ID_WINDOW`] after
//! the view's event time (the playback batcher holds beacons in memory for seconds, and drops
//! them if its process dies), so an id older than the window by event time cannot repeat.
//! The set keeps each id with its event time and, each time the highest event time seen
//! enters a new day, drops ids older than the window behind it. Everything depends only on
//! the events and their order in the stream, so a rebuild keeps exactly the same ids.

use time::OffsetDateTime;

use crate::error::ProjectionError;
use crate::store::{Overlay, View};

/// How long after its event time a view id may still repeat (the pure fold's window).
pub const VIEW_ID_WINDOW: time::Duration = framelog_events::fold::DEDUP_WINDOW;

/// The highest event time seen, unix seconds (in `proj_meters`; `~` is never in a tenant id).
const HIGH_WATER: &[u8] = b"~view_ids_high_water";

fn as_i64(v: &[u8]) -> i64 {
    v.try_into().map(i64::from_be_bytes).unwrap_or(i64::MIN)
}

/// Remembers a counted view id with its event time, then prunes when the high water of event
/// time enters a new day.
pub fn remember_view_id(
    ov: &mut Overlay<'_>,
    id: Vec<u8>,
    time: OffsetDateTime,
) -> Result<(), ProjectionError> {
    let t = time.unix_timestamp();
    ov.put(View::ViewIds, id, t.to_be_bytes().to_vec());
    let old = ov.get(View::Meters, HIGH_WATER)?.map(|v| as_i64(&v));
    if old.is_some_and(|o| o >= t) {
        return Ok(());
    }
    ov.put(View::Meters, HIGH_WATER.to_vec(), t.to_be_bytes().to_vec());
    let day = |s: i64| s.div_euclid(86_400);
    if old.is_none_or(|o| day(o) < day(t)) {
        prune(ov, t - VIEW_ID_WINDOW.whole_seconds())?;
    }
    Ok(())
}

/// Drops the ids whose event time is before `cutoff` (unix seconds).
fn prune(ov: &mut Overlay<'_>, cutoff: i64) -> Result<(), ProjectionError> {
    for k in ov.keys(View::ViewIds, b"")? {
        if ov.get(View::ViewIds, &k)?.is_some_and(|v| as_i64(&v) < cutoff) {
            ov.remove(View::ViewIds, k);
        }
    }
    Ok(())
}
