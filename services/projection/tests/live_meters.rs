//! Live minutes come from a monthly meter, not a scan of every session: a session across
//! midnight of the month bills each month its share, a repeated or reordered fact changes
//! nothing, the usage answer does not read the session records, and a rebuild gives the same
//! meter.

mod common;

use common::*;
use framelog_events::LiveData;
use framelog_events::fold::Month;
use framelog_projection::live_meters::month_live_minutes;
use framelog_projection::store::{View, key};
use framelog_projection::{Store, rebuild};
use time::macros::datetime;

fn started(session: &str) -> LiveData {
    LiveData::Started {
        session_id: session.into(),
        server: framelog_events::MediaServer::NginxRtmp,
        connection_id: "c1".into(),
        protocol: "rtmp".into(),
        remote_addr: None,
    }
}

fn ended(session: &str, secs: f64) -> LiveData {
    LiveData::Ended { session_id: session.into(), duration_secs: secs, reason: "x".into() }
}

fn minutes(store: &Store, month: &str) -> f64 {
    month_live_minutes(store, "acme", month.parse::<Month>().unwrap()).unwrap()
}

#[tokio::test]
async fn fault_live_minutes_are_metered_per_month_without_a_scan_and_rebuild_the_same() {
    let w = world().await;
    let mut p = w.projection().await;
    // 23:50 -> 00:20 across the end of November: 10 + 20 minutes. `ended` first, repeated.
    let end = datetime!(2026-12-01 00:20 UTC);
    w.publish(&ev_at("acme", "st_1", end, ended("s1", 1800.0))).await;
    w.publish(&ev_at("acme", "st_1", datetime!(2026-11-30 23:50 UTC), started("s1"))).await;
    let mut again = ev_at("acme", "st_1", end, ended("s1", 1800.0));
    again.id = uuid::Uuid::now_v7();
    w.publish(&again).await;
    // A second session in December, and another tenant's that must not count.
    w.publish(&ev_at("acme", "st_2", datetime!(2026-12-03 10:00 UTC), started("s2"))).await;
    w.publish(&ev_at("acme", "st_2", datetime!(2026-12-03 10:01:30 UTC), ended("s2", 90.0))).await;
    w.publish(&ev_at("globex", "st_9", datetime!(2026-12-03 10:00 UTC), ended("s9", 600.0))).await;
    drain(&mut p.vid).await;

    assert_eq!(minutes(&p.store, "2026-11"), 10.0);
    assert_eq!(minutes(&p.store, "2026-12"), 21.5);
    let app = serve(&p).await;
    let (status, nov) = get_json(&app, "/v1/billing/usage?month=2026-11", &w.acme).await;
    assert_eq!(status, 200, "{nov}");
    assert_eq!(nov["meters"]["live_minutes"], 10.0);
    let (_, dec) = get_json(&app, "/v1/billing/usage?month=2026-12", &w.acme).await;
    assert_eq!(dec["meters"]["live_minutes"], 21.5);
    let (_, other) = get_json(&app, "/v1/billing/usage?month=2026-12", &w.globex).await;
    assert_eq!(other["meters"]["live_minutes"], 10.0);

    // The answer reads the meter only: without the session records it is the same.
    let usage = p.store.tree(View::Usage);
    for k in usage.scan_prefix(key("acme", &[b"l", b""])).keys().collect::<Vec<_>>() {
        usage.remove(k.unwrap()).unwrap();
    }
    let (_, dec) = get_json(&app, "/v1/billing/usage?month=2026-12", &w.acme).await;
    assert_eq!(dec["meters"]["live_minutes"], 21.5, "{dec}");

    // A rebuild into a fresh store gives the same meters (sessions are in VID, kept forever).
    let (fresh, _dir) = w.other_platform().await;
    rebuild(&w.platform, &fresh.db).await.unwrap();
    let rebuilt = Store::open(&fresh.db).unwrap();
    assert_eq!(minutes(&rebuilt, "2026-11"), 10.0);
    assert_eq!(minutes(&rebuilt, "2026-12"), 21.5);
    assert_eq!(
        minutes(&rebuilt, "2026-12"),
        minutes(&p.store, "2026-12"),
        "incremental and rebuilt meters agree"
    );
}
