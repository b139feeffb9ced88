//! tus 1.0.0 at `/v1/tus/` with the extensions creation, creation-with-upload, checksum (sha1,
//! sha256), expiration and termination. Finishing an upload takes the same completion path as
//! REST. PATCH bodies are streamed to the part file at the upload's offset; without a checksum
//! every byte that arrived before a cut connection is kept, with one the chunk is kept only if
//! it verifies (tus checksum extension).

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use framelog_core::ApiError;
use framelog_core::error::extract::Path;
use framelog_core::openapi::{AuthErrors, ErrorBody, InternalError, ServerErrors};
use framelog_events::{SourceKind, UploadProtocol};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::direct_auth::{Principal, load_for, open_upload};
use crate::files::{BodyEnd, PartFile, part_path, stream_body};
use crate::lifecycle::{self, NewUpload, store_err};
use crate::rest::io_err;
use crate::session::{SessionState, StoreError, UploadSession};
use crate::state::IngestState;
use crate::store_upload;

pub const TUS_VERSION: &str = "1.0.0";
pub const TUS_EXTENSIONS: &str = "creation,creation-with-upload,checksum,expiration,termination";
pub const TUS_CHECKSUMS: &str = "sha1,sha256";
const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";

fn h(name: &'static str) -> HeaderName {
    HeaderName::from_static(name)
}

fn hv(v: impl ToString) -> HeaderValue {
    HeaderValue::from_str(&v.to_string()).expect("header value")
}

/// The tus routes (one list for the router and the OpenAPI part).
pub fn router() -> OpenApiRouter<IngestState> {
    OpenApiRouter::new()
        .routes(routes!(create_bare, options_bare))
        .routes(routes!(create, options))
        .routes(routes!(head_upload, patch, terminate, overridden, options_upload))
        .layer(axum::middleware::from_fn(tus_headers))
}

/// `POST /v1/tus` (without the slash): as [`create`].
#[utoipa::path(post, path = "/v1/tus", tag = "tus", operation_id = "tus_create_bare",
    security(("bearer" = [])),
    params(
        ("Tus-Resumable" = String, Header, description = "`1.0.0`"),
        ("Upload-Length" = Option<u64>, Header, description = "the file size"),
        ("Upload-Metadata" = Option<String>, Header, description = "`key base64,...` (`filename`, `filetype`)"),
        ("Upload-Checksum" = Option<String>, Header, description = "`sha1|sha256 <base64>` of the bytes sent with creation"),
    ),
    request_body(content = String, content_type = "application/offset+octet-stream", description = "bytes at `Upload-Offset`"),
    responses(
        (status = 201, description = "as `POST /v1/tus/`"),
        (status = 400, body = ErrorBody,
            description = "malformed input (`invalid_path`, `invalid_query`, `invalid_json` ...)"),
        AuthErrors, ServerErrors,
        (status = 412, body = ErrorBody,
            description = "`Tus-Resumable` is not 1.0.0 (`unsupported_tus_version`)"),
        (status = 413, description = "the body is over the limit", body = ErrorBody),
        (status = 415, body = ErrorBody,
            description = "`Content-Type` is not `application/offset+octet-stream`"),
        (status = 429, description = "over the rate or session limit", body = ErrorBody),
    ))]
async fn create_bare(
    st: State<IngestState>,
    p: Principal,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    create(st, p, headers, body).await
}

/// `OPTIONS /v1/tus`: as [`options`].
#[utoipa::path(options, path = "/v1/tus", tag = "tus", operation_id = "tus_options_bare",
    responses(
        (status = 204, description = "as `OPTIONS /v1/tus/`"),
        (status = 431, body = ErrorBody,
            description = "request headers over the limit (`headers_too_large`)"),
    ))]
async fn options_bare(st: State<IngestState>) -> Response {
    options(st).await
}

