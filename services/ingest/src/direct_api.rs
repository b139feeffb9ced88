//! The tenant's side of direct uploads (API key):
//!
//! - `POST /v1/uploads/direct` `{cors_origin?, max_size?, expires_in?, title?, external_id?,
//!   metadata?}` → 201 `{id, video_id, url, expires_at, status: "waiting", ...}`; `url` is the
//!   tus endpoint, `<url>/rest/..` the REST protocol;
//! - `GET /v1/uploads/direct/{id}` → the same shape with its current status;
//! - `DELETE /v1/uploads/direct/{id}` → cancel (an open upload through it is aborted).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use framelog_core::ApiError;
use framelog_core::error::extract::{Json, Path};
use framelog_core::openapi::ErrorBody;
use framelog_core::tenants::Tenant;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::direct::{self, DirectUpload, Status, Stored};
use crate::lifecycle::{self, store_err};
use crate::session::SessionState;
use crate::state::IngestState;

/// Body of `POST /v1/uploads/direct`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDirectUpload {
    /// The one browser origin allowed to use the URL (`https://app.example`); absent: no CORS.
    #[serde(default)]
    pub cors_origin: Option<String>,
    /// Largest upload accepted through the URL, bytes.
    #[serde(default)]
    pub max_size: Option<u64>,
    /// Lifetime of the URL in seconds (default 3600, at most 604800).
    #[serde(default)]
    pub expires_in: Option<u64>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// A direct upload as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DirectUploadView {
    pub id: String,
    pub video_id: String,
    /// Only in the answer to the create: the token is not stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub status: Status,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: OffsetDateTime,
    pub cors_origin: Option<String>,
    pub max_size: Option<u64>,
    pub title: Option<String>,
    pub external_id: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub upload_id: Option<String>,
}

fn view(d: DirectUpload, status: Status, url: Option<String>) -> DirectUploadView {
    DirectUploadView {
        id: d.id,
        video_id: d.video_id.to_string(),
        url,
        status,
        created_at: d.created_at,
        expires_at: d.expires_at,
        cors_origin: d.cors_origin,
        max_size: d.max_size,
        title: d.title,
        external_id: d.external_id,
        metadata: d.metadata,
        upload_id: d.upload_id,
    }
}

fn invalid(m: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", m)
}

/// An origin as browsers send it: `scheme://host[:port]`, nothing after.
pub fn valid_origin(o: &str) -> bool {
    let Some(rest) = o.strip_prefix("https://").or_else(|| o.strip_prefix("http://")) else {
        return false;
    };
    !rest.is_empty()
        && rest.len() <= 253
        && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
}

/// Checks a create request (pure).
pub fn check(req: &CreateDirectUpload, max_upload: u64) -> Result<u64, ApiError> {
    if let Some(o) = &req.cors_origin
        && !valid_origin(o)
    {
        return Err(invalid("cors_origin must be an origin like https://app.example"));
    }
    if let Some(m) = req.max_size
        && (m == 0 || m > max_upload)
    {
        return Err(invalid(format!("max_size must be 1..={max_upload} bytes")));
    }
    let secs = req.expires_in.unwrap_or(direct::DEFAULT_EXPIRES_IN);
    if secs == 0 || secs > direct::MAX_EXPIRES_IN {
        return Err(invalid(format!("expires_in must be 1..={} seconds", direct::MAX_EXPIRES_IN)));
    }
    let text_ok = |s: &str, max: usize| s.len() <= max && !s.chars().any(char::is_control);
    if req.title.as_deref().is_some_and(|t| !text_ok(t, 512)) {
        return Err(invalid("title must be at most 512 bytes with no control characters"));
    }
    if req.external_id.as_deref().is_some_and(|t| !text_ok(t, 256)) {
        return Err(invalid("external_id must be at most 256 bytes with no control characters"));
    }
    if req.metadata.len() > 50
        || req.metadata.iter().any(|(k, v)| k.is_empty() || !text_ok(k, 64) || !text_ok(v, 1024))
    {
        return Err(invalid("metadata: at most 50 keys of 1-64 bytes, values up to 1024 bytes"));
    }
    Ok(secs)
}

/// The public base of URLs: `--public-url`, else `http://<Host>` (no proxy headers: ingest has
/// no trusted-proxy setting, so `X-Forwarded-*` could be anyone's).
fn public_base(st: &IngestState, headers: &HeaderMap) -> Result<String, ApiError> {
    if let Some(u) = &st.settings.public_url {
        return Ok(u.trim_end_matches('/').to_owned());
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic() && b != b'/'))
        .ok_or_else(|| ApiError::bad_request("missing_host", "the request has no usable Host"))?;
    Ok(format!("http://{host}"))
}

/// `POST /v1/uploads/direct`.
#[utoipa::path(post, path = "/v1/uploads/direct", tag = "uploads", operation_id = "create_direct_upload",
    security(("bearer" = [])),
    request_body(content = CreateDirectUpload, content_type = "application/json"),
    responses(
        (status = 201, body = DirectUploadView,
            description = "the direct upload; `url` (shown only here) is the tus endpoint, `<url>/rest` the REST protocol"),
        (status = 400, body = ErrorBody, description = "malformed JSON or an unusable Host for the URL"),
        (status = 401, body = ErrorBody, description = "missing or unknown API key (`unauthorized`)"),
        (status = 403, body = ErrorBody, description = "the API key lacks `uploads:write` (`insufficient_scope`)"),
        (status = 422, body = ErrorBody, description = "a field out of range (`expires_in`, `max_size`, `cors_origin` ...)"),
        (status = 503, body = ErrorBody, description = "NATS is unreachable"),
    ))]
