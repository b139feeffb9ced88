//! `/v1/direct/{token}/..`: the direct-upload URL, answered by the very same tus and REST
//! handlers as `/v1/tus/` and `/v1/videos/upload`.
//!
//! The gate reads the token (the only place one is read), loads its record, and hands the
//! request to the upload router with the path mapped and a [`Grant`] in its extensions:
//!
//! | direct URL | upload route |
//! |---|---|
//! | `/v1/direct/{token}` (tus create, OPTIONS) | `/v1/tus/` |
//! | `/v1/direct/{token}/{upload id}` (tus HEAD, PATCH, DELETE) | `/v1/tus/{upload id}` |
//! | `/v1/direct/{token}/rest` | `/v1/videos/upload` |
//! | `/v1/direct/{token}/rest/{..}` | `/v1/videos/upload/{..}` |
//!
//! A tus `Location` is mapped back under the direct URL. CORS: only the record's `cors_origin`
//! (exact match) gets CORS headers and preflight answers; without one, none.

use axum::Router;
use axum::body::Body;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use framelog_core::ApiError;
use tower::ServiceExt as _;

use crate::direct;
use crate::direct_auth::Grant;
use crate::lifecycle::store_err;
use crate::state::IngestState;

/// Methods and request headers a browser may use on a direct URL.
const ALLOW_METHODS: &str = "POST, GET, HEAD, PATCH, PUT, DELETE, OPTIONS";
const ALLOW_HEADERS: &str = "Tus-Resumable, Upload-Length, Upload-Offset, Upload-Metadata, \
     Upload-Checksum, Upload-Defer-Length, Upload-Concat, Content-Type, Content-Digest, \
     X-Chunk-SHA256, X-HTTP-Method-Override, X-Requested-With";
/// Response headers a browser's script may read.
const EXPOSE_HEADERS: &str = "Location, Upload-Offset, Upload-Length, Upload-Metadata, \
     Upload-Expires, Tus-Resumable, Tus-Version, Tus-Extension, Tus-Max-Size, \
     Tus-Checksum-Algorithm, Framelog-Video-Id";

/// The `/v1/direct/..` routes in front of `uploads` (the tus and REST upload router).
pub fn router(uploads: Router) -> Router<IngestState> {
    let gate = move |st: State<IngestState>, req: Request| gate(st, uploads.clone(), req);
    Router::new()
        .route("/v1/direct/{token}", any(gate.clone()))
        .route("/v1/direct/{token}/", any(gate.clone()))
        .route("/v1/direct/{token}/{*rest}", any(gate))
}

/// The gate's part of the OpenAPI document: what a browser may call with a direct-upload URL.
/// The gate is one `any` route that hands requests to the tus and REST handlers (documented
/// under `/v1/tus` and `/v1/videos/upload`), so its operations are described here.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi as _;
    GateDoc::openapi()
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(
    doc::tus_create,
    doc::tus_options,
    doc::tus_head,
    doc::tus_patch,
    doc::tus_delete,
    doc::rest_create,
    doc::rest_status,
    doc::rest_chunk,
    doc::rest_complete
))]
struct GateDoc;

/// Documentation-only signatures of the gate's operations (never routed by themselves).
#[allow(dead_code)]
mod doc {
    use framelog_core::openapi::ErrorBody;

