//! The REST chunked upload protocol:
//!
//! - `POST /v1/videos/upload` `{filename, size, content_type?, sha256?}` → 201 with the chunk plan
//! - `PUT /v1/videos/upload/{id}/chunk/{n}` raw bytes, optional `Content-Digest: sha-256=:<b64>:`
//!   or `X-Chunk-SHA256: <hex>`; any order, in parallel, idempotent for identical bytes
//! - `GET /v1/videos/upload/{id}` → received chunk ranges (to resume)
//! - `POST /v1/videos/upload/{id}/complete` → verify, probe, publish (idempotent)
//! - `DELETE /v1/videos/upload/{id}` → abort and free the space
//!
//! A 2xx for a chunk means its bytes are fsynced and its record is in sled (flushed).

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use framelog_core::ApiError;
use framelog_core::error::extract::{Json, Path};
use framelog_core::openapi::{AuthErrors, ErrorBody, InternalError, JsonBodyErrors, ServerErrors};
use framelog_events::{SourceKind, UploadProtocol};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::direct_auth::{Principal, load_for, open_upload};
use crate::files::{self, BodyEnd, PartFile, part_path};
use crate::lifecycle::{self, NewUpload, store_err};
use crate::session::{ChunkRecord, SessionState, StoreError, UploadSession, ranges};
use crate::state::IngestState;

/// Body of `POST /v1/videos/upload`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUpload {
    pub filename: String,
    pub size: u64,
    #[serde(default)]
    pub content_type: Option<String>,
    /// Whole-file sha256, hex.
    #[serde(default)]
    pub sha256: Option<String>,
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

fn valid_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `POST /v1/videos/upload`.
#[utoipa::path(post, path = "/v1/videos/upload", tag = "uploads", operation_id = "create_upload",
    security(("bearer" = [])),
    request_body(content = CreateUpload, content_type = "application/json"),
    responses(
        (status = 201, body = serde_json::Value,
            description = "the upload: `upload_id`, `video_id`, `chunk_size`, `total_chunks`, `expires_at`, `sequence`"),
        (status = 400, body = ErrorBody,
            description = "malformed input (`invalid_path`, `invalid_query`, `invalid_json` ...)"),
        AuthErrors, JsonBodyErrors, ServerErrors,
        (status = 429, description = "over the rate or session limit", body = ErrorBody),
    ))]
pub async fn create(
    State(st): State<IngestState>,
    p: Principal,
    Json(req): Json<CreateUpload>,
) -> Result<Response, ApiError> {
    if req.filename.trim().is_empty() || req.filename.len() > 1024 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "filename must be 1-1024 bytes",
        ));
    }
    if let Some(ct) = &req.content_type
        && (ct.len() > 255 || ct.chars().any(|c| c.is_control()))
    {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "content_type is not a valid media type",
        ));
    }
    let sha256 = match req.sha256 {
        Some(h) if valid_sha256_hex(&h) => Some(h.to_ascii_lowercase()),
        Some(_) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                "sha256 must be 64 hex digits",
            ));
        }
        None => None,
    };
    let (s, published) = open_upload(
        &st,
        &p,
        NewUpload {
            tenant: p.tenant.clone(),
            protocol: UploadProtocol::Rest,
            source: SourceKind::Upload,
            stream_id: None,
            filename: req.filename,
            content_type: req.content_type,
            size: req.size,
            expected_sha256: sha256,
            tus_metadata: None,
            preset: None,
        },
    )
    .await?;
    let body = json!({
        "upload_id": s.upload_id,
        "video_id": s.video_id,
        "chunk_size": s.chunk_size,
        "total_chunks": s.total_chunks(),
        "expires_at": rfc3339(lifecycle::expires_at(&st, &s)),
        "sequence": published.sequence(),
    });
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

