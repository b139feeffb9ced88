//! `GET /v1/billing/usage?month=YYYY-MM` (meters, and amounts when a price table is set) and
//! `GET /v1/stats` (videos by status, live now, views today).

use std::collections::BTreeMap;

use axum::extract::State;
use framelog_core::ApiError;
use framelog_core::error::extract::{Json, Query};
use framelog_core::openapi::{AuthErrors, ErrorBody, InternalError};
use framelog_core::tenants::Tenant;
use framelog_events::fold::billing::{EgressUsage, SessionUsage, month_usage};
use framelog_events::fold::{Month, Status, VideoUsage, views};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::streams::tenant_streams;
use super::{ApiState, Consistent, internal};
use crate::store::{View, be_u64, key, tenant_prefix};

/// `GET /v1/billing/usage` parameters.
#[derive(Debug, Deserialize)]
pub struct UsageQuery {
    /// `YYYY-MM`, UTC; default the current month.
    pub month: Option<String>,
}

/// `GET /v1/billing/usage`: `{"month", "meters": {...}, "amounts": {...} | null}`.
#[utoipa::path(get, path = "/v1/billing/usage", tag = "billing", operation_id = "billing_usage",
    security(("bearer" = [])),
    params(
        ("month" = Option<String>, Query, description = "`YYYY-MM`, UTC; default the current month"),
        ("after_seq" = Option<u64>, Query, description = "read after this `VID` sequence (a write's answer); waits, bounded"),
        ("X-After-Seq" = Option<u64>, Header, description = "as `after_seq`"),
    ),
    responses(
        (status = 200, body = serde_json::Value,
            description = "`{\"month\", \"meters\": {...}, \"amounts\": {...} | null}`"),
        (status = 400, body = ErrorBody,
            description = "malformed input (`invalid_path`, `invalid_query`, `invalid_json` ...)"),
        AuthErrors, InternalError,
        (status = 504, body = ErrorBody,
            description = "the projection has not applied `after_seq` in time (`projection_lagging`)"),
    ))]
pub async fn usage(
    State(s): State<ApiState>,
    Tenant(tenant): Tenant,
    _: Consistent,
    Query(q): Query<UsageQuery>,
) -> Result<Json<Value>, ApiError> {
    let month = match q.month {
        None => Month::of(OffsetDateTime::now_utc()),
        Some(m) => {
            m.parse::<Month>().map_err(|e| ApiError::bad_request("invalid_month", e.to_string()))?
        }
    };
    let t = tenant.as_str();
    // Storage, uploads and CPU from the monthly meters (one key per month, not every video).
    let (storage, uploads, cpu) =
        crate::meters::month_meters(&s.store, t, month).map_err(internal)?;
    // Live minutes from the month's meter (one key), not every session of the tenant.
    let live_minutes =
        crate::live_meters::month_live_minutes(&s.store, t, month).map_err(internal)?;
    // Egress from the month's pre-aggregated meter (or its rollup once closed): O(1).
    let (bytes, requests) = crate::rollup::month_egress(&s.store, t, month).map_err(internal)?;
    let period_start = crate::rollup::month_end(month) - time::Duration::seconds(1);
    let egress = [EgressUsage { period_start, bytes, requests }];
    let mut m = month_usage(month, &[] as &[VideoUsage], &[] as &[SessionUsage], &egress);
    m.live_minutes = live_minutes;
    m.storage_bytes = storage;
    m.uploads = uploads;
    m.transcode_cpu_seconds = cpu;
    let amounts = s.prices.as_ref().map(|p| p.amounts(&m));
    Ok(Json(json!({
        "month": m.month,
        "meters": {
            "transcode_cpu_seconds": {
                "total": m.transcode_cpu_seconds.values().sum::<f64>(),
                "by_profile": m.transcode_cpu_seconds,
            },
            "storage_bytes": m.storage_bytes,
            "egress_bytes": m.egress_bytes,
            "live_minutes": m.live_minutes,
            "uploads": m.uploads,
        },
        "amounts": amounts,
    })))
}

/// `GET /v1/stats`: `{"videos": {"total", "<status>": n...}, "streams", "live_now", "views_today"}`.
#[utoipa::path(get, path = "/v1/stats", tag = "billing", operation_id = "stats",
    security(("bearer" = [])),
    params(
        ("after_seq" = Option<u64>, Query, description = "read after this `VID` sequence (a write's answer); waits, bounded"),
        ("X-After-Seq" = Option<u64>, Header, description = "as `after_seq`"),
    ),
    responses(
        (status = 200, body = serde_json::Value,
            description = "the tenant's totals: videos by status, storage, views"),
        (status = 400, body = ErrorBody,
            description = "malformed input (`invalid_path`, `invalid_query`, `invalid_json` ...)"),
        AuthErrors, InternalError,
        (status = 504, body = ErrorBody,
            description = "the projection has not applied `after_seq` in time (`projection_lagging`)"),
    ))]
pub async fn stats(
    State(s): State<ApiState>,
    Tenant(tenant): Tenant,
    _: Consistent,
) -> Result<Json<Value>, ApiError> {
    let t = tenant.as_str();
    let mut by_status: BTreeMap<&'static str, u64> =
        Status::VISIBLE.iter().map(|st| (st.as_str(), 0)).collect();
    let mut total = 0u64;
    for kv in s.store.tree(View::VideoIndex).scan_prefix(tenant_prefix(t)) {
        let (_, status) = kv.map_err(|e| internal(e.into()))?;
        total += 1;
        if let Some(n) = by_status.iter_mut().find(|(k, _)| k.as_bytes() == status.as_ref()) {
            *n.1 += 1;
        }
    }
    let streams = tenant_streams(&s, &tenant)?;
    let live_now = streams.iter().filter(|e| e.live_session().is_some()).count();
    let today = views::day(OffsetDateTime::now_utc());
    let views_today = s
        .store
        .tree(View::TenantDays)
        .get(key(t, &[today.as_bytes()]))
        .map_err(|e| internal(e.into()))?
        .map(|v| be_u64(&v))
        .unwrap_or(0);
    let mut videos = json!(by_status);
    videos["total"] = json!(total);
    Ok(Json(json!({
        "videos": videos,
        "streams": streams.len(),
        "live_now": live_now,
        "views_today": views_today,
        "day": today,
    })))
}
