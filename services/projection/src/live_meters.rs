//! The monthly live meter (`proj_meters`, key tenant, `lm`, month: billed milliseconds as
//! big-endian `i64`): each session's share of each UTC month
//! ([`framelog_events::fold::billing::session_millis`]) is added when its record changes and
//! the old share taken back, so `/v1/billing/usage` reads a month's live minutes from one key
//! instead of every session the tenant ever had. Sessions live in `VID`, which does not age
//! out, so a rebuild gives the same meter.

use std::collections::BTreeMap;

use framelog_events::fold::Month;
use framelog_events::fold::billing::{SessionUsage, session_millis};

use crate::error::ProjectionError;
use crate::store::{Overlay, Store, View, key};

fn live_key(tenant: &str, month: Month) -> Vec<u8> {
    key(tenant, &[b"lm", month.to_string().as_bytes()])
}

fn read(v: Option<impl AsRef<[u8]>>) -> i64 {
    v.and_then(|v| v.as_ref().try_into().ok()).map_or(0, i64::from_be_bytes)
}

/// Moves the live meter from `old`'s shares to `new`'s.
pub fn meter_session(
    ov: &mut Overlay<'_>,
    tenant: &str,
    old: Option<&SessionUsage>,
    new: &SessionUsage,
) -> Result<(), ProjectionError> {
    let mut change: BTreeMap<Month, i64> = BTreeMap::new();
    for (m, ms) in old.map(session_millis).unwrap_or_default() {
        *change.entry(m).or_default() -= ms;
    }
    for (m, ms) in session_millis(new) {
        *change.entry(m).or_default() += ms;
    }
    for (month, d) in change.into_iter().filter(|(_, d)| *d != 0) {
        let k = live_key(tenant, month);
        let total = read(ov.get(View::Meters, &k)?) + d;
        if total == 0 {
            ov.remove(View::Meters, k);
        } else {
            ov.put(View::Meters, k, total.to_be_bytes().to_vec());
        }
    }
    Ok(())
}

/// The live minutes billed in `month`.
pub fn month_live_minutes(
    store: &Store,
    tenant: &str,
    month: Month,
) -> Result<f64, ProjectionError> {
    let ov = Overlay::new(store);
    let ms = read(ov.get(View::Meters, &live_key(tenant, month))?);
    Ok(ms.max(0) as f64 / 60_000.0)
}