/// The digest a client sent for a chunk, if any.
fn chunk_digest(headers: &HeaderMap) -> Result<Option<[u8; 32]>, ApiError> {
    let bad = |m: &str| ApiError::bad_request("invalid_digest_header", m.to_owned());
    if let Some(v) = headers.get("content-digest") {
        let v = v.to_str().map_err(|_| bad("Content-Digest is not ASCII"))?;
        // RFC 9530: `sha-256=:<base64>:` possibly among other algorithms.
        for item in v.split(',') {
            let item = item.trim();
            if let Some(rest) = item.strip_prefix("sha-256=:").and_then(|r| r.strip_suffix(':')) {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(rest)
                    .map_err(|_| bad("Content-Digest sha-256 is not base64"))?;
                let arr: [u8; 32] =
                    raw.try_into().map_err(|_| bad("Content-Digest sha-256 is not 32 bytes"))?;
                return Ok(Some(arr));
            }
        }
        return Err(bad("Content-Digest must include sha-256=:<base64>:"));
    }
    if let Some(v) = headers.get("x-chunk-sha256") {
        let v = v.to_str().map_err(|_| bad("X-Chunk-SHA256 is not ASCII"))?;
        let raw = hex::decode(v.trim()).map_err(|_| bad("X-Chunk-SHA256 is not hex"))?;
        let arr: [u8; 32] = raw.try_into().map_err(|_| bad("X-Chunk-SHA256 is not 32 bytes"))?;
        return Ok(Some(arr));
    }
    Ok(None)
}

/// `PUT /v1/videos/upload/{id}/chunk/{n}`.
#[utoipa::path(put, path = "/v1/videos/upload/{id}/chunk/{n}", tag = "uploads", operation_id = "put_upload_chunk",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "the upload id"),
        ("n" = u64, Path, description = "the chunk number, from 0"),
    ),
    request_body(content = String, content_type = "application/octet-stream", description = "the chunk's bytes; optional `Digest: sha-256=<base64>`"),
    responses(
        (status = 200, body = serde_json::Value,
            description = "chunk stored: `upload_id`, `chunk`, `duplicate`, `received_chunks`, `total_chunks`, `complete`"),
        (status = 400, body = ErrorBody,
            description = "malformed input (`invalid_path`, `invalid_query`, `invalid_json` ...)"),
        AuthErrors, ServerErrors,
        (status = 404, body = ErrorBody,
            description = "no such resource for this tenant (`not_found`)"),
        (status = 409, description = "conflicts with the resource's state", body = ErrorBody),
        (status = 410, description = "the upload ended or expired", body = ErrorBody),
    ))]
