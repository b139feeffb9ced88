//! `/v1/api-keys`: a tenant creates, lists and revokes its own API keys.
//!
//! Merged by `framelog serve` whenever a service with tenant APIs runs. The scope table makes
//! these routes `admin`-only; a key may still never mint a key with scopes it lacks (kept even
//! though only admin keys reach here, so loosening the table cannot escalate). Revoking the
//! last admin key is allowed: `framelog tenant key <tenant>` issues a new one.

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{delete, get};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::api_keys::ApiKeyInfo;
use crate::error::ApiError;
use crate::error::extract::{Json, Path};
use crate::scopes::{Scope, ScopeSet};
use crate::tenants::{Principal, TenantError, TenantStore};

/// `POST /v1/api-keys` body.
#[derive(Debug, Clone, Deserialize)]
pub struct CreateApiKeyRequest {
    /// A label for people (1 to 100 characters).
    pub name: String,
    /// Scope strings (`videos:read`, ..., `admin`); at least one.
    pub scopes: Vec<String>,
}

/// `POST /v1/api-keys` answer: the secret `key` is shown here once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateApiKeyResponse {
    pub id: String,
    pub name: String,
    pub scopes: ScopeSet,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub key: String,
}

/// `GET /v1/api-keys` answer (never a secret or its hash).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiKeyList {
    pub api_keys: Vec<ApiKeyInfo>,
}

/// The routes, with their state.
pub fn router(store: TenantStore) -> Router {
    Router::new()
        .route("/v1/api-keys", get(list).post(create))
        .route("/v1/api-keys/{id}", delete(revoke))
        .with_state(store)
}

fn store_error(e: TenantError) -> ApiError {
    match e {
        TenantError::Invalid(m) => ApiError::bad_request("invalid_api_key", m),
        TenantError::Missing(_) => ApiError::not_found("tenant"),
        e => ApiError::unavailable(e.to_string()),
    }
}

/// Parses the scope strings; the error lists the valid scopes.
pub fn parse_scopes(given: &[String]) -> Result<ScopeSet, ApiError> {
    if given.is_empty() {
        return Err(ApiError::bad_request("invalid_scope", "scopes must name at least one scope"));
    }
    given
        .iter()
        .map(|s| s.parse::<Scope>())
        .collect::<Result<ScopeSet, _>>()
        .map_err(|e| ApiError::bad_request("invalid_scope", e.to_string()))
}

async fn create(
    axum::extract::State(store): axum::extract::State<TenantStore>,
    who: Principal,
    Json(req): Json<CreateApiKeyRequest>,
) -> Result<(StatusCode, Json<CreateApiKeyResponse>), ApiError> {
    let scopes = parse_scopes(&req.scopes)?;
    if !who.scopes.covers(&scopes) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "a key may not create a key with scopes it lacks",
        ));
    }
    let new = store.create_key(&who.tenant, &req.name, scopes).await.map_err(store_error)?;
    Ok((
        StatusCode::CREATED,
        Json(CreateApiKeyResponse {
            id: new.info.id,
            name: new.info.name,
            scopes: new.info.scopes,
            created_at: new.info.created_at,
            key: new.key,
        }),
    ))
}

async fn list(
    axum::extract::State(store): axum::extract::State<TenantStore>,
    who: Principal,
) -> Result<Json<ApiKeyList>, ApiError> {
    let api_keys = store.list_keys(&who.tenant).await.map_err(store_error)?;
    Ok(Json(ApiKeyList { api_keys }))
}

async fn revoke(
    axum::extract::State(store): axum::extract::State<TenantStore>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if store.revoke_key(&who.tenant, &id).await.map_err(store_error)? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("API key"))
    }
}