/// `OPTIONS /v1/tus/{id}`: as [`options`].
#[utoipa::path(options, path = "/v1/tus/{id}", tag = "tus", operation_id = "tus_options_upload",
    params(("id" = String, Path, description = "the upload id")),
    responses(
        (status = 204, description = "as `OPTIONS /v1/tus/`"),
        (status = 431, body = ErrorBody,
            description = "request headers over the limit (`headers_too_large`)"),
    ))]
async fn options_upload(st: State<IngestState>) -> Response {
    options(st).await
}

/// Adds `Tus-Resumable` to every answer; refuses other protocol versions with 412.
async fn tus_headers(req: Request, next: Next) -> Response {
    if req.method() != Method::OPTIONS {
        let v = req.headers().get("tus-resumable").and_then(|v| v.to_str().ok());
        if v != Some(TUS_VERSION) {
            let mut r = ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "unsupported_tus_version",
                format!("Tus-Resumable must be {TUS_VERSION}"),
            )
            .into_response();
            r.headers_mut().insert(h("tus-version"), hv(TUS_VERSION));
            r.headers_mut().insert(h("tus-resumable"), hv(TUS_VERSION));
            return r;
        }
    }
    let mut res = next.run(req).await;
    res.headers_mut().insert(h("tus-resumable"), hv(TUS_VERSION));
    res
}

#[utoipa::path(options, path = "/v1/tus/", tag = "tus", operation_id = "tus_options",
    responses(
        (status = 204,
            description = "`Tus-Version`, `Tus-Extension`, `Tus-Max-Size`, `Tus-Checksum-Algorithm`"),
        (status = 431, body = ErrorBody,
            description = "request headers over the limit (`headers_too_large`)"),
    ))]
async fn options(State(st): State<IngestState>) -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    let hs = r.headers_mut();
    hs.insert(h("tus-version"), hv(TUS_VERSION));
    hs.insert(h("tus-extension"), hv(TUS_EXTENSIONS));
    hs.insert(h("tus-max-size"), hv(st.settings.max_upload_size));
    hs.insert(h("tus-checksum-algorithm"), hv(TUS_CHECKSUMS));
    r
}

/// RFC 9110 HTTP-date, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(t: OffsetDateTime) -> String {
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.to_offset(time::UtcOffset::UTC).format(&fmt).unwrap_or_default()
}

/// Parses `Upload-Metadata`: `key base64,key2 base64,flag`.
pub fn parse_metadata(raw: &str) -> Result<BTreeMap<String, String>, ApiError> {
    let bad = |m: String| ApiError::bad_request("invalid_upload_metadata", m);
    let mut out = BTreeMap::new();
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut it = pair.splitn(2, ' ');
        let key = it.next().unwrap_or_default();
        if key.is_empty() || !key.is_ascii() || key.contains(' ') {
            return Err(bad(format!("bad key {key:?}")));
        }
        let value = match it.next() {
            Some(b64) => {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .map_err(|_| bad(format!("value of {key} is not base64")))?;
                String::from_utf8_lossy(&raw).into_owned()
            }
            None => String::new(),
        };
        out.insert(key.to_owned(), value);
    }
    Ok(out)
}

enum Checksum {
    Sha1(Sha1, Vec<u8>),
    Sha256(Sha256, Vec<u8>),
}

