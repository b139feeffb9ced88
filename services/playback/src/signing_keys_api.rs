//! `/v1/signing-keys` (tenant API key): create a key pair for JWT playback (the private key is
//! in the 201 answer and nowhere else), list, show and delete the tenant's public keys.
//! Another tenant's key id is a 404.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use framelog_core::ApiError;
use framelog_core::error::extract::{Json, Path};
use framelog_core::openapi::{ErrorBody, InternalError};
use framelog_core::tenants::Tenant;
use http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::jwt::Alg;
use crate::keygen::{self, pem};
use crate::signing_keys::{SigningKeyError, SigningKeyRecord, new_kid};
use crate::state::PlaybackState;

/// Body of `POST /v1/signing-keys` (an empty body is `{}`).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSigningKey {
    /// `RS256` (default) or `ES256`.
    #[serde(default)]
    pub algorithm: Option<String>,
}

/// A key as listed and shown (no private key).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SigningKeyView {
    pub id: String,
    pub algorithm: Alg,
    /// SPKI PEM.
    pub public_key: String,
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// Answer of `POST /v1/signing-keys`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedSigningKey {
    #[serde(flatten)]
    pub key: SigningKeyView,
    /// PKCS#8 PEM, shown once.
    pub private_key: String,
}

/// Answer of `GET /v1/signing-keys` (named like `GET /v1/videos`'s `videos`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SigningKeyList {
    pub signing_keys: Vec<SigningKeyView>,
}

fn unavailable(e: SigningKeyError) -> ApiError {
    ApiError::unavailable(e.to_string())
}

fn view(r: &SigningKeyRecord) -> SigningKeyView {
    SigningKeyView {
        id: r.kid.clone(),
        algorithm: r.algorithm,
        public_key: pem("PUBLIC KEY", &r.public_der().unwrap_or_default()),
        created_at: r.created_at.clone(),
    }
}

/// `POST /v1/signing-keys` `{"algorithm"?: "RS256" | "ES256"}` → 201.
#[utoipa::path(post, path = "/v1/signing-keys", tag = "signing keys", operation_id = "create_signing_key",
    security(("bearer" = [])),
    request_body(content = CreateSigningKey, content_type = "application/json",
        description = "optional: an empty body makes an RS256 key"),
    responses(
        (status = 201, body = CreatedSigningKey,
            description = "the key pair: `private_key` (PKCS#8 PEM) is shown only here, never stored"),
        (status = 400, body = ErrorBody, description = "malformed JSON (`invalid_json`) or `invalid_algorithm`"),
        (status = 401, body = ErrorBody, description = "missing or unknown API key (`unauthorized`)"),
        (status = 403, body = ErrorBody, description = "the API key lacks `signing_keys:write` (`insufficient_scope`)"),
        (status = 503, body = ErrorBody, description = "NATS is unreachable"),
        InternalError,
    ))]
pub async fn create(
    State(st): State<PlaybackState>,
    Tenant(tenant): Tenant,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: CreateSigningKey = if body.iter().all(u8::is_ascii_whitespace) {
        CreateSigningKey::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request("invalid_json", e.to_string()))?
    };
    let alg = match req.algorithm.as_deref() {
        None => Alg::RS256,
        Some(a) => Alg::parse(a).ok_or_else(|| {
            ApiError::bad_request("invalid_algorithm", "algorithm must be RS256 or ES256")
        })?,
    };
    let pair = tokio::task::spawn_blocking(move || keygen::generate(alg))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(|e| ApiError::internal(&e))?;
    let created_at = st
        .now()
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| ApiError::internal(&e))?;
    let rec = SigningKeyRecord {
        tenant: tenant.to_string(),
        kid: new_kid().map_err(|e| ApiError::internal(&e))?,
        algorithm: alg,
        public_key: base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            &pair.public_der,
        ),
        created_at,
    };
    st.signing_keys.create(&rec).await.map_err(unavailable)?;
    let out = CreatedSigningKey { key: view(&rec), private_key: pair.private_pem };
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

/// `GET /v1/signing-keys`.
#[utoipa::path(get, path = "/v1/signing-keys", tag = "signing keys", operation_id = "list_signing_keys",
    security(("bearer" = [])),
    responses(
        (status = 200, body = SigningKeyList, description = "the tenant's public keys"),
        (status = 401, body = ErrorBody, description = "missing or unknown API key (`unauthorized`)"),
        (status = 403, body = ErrorBody, description = "the API key lacks `signing_keys:write` (`insufficient_scope`)"),
        (status = 503, body = ErrorBody, description = "NATS is unreachable"),
    ))]
pub async fn list(
    State(st): State<PlaybackState>,
    Tenant(tenant): Tenant,
) -> Result<Json<SigningKeyList>, ApiError> {
    let recs = st.signing_keys.list(tenant.as_str()).await.map_err(unavailable)?;
    Ok(Json(SigningKeyList { signing_keys: recs.iter().map(view).collect() }))
}

/// `GET /v1/signing-keys/{id}`.
#[utoipa::path(get, path = "/v1/signing-keys/{id}", tag = "signing keys", operation_id = "get_signing_key",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "the key id (`sk_...`, the JWT's `kid`)")),
    responses(
        (status = 200, body = SigningKeyView, description = "the public key"),
        (status = 404, body = ErrorBody, description = "no such key for this tenant (`not_found`)"),
        (status = 401, body = ErrorBody, description = "missing or unknown API key (`unauthorized`)"),
        (status = 403, body = ErrorBody, description = "the API key lacks `signing_keys:write` (`insufficient_scope`)"),
        (status = 503, body = ErrorBody, description = "NATS is unreachable"),
    ))]
pub async fn get(
    State(st): State<PlaybackState>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
) -> Result<Json<SigningKeyView>, ApiError> {
    let rec = st.signing_keys.get(tenant.as_str(), &id).await.map_err(unavailable)?;
    rec.map(|r| Json(view(&r))).ok_or_else(|| ApiError::not_found("signing key"))
}

/// `DELETE /v1/signing-keys/{id}` → 204; tokens signed with it stop playing at once.
#[utoipa::path(delete, path = "/v1/signing-keys/{id}", tag = "signing keys", operation_id = "delete_signing_key",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "the key id (`sk_...`)")),
    responses(
        (status = 204, description = "deleted: tokens signed with it answer 403 at once on every replica"),
        (status = 404, body = ErrorBody, description = "no such key for this tenant (`not_found`)"),
        (status = 401, body = ErrorBody, description = "missing or unknown API key (`unauthorized`)"),
        (status = 403, body = ErrorBody, description = "the API key lacks `signing_keys:write` (`insufficient_scope`)"),
        (status = 503, body = ErrorBody, description = "NATS is unreachable"),
    ))]
pub async fn delete(
    State(st): State<PlaybackState>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if st.signing_keys.delete(tenant.as_str(), &id).await.map_err(unavailable)? {
        st.keys.apply(&id, async_nats::jetstream::kv::Operation::Delete, b"");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("signing key"))
    }
}
