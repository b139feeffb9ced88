//! The projection's state stays bounded: the view-id dedup set keeps only a window of event
//! time, and counts are unchanged by the pruning.

use framelog_events::data::ViewData;
use framelog_events::{AggregateId, Event, TenantId};
use framelog_projection::apply::apply_event;
use framelog_projection::store::{Overlay, View, be_u64, key};
use framelog_projection::window::VIEW_ID_WINDOW;
use framelog_projection::{Store, digest};
use time::macros::datetime;

fn view(i: i64) -> Event {
    let at = datetime!(2026-01-01 00:00 UTC) + time::Duration::seconds(i * 864);
    Event::new(
        uuid::Uuid::now_v7(),
        at,
        "framelog/test",
        TenantId::new("acme").unwrap(),
        AggregateId::new("v1").unwrap(),
        ViewData::Counted { viewer: format!("u{i}"), window: at.unix_timestamp(), live: false },
    )
}

fn apply_all(store: &Store, events: &[Event]) {
    for (chunk_no, chunk) in events.chunks(500).enumerate() {
        let mut ov = Overlay::new(store);
        for e in chunk {
            apply_event(&mut ov, e).unwrap();
        }
        ov.commit("VID_VIEW", (chunk_no as u64 + 1) * 500).unwrap();
    }
}

#[test]
fn after_ten_thousand_views_over_a_hundred_days_only_the_last_window_of_ids_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::open(dir.path()).unwrap();
    let store = Store::open(&db).unwrap();
    // Given 10,000 distinct views, 100 a day for 100 days, and a late repeat of the last one
    let mut events: Vec<Event> = (0..10_000).map(view).collect();
    events.push(events.last().unwrap().clone());
    apply_all(&store, &events);

    // Then every distinct view counted once
    let total = store.tree(View::Views).get(key("acme", &[b"v1"])).unwrap().map(|v| be_u64(&v));
    assert_eq!(total, Some(10_000));
    // And only ids within the window (and the day being filled) are kept
    let ids = store.tree(View::ViewIds).len();
    let per_day = 100;
    let days = VIEW_ID_WINDOW.whole_days() as usize + 1;
    assert!(ids <= per_day * days, "{ids} view ids kept");
    assert!(ids >= per_day * (days - 1), "{ids} view ids kept: the window must still dedupe");

    // And a rebuild from the same events keeps the same state
    let dir2 = tempfile::tempdir().unwrap();
    let db2 = sled::open(dir2.path()).unwrap();
    apply_all(&Store::open(&db2).unwrap(), &events);
    assert_eq!(digest(&db).unwrap(), digest(&db2).unwrap());
}