impl Checksum {
    fn parse(headers: &HeaderMap) -> Result<Option<Checksum>, ApiError> {
        let Some(v) = headers.get("upload-checksum") else { return Ok(None) };
        let bad = |m: &str| ApiError::bad_request("invalid_checksum", m.to_owned());
        let v = v.to_str().map_err(|_| bad("Upload-Checksum is not ASCII"))?;
        let (algo, b64) = v
            .trim()
            .split_once(' ')
            .ok_or_else(|| bad("Upload-Checksum must be '<algorithm> <base64>'"))?;
        let want = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| bad("Upload-Checksum digest is not base64"))?;
        match algo.to_ascii_lowercase().as_str() {
            "sha1" => Ok(Some(Checksum::Sha1(Sha1::new(), want))),
            "sha256" | "sha-256" => Ok(Some(Checksum::Sha256(Sha256::new(), want))),
            other => Err(ApiError::bad_request(
                "unsupported_checksum_algorithm",
                format!("checksum algorithm {other:?} is not supported (use {TUS_CHECKSUMS})"),
            )),
        }
    }

    fn update(&mut self, b: &[u8]) {
        match self {
            Checksum::Sha1(h, _) => h.update(b),
            Checksum::Sha256(h, _) => h.update(b),
        }
    }

    fn matches(self) -> bool {
        match self {
            Checksum::Sha1(h, want) => h.finalize().as_slice() == want.as_slice(),
            Checksum::Sha256(h, want) => h.finalize().as_slice() == want.as_slice(),
        }
    }
}

fn tus_answer(st: &IngestState, s: &UploadSession, status: StatusCode) -> Response {
    let mut r = status.into_response();
    let hs = r.headers_mut();
    hs.insert(h("upload-offset"), hv(s.offset));
    hs.insert(h("upload-expires"), hv(http_date(lifecycle::expires_at(st, s))));
    hs.insert(h("framelog-video-id"), hv(&s.video_id));
    r
}

/// Writes a PATCH (or creation-with-upload) body at the session's offset and commits what
/// may be kept. Completes the upload when the last byte arrived.
async fn write_and_commit(
    st: &IngestState,
    s: UploadSession,
    headers: &HeaderMap,
    body: Body,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let mut checksum = Checksum::parse(headers)?;
    let lock = st.upload_lock(&s.upload_id);
    let guard = lock.lock().await;
    let cur = st
        .sessions
        .get(&s.upload_id)
        .await
        .map_err(store_err)?
        .ok_or_else(|| ApiError::not_found("upload"))?;
    if cur.state != SessionState::Open {
        return Err(lifecycle::not_open(&cur));
    }
    if cur.offset != s.offset {
        return Err(ApiError::conflict(
            "offset_mismatch",
            format!("Upload-Offset must be {}", cur.offset),
        ));
    }
    let room = cur.size - cur.offset;
    let observe = |b: &[u8]| {
        if let Some(c) = checksum.as_mut() {
            c.update(b);
        }
    };
    let w = match &cur.store_upload {
        Some(su) => {
            let hash = crate::rest_store::running_hash(&cur, cur.offset);
            let target = store_upload::TusTarget {
                upload_id: &cur.upload_id,
                su,
                offset: cur.offset,
                hash,
                room,
            };
            let out = store_upload::stream_tus(st.media.as_ref(), target, body, observe).await?;
            Written {
                written: out.written,
                end: out.end,
                hash: out.hash,
                file: None,
                new_tail: out.store.tail.clone().filter(|t| su.tail.as_ref() != Some(t)),
                old_tail: out.old_tail,
                store: Some(out.store),
            }
        }
        None => {
            let file =
                PartFile::open(part_path(&st.uploads_dir, &cur.upload_id)).await.map_err(io_err)?;
            let mut running = crate::rest_store::running_hash(&cur, cur.offset);
            let mut observe = observe;
            let (written, end) = stream_body(&file, cur.offset, room, body, |b| {
                observe(b);
                if let Some(h) = running.as_mut() {
                    h.update(b);
                }
            })
            .await
            .map_err(io_err)?;
            Written {
                written,
                end,
                hash: running,
                file: Some(file),
                store: None,
                new_tail: None,
                old_tail: None,
            }
        }
    };
    crate::metrics::IngestMetrics::of(&st.platform.metrics).received(cur.protocol, w.written);
    let keep = match w.end {
        BodyEnd::TooLong => {
            w.drop_new_tail(st).await;
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "upload_too_large",
                format!("the body is larger than the {room} bytes left in this upload"),
            ));
        }
        // With a checksum, a partial or mismatching chunk is discarded (offset unchanged).
        BodyEnd::Cut if checksum.is_some() => 0,
        BodyEnd::Cut => w.written,
        BodyEnd::Complete => {
            if checksum.is_some_and(|c| !c.matches()) {
                w.drop_new_tail(st).await;
                return Err(ApiError::new(
                    StatusCode::from_u16(460).expect("460 is a valid status"),
                    "checksum_mismatch",
                    "the chunk does not match Upload-Checksum; it was discarded",
                ));
            }
            w.written
        }
    };
    let end = w.end;
    if keep == 0 {
        w.drop_new_tail(st).await;
    } else {
        if let Some(file) = &w.file {
            file.sync().await.map_err(io_err)?;
        }
        let from = cur.offset;
        let now = OffsetDateTime::now_utc();
        let (hash, store) = (w.hash.clone(), w.store.clone());
        let res = st
            .sessions
            .update(&cur.upload_id, move |x| {
                if x.state != SessionState::Open || x.offset != from {
                    return Err(StoreError::Changed);
                }
                x.offset = from + keep;
                x.updated_at = now;
                if hash.is_some() {
                    x.hash = hash.clone();
                }
                if store.is_some() {
                    x.store_upload = store.clone();
                }
                Ok(())
            })
            .await;
        match res {
            Ok(_) => {}
            Err(StoreError::Changed) => {
                w.drop_new_tail(st).await;
                return Err(ApiError::conflict(
                    "offset_mismatch",
                    "the upload changed concurrently",
                ));
            }
            Err(e) => return Err(store_err(e)),
        }
        st.sessions.flush().await.map_err(store_err)?;
        if let Some(old) = &w.old_tail
            && let Err(e) = st.media.delete_prefix(old).await
        {
            tracing::warn!(upload_id = %cur.upload_id, error = %e, "could not remove an old tail");
        }
    }
    drop(guard);
    let after = st
        .sessions
        .get(&cur.upload_id)
        .await
        .map_err(store_err)?
        .ok_or_else(|| ApiError::not_found("upload"))?;
    if matches!(end, BodyEnd::Cut) {
        return Err(ApiError::bad_request("body_incomplete", "the request body ended early"));
    }
    if after.offset == after.size && after.state == SessionState::Open {
        lifecycle::complete(st, &after).await?;
        let done = st.sessions.get(&after.upload_id).await.map_err(store_err)?.unwrap_or(after);
        return Ok(tus_answer(st, &done, status));
    }
    Ok(tus_answer(st, &after, status))
}

