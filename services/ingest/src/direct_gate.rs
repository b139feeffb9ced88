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
