//! `GET /v1/streams`, `GET /v1/streams/{id}` and `GET /v1/live` (streams live now). Stream keys
//! never appear: the directory only knows their generation.

use axum::extract::State;
use framelog_core::ApiError;
use framelog_core::error::extract::{Json, Path};
use framelog_core::openapi::{AuthErrors, ErrorBody, InternalError};
use framelog_core::tenants::Tenant;
use framelog_events::fold::{Session, StreamEntry};
use framelog_events::{AggregateId, TenantId};
use serde_json::{Value, json};

use super::videos::rfc3339;
use super::{ApiState, Consistent, internal};
use crate::store::{View, decode, key, tenant_prefix};

/// Every visible stream of a tenant, by id.
pub(crate) fn tenant_streams(
    s: &ApiState,
    tenant: &TenantId,
) -> Result<Vec<StreamEntry>, ApiError> {
    let mut out = Vec::new();
    for kv in s.store.tree(View::Streams).scan_prefix(tenant_prefix(tenant.as_str())) {
        let (_, v) = kv.map_err(|e| internal(e.into()))?;
        let e: StreamEntry = decode(View::Streams, &v).map_err(internal)?;
        if e.is_visible() {
            out.push(e);
        }
    }
    Ok(out)
}

fn session_json(s: &Session) -> Value {
    json!({
        "id": s.id,
        "started_at": s.started_at.map(rfc3339),
        "ended_at": s.ended_at.map(rfc3339),
        "duration_secs": s.duration_secs,
        "protocol": s.protocol,
        "server": s.server,
        "end_reason": s.end_reason,
        "recording_video_id": s.recording_video_id,
        "live": s.is_live(),
    })
}

fn stream_json(e: &StreamEntry, with_sessions: bool) -> Value {
    let mut v = json!({
        "id": e.id,
        "name": e.name,
        "record": e.record,
        "public": e.public,
        "key_generation": e.key_generation,
        "live": e.live_session().is_some(),
        "current_session": e.live_session().map(session_json),
        "created_at": rfc3339(e.created_at),
        "updated_at": rfc3339(e.updated_at),
    });
    if with_sessions {
        let mut sessions: Vec<&Session> = e.sessions.values().collect();
        sessions.sort_by(|a, b| {
            (b.started_at.or(b.ended_at), &b.id).cmp(&(a.started_at.or(a.ended_at), &a.id))
        });
        v["sessions"] = sessions.into_iter().map(session_json).collect();
    }
    v
}

/// `GET /v1/streams`: `{"streams": [...]}` without session history.
#[utoipa::path(get, path = "/v1/streams", tag = "live", operation_id = "list_streams",
    security(("bearer" = [])),
    params(
        ("after_seq" = Option<u64>, Query, description = "read after this `VID` sequence (a write's answer); waits, bounded"),
        ("X-After-Seq" = Option<u64>, Header, description = "as `after_seq`"),
    ),
    responses(
        (status = 200, body = serde_json::Value,
            description = "`{\"streams\": [...]}`: the tenant's live streams"),
        (status = 400, body = ErrorBody,
            description = "malformed input (`invalid_path`, `invalid_query`, `invalid_json` ...)"),
        AuthErrors, InternalError,
        (status = 504, body = ErrorBody,
            description = "the projection has not applied `after_seq` in time (`projection_lagging`)"),
    ))]
pub async fn list(
    State(s): State<ApiState>,
    Tenant(tenant): Tenant,
    _: Consistent,
) -> Result<Json<Value>, ApiError> {
    let streams: Vec<Value> =
        tenant_streams(&s, &tenant)?.iter().map(|e| stream_json(e, false)).collect();
    Ok(Json(json!({ "streams": streams })))
}

/// `GET /v1/streams/{id}`: the stream with its sessions, newest first.
#[utoipa::path(get, path = "/v1/streams/{id}", tag = "live", operation_id = "get_stream",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "the stream id"),
        ("after_seq" = Option<u64>, Query, description = "read after this `VID` sequence (a write's answer); waits, bounded"),
        ("X-After-Seq" = Option<u64>, Header, description = "as `after_seq`"),
    ),
    responses(
        (status = 200, body = serde_json::Value,
            description = "the stream's record and live session"),
        (status = 400, body = ErrorBody,
            description = "malformed input (`invalid_path`, `invalid_query`, `invalid_json` ...)"),
        AuthErrors, InternalError,
        (status = 404, body = ErrorBody,
            description = "no such resource for this tenant (`not_found`)"),
        (status = 504, body = ErrorBody,
            description = "the projection has not applied `after_seq` in time (`projection_lagging`)"),
    ))]
pub async fn show(
    State(s): State<ApiState>,
    Tenant(tenant): Tenant,
    _: Consistent,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let not_found = || ApiError::not_found("stream");
    let id = AggregateId::new(id).map_err(|_| not_found())?;
    let k = key(tenant.as_str(), &[id.as_str().as_bytes()]);
    let e: StreamEntry = s
        .store
        .get_json(View::Streams, &k)
        .map_err(internal)?
        .filter(StreamEntry::is_visible)
        .ok_or_else(not_found)?;
    Ok(Json(stream_json(&e, true)))
}

/// `GET /v1/live`: `{"live": [{stream_id, name, session_id, started_at, protocol}]}`.
#[utoipa::path(get, path = "/v1/live", tag = "live", operation_id = "list_live_now",
    security(("bearer" = [])),
    params(
        ("after_seq" = Option<u64>, Query, description = "read after this `VID` sequence (a write's answer); waits, bounded"),
        ("X-After-Seq" = Option<u64>, Header, description = "as `after_seq`"),
    ),
    responses(
        (status = 200, description = "the streams live now", body = serde_json::Value),
        (status = 400, body = ErrorBody,
            description = "malformed input (`invalid_path`, `invalid_query`, `invalid_json` ...)"),
        AuthErrors, InternalError,
        (status = 504, body = ErrorBody,
            description = "the projection has not applied `after_seq` in time (`projection_lagging`)"),
    ))]
pub async fn live_now(
    State(s): State<ApiState>,
    Tenant(tenant): Tenant,
    _: Consistent,
) -> Result<Json<Value>, ApiError> {
    let live: Vec<Value> = tenant_streams(&s, &tenant)?
        .iter()
        .filter_map(|e| {
            e.live_session().map(|sess| {
                json!({
                    "stream_id": e.id,
                    "name": e.name,
                    "session_id": sess.id,
                    "started_at": sess.started_at.map(rfc3339),
                    "protocol": sess.protocol,
                    "public": e.public,
                })
            })
        })
        .collect();
    Ok(Json(json!({ "live": live })))
}