    #[utoipa::path(post, path = "/v1/direct/{token}", tag = "direct uploads", operation_id = "direct_tus_create",
        params(("token" = String, Path, description = "the `fdu_...` token of the direct-upload URL"),
            ("Tus-Resumable" = String, Header, description = "`1.0.0`"),
            ("Upload-Length" = u64, Header, description = "the file size (at most the URL's `max_size`)")),
        responses(
            (status = 201, description = "the upload of the URL's video; `Location` under `/v1/direct/{token}/`"),
            (status = 404, body = ErrorBody, description = "unknown token (`not_found`)"),
            (status = 409, body = ErrorBody, description = "the URL already created its video (`direct_upload_used`)"),
            (status = 410, body = ErrorBody, description = "expired (`direct_upload_expired`) or cancelled"),
            (status = 413, body = ErrorBody, description = "over the URL's `max_size`"),
        ))]
    fn tus_create() {}

    #[utoipa::path(options, path = "/v1/direct/{token}", tag = "direct uploads", operation_id = "direct_tus_options",
        params(("token" = String, Path, description = "the `fdu_...` token")),
        responses(
            (status = 204, description = "tus capabilities; CORS headers only for the URL's `cors_origin`"),
            (status = 404, body = ErrorBody, description = "unknown token (`not_found`)"),
        ))]
    fn tus_options() {}

    #[utoipa::path(head, path = "/v1/direct/{token}/{upload}", tag = "direct uploads", operation_id = "direct_tus_head",
        params(("token" = String, Path, description = "the `fdu_...` token"),
            ("upload" = String, Path, description = "the upload id from `Location`")),
        responses(
            (status = 200, description = "`Upload-Offset` and `Upload-Length`"),
            (status = 404, body = ErrorBody, description = "unknown token, or an upload the token did not create"),
        ))]
    fn tus_head() {}

    #[utoipa::path(patch, path = "/v1/direct/{token}/{upload}", tag = "direct uploads", operation_id = "direct_tus_patch",
        params(("token" = String, Path, description = "the `fdu_...` token"),
            ("upload" = String, Path, description = "the upload id from `Location`"),
            ("Upload-Offset" = u64, Header, description = "where the bytes go")),
        request_body(content = String, content_type = "application/offset+octet-stream"),
        responses(
            (status = 204, description = "stored; the new `Upload-Offset`"),
            (status = 404, body = ErrorBody, description = "unknown token, or an upload the token did not create"),
            (status = 409, body = ErrorBody, description = "`Upload-Offset` is not the current offset"),
        ))]
    fn tus_patch() {}

    #[utoipa::path(delete, path = "/v1/direct/{token}/{upload}", tag = "direct uploads", operation_id = "direct_tus_delete",
        params(("token" = String, Path, description = "the `fdu_...` token"),
            ("upload" = String, Path, description = "the upload id from `Location`")),
        responses(
            (status = 204, description = "the upload is aborted"),
            (status = 404, body = ErrorBody, description = "unknown token, or an upload the token did not create"),
        ))]
    fn tus_delete() {}

    #[utoipa::path(post, path = "/v1/direct/{token}/rest", tag = "direct uploads", operation_id = "direct_rest_create",
        params(("token" = String, Path, description = "the `fdu_...` token")),
        request_body(content = serde_json::Value, content_type = "application/json",
            description = "as `POST /v1/videos/upload`"),
        responses(
            (status = 201, description = "as `POST /v1/videos/upload`, for the URL's video"),
            (status = 404, body = ErrorBody, description = "unknown token (`not_found`)"),
            (status = 409, body = ErrorBody, description = "the URL already created its video (`direct_upload_used`)"),
            (status = 410, body = ErrorBody, description = "expired (`direct_upload_expired`) or cancelled"),
            (status = 413, body = ErrorBody, description = "over the URL's `max_size`"),
        ))]
    fn rest_create() {}

    #[utoipa::path(get, path = "/v1/direct/{token}/rest/{id}", tag = "direct uploads", operation_id = "direct_rest_status",
        params(("token" = String, Path, description = "the `fdu_...` token"),
            ("id" = String, Path, description = "the upload id")),
        responses(
            (status = 200, description = "as `GET /v1/videos/upload/{id}`"),
            (status = 404, body = ErrorBody, description = "unknown token, or an upload the token did not create"),
        ))]
    fn rest_status() {}

    #[utoipa::path(put, path = "/v1/direct/{token}/rest/{id}/chunk/{n}", tag = "direct uploads", operation_id = "direct_rest_chunk",
        params(("token" = String, Path, description = "the `fdu_...` token"),
            ("id" = String, Path, description = "the upload id"),
            ("n" = u64, Path, description = "the chunk number, from 0")),
        request_body(content = String, content_type = "application/octet-stream"),
        responses(
            (status = 200, description = "as `PUT /v1/videos/upload/{id}/chunk/{n}`"),
            (status = 404, body = ErrorBody, description = "unknown token, or an upload the token did not create"),
        ))]
    fn rest_chunk() {}

    #[utoipa::path(post, path = "/v1/direct/{token}/rest/{id}/complete", tag = "direct uploads", operation_id = "direct_rest_complete",
        params(("token" = String, Path, description = "the `fdu_...` token"),
            ("id" = String, Path, description = "the upload id")),
        responses(
            (status = 200, description = "as `POST /v1/videos/upload/{id}/complete`"),
            (status = 404, body = ErrorBody, description = "unknown token, or an upload the token did not create"),
            (status = 422, body = ErrorBody, description = "the source was refused (checksum, probe)"),
        ))]
    fn rest_complete() {}
}

