//! `/v1/api-keys`: a tenant creates, lists and revokes its own API keys.
//!
//! Merged by `framelog serve` whenever a service with tenant APIs runs. The scope table makes
//! these routes `admin`-only; a key may still never mint a key with scopes it lacks (kept even
//! though only admin keys reach here, so loosening the table cannot escalate). Revoking the
//! last admin key is allowed: `framelog tenant key <tenant>` issues a new one.

use axum::Router;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api_keys::ApiKeyInfo;
use crate::error::ApiError;
use crate::error::extract::{Json, Path};
use crate::openapi::{AuthErrors, ErrorBody, JsonBodyErrors};
use crate::scopes::{Scope, ScopeSet};
use crate::tenants::{Principal, TenantError, TenantStore};

/// `POST /v1/api-keys` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CreateApiKeyRequest {
    /// A label for people (1 to 100 characters).
    pub name: String,
    /// Scope strings (`videos:read`, ..., `admin`); at least one.
    #[schema(value_type = Vec<Scope>, min_items = 1)]
    pub scopes: Vec<String>,
}

/// `POST /v1/api-keys` answer: the secret `key` is shown here once.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateApiKeyResponse {
    pub id: String,
    pub name: String,
    pub scopes: ScopeSet,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// The secret (`flk_...`), shown only here.
    pub key: String,
}

/// `GET /v1/api-keys` answer (never a secret or its hash).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyList {
    pub api_keys: Vec<ApiKeyInfo>,
}

/// The one list of the routes: the router and the OpenAPI part both come from it.
fn routes() -> OpenApiRouter<TenantStore> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(revoke))
}

/// The routes, with their state.
pub fn router(store: TenantStore) -> Router {
    routes().split_for_parts().0.with_state(store)
}

/// The routes' part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().split_for_parts().1
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

/// Creates a key with the given scopes (never more than the calling key holds).
#[utoipa::path(post, path = "/v1/api-keys", tag = "api-keys", operation_id = "create_api_key",
    security(("bearer" = [])),
    request_body(content = CreateApiKeyRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "the key; its secret `key` is shown only here",
            body = CreateApiKeyResponse),
        (status = 400, body = ErrorBody, description = "malformed JSON (`invalid_json`), an \
            unknown or empty scope list (`invalid_scope`), a bad name or too many keys \
            (`invalid_api_key`)"),
        (status = 404, description = "the tenant no longer exists (`not_found`)",
            body = ErrorBody),
        AuthErrors, JsonBodyErrors,
    ))]
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

/// The tenant's keys (never a secret or its hash).
#[utoipa::path(get, path = "/v1/api-keys", tag = "api-keys", operation_id = "list_api_keys",
    security(("bearer" = [])),
    responses((status = 200, description = "the tenant's keys", body = ApiKeyList), AuthErrors))]
async fn list(
    axum::extract::State(store): axum::extract::State<TenantStore>,
    who: Principal,
) -> Result<Json<ApiKeyList>, ApiError> {
    let api_keys = store.list_keys(&who.tenant).await.map_err(store_error)?;
    Ok(Json(ApiKeyList { api_keys }))
}

/// Revokes a key at once (the last admin key too).
#[utoipa::path(
    delete, path = "/v1/api-keys/{id}", tag = "api-keys", operation_id = "revoke_api_key",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "the key id")),
    responses(
        (status = 204, description = "revoked"),
        (status = 400, description = "malformed path (`invalid_path`)", body = ErrorBody),
        (status = 404, description = "no such key for this tenant (`not_found`)",
            body = ErrorBody),
        AuthErrors,
    ))]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_part_lists_the_three_operations_with_scopes_as_a_string_enum() {
        let v = serde_json::to_value(openapi()).unwrap();
        let p = &v["paths"];
        assert_eq!(p["/v1/api-keys"]["post"]["operationId"], "create_api_key");
        assert_eq!(p["/v1/api-keys"]["get"]["operationId"], "list_api_keys");
        assert_eq!(p["/v1/api-keys/{id}"]["delete"]["operationId"], "revoke_api_key");
        for op in [&p["/v1/api-keys"]["post"], &p["/v1/api-keys/{id}"]["delete"]] {
            assert_eq!(op["tags"][0], "api-keys");
            assert!(op["security"][0].get("bearer").is_some(), "{op}");
            assert!(op["responses"]["401"].is_object() && op["responses"]["404"].is_object());
        }
        let schemas = &v["components"]["schemas"];
        let scopes = schemas["Scope"]["enum"].as_array().expect("Scope is a string enum");
        assert!(scopes.contains(&"videos:read".into()) && scopes.contains(&"admin".into()));
        assert_eq!(schemas["ScopeSet"]["type"], "array", "{}", schemas["ScopeSet"]);
        assert_eq!(schemas["ApiKeyInfo"]["properties"]["created_at"]["format"], "date-time");
    }
}