/// What a PATCH body left behind, before it is committed.
struct Written {
    written: u64,
    end: BodyEnd,
    /// The running sha256 through the new offset, if it could be kept running.
    hash: Option<framelog_core::sha256_state::Sha256State>,
    file: Option<PartFile>,
    store: Option<store_upload::StoreUpload>,
    /// A tail object this body wrote (removed if the body is not kept).
    new_tail: Option<store_upload::Tail>,
    /// The tail the new state replaces (removed once it is committed).
    old_tail: Option<String>,
}

impl Written {
    async fn drop_new_tail(&self, st: &IngestState) {
        if let Some(t) = &self.new_tail {
            let _ = st.media.delete_prefix(&t.key).await;
        }
    }
}

/// A non-negative integer header (`Upload-Length`, `Upload-Offset`), or 400 with `code`.
fn header_u64(headers: &HeaderMap, name: &str, code: &'static str) -> Result<u64, ApiError> {
    headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok()).ok_or_else(
        || ApiError::bad_request(code, format!("{name} must be a non-negative integer")),
    )
}

fn content_type_is_offset_stream(headers: &HeaderMap) -> bool {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case(OFFSET_OCTET_STREAM)
    })
}

/// `POST /v1/tus/`: creation (and creation-with-upload).
#[utoipa::path(post, path = "/v1/tus/", tag = "tus", operation_id = "tus_create",
    security(("bearer" = [])),
    params(
        ("Tus-Resumable" = String, Header, description = "`1.0.0`"),
        ("Upload-Length" = Option<u64>, Header, description = "the file size"),
        ("Upload-Metadata" = Option<String>, Header, description = "`key base64,...` (`filename`, `filetype`)"),
        ("Upload-Checksum" = Option<String>, Header, description = "`sha1|sha256 <base64>` of the bytes sent with creation"),
    ),
    request_body(content = String, content_type = "application/offset+octet-stream", description = "bytes at `Upload-Offset`"),
    responses(
        (status = 201,
            description = "created; `Location` is the upload URL (creation-with-upload may carry bytes)"),
        (status = 400, body = ErrorBody,
            description = "malformed input (`invalid_path`, `invalid_query`, `invalid_json` ...)"),
        AuthErrors, ServerErrors,
        (status = 412, body = ErrorBody,
            description = "`Tus-Resumable` is not 1.0.0 (`unsupported_tus_version`)"),
        (status = 413, description = "the body is over the limit", body = ErrorBody),
        (status = 415, body = ErrorBody,
            description = "`Content-Type` is not `application/offset+octet-stream`"),
        (status = 429, description = "over the rate or session limit", body = ErrorBody),
    ))]
