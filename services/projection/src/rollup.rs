//! Month-close rollups: `VID_VIEW` ages out (400 days, and a size limit), so the totals it
//! carries (egress bytes and requests, views per tenant and per video) are written to the
//! domain log once a month is over, as one `VID_READY month_closed` fact per (tenant, month)
//! (aggregate `usage-YYYY-MM`, deterministic id, expected last subject sequence 0: whoever
//! closes first wins, a second closer is told it is already stored).
//!
//! The views then take a closed month from its rollup and ignore that month's `VID_VIEW`
//! events, whatever order the two streams are applied in:
//! - a `counted` or `egress_metered` event of a closed month changes nothing;
//! - applying the rollup replaces what the open month had counted (per-video totals are
//!   corrected by `rollup - counted`) and drops the month's open meters and egress dedup
//!   records, so open state is bounded by the months not yet closed.
//!
//! So a rebuild after `VID_VIEW` has aged out (or been purged) gives the same bills and view
//! totals. Per-day view counts of a closed month are not kept in the rollup.

use std::collections::BTreeMap;

use framelog_events::fold::Month;
use framelog_events::fold::billing::EgressUsage;
use framelog_events::{AggregateId, Event, EventData, Kind, MonthTotals, ReadyData, TenantId};
use time::OffsetDateTime;

use crate::error::ProjectionError;
use crate::store::{Overlay, Store, View, be_u64, decode, key};

/// Source of the rollup events.
pub const SOURCE: &str = "framelog/projection";

/// The aggregate of a month's rollup: `usage-YYYY-MM`.
pub fn aggregate(month: Month) -> AggregateId {
    AggregateId::new(format!("usage-{month}")).expect("usage-YYYY-MM is a valid id")
}

/// The first instant after `month` (UTC).
pub fn month_end(month: Month) -> OffsetDateTime {
    let (y, m) =
        if month.month == 12 { (month.year + 1, 1) } else { (month.year, month.month + 1) };
    let date = time::Date::from_calendar_date(y, time::Month::try_from(m).expect("1..=12"), 1)
        .expect("the first of a month is a date");
    date.midnight().assume_utc()
}

fn meter_key(tenant: &str, month: Month, name: &str) -> Vec<u8> {
    key(tenant, &[b"m", month.to_string().as_bytes(), name.as_bytes()])
}

fn video_key(tenant: &str, month: Month, video: &str) -> Vec<u8> {
    key(tenant, &[b"m", month.to_string().as_bytes(), b"vv", video.as_bytes()])
}

fn closed_key(tenant: &str, month: Month) -> Vec<u8> {
    key(tenant, &[b"c", month.to_string().as_bytes()])
}

/// The rollup of a closed month, as the overlay sees it.
pub fn closed(
    ov: &Overlay<'_>,
    tenant: &str,
    month: Month,
) -> Result<Option<MonthTotals>, ProjectionError> {
    ov.get_json(View::Meters, &closed_key(tenant, month))
}

/// A `counted` view: false (count nothing) when its month is closed; otherwise adds it to the
/// month's open meters.
pub fn count_view(ov: &mut Overlay<'_>, event: &Event) -> Result<bool, ProjectionError> {
    let (tenant, month) = (event.tenant.as_str(), Month::of(event.time));
    if closed(ov, tenant, month)?.is_some() {
        return Ok(false);
    }
    ov.increment(View::Meters, meter_key(tenant, month, "views"))?;
    ov.increment(View::Meters, video_key(tenant, month, event.subject.as_str()))?;
    Ok(true)
}

/// An egress record seen for the first time: false when its month is closed; otherwise adds it
/// to the month's open meters.
pub fn meter_egress(
    ov: &mut Overlay<'_>,
    tenant: &str,
    e: &EgressUsage,
) -> Result<bool, ProjectionError> {
    let month = Month::of(e.period_start);
    if closed(ov, tenant, month)?.is_some() {
        return Ok(false);
    }
    ov.add(View::Meters, meter_key(tenant, month, "egress_bytes"), e.bytes)?;
    ov.add(View::Meters, meter_key(tenant, month, "egress_requests"), e.requests)?;
    Ok(true)
}

