//! The webhook routes (INTERFACE18): endpoints CRUD, secret rotation, replay, a test
//! delivery and the attempts log. Every route takes `Tenant`; scopes are checked by the
//! extractor. Another tenant's endpoint id answers 404, like a missing one.

use axum::extract::State;
use axum::http::StatusCode;
use framelog_core::ApiError;
use framelog_core::error::extract::{Json, Path, Query};
use framelog_core::openapi::{AuthErrors, ErrorBody, JsonBodyErrors};
use framelog_core::outbound::{self, OutboundError};
use framelog_core::tenants::Tenant;
use serde_json::json;
use time::OffsetDateTime;

pub use crate::api_types::*;
use crate::attempts;
use crate::endpoints::{self, DisabledReason, Endpoint, SecretRecord, StoreError};
use crate::queue::{self, DeliveryJob};
use crate::state::DeliveryState;
use crate::{replay, sign};

/// Longest description.
pub const MAX_DESCRIPTION: usize = 512;
/// Most event-type filters on one endpoint.
pub const MAX_EVENT_TYPES: usize = 64;

fn store_err(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict => ApiError::conflict("conflict", e.to_string()),
        other => ApiError::internal(&other),
    }
}

fn check_url(st: &DeliveryState, url: &str) -> Result<(), ApiError> {
    match outbound::check_url(url, st.policy) {
        Ok(_) => Ok(()),
        Err(OutboundError::Forbidden(h)) => Err(ApiError::bad_request(
            "url_not_allowed",
            format!("{h} is not a public address (loopback, private and link-local are refused)"),
        )),
        Err(e) => Err(ApiError::bad_request("invalid_url", e.to_string())),
    }
}

fn check_fields(types: &[String], description: &str) -> Result<(), ApiError> {
    if types.len() > MAX_EVENT_TYPES {
        return Err(ApiError::bad_request("invalid_event_types", "too many event types"));
    }
    if let Some(bad) = types.iter().find(|t| !endpoints::valid_event_type(t)) {
        return Err(ApiError::bad_request(
            "invalid_event_types",
            format!("unknown event type {bad:?} (e.g. VID_READY or VID_UPLOAD.completed)"),
        ));
    }
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(ApiError::bad_request("invalid_description", "description is too long"));
    }
    Ok(())
}

async fn found(st: &DeliveryState, tenant: &Tenant, id: &str) -> Result<Endpoint, ApiError> {
    match st.endpoints.get(&tenant.0, id).await.map_err(store_err)? {
        Some((e, _)) => Ok(e),
        None => Err(ApiError::not_found("webhook endpoint")),
    }
}

/// Registers an endpoint; the answer carries its signing `secret`.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", operation_id = "create_webhook",
    security(("bearer" = [])),
    request_body(content = CreateEndpoint, content_type = "application/json"),
    responses(
        (status = 201, description = "the endpoint, with its `secret`", body = EndpointView),
        (status = 400, body = ErrorBody, description = "malformed JSON (`invalid_json`), \
            `url_not_allowed`, `invalid_url`, `invalid_event_types`, `invalid_description`"),
        (status = 500, body = ErrorBody, description = "unexpected failure, logged (`internal`)"),
        AuthErrors, JsonBodyErrors,
    ))]
pub async fn create(
    State(st): State<DeliveryState>,
    tenant: Tenant,
    Json(req): Json<CreateEndpoint>,
) -> Result<(StatusCode, Json<EndpointView>), ApiError> {
    check_url(&st, &req.url)?;
    check_fields(&req.event_types, &req.description)?;
    let now = OffsetDateTime::now_utc();
    let secret = sign::new_secret();
    let e = Endpoint {
        id: framelog_core::new_id("whe").to_string(),
        tenant: tenant.0,
        url: req.url,
        event_types: req.event_types,
        description: req.description,
        enabled: req.enabled,
        disabled_reason: (!req.enabled).then_some(DisabledReason::Manual),
        secrets: vec![SecretRecord { secret: secret.clone(), created_at: now, not_after: None }],
        created_at: now,
        updated_at: now,
    };
    st.endpoints.create(&e).await.map_err(store_err)?;
    Ok((StatusCode::CREATED, Json(EndpointView::of(&e, Some(secret)))))
}

