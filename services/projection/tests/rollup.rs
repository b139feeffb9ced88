//! Month-close rollups: bills and view totals survive `VID_VIEW` aging out.

mod common;

use common::*;
use framelog_core::nats::STREAM_VIEW;
use framelog_events::MonthTotals;
use framelog_events::data::ViewData;
use framelog_events::fold::Month;
use framelog_projection::closer::{Closed, close_due, close_month};
use framelog_projection::store::{View, be_u64, key};
use framelog_projection::{Store, rebuild, rollup};
use time::macros::datetime;

fn views_of(store: &Store, video: &str) -> u64 {
    store.tree(View::Views).get(key("acme", &[video.as_bytes()])).unwrap().map_or(0, |v| be_u64(&v))
}

/// (egress bytes, egress requests) of October and November, views of v1 and v2.
fn bill(store: &Store) -> ((u64, u64), (u64, u64), u64, u64) {
    let oct = rollup::month_egress(store, "acme", "2026-10".parse().unwrap()).unwrap();
    let nov = rollup::month_egress(store, "acme", "2026-11".parse().unwrap()).unwrap();
    (oct, nov, views_of(store, "v1"), views_of(store, "v2"))
}

#[tokio::test]
async fn fault_a_rebuild_after_vid_view_is_purged_has_the_same_bill_and_view_totals() {
    let w = world().await;
    let mut p = w.projection().await;
    // A workload across two months, with a repeated view and a repeated egress report.
    let oct = datetime!(2026-10-20 10:00 UTC);
    let nov = datetime!(2026-11-03 10:00 UTC);
    let mut repeated = None;
    for (i, (video, at)) in
        [("v1", oct), ("v1", oct), ("v2", oct), ("v1", oct), ("v1", nov), ("v2", nov)]
            .into_iter()
            .enumerate()
    {
        let e = ev_at("acme", video, at, view(&format!("viewer{i}")));
        w.publish(&e).await;
        let first = repeated.get_or_insert(e);
        if i == 3 {
            // The first view stored again (a batch re-sent past the server's duplicate window,
            // within the projection's dedup window of event time).
            let subject = "vid.acme.view.counted.v1";
            w.platform.js.publish(subject, first.to_json().into()).await.unwrap().await.unwrap();
        }
    }
    for (instance, at, bytes) in [("pb_1", oct, 1000), ("pb_2", oct, 500), ("pb_1", nov, 70)] {
        let e = ViewData::EgressMetered { period_start: at, period_secs: 60, bytes, requests: 2 };
        w.publish(&ev_at("acme", instance, at, e.clone())).await;
        w.publish(&ev_at("acme", instance, at, e)).await; // the same period reported again
    }
    drain(&mut p.vid).await;
    drain(&mut p.views).await;
    let before = bill(&p.store);
    assert_eq!(before, ((1500, 4), (70, 2), 4, 2), "the repeated view and egress count once");

    // October is closed once, by whoever is first; a second closer is told so.
    let october: Month = "2026-10".parse().unwrap();
    assert!(matches!(
        close_month(&w.platform.js, &p.store, &tenant("acme"), october).await.unwrap(),
        Closed::Stored(_)
    ));
    assert_eq!(
        close_month(&w.platform.js, &p.store, &tenant("acme"), october).await.unwrap(),
        Closed::AlreadyClosed
    );
    drain(&mut p.vid).await;
    assert_eq!(bill(&p.store), before, "closing a month changes no total");
    let egress_records = p.store.tree(View::Usage).scan_prefix(key("acme", &[b"e", b""])).count();
    assert_eq!(egress_records, 1, "October's egress dedup records are dropped, November's kept");
    let open = rollup::open_totals(&p.store, "acme", october).unwrap();
    assert_eq!(
        open,
        MonthTotals { month: "2026-10".into(), ..Default::default() },
        "open meters of a closed month are dropped"
    );

    // VID_VIEW ages out (here: purged), then the projection is rebuilt elsewhere.
    w.platform.js.get_stream(STREAM_VIEW).await.unwrap().purge().await.unwrap();
    let (fresh, _dir) = w.other_platform().await;
    rebuild(&w.platform, &fresh.db).await.unwrap();
    let rebuilt = Store::open(&fresh.db).unwrap();
    let nov_lost = ((1500, 4), (0, 0), 3, 1);
    assert_eq!(
        bill(&rebuilt),
        nov_lost,
        "October from its rollup; November's views were purged before any close"
    );

    // And with November closed before the purge too, everything is rebuilt as it was.
    let w2 = world().await;
    let mut p2 = w2.projection().await;
    for (video, at) in [("v1", oct), ("v1", nov), ("v2", nov)] {
        w2.publish(&ev_at("acme", video, at, view(video))).await;
    }
    drain(&mut p2.views).await;
    // The closer closes both ended months (and only once the grace has passed).
    let js = &w2.platform.js;
    let applied = p2.views.applied();
    let grace = time::Duration::hours(6);
    let early = datetime!(2026-12-01 03:00 UTC);
    assert_eq!(close_due(js, &p2.store, applied, early, grace).await.unwrap(), 1, "October only");
    let later = datetime!(2026-12-01 07:00 UTC);
    assert_eq!(close_due(js, &p2.store, applied, later, grace).await.unwrap(), 1, "November");
    drain(&mut p2.vid).await;
    assert_eq!(close_due(js, &p2.store, applied, later, grace).await.unwrap(), 0, "nothing open");
    let before = bill(&p2.store);
    w2.platform.js.get_stream(STREAM_VIEW).await.unwrap().purge().await.unwrap();
    let (fresh2, _dir2) = w2.other_platform().await;
    let report = rebuild(&w2.platform, &fresh2.db).await.unwrap();
    assert_eq!(bill(&Store::open(&fresh2.db).unwrap()), before);
    assert_eq!(before.2 + before.3, 3);
    assert_eq!(
        report.digest,
        framelog_projection::digest(&w2.platform.db).unwrap(),
        "the same views as the replica that saw the events"
    );
}