async fn create(
    State(st): State<IngestState>,
    p: Principal,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    if headers.contains_key("upload-defer-length") {
        return Err(ApiError::bad_request(
            "defer_length_unsupported",
            "Upload-Defer-Length is not supported; send Upload-Length",
        ));
    }
    let size: u64 = header_u64(&headers, "upload-length", "invalid_upload_length")?;
    let raw_meta = headers.get("upload-metadata").map(|v| v.to_str().map(str::to_owned));
    let raw_meta = match raw_meta {
        Some(Ok(v)) => Some(v),
        Some(Err(_)) => {
            return Err(ApiError::bad_request(
                "invalid_upload_metadata",
                "Upload-Metadata is not ASCII",
            ));
        }
        None => None,
    };
    let meta = raw_meta.as_deref().map(parse_metadata).transpose()?.unwrap_or_default();
    let filename = meta
        .get("filename")
        .or_else(|| meta.get("name"))
        .cloned()
        .unwrap_or_else(|| "upload".into());
    let content_type =
        meta.get("filetype").or_else(|| meta.get("type")).cloned().filter(|t| t.len() <= 255);
    let (s, _) = open_upload(
        &st,
        &p,
        NewUpload {
            tenant: p.tenant.clone(),
            protocol: UploadProtocol::Tus,
            source: SourceKind::Upload,
            stream_id: None,
            filename,
            content_type,
            size,
            expected_sha256: None,
            tus_metadata: raw_meta,
            preset: None,
        },
    )
    .await?;
    let location = format!("/v1/tus/{}", s.upload_id);
    let mut res = if content_type_is_offset_stream(&headers) {
        match write_and_commit(&st, s.clone(), &headers, body, StatusCode::CREATED).await {
            Ok(r) => r,
            // The upload exists even if its first bytes were refused: say where it is.
            Err(e) => {
                let mut r = e.into_response();
                r.headers_mut().insert(header::LOCATION, hv(&location));
                return Ok(r);
            }
        }
    } else {
        tus_answer(&st, &s, StatusCode::CREATED)
    };
    res.headers_mut().insert(header::LOCATION, hv(&location));
    Ok(res)
}

fn gone(s: &UploadSession) -> Option<ApiError> {
    match s.state {
        SessionState::Aborted | SessionState::Expired | SessionState::Rejected { .. } => {
            Some(ApiError::new(
                StatusCode::GONE,
                "upload_gone",
                "this upload was terminated, expired or rejected",
            ))
        }
        _ => None,
    }
}