pub async fn create(
    State(st): State<IngestState>,
    Tenant(tenant): Tenant,
    headers: HeaderMap,
    Json(req): Json<CreateDirectUpload>,
) -> Result<Response, ApiError> {
    let secs = check(&req, st.settings.max_upload_size)?;
    let base = public_base(&st, &headers)?;
    let now = OffsetDateTime::now_utc();
    let token = direct::new_token();
    let hash = direct::token_hash(&token).expect("a new token has a token's shape");
    let d = DirectUpload {
        id: framelog_core::new_id("du").to_string().replace('-', "_"),
        tenant,
        video_id: framelog_core::new_id("vid"),
        cors_origin: req.cors_origin,
        max_size: req.max_size,
        created_at: now,
        expires_at: now + time::Duration::seconds(secs as i64),
        title: req.title,
        external_id: req.external_id,
        metadata: req.metadata,
        status: Stored::Waiting,
        upload_id: None,
    };
    direct::insert(&st.sessions, &hash, &d).await.map_err(store_err)?;
    tracing::info!(tenant = %d.tenant, direct_id = %d.id, video_id = %d.video_id, "direct upload created");
    let url = format!("{base}/v1/direct/{token}");
    Ok((StatusCode::CREATED, axum::Json(view(d, Status::Waiting, Some(url)))).into_response())
}

/// Whether the upload bound to `d` completed.
async fn completed(st: &IngestState, d: &DirectUpload) -> Result<bool, ApiError> {
    let Some(up) = &d.upload_id else { return Ok(false) };
    let s = st.sessions.get(up).await.map_err(store_err)?;
    Ok(s.is_some_and(|s| matches!(s.state, SessionState::Completed { .. })))
}

/// `GET /v1/uploads/direct/{id}`.
#[utoipa::path(get, path = "/v1/uploads/direct/{id}", tag = "uploads", operation_id = "get_direct_upload",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "the direct upload id (`du_...`)")),
    responses(
        (status = 200, body = DirectUploadView, description = "the direct upload and its status (no URL)"),
        (status = 401, body = ErrorBody, description = "missing or unknown API key (`unauthorized`)"),
        (status = 403, body = ErrorBody, description = "the API key lacks `videos:read` (`insufficient_scope`)"),
        (status = 404, body = ErrorBody, description = "no such direct upload for this tenant (`not_found`)"),
        (status = 503, body = ErrorBody, description = "NATS is unreachable"),
    ))]
pub async fn show(
    State(st): State<IngestState>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (_, d) = direct::by_id(&st.sessions, &tenant, &id)
        .await
        .map_err(store_err)?
        .ok_or_else(|| ApiError::not_found("direct upload"))?;
    let status = d.status_at(OffsetDateTime::now_utc(), completed(&st, &d).await?);
    Ok(axum::Json(view(d, status, None)).into_response())
}

/// `DELETE /v1/uploads/direct/{id}`.
#[utoipa::path(delete, path = "/v1/uploads/direct/{id}", tag = "uploads", operation_id = "cancel_direct_upload",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "the direct upload id (`du_...`)")),
    responses(
        (status = 204, description = "cancelled (an upload in progress through it is aborted)"),
        (status = 401, body = ErrorBody, description = "missing or unknown API key (`unauthorized`)"),
        (status = 403, body = ErrorBody, description = "the API key lacks `uploads:write` (`insufficient_scope`)"),
        (status = 404, body = ErrorBody, description = "no such direct upload for this tenant (`not_found`)"),
        (status = 409, body = ErrorBody, description = "its video was already created (`direct_upload_completed`)"),
        (status = 410, body = ErrorBody, description = "already cancelled"),
        (status = 503, body = ErrorBody, description = "NATS is unreachable"),
    ))]
pub async fn cancel(
    State(st): State<IngestState>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (hash, d) = direct::by_id(&st.sessions, &tenant, &id)
        .await
        .map_err(store_err)?
        .ok_or_else(|| ApiError::not_found("direct upload"))?;
    if completed(&st, &d).await? {
        return Err(ApiError::conflict(
            "direct_upload_completed",
            "its video was created: DELETE /v1/videos/{id} removes it",
        ));
    }
    let Some(before) = direct::cancel(&st.sessions, &hash).await.map_err(store_err)? else {
        return Err(direct::cancelled());
    };
    if let Some(up) = &before.upload_id
        && let Some(s) = st.sessions.get(up).await.map_err(store_err)?
        && s.state == SessionState::Open
    {
        lifecycle::end(&st, &s, false).await?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_requests_are_checked_before_anything_is_stored() {
        let ok = CreateDirectUpload::default();
        assert_eq!(check(&ok, 100).unwrap(), 3600);
        let bad = |r: CreateDirectUpload| check(&r, 100).unwrap_err().status.as_u16();
        assert_eq!(bad(CreateDirectUpload { expires_in: Some(0), ..Default::default() }), 422);
        assert_eq!(
            bad(CreateDirectUpload { expires_in: Some(604_801), ..Default::default() }),
            422
        );
        assert_eq!(bad(CreateDirectUpload { max_size: Some(101), ..Default::default() }), 422);
        let origin =
            |o: &str| CreateDirectUpload { cors_origin: Some(o.into()), ..Default::default() };
        assert!(check(&origin("https://app.example:8443"), 100).is_ok());
        assert_eq!(bad(origin("https://app.example/path")), 422);
        assert_eq!(bad(origin("*")), 422);
    }
}