/// Splits a direct path into its token and the upload route it maps to (pure).
pub fn map_path(path: &str) -> Option<(&str, String)> {
    let tail = path.strip_prefix("/v1/direct/")?;
    let (token, rest) = match tail.split_once('/') {
        Some((t, r)) => (t, r),
        None => (tail, ""),
    };
    let mapped = match rest {
        "" => "/v1/tus/".to_owned(),
        "rest" => "/v1/videos/upload".to_owned(),
        r => match r.strip_prefix("rest/") {
            Some(r) => format!("/v1/videos/upload/{r}"),
            None => format!("/v1/tus/{r}"),
        },
    };
    Some((token, mapped))
}

async fn gate(State(st): State<IngestState>, uploads: Router, req: Request) -> Response {
    let Some((token, mapped)) = map_path(req.uri().path()) else {
        return ApiError::not_found("direct upload").into_response();
    };
    let token = token.to_owned();
    let Some(hash) = direct::token_hash(&token) else {
        return ApiError::not_found("direct upload").into_response();
    };
    let record = match direct::by_hash(&st.sessions, &hash).await {
        Ok(Some(r)) => r,
        Ok(None) => return ApiError::not_found("direct upload").into_response(),
        Err(e) => return store_err(e).into_response(),
    };
    let origin = req.headers().get(header::ORIGIN).cloned();
    let allowed = origin
        .as_ref()
        .filter(|o| record.cors_origin.as_deref().is_some_and(|c| o.as_bytes() == c.as_bytes()));
    if req.method() == Method::OPTIONS
        && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        let mut r = StatusCode::NO_CONTENT.into_response();
        if let Some(o) = allowed {
            let h = r.headers_mut();
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o.clone());
            h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(ALLOW_METHODS));
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(ALLOW_HEADERS));
            h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        }
        r.headers_mut().insert(header::VARY, HeaderValue::from_static("Origin"));
        return r;
    }
    let allowed = allowed.cloned();
    let uri = match req.uri().query() {
        Some(q) => format!("{mapped}?{q}"),
        None => mapped,
    };
    let Ok(uri) = uri.parse::<Uri>() else {
        return ApiError::not_found("direct upload").into_response();
    };
    // A fresh request: the outer route's path parameters (kept in the extensions) must not
    // reach the upload handlers' `Path` extractors.
    let (parts, body) = req.into_parts();
    let mut inner = Request::new(Body::new(body));
    *inner.method_mut() = parts.method;
    *inner.uri_mut() = uri;
    *inner.version_mut() = parts.version;
    *inner.headers_mut() = parts.headers;
    if let Some(peer) = parts.extensions.get::<ConnectInfo<SocketAddr>>() {
        inner.extensions_mut().insert(*peer);
    }
    inner.extensions_mut().insert(Grant { hash, record });
    let mut res = match uploads.oneshot(inner).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let h = res.headers_mut();
    if let Some(loc) = h.get(header::LOCATION).and_then(|v| v.to_str().ok())
        && let Some(id) = loc.strip_prefix("/v1/tus/")
        && let Ok(v) = HeaderValue::from_str(&format!("/v1/direct/{token}/{id}"))
    {
        h.insert(header::LOCATION, v);
    }
    if let Some(o) = allowed {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
        h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSE_HEADERS));
    }
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    res
}

#[cfg(test)]
mod tests {
    use super::map_path;

    #[test]
    fn direct_paths_map_to_the_tus_and_rest_routes() {
        let m = |p| map_path(p).map(|(t, r)| (t.to_owned(), r));
        assert_eq!(m("/v1/direct/fdu_x"), Some(("fdu_x".into(), "/v1/tus/".into())));
        assert_eq!(m("/v1/direct/fdu_x/"), Some(("fdu_x".into(), "/v1/tus/".into())));
        assert_eq!(m("/v1/direct/fdu_x/up_1"), Some(("fdu_x".into(), "/v1/tus/up_1".into())));
        assert_eq!(m("/v1/direct/fdu_x/rest"), Some(("fdu_x".into(), "/v1/videos/upload".into())));
        assert_eq!(
            m("/v1/direct/fdu_x/rest/up_1/chunk/0"),
            Some(("fdu_x".into(), "/v1/videos/upload/up_1/chunk/0".into()))
        );
        assert_eq!(m("/v1/videos"), None);
    }
}
