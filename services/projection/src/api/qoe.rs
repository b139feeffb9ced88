//! `GET /v1/videos/{id}/qoe` (a video's or live stream's QoE, total and per UTC day) and
//! `GET /v1/qoe?from=&to=` (the tenant's QoE per day and over the range). The figures and the
//! score are [`QoeTally::report`]'s (formula in `framelog_events::fold::qoe`).

use axum::extract::State;
use framelog_core::ApiError;
use framelog_core::error::extract::{Json, Path, Query};
use framelog_core::openapi::{AuthErrors, ErrorBody, InternalError};
use framelog_core::tenants::Tenant;
use framelog_events::AggregateId;
use framelog_events::fold::{QoeTally, StreamEntry, VideoEntry, views};
use serde::Deserialize;
use serde_json::{Value, json};
use time::{
    Date, Duration, OffsetDateTime, format_description::FormatItem, macros::format_description,
};

use super::{ApiState, Consistent, internal};
use crate::store::{View, key};

const DAY: &[FormatItem<'static>] = format_description!("[year]-[month]-[day]");

/// Longest range of `GET /v1/qoe`, days.
const MAX_DAYS: i64 = 366;

fn report(tally: &QoeTally) -> Value {
    serde_json::to_value(tally.report()).unwrap_or(Value::Null)
}

fn day_json(day: &str, tally: &QoeTally) -> Value {
    let mut v = report(tally);
    v["day"] = json!(day);
    v
}

/// `GET /v1/videos/{id}/qoe`: 404 for a missing, deleted or another tenant's video.
#[utoipa::path(get, path = "/v1/videos/{id}/qoe", tag = "videos", operation_id = "get_video_qoe",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "the video (or live stream) id")),
    responses(
        (status = 200, body = serde_json::Value, description = "`{\"video_id\", \"total\": report, \"days\": [report + \"day\"]}`: views with QoE, watch time, rebuffer ratio and count, switches, errors, startup mean/p50/p95, live latency, scores"),
        (status = 400, body = ErrorBody, description = "malformed input (`invalid_path` ...)"),
        AuthErrors, InternalError,
        (status = 404, body = ErrorBody, description = "no such video for this tenant (`not_found`)"),
    ))]
pub async fn video(
    State(s): State<ApiState>,
    Tenant(tenant): Tenant,
    _: Consistent,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = AggregateId::new(id).map_err(|_| ApiError::not_found("video"))?;
    let k = key(tenant.as_str(), &[id.as_str().as_bytes()]);
    let video: Option<VideoEntry> = s.store.get_json(View::Videos, &k).map_err(internal)?;
    let stream: Option<StreamEntry> = s.store.get_json(View::Streams, &k).map_err(internal)?;
    if !video.is_some_and(|v| v.status.is_visible()) && stream.is_none() {
        return Err(ApiError::not_found("video"));
    }
    let (total, days) =
        crate::qoe::video_qoe(&s.store, tenant.as_str(), id.as_str()).map_err(internal)?;
    let days: Vec<Value> = days.iter().map(|(d, t)| day_json(d, t)).collect();
    Ok(Json(json!({"video_id": id.as_str(), "total": report(&total), "days": days})))
}

/// `GET /v1/qoe` parameters.
#[derive(Debug, Deserialize)]
pub struct RangeQuery {
    /// First day, `YYYY-MM-DD` (UTC); default 29 days before `to`.
    pub from: Option<String>,
    /// Last day, inclusive; default today.
    pub to: Option<String>,
}

fn parse_day(name: &str, v: &str) -> Result<Date, ApiError> {
    Date::parse(v, DAY).map_err(|_| {
        ApiError::bad_request("invalid_day", format!("{name} must be a day, YYYY-MM-DD"))
    })
}

/// `GET /v1/qoe?from=&to=`: the tenant's QoE per day and over the range (≤ 366 days).
#[utoipa::path(get, path = "/v1/qoe", tag = "videos", operation_id = "tenant_qoe",
    security(("bearer" = [])),
    params(
        ("from" = Option<String>, Query, description = "first day, `YYYY-MM-DD` UTC; default 29 days before `to`"),
        ("to" = Option<String>, Query, description = "last day (inclusive); default today"),
    ),
    responses(
        (status = 200, body = serde_json::Value, description = "`{\"from\", \"to\", \"total\": report, \"days\": [report + \"day\"]}`"),
        (status = 400, body = ErrorBody, description = "a bad day or range (`invalid_day`, `invalid_range`)"),
        AuthErrors, InternalError,
    ))]
pub async fn tenant(
    State(s): State<ApiState>,
    Tenant(tenant): Tenant,
    _: Consistent,
    Query(q): Query<RangeQuery>,
) -> Result<Json<Value>, ApiError> {
    let to = match &q.to {
        Some(v) => parse_day("to", v)?,
        None => OffsetDateTime::now_utc().date(),
    };
    let from = match &q.from {
        Some(v) => parse_day("from", v)?,
        None => to - Duration::days(29),
    };
    let span = (to - from).whole_days();
    if !(0..MAX_DAYS).contains(&span) {
        return Err(ApiError::bad_request(
            "invalid_range",
            format!("from must not be after to, and the range at most {MAX_DAYS} days"),
        ));
    }
    let fmt = |d: Date| views::day(d.midnight().assume_utc());
    let (from, to) = (fmt(from), fmt(to));
    let days = crate::qoe::tenant_qoe(&s.store, tenant.as_str(), &from, &to).map_err(internal)?;
    let total = days.iter().fold(QoeTally::default(), |t, (_, d)| t.merge(d));
    let days: Vec<Value> = days.iter().map(|(d, t)| day_json(d, t)).collect();
    Ok(Json(json!({"from": from, "to": to, "total": report(&total), "days": days})))
}