/// Applies a `month_closed` rollup (the first one of its month; a repeat changes nothing).
pub fn apply_closed(
    ov: &mut Overlay<'_>,
    tenant: &str,
    totals: &MonthTotals,
) -> Result<(), ProjectionError> {
    let Ok(month) = totals.month.parse::<Month>() else {
        tracing::warn!(tenant, month = %totals.month, "month_closed with an invalid month ignored");
        return Ok(());
    };
    if closed(ov, tenant, month)?.is_some() {
        return Ok(());
    }
    // Per-video totals: what the open month counted is replaced by the rollup.
    let mut counted: BTreeMap<String, u64> = BTreeMap::new();
    let prefix = key(tenant, &[b"m", month.to_string().as_bytes(), b"vv", b""]);
    for k in ov.keys(View::Meters, &prefix)? {
        let video = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
        let n = ov.get(View::Meters, &k)?.map(|v| be_u64(&v)).unwrap_or(0);
        counted.insert(video, n);
        ov.remove(View::Meters, k);
    }
    let videos: std::collections::BTreeSet<&String> =
        counted.keys().chain(totals.views_by_video.keys()).collect();
    for video in videos {
        let was = counted.get(video).copied().unwrap_or(0);
        let now = totals.views_by_video.get(video).copied().unwrap_or(0);
        if was == now {
            continue;
        }
        let k = key(tenant, &[video.as_bytes()]);
        let total = ov.get(View::Views, &k)?.map(|v| be_u64(&v)).unwrap_or(0);
        let total = (total + now).saturating_sub(was);
        ov.put(View::Views, k, total.to_be_bytes().to_vec());
    }
    for name in ["views", "egress_bytes", "egress_requests"] {
        ov.remove(View::Meters, meter_key(tenant, month, name));
    }
    // The month's egress dedup records are no longer needed: its events are ignored now.
    for k in ov.keys(View::Usage, &key(tenant, &[b"e", b""]))? {
        let Some(v) = ov.get(View::Usage, &k)? else { continue };
        let e: EgressUsage = decode(View::Usage, &v)?;
        if Month::of(e.period_start) == month {
            ov.remove(View::Usage, k);
        }
    }
    // Per-day counts and view ids of the month go too: a rebuild after VID_VIEW aged out
    // cannot have them, and the incremental views must equal the rebuilt ones.
    let day_prefix = format!("{month}-");
    for view in [View::ViewDays, View::TenantDays] {
        for k in ov.keys(view, &crate::store::tenant_prefix(tenant))? {
            let last = k.rsplit(|b| *b == 0).next().unwrap_or_default();
            if last.starts_with(day_prefix.as_bytes()) {
                ov.remove(view, k);
            }
        }
    }
    for k in ov.keys(View::ViewIds, &crate::store::tenant_prefix(tenant))? {
        let t = ov.get(View::ViewIds, &k)?.and_then(|v| v.as_slice().try_into().ok());
        let t = t.map(i64::from_be_bytes).and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok());
        if t.is_some_and(|t| month.contains(t)) {
            ov.remove(View::ViewIds, k);
        }
    }
    ov.put_json(View::Meters, closed_key(tenant, month), totals);
    Ok(())
}

/// The egress bytes and requests of `month`: the rollup when closed, else the open meters.
pub fn month_egress(
    store: &Store,
    tenant: &str,
    month: Month,
) -> Result<(u64, u64), ProjectionError> {
    let ov = Overlay::new(store);
    if let Some(t) = closed(&ov, tenant, month)? {
        return Ok((t.egress_bytes, t.egress_requests));
    }
    let get = |name| -> Result<u64, ProjectionError> {
        Ok(ov.get(View::Meters, &meter_key(tenant, month, name))?.map(|v| be_u64(&v)).unwrap_or(0))
    };
    Ok((get("egress_bytes")?, get("egress_requests")?))
}

