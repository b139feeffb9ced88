//! Applying one event to the views: reads the affected states through the [`Overlay`], folds
//! them with the pure functions of `framelog_events::fold`, and writes back what changed.

use framelog_events::data::ViewData;
use framelog_events::fold::{self, StreamEntry, VideoEntry, billing, catalog, live, views};
use framelog_events::{Event, EventData, ReadyData};

use crate::error::ProjectionError;
use crate::store::{Overlay, View, key};

/// Folds `event` into every view it concerns.
pub fn apply_event(ov: &mut Overlay<'_>, event: &Event) -> Result<(), ProjectionError> {
    if event.is_unknown() {
        return Ok(()); // a phase this build does not know (a newer writer's) changes no view
    }
    let tenant = event.tenant.as_str();
    let agg = event.subject.as_str().as_bytes();
    match &event.data {
        EventData::Ready(ReadyData::MonthClosed(totals)) => {
            crate::rollup::apply_closed(ov, tenant, totals)?;
        }
        EventData::Upload(_) | EventData::Transcode(_) | EventData::Ready(_) => {
            apply_video(ov, event)?;
            let k = key(tenant, &[b"v", agg]);
            let old: Option<fold::VideoUsage> = ov.get_json(View::Usage, &k)?;
            let new = billing::apply_video(old.clone(), event);
            if new != old
                && let Some(u) = new
            {
                crate::meters::meter_video(ov, tenant, old.as_ref(), &u)?;
                ov.put_json(View::Usage, k, &u);
            }
        }
        EventData::Live(_) => {
            let k = key(tenant, &[agg]);
            let old: Option<StreamEntry> = ov.get_json(View::Streams, &k)?;
            let new = live::apply(old.clone(), event);
            if new != old
                && let Some(s) = new
            {
                ov.put_json(View::Streams, k, &s);
            }
            if let Some(session) = billing::session_of(event) {
                let k = key(tenant, &[b"l", agg, session.as_bytes()]);
                let old: Option<billing::SessionUsage> = ov.get_json(View::Usage, &k)?;
                let new = billing::apply_session(old.clone(), event);
                if new != old
                    && let Some(u) = new
                {
                    crate::live_meters::meter_session(ov, tenant, old.as_ref(), &u)?;
                    ov.put_json(View::Usage, k, &u);
                }
            }
        }
        EventData::View(ViewData::Counted { .. }) => {
            let id = key(tenant, &[event.id.as_bytes()]);
            if ov.get(View::ViewIds, &id)?.is_some() || !crate::rollup::count_view(ov, event)? {
                return Ok(());
            }
            crate::window::remember_view_id(ov, id, event.time)?;
            let day = views::day(event.time);
            ov.increment(View::Views, key(tenant, &[agg]))?;
            ov.increment(View::ViewDays, key(tenant, &[agg, day.as_bytes()]))?;
            ov.increment(View::TenantDays, key(tenant, &[day.as_bytes()]))?;
        }
        // Presence feeds concurrent viewers (playback), never a view.
        EventData::View(ViewData::Presence { .. }) => {}
        EventData::View(ViewData::EgressMetered { .. }) => {
            if let Some(e) = billing::egress_usage(event) {
                let period = sortable_i64(e.period_start.unix_timestamp());
                let k = key(tenant, &[b"e", agg, &period]);
                if ov.get(View::Usage, &k)?.is_none()
                    && crate::rollup::meter_egress(ov, tenant, &e)?
                {
                    ov.put_json(View::Usage, k, &e);
                }
            }
        }
        EventData::View(ViewData::Qoe(_)) => crate::qoe::apply_qoe(ov, event)?,
        EventData::View(ViewData::Unknown) => {}
    }
    Ok(())
}

fn apply_video(ov: &mut Overlay<'_>, event: &Event) -> Result<(), ProjectionError> {
    let tenant = event.tenant.as_str();
    let k = key(tenant, &[event.subject.as_str().as_bytes()]);
    let old: Option<VideoEntry> = ov.get_json(View::Videos, &k)?;
    let new = catalog::apply(old.clone(), event);
    if new == old {
        return Ok(());
    }
    let old_index = old.as_ref().and_then(index_entry);
    let new_index = new.as_ref().and_then(index_entry);
    if old_index != new_index {
        if let Some((k, _)) = old_index {
            ov.remove(View::VideoIndex, k);
        }
        if let Some((k, status)) = new_index {
            ov.put(View::VideoIndex, k, status.as_bytes().to_vec());
        }
    }
    if let Some(e) = new {
        ov.put_json(View::Videos, k, &e);
    }
    Ok(())
}

/// The listing index entry of a visible video: newest first, then by id.
fn index_entry(e: &VideoEntry) -> Option<(Vec<u8>, &'static str)> {
    if !e.status.is_visible() {
        return None;
    }
    let created = (e.created_at.unix_timestamp_nanos() / 1_000_000) as i64;
    let mut suffix = (!u64::from_be_bytes(sortable_i64(created))).to_be_bytes().to_vec();
    suffix.extend_from_slice(e.id.as_str().as_bytes());
    Some((index_key(e.tenant.as_str(), &suffix), e.status.as_str()))
}

/// `tenant \0 suffix` of the listing index (the suffix is what a cursor carries).
pub fn index_key(tenant: &str, suffix: &[u8]) -> Vec<u8> {
    let mut k = crate::store::tenant_prefix(tenant);
    k.extend_from_slice(suffix);
    k
}

/// An i64 as 8 bytes whose byte order is its numeric order.
fn sortable_i64(v: i64) -> [u8; 8] {
    ((v as u64) ^ (1 << 63)).to_be_bytes()
}