/// The tenant's endpoints (no secrets).
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks", operation_id = "list_webhooks",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the tenant's endpoints", body = EndpointList),
        (status = 500, body = ErrorBody, description = "unexpected failure, logged (`internal`)"),
        AuthErrors,
    ))]
pub async fn list(
    State(st): State<DeliveryState>,
    tenant: Tenant,
) -> Result<Json<EndpointList>, ApiError> {
    let all = st.endpoints.list(&tenant.0).await.map_err(store_err)?;
    Ok(Json(EndpointList { endpoints: all.iter().map(|e| EndpointView::of(e, None)).collect() }))
}

/// One endpoint (no secret).
#[utoipa::path(get, path = "/v1/webhooks/{id}", tag = "webhooks", operation_id = "get_webhook",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "the endpoint id")),
    responses(
        (status = 200, description = "the endpoint", body = EndpointView),
        (status = 400, description = "malformed path (`invalid_path`)", body = ErrorBody),
        EndpointErrors, AuthErrors,
    ))]
pub async fn get(
    State(st): State<DeliveryState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> Result<Json<EndpointView>, ApiError> {
    Ok(Json(EndpointView::of(&found(&st, &tenant, &id).await?, None)))
}

/// Changes the fields given; `enabled: true` re-enables a disabled endpoint.
#[utoipa::path(patch, path = "/v1/webhooks/{id}", tag = "webhooks", operation_id = "update_webhook",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "the endpoint id")),
    request_body(content = UpdateEndpoint, content_type = "application/json"),
    responses(
        (status = 200, body = EndpointView, description = "the endpoint as changed"),
        (status = 400, body = ErrorBody, description = "malformed path or JSON (`invalid_path`, \
            `invalid_json`), `url_not_allowed`, `invalid_url`, `invalid_event_types`, \
            `invalid_description`"),
        (status = 409, body = ErrorBody,
            description = "changed concurrently too often; retry (`conflict`)"),
        EndpointErrors, AuthErrors, JsonBodyErrors,
    ))]
pub async fn update(
    State(st): State<DeliveryState>,
    tenant: Tenant,
    Path(id): Path<String>,
    Json(req): Json<UpdateEndpoint>,
) -> Result<Json<EndpointView>, ApiError> {
    if let Some(u) = &req.url {
        check_url(&st, u)?;
    }
    check_fields(
        req.event_types.as_deref().unwrap_or_default(),
        req.description.as_deref().unwrap_or(""),
    )?;
    let e = st
        .endpoints
        .modify(&tenant.0, &id, |e| {
            if let Some(u) = &req.url {
                e.url = u.clone();
            }
            if let Some(t) = &req.event_types {
                e.event_types = t.clone();
            }
            if let Some(d) = &req.description {
                e.description = d.clone();
            }
            if let Some(on) = req.enabled {
                e.enabled = on;
                e.disabled_reason = (!on).then_some(DisabledReason::Manual);
            }
        })
        .await
        .map_err(store_err)?
        .ok_or_else(|| ApiError::not_found("webhook endpoint"))?;
    Ok(Json(EndpointView::of(&e, None)))
}

/// Deletes the endpoint; nothing more is delivered to it.
#[utoipa::path(
    delete, path = "/v1/webhooks/{id}", operation_id = "delete_webhook", tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "the endpoint id")),
    responses(
        (status = 204, description = "deleted"),
        (status = 400, description = "malformed path (`invalid_path`)", body = ErrorBody),
        EndpointErrors, AuthErrors,
    ))]
pub async fn delete(
    State(st): State<DeliveryState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if st.endpoints.delete(&tenant.0, &id).await.map_err(store_err)? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("webhook endpoint"))
    }
}

/// A new signing secret; the previous one keeps signing for the overlap.
#[utoipa::path(
    post, path = "/v1/webhooks/{id}/secret/rotate", tag = "webhooks",
    operation_id = "rotate_webhook_secret",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "the endpoint id"), RotateQuery),
    responses(
        (status = 200, body = EndpointView, description = "the endpoint, with its new `secret`"),
        (status = 400, body = ErrorBody,
            description = "malformed path or query (`invalid_path`, `invalid_query`)"),
        (status = 409, body = ErrorBody,
            description = "changed concurrently too often; retry (`conflict`)"),
        EndpointErrors, AuthErrors,
    ))]
