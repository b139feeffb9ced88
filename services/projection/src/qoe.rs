//! The QoE view (`proj_qoe`): each `VID_VIEW qoe` summary folded, once per event id (the
//! `proj_view_ids` set that view counts use), into three [`QoeTally`]s: the video's total, the
//! video's UTC day and the tenant's UTC day. Reads merge day tallies into ranges (a tally is
//! a sum and a fixed histogram, so the merge is exact).

use framelog_events::Event;
use framelog_events::fold::{QoeTally, qoe, views};

use crate::error::ProjectionError;
use crate::store::{Overlay, Store, View, decode, key};

/// The key of a video's total.
fn total_key(tenant: &str, video: &str) -> Vec<u8> {
    key(tenant, &[b"v", video.as_bytes()])
}

/// The key of a video's day; `day` empty gives the prefix of all its days.
fn video_day_key(tenant: &str, video: &str, day: &str) -> Vec<u8> {
    key(tenant, &[b"d", video.as_bytes(), day.as_bytes()])
}

/// The key of a tenant's day.
fn tenant_day_key(tenant: &str, day: &str) -> Vec<u8> {
    key(tenant, &[b"t", day.as_bytes()])
}

/// Folds a `qoe` event into the video's total, its day and the tenant's day (once per id).
pub fn apply_qoe(ov: &mut Overlay<'_>, event: &Event) -> Result<(), ProjectionError> {
    let tenant = event.tenant.as_str();
    let id = key(tenant, &[event.id.as_bytes()]);
    if ov.get(View::ViewIds, &id)?.is_some() {
        return Ok(());
    }
    crate::window::remember_view_id(ov, id, event.time)?;
    let video = event.subject.as_str();
    let day = views::day(event.time);
    for k in
        [total_key(tenant, video), video_day_key(tenant, video, &day), tenant_day_key(tenant, &day)]
    {
        let old: QoeTally = ov.get_json(View::Qoe, &k)?.unwrap_or_default();
        ov.put_json(View::Qoe, k, &qoe::apply(old, event));
    }
    Ok(())
}

/// A video's total and its days (oldest first).
pub fn video_qoe(
    store: &Store,
    tenant: &str,
    video: &str,
) -> Result<(QoeTally, Vec<(String, QoeTally)>), ProjectionError> {
    let total = store.get_json(View::Qoe, &total_key(tenant, video))?.unwrap_or_default();
    let prefix = video_day_key(tenant, video, "");
    let mut days = Vec::new();
    for kv in store.tree(View::Qoe).scan_prefix(&prefix) {
        let (k, v) = kv?;
        let day = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
        days.push((day, decode(View::Qoe, &v)?));
    }
    Ok((total, days))
}

/// A tenant's days from `from` to `to` (inclusive, `YYYY-MM-DD`), oldest first.
pub fn tenant_qoe(
    store: &Store,
    tenant: &str,
    from: &str,
    to: &str,
) -> Result<Vec<(String, QoeTally)>, ProjectionError> {
    let prefix = tenant_day_key(tenant, "");
    let mut end = tenant_day_key(tenant, to);
    end.push(0);
    let mut days = Vec::new();
    for kv in store.tree(View::Qoe).range(tenant_day_key(tenant, from)..end) {
        let (k, v) = kv?;
        let day = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
        days.push((day, decode(View::Qoe, &v)?));
    }
    Ok(days)
}