/// `HEAD /v1/tus/{id}`.
#[utoipa::path(head, path = "/v1/tus/{id}", tag = "tus", operation_id = "tus_head",
    security(("bearer" = [])),
    params(
        ("Tus-Resumable" = String, Header, description = "`1.0.0`"),
        ("id" = String, Path, description = "the upload id"),
    ),
    responses(
        (status = 200, description = "`Upload-Offset`, `Upload-Length`, `Upload-Expires`"),
        (status = 400, body = ErrorBody,
            description = "malformed input (`invalid_path`, `invalid_query`, `invalid_json` ...)"),
        AuthErrors, InternalError,
        (status = 404, body = ErrorBody,
            description = "no such upload for this tenant (`not_found`)"),
        (status = 410, description = "the upload ended or expired", body = ErrorBody),
        (status = 412, body = ErrorBody,
            description = "`Tus-Resumable` is not 1.0.0 (`unsupported_tus_version`)"),
    ))]
async fn head_upload(
    State(st): State<IngestState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let s = load_for(&st, &p, &id).await?;
    if let Some(e) = gone(&s) {
        return Err(e);
    }
    let mut r = tus_answer(&st, &s, StatusCode::OK);
    let hs = r.headers_mut();
    hs.insert(h("upload-length"), hv(s.size));
    hs.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(m) = &s.tus_metadata
        && let Ok(v) = HeaderValue::from_str(m)
    {
        hs.insert(h("upload-metadata"), v);
    }
    Ok(r)
}

/// `PATCH /v1/tus/{id}`.
#[utoipa::path(patch, path = "/v1/tus/{id}", tag = "tus", operation_id = "tus_patch",
    security(("bearer" = [])),
    params(
        ("Tus-Resumable" = String, Header, description = "`1.0.0`"),
        ("Upload-Offset" = u64, Header, description = "where the bytes go"),
        ("Upload-Checksum" = Option<String>, Header, description = "`sha1|sha256 <base64>` of this chunk"),
        ("id" = String, Path, description = "the upload id"),
    ),
    request_body(content = String, content_type = "application/offset+octet-stream", description = "bytes at `Upload-Offset`"),
    responses(
        (status = 204, description = "bytes stored; the new `Upload-Offset`"),
        (status = 400, body = ErrorBody,
            description = "malformed input (`invalid_path`, `invalid_query`, `invalid_json` ...)"),
        AuthErrors, ServerErrors,
        (status = 404, body = ErrorBody,
            description = "no such upload for this tenant (`not_found`)"),
        (status = 409, description = "conflicts with the resource's state", body = ErrorBody),
        (status = 410, description = "the upload ended or expired", body = ErrorBody),
        (status = 412, body = ErrorBody,
            description = "`Tus-Resumable` is not 1.0.0 (`unsupported_tus_version`)"),
        (status = 415, body = ErrorBody,
            description = "`Content-Type` is not `application/offset+octet-stream`"),
        (status = 460, body = ErrorBody,
            description = "the chunk does not match its `Upload-Checksum`"),
    ))]
async fn patch(
    State(st): State<IngestState>,
    p: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    if !content_type_is_offset_stream(&headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("PATCH needs Content-Type: {OFFSET_OCTET_STREAM}"),
        ));
    }
    let offset: u64 = header_u64(&headers, "upload-offset", "invalid_upload_offset")?;
    let s = load_for(&st, &p, &id).await?;
    if let Some(e) = gone(&s) {
        return Err(e);
    }
    if s.protocol == UploadProtocol::Url {
        return Err(ApiError::conflict(
            "upload_fetching",
            "the server fills this upload from a URL",
        ));
    }
    if matches!(s.state, SessionState::Completed { .. }) {
        return Err(ApiError::conflict("upload_completed", "this upload is already complete"));
    }
    if offset != s.offset {
        return Err(ApiError::conflict(
            "offset_mismatch",
            format!("Upload-Offset must be {}", s.offset),
        ));
    }
    write_and_commit(&st, s, &headers, body, StatusCode::NO_CONTENT).await
}