pub async fn rotate(
    State(st): State<DeliveryState>,
    tenant: Tenant,
    Path(id): Path<String>,
    Query(q): Query<RotateQuery>,
) -> Result<Json<EndpointView>, ApiError> {
    let overlap = q.overlap_secs.unwrap_or(st.settings.rotation_overlap_secs).min(7 * 24 * 3600);
    let secret = sign::new_secret();
    let now = OffsetDateTime::now_utc();
    let until = now + time::Duration::seconds(i64::try_from(overlap).unwrap_or(0));
    let e = st
        .endpoints
        .modify(&tenant.0, &id, |e| e.rotate(secret.clone(), now, until))
        .await
        .map_err(store_err)?
        .ok_or_else(|| ApiError::not_found("webhook endpoint"))?;
    Ok(Json(EndpointView::of(&e, Some(secret))))
}

/// The endpoint's recent delivery attempts (bounded log).
#[utoipa::path(
    get, path = "/v1/webhooks/{id}/attempts", tag = "webhooks",
    operation_id = "list_webhook_attempts",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "the endpoint id")),
    responses(
        (status = 200, body = AttemptList, description = "the attempts, oldest first"),
        (status = 400, description = "malformed path (`invalid_path`)", body = ErrorBody),
        EndpointErrors, AuthErrors,
    ))]
pub async fn attempts(
    State(st): State<DeliveryState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> Result<Json<AttemptList>, ApiError> {
    let e = found(&st, &tenant, &id).await?;
    let list = attempts::list(&st.nats, &st.js, e.tenant.as_str(), &e.id)
        .await
        .map_err(|m| ApiError::unavailable(format!("the attempts log is unreadable: {m}")))?;
    Ok(Json(AttemptList { attempts: list }))
}

/// Queues again the endpoint's events since a time.
#[utoipa::path(
    post, path = "/v1/webhooks/{id}/replay", operation_id = "replay_webhook", tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "the endpoint id"), ReplayQuery),
    responses(
        (status = 202, description = "deliveries queued", body = ReplayQueued),
        (status = 400, body = ErrorBody, description = "malformed path or query (`invalid_path`, \
            `invalid_query`, `invalid_since`)"),
        EndpointErrors, AuthErrors,
    ))]
pub async fn replay(
    State(st): State<DeliveryState>,
    tenant: Tenant,
    Path(id): Path<String>,
    Query(q): Query<ReplayQuery>,
) -> Result<(StatusCode, Json<ReplayQueued>), ApiError> {
    let since = OffsetDateTime::parse(&q.since, &time::format_description::well_known::Rfc3339)
        .map_err(|_| ApiError::bad_request("invalid_since", "since must be an RFC 3339 time"))?;
    let e = found(&st, &tenant, &id).await?;
    let queued = replay::replay(&st.nats, &st.js, &e, since)
        .await
        .map_err(|m| ApiError::unavailable(format!("replay failed: {m}")))?;
    Ok((StatusCode::ACCEPTED, Json(ReplayQueued { queued })))
}

/// `POST /v1/webhooks/{id}/test`: queues a `WEBHOOK_TEST` delivery to the endpoint.
#[utoipa::path(
    post, path = "/v1/webhooks/{id}/test", operation_id = "test_webhook", tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "the endpoint id")),
    responses(
        (status = 202, body = TestQueued, description = "a `WEBHOOK_TEST` delivery queued"),
        (status = 400, description = "malformed path (`invalid_path`)", body = ErrorBody),
        EndpointErrors, AuthErrors,
    ))]
pub async fn test(
    State(st): State<DeliveryState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<TestQueued>), ApiError> {
    let e = found(&st, &tenant, &id).await?;
    let event_id = uuid::Uuid::now_v7().to_string();
    let now = OffsetDateTime::now_utc();
    let ts = now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    let body = json!({"type": "WEBHOOK_TEST", "phase": "test", "timestamp": ts,
        "id": event_id, "subject": e.id, "data": {}});
    let job = DeliveryJob {
        tenant: e.tenant.to_string(),
        endpoint: e.id.clone(),
        webhook_id: queue::webhook_id(&event_id, &e.id),
        event_id: event_id.clone(),
        event_type: "WEBHOOK_TEST".into(),
        body: body.to_string(),
    };
    queue::enqueue(&st.js, &job, &format!("{event_id}.{}", e.id))
        .await
        .map_err(|err| ApiError::unavailable(err.to_string()))?;
    Ok((StatusCode::ACCEPTED, Json(TestQueued { webhook_id: job.webhook_id })))
}