pub async fn put_chunk(
    State(st): State<IngestState>,
    p: Principal,
    Path((id, n)): Path<(String, u64)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let s = load_for(&st, &p, &id).await?;
    if s.state != SessionState::Open {
        return Err(lifecycle::not_open(&s));
    }
    if n >= s.total_chunks() {
        return Err(ApiError::bad_request(
            "chunk_out_of_range",
            format!("chunk {n} is out of range: this upload has chunks 0..{}", s.total_chunks()),
        ));
    }
    let want_len = s.chunk_len(n);
    let digest = chunk_digest(&headers)?;
    let Some(_claim) = st.claim_chunk(&id, n) else {
        return Err(ApiError::conflict(
            "chunk_in_progress",
            format!("chunk {n} is being received by another request"),
        ));
    };
    if let Some(su) = &s.store_upload {
        return crate::rest_store::put_chunk(&st, &s, su, n, digest, body).await;
    }
    let file = PartFile::open(part_path(&st.uploads_dir, &id)).await.map_err(io_err)?;
    let offset = n * s.chunk_size;
    let wrong_len = |got: String| {
        ApiError::bad_request(
            "chunk_length_mismatch",
            format!("chunk {n} must be exactly {want_len} bytes, got {got}"),
        )
    };
    // A chunk that already arrived is never overwritten: compare, answer, keep the original.
    if let Some(prev) = st.sessions.chunk(&id, n).await.map_err(store_err)? {
        let bytes = axum::body::to_bytes(body, want_len as usize + 1)
            .await
            .map_err(|_| wrong_len("more".into()))?;
        if bytes.len() as u64 != want_len {
            return Err(wrong_len(bytes.len().to_string()));
        }
        if let Some(d) = digest
            && <[u8; 32]>::from(Sha256::digest(&bytes)) != d
        {
            return Err(digest_mismatch(n));
        }
        let same = match prev.digest {
            Some(h) => <[u8; 32]>::from(Sha256::digest(&bytes)) == h,
            None => files::read_at(&file, offset, bytes.len()).await.map_err(io_err)? == bytes,
        };
        if same {
            return chunk_answer(&st, &s, n, true).await;
        }
        return Err(ApiError::conflict(
            "chunk_conflict",
            format!("chunk {n} was already received with different bytes"),
        ));
    }
    // A new chunk streams straight to its offset; it only counts once its length (and digest,
    // when one was sent) check out and it is recorded, so a bad chunk leaves nothing behind.
    let mut hasher = digest.map(|_| Sha256::new());
    let mut running = crate::rest_store::running_hash(&s, offset);
    let (written, end) = files::stream_body(&file, offset, want_len, body, |b| {
        if let Some(h) = hasher.as_mut() {
            h.update(b);
        }
        if let Some(h) = running.as_mut() {
            h.update(b);
        }
    })
    .await
    .map_err(io_err)?;
    crate::metrics::IngestMetrics::of(&st.platform.metrics).received(s.protocol, written);
    match end {
        BodyEnd::TooLong => return Err(wrong_len("more".into())),
        BodyEnd::Cut => {
            return Err(ApiError::bad_request("body_incomplete", "the request body ended early"));
        }
        BodyEnd::Complete if written != want_len => return Err(wrong_len(written.to_string())),
        BodyEnd::Complete => {}
    }
    let recorded = match (digest, hasher) {
        (Some(d), Some(h)) => {
            let actual: [u8; 32] = h.finalize().into();
            if actual != d {
                return Err(digest_mismatch(n));
            }
            Some(actual)
        }
        _ => None,
    };
    file.sync().await.map_err(io_err)?;
    let record = ChunkRecord { digest: recorded, etag: None };
    match st.sessions.record_chunk(&id, n, record, OffsetDateTime::now_utc()).await {
        Ok(()) => {}
        Err(StoreError::Changed) => {
            let now = load_for(&st, &p, &id).await?;
            return Err(lifecycle::not_open(&now));
        }
        Err(e) => return Err(store_err(e)),
    }
    if let Some(h) = running {
        crate::rest_store::advance_hash(&st, &id, offset, h).await;
    }
    st.sessions.flush().await.map_err(store_err)?;
    chunk_answer(&st, &s, n, false).await
}

pub(crate) fn digest_mismatch(n: u64) -> ApiError {
    ApiError::bad_request(
        "digest_mismatch",
        format!("chunk {n} does not match its digest; nothing was kept"),
    )
}

pub(crate) fn io_err(e: std::io::Error) -> ApiError {
    if files::is_disk_full(&e) {
        ApiError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "insufficient_storage",
            "no space left to store the upload",
        )
    } else {
        ApiError::internal(&e)
    }
}

pub(crate) async fn chunk_answer(
    st: &IngestState,
    s: &UploadSession,
    n: u64,
    duplicate: bool,
) -> Result<Response, ApiError> {
    let received = st.sessions.received_chunks(&s.upload_id).await.map_err(store_err)?;
    Ok(axum::Json(json!({
        "upload_id": s.upload_id,
        "chunk": n,
        "duplicate": duplicate,
        "received_chunks": received.len(),
        "total_chunks": s.total_chunks(),
        "complete": received.len() as u64 == s.total_chunks(),
    }))
    .into_response())
}

/// `GET /v1/videos/upload/{id}`.
#[utoipa::path(get, path = "/v1/videos/upload/{id}", tag = "uploads", operation_id = "get_upload",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "the upload id")),
    responses(
        (status = 200, body = serde_json::Value,
            description = "the upload's state, received and missing chunk ranges"),
        (status = 400, body = ErrorBody,
            description = "malformed input (`invalid_path`, `invalid_query`, `invalid_json` ...)"),
        AuthErrors, InternalError,
        (status = 404, body = ErrorBody,
            description = "no such resource for this tenant (`not_found`)"),
    ))]