/// `DELETE /v1/tus/{id}`: termination.
#[utoipa::path(delete, path = "/v1/tus/{id}", tag = "tus", operation_id = "tus_terminate",
    security(("bearer" = [])),
    params(
        ("Tus-Resumable" = String, Header, description = "`1.0.0`"),
        ("id" = String, Path, description = "the upload id"),
    ),
    responses(
        (status = 204, description = "terminated"),
        (status = 400, body = ErrorBody,
            description = "malformed input (`invalid_path`, `invalid_query`, `invalid_json` ...)"),
        AuthErrors, InternalError,
        (status = 404, body = ErrorBody,
            description = "no such upload for this tenant (`not_found`)"),
        (status = 410, description = "the upload ended or expired", body = ErrorBody),
        (status = 412, body = ErrorBody,
            description = "`Tus-Resumable` is not 1.0.0 (`unsupported_tus_version`)"),
    ))]
async fn terminate(
    State(st): State<IngestState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let s = load_for(&st, &p, &id).await?;
    if let Some(e) = gone(&s) {
        return Err(e);
    }
    if matches!(s.state, SessionState::Completed { .. }) {
        return Err(ApiError::conflict(
            "upload_completed",
            "a completed upload is a video: DELETE /v1/videos/{id}",
        ));
    }
    if !lifecycle::end(&st, &s, false).await? {
        return Err(ApiError::new(StatusCode::GONE, "upload_gone", "this upload already ended"));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /v1/tus/{id}` with `X-HTTP-Method-Override` (for clients behind proxies that only
/// allow GET and POST).
#[utoipa::path(post, path = "/v1/tus/{id}", tag = "tus", operation_id = "tus_method_override",
    security(("bearer" = [])),
    params(
        ("Tus-Resumable" = String, Header, description = "`1.0.0`"),
        ("X-HTTP-Method-Override" = String, Header, description = "`PATCH` or `DELETE`"),
        ("Upload-Offset" = Option<u64>, Header, description = "as PATCH"),
        ("id" = String, Path, description = "the upload id"),
    ),
    request_body(content = String, content_type = "application/offset+octet-stream", description = "bytes at `Upload-Offset`"),
    responses(
        (status = 204,
            description = "`X-HTTP-Method-Override: PATCH` or `DELETE`, answered as those"),
        (status = 400, body = ErrorBody,
            description = "malformed input (`invalid_path`, `invalid_query`, `invalid_json` ...)"),
        AuthErrors, ServerErrors,
        (status = 404, body = ErrorBody,
            description = "no such upload for this tenant (`not_found`)"),
        (status = 405, description = "an override names another method", body = ErrorBody),
        (status = 409, description = "conflicts with the resource's state", body = ErrorBody),
        (status = 410, description = "the upload ended or expired", body = ErrorBody),
        (status = 412, body = ErrorBody,
            description = "`Tus-Resumable` is not 1.0.0 (`unsupported_tus_version`)"),
    ))]
async fn overridden(
    State(st): State<IngestState>,
    p: Principal,
    path: Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let method = headers
        .get("x-http-method-override")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_ascii_uppercase());
    match method.as_deref() {
        Some("PATCH") => patch(State(st), p, path, headers, body).await,
        Some("DELETE") => terminate(State(st), p, path).await,
        Some("HEAD") => head_upload(State(st), p, path).await,
        _ => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "POST to an upload needs X-HTTP-Method-Override: PATCH, HEAD or DELETE",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_metadata_is_decoded_and_bad_values_are_refused() {
        let m = parse_metadata("filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==,is_confidential")
            .unwrap();
        assert_eq!(m["filename"], "world_domination_plan.pdf");
        assert_eq!(m["is_confidential"], "");
        assert!(parse_metadata("filename !!!").is_err());
        assert!(parse_metadata("").unwrap().is_empty());
    }

    #[test]
    fn http_dates_follow_rfc_9110() {
        let t = time::macros::datetime!(1994-11-06 08:49:37 UTC);
        assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
    }
}
