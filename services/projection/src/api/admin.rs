//! `GET /v1/admin/projection/digest`: the digest of the views, to compare replicas or a
//! rebuilt store with a live one.
//!
//! Auth: `Authorization: Bearer <admin token>` (the `--projection-admin-token` setting, compared
//! in constant time) answers the digest of every view; a tenant API key answers the digest of
//! that tenant's keys only, so a tenant learns nothing about others. Anything else: 401.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use framelog_core::ApiError;
use framelog_core::error::extract::Json;
use framelog_core::nats::{STREAM_VID, STREAM_VIEW};
use framelog_core::openapi::{ErrorBody, InternalError};
use framelog_core::tenants::Tenant;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{ApiState, internal};

fn is_admin(parts: &Parts, s: &ApiState) -> bool {
    let Some(token) = s.settings.admin_token.as_deref().filter(|t| !t.is_empty()) else {
        return false;
    };
    let given = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("");
    // Hash both sides so the comparison takes the same time whatever the lengths.
    bool::from(Sha256::digest(given.as_bytes()).ct_eq(&Sha256::digest(token.as_bytes())))
}

/// Who asks for a digest.
pub enum Caller {
    Admin,
    Tenant(Tenant),
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &ApiState) -> Result<Self, ApiError> {
        if is_admin(parts, s) {
            return Ok(Caller::Admin);
        }
        Ok(Caller::Tenant(Tenant::from_request_parts(parts, s).await?))
    }
}

/// `{"scope": "all" | "tenant", "tenant"?, "digest", "applied": {"VID": n, "VID_VIEW": n}}`.
#[utoipa::path(get, path = "/v1/admin/projection/digest", tag = "events", operation_id = "projection_digest",
    security(("bearer" = [])),
    responses(
        (status = 200, body = serde_json::Value,
            description = "`{\"scope\": \"all\" | \"tenant\", \"digest\", \"applied\": {...}}`: the admin token sees every view, a tenant key its own"),
        (status = 401, body = ErrorBody,
            description = "neither the admin token nor an API key (`unauthorized`)"),
        (status = 403, body = ErrorBody,
            description = "the API key lacks the route's scope (`insufficient_scope`)"),
        InternalError,
        (status = 503, body = ErrorBody,
            description = "a dependency is unavailable (`unavailable`)"),
    ))]
pub async fn digest(State(s): State<ApiState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let applied = json!({
        STREAM_VID: s.store.applied(STREAM_VID).map_err(internal)?,
        STREAM_VIEW: s.store.applied(STREAM_VIEW).map_err(internal)?,
    });
    let store = s.store.clone();
    let tenant = match &caller {
        Caller::Admin => None,
        Caller::Tenant(Tenant(t)) => Some(t.clone()),
    };
    let t = tenant.clone();
    let digest = tokio::task::spawn_blocking(move || store.digest(t.as_ref()))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(internal)?;
    Ok(Json(match tenant {
        None => json!({ "scope": "all", "digest": digest, "applied": applied }),
        Some(t) => json!({ "scope": "tenant", "tenant": t, "digest": digest, "applied": applied }),
    }))
}