pub async fn status(
    State(st): State<IngestState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let s = load_for(&st, &p, &id).await?;
    let received = st.sessions.received_chunks(&id).await.map_err(store_err)?;
    let total = s.total_chunks();
    let (state, received_ranges, received_count) = match &s.state {
        SessionState::Open => ("open", ranges(&received), received.len() as u64),
        SessionState::Completed { .. } => {
            ("completed", ranges(&(0..total).collect::<Vec<_>>()), total)
        }
        SessionState::Rejected { .. } => ("rejected", Vec::new(), 0),
        SessionState::Aborted => ("aborted", Vec::new(), 0),
        SessionState::Expired => ("expired", Vec::new(), 0),
    };
    let missing: Vec<u64> = if s.state == SessionState::Open {
        let mut have = received.iter().peekable();
        (0..total)
            .filter(|i| {
                while have.peek().is_some_and(|h| **h < *i) {
                    have.next();
                }
                have.peek() != Some(&i)
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut body = json!({
        "upload_id": s.upload_id,
        "video_id": s.video_id,
        "state": state,
        "filename": s.filename,
        "size": s.size,
        "chunk_size": s.chunk_size,
        "total_chunks": total,
        "received_chunks": received_count,
        "received": received_ranges,
        "missing": ranges(&missing),
        "expires_at": rfc3339(lifecycle::expires_at(&st, &s)),
    });
    if let SessionState::Rejected { code, reason } = &s.state {
        body["error"] = json!({"code": code, "message": reason});
    }
    if let Some(f) = &s.fetch {
        body["fetch"] = json!(f);
    }
    Ok(axum::Json(body).into_response())
}

/// `POST /v1/videos/upload/{id}/complete`.
#[utoipa::path(post, path = "/v1/videos/upload/{id}/complete", tag = "uploads", operation_id = "complete_upload",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "the upload id")),
    responses(
        (status = 200, body = serde_json::Value,
            description = "completed (verified, probed, stored) or refused with a reason"),
        (status = 400, body = ErrorBody,
            description = "malformed input (`invalid_path`, `invalid_query`, `invalid_json` ...)"),
        AuthErrors, ServerErrors,
        (status = 404, body = ErrorBody,
            description = "no such resource for this tenant (`not_found`)"),
        (status = 409, description = "conflicts with the resource's state", body = ErrorBody),
        (status = 410, description = "the upload ended or expired", body = ErrorBody),
    ))]
pub async fn complete(
    State(st): State<IngestState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let s = load_for(&st, &p, &id).await?;
    if s.protocol == UploadProtocol::Url && s.state == SessionState::Open {
        return Err(ApiError::conflict("upload_fetching", "the server is still fetching this URL"));
    }
    if s.state == SessionState::Open {
        let received = st.sessions.received_chunks(&id).await.map_err(store_err)?.len() as u64;
        if received != s.total_chunks() {
            return Err(ApiError::conflict(
                "incomplete_upload",
                format!("{received} of {} chunks have arrived", s.total_chunks()),
            ));
        }
    }
    let done = lifecycle::complete(&st, &s).await?;
    Ok(axum::Json(done).into_response())
}

/// `DELETE /v1/videos/upload/{id}`.
#[utoipa::path(delete, path = "/v1/videos/upload/{id}", tag = "uploads", operation_id = "abort_upload",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "the upload id")),
    responses(
        (status = 204, description = "aborted"),
        (status = 400, body = ErrorBody,
            description = "malformed input (`invalid_path`, `invalid_query`, `invalid_json` ...)"),
        AuthErrors, InternalError,
        (status = 404, body = ErrorBody,
            description = "no such resource for this tenant (`not_found`)"),
        (status = 409, description = "conflicts with the resource's state", body = ErrorBody),
        (status = 410, description = "the upload ended or expired", body = ErrorBody),
    ))]
pub async fn abort(
    State(st): State<IngestState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let s = load_for(&st, &p, &id).await?;
    if s.state != SessionState::Open {
        return Err(lifecycle::not_open(&s));
    }
    if !lifecycle::end(&st, &s, false).await? {
        let now = load_for(&st, &p, &id).await?;
        return Err(lifecycle::not_open(&now));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