/// The open meters of `month` as the totals a closer would publish.
pub fn open_totals(
    store: &Store,
    tenant: &str,
    month: Month,
) -> Result<MonthTotals, ProjectionError> {
    let ov = Overlay::new(store);
    let get = |name| -> Result<u64, ProjectionError> {
        Ok(ov.get(View::Meters, &meter_key(tenant, month, name))?.map(|v| be_u64(&v)).unwrap_or(0))
    };
    let prefix = key(tenant, &[b"m", month.to_string().as_bytes(), b"vv", b""]);
    let mut views_by_video = BTreeMap::new();
    for kv in store.tree(View::Meters).scan_prefix(&prefix) {
        let (k, v) = kv?;
        views_by_video.insert(String::from_utf8_lossy(&k[prefix.len()..]).into_owned(), be_u64(&v));
    }
    Ok(MonthTotals {
        month: month.to_string(),
        egress_bytes: get("egress_bytes")?,
        egress_requests: get("egress_requests")?,
        views: get("views")?,
        views_by_video,
    })
}

/// The `month_closed` event of `totals` (deterministic id: one per tenant and month).
pub fn closing_event(tenant: &TenantId, month: Month, totals: MonthTotals) -> Event {
    let agg = aggregate(month);
    let id = Event::deterministic_id(tenant, &agg, Kind::Ready, "month_closed", "");
    Event::new(
        id,
        month_end(month),
        SOURCE,
        tenant.clone(),
        agg,
        EventData::Ready(ReadyData::MonthClosed(totals)),
    )
}

/// The (tenant, month) pairs with open meters whose month ended at least `grace` before `now`.
pub fn closable(
    store: &Store,
    now: OffsetDateTime,
    grace: time::Duration,
) -> Result<Vec<(TenantId, Month)>, ProjectionError> {
    let mut out: Vec<(TenantId, Month)> = Vec::new();
    for kv in store.tree(View::Meters).iter() {
        let (k, _) = kv?;
        let mut parts = k.split(|b| *b == 0);
        let (Some(t), Some(b"m"), Some(m)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let (Ok(t), Ok(m)) = (std::str::from_utf8(t), std::str::from_utf8(m)) else { continue };
        let (Ok(tenant), Ok(month)) = (TenantId::new(t), m.parse::<Month>()) else { continue };
        if month_end(month) + grace <= now && out.last() != Some(&(tenant.clone(), month)) {
            out.push((tenant, month));
        }
    }
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn m(s: &str) -> Month {
        s.parse().unwrap()
    }

    #[test]
    fn a_month_ends_at_the_first_instant_of_the_next_and_december_rolls_the_year() {
        assert_eq!(month_end(m("2026-10")), datetime!(2026-11-01 00:00 UTC));
        assert_eq!(month_end(m("2026-12")), datetime!(2027-01-01 00:00 UTC));
        assert!(!m("2026-10").contains(month_end(m("2026-10"))));
    }

    #[test]
    fn given_the_same_tenant_and_month_when_closed_twice_then_the_event_id_is_the_same() {
        let acme = TenantId::new("acme").unwrap();
        let a = closing_event(&acme, m("2026-10"), MonthTotals::default());
        let b = closing_event(&acme, m("2026-10"), MonthTotals { views: 9, ..Default::default() });
        assert_eq!(a.id, b.id, "one fact per (tenant, month), whatever the totals");
        assert_eq!(a.nats_subject().to_string(), "vid.acme.ready.month_closed.usage-2026-10");
        let other = closing_event(&acme, m("2026-11"), MonthTotals::default());
        let globex =
            closing_event(&TenantId::new("globex").unwrap(), m("2026-10"), MonthTotals::default());
        assert_ne!(a.id, other.id);
        assert_ne!(a.id, globex.id);
    }
}
