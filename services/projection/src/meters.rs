//! Monthly meters of the video usage records (`proj_meters`, key tenant, `b`, month:
//! [`MonthDelta`] JSON), kept as running deltas ([`framelog_events::fold::meters`]), so
//! `/v1/billing/usage` reads a month's storage, uploads and CPU seconds from one key per month
//! instead of scanning every video of the tenant.

use std::collections::BTreeMap;

use framelog_events::fold::meters::{MonthDelta, video_deltas};
use framelog_events::fold::{Month, VideoUsage};

use crate::error::ProjectionError;
use crate::store::{Overlay, Store, View, decode, key};

fn delta_key(tenant: &str, month: Month) -> Vec<u8> {
    key(tenant, &[b"b", month.to_string().as_bytes()])
}

/// Moves the meters from `old`'s contributions to `new`'s.
pub fn meter_video(
    ov: &mut Overlay<'_>,
    tenant: &str,
    old: Option<&VideoUsage>,
    new: &VideoUsage,
) -> Result<(), ProjectionError> {
    let mut change: BTreeMap<Month, MonthDelta> = BTreeMap::new();
    for (sign, usage) in [(-1, old), (1, Some(new))] {
        for (m, d) in usage.map(video_deltas).unwrap_or_default() {
            change.entry(m).or_default().add(&d, sign);
        }
    }
    for (month, d) in change.into_iter().filter(|(_, d)| !d.is_empty()) {
        let k = delta_key(tenant, month);
        let mut total: MonthDelta = ov.get_json(View::Meters, &k)?.unwrap_or_default();
        total.add(&d, 1);
        if total.is_empty() {
            ov.remove(View::Meters, k);
        } else {
            ov.put_json(View::Meters, k, &total);
        }
    }
    Ok(())
}

/// `(storage bytes at the end of month, uploads, CPU seconds by profile)` of `month`.
pub fn month_meters(
    store: &Store,
    tenant: &str,
    month: Month,
) -> Result<(u64, u64, BTreeMap<String, f64>), ProjectionError> {
    let mut storage = 0i64;
    let mut this = MonthDelta::default();
    let prefix = key(tenant, &[b"b", b""]);
    for kv in store.tree(View::Meters).scan_prefix(&prefix) {
        let (k, v) = kv?;
        let Ok(m) = std::str::from_utf8(&k[prefix.len()..]).unwrap_or("").parse::<Month>() else {
            continue;
        };
        if m > month {
            break; // keys are in month order
        }
        let d: MonthDelta = decode(View::Meters, &v)?;
        storage += d.storage_bytes;
        if m == month {
            this = d;
        }
    }
    Ok((storage.max(0) as u64, this.uploads.max(0) as u64, this.cpu_by_profile))
}
