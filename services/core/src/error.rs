//! The one JSON error shape of every Framelog API: `{"error":{"code":"...","message":"..."}}`.
//!
//! Client errors carry a stable `code` and a human `message`. Unexpected errors answer an opaque
//! 500 and log their cause chain; their details never reach the client.

use axum::Json;
use axum::extract::rejection::{FormRejection, JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error answered to an HTTP client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// Stable, machine-readable code (`not_found`, `invalid_json` ...).
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
    /// Extra response headers (e.g. `Tus-Version`, `Retry-After`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), headers: Vec::new() }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// The answer for anything another tenant owns, or nothing at all: the two are indistinguishable.
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// An unexpected failure: logged with its cause chain, answered as an opaque 500.
    pub fn internal(err: &(dyn std::error::Error + 'static)) -> Self {
        let mut chain = err.to_string();
        let mut src = err.source();
        while let Some(s) = src {
            chain.push_str(": ");
            chain.push_str(&s.to_string());
            src = s.source();
        }
        tracing::error!(error = %chain, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        let mut res = (self.status, Json(body)).into_response();
        for (k, v) in self.headers {
            res.headers_mut().insert(k, v);
        }
        res
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

/// Seconds a client is told to wait when JetStream has no room.
pub const STORE_FULL_RETRY_AFTER_SECS: u32 = 60;

impl ApiError {
    /// JetStream (or a stream at its limit) has no room: 507 with `Retry-After`, the same answer
    /// for every service and tenant, with no detail of the server's limits.
    pub fn storage_full() -> Self {
        Self::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "storage_full",
            "the event store is full; retry later",
        )
        .with_header(
            axum::http::header::RETRY_AFTER,
            HeaderValue::from(STORE_FULL_RETRY_AFTER_SECS),
        )
    }
}

/// The one mapping of event-log failures to answers: a full store is 507, anything else an
/// opaque 500 (logged).
impl From<crate::eventlog::EventLogError> for ApiError {
    fn from(e: crate::eventlog::EventLogError) -> Self {
        match e {
            crate::eventlog::EventLogError::StoreFull { message } => {
                tracing::warn!(%message, "JetStream has no room; answering 507");
                ApiError::storage_full()
            }
            other => ApiError::internal(&other),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let (status, code) = match &r {
            JsonRejection::MissingJsonContentType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            JsonRejection::JsonDataError(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
            JsonRejection::BytesRejection(_) => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            _ => (StatusCode::BAD_REQUEST, "invalid_json"),
        };
        ApiError::new(status, code, r.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::bad_request("invalid_path", r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::bad_request("invalid_query", r.body_text())
    }
}

impl From<FormRejection> for ApiError {
    fn from(r: FormRejection) -> Self {
        ApiError::bad_request("invalid_form", r.body_text())
    }
}

/// Extractors whose rejection is an [`ApiError`], so malformed input gets the same JSON body as
/// every other error.
pub mod extract {
    use axum::extract::{FromRequest, FromRequestParts};

    use super::ApiError;

    /// `axum::Json` with our error body.
    #[derive(Debug, Clone, Copy, Default, FromRequest)]
    #[from_request(via(axum::Json), rejection(ApiError))]
    pub struct Json<T>(pub T);

    impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
        fn into_response(self) -> axum::response::Response {
            axum::Json(self.0).into_response()
        }
    }

    /// `axum::extract::Path` with our error body.
    #[derive(Debug, FromRequestParts)]
    #[from_request(via(axum::extract::Path), rejection(ApiError))]
    pub struct Path<T>(pub T);

    /// `axum::extract::Query` with our error body.
    #[derive(Debug, FromRequestParts)]
    #[from_request(via(axum::extract::Query), rejection(ApiError))]
    pub struct Query<T>(pub T);

    /// `axum::Form` with our error body.
    #[derive(Debug, FromRequest)]
    #[from_request(via(axum::Form), rejection(ApiError))]
    pub struct Form<T>(pub T);
}

/// Answers unknown routes with the JSON error shape instead of an empty 404.
pub async fn fallback() -> ApiError {
    ApiError::route_not_found()
}

impl ApiError {
    /// No route matches: 404 `route_not_found`, apart from a handler's `not_found` (so a client,
    /// and the OpenAPI test, can tell a wrong URL from a missing resource).
    pub fn route_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "route_not_found", "route not found")
    }
}

/// Answers a wrong method with the JSON error shape (405).
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed")
}

/// Middleware: a bare 405 from the router (which has no body) becomes the JSON error shape,
/// keeping its `Allow` header, so wrong methods look like every other error.
pub async fn json_method_not_allowed(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let res = next.run(req).await;
    if res.status() != StatusCode::METHOD_NOT_ALLOWED
        || res.headers().contains_key(axum::http::header::CONTENT_TYPE)
    {
        return res;
    }
    let allow = res.headers().get(axum::http::header::ALLOW).cloned();
    let mut err =
        ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed");
    if let Some(a) = allow {
        err = err.with_header(axum::http::header::ALLOW, a);
    }
    err.into_response()
}

/// Largest total size of request headers accepted (names and values), bytes.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// Middleware: an error answered to a request that carries a body may leave part of the body
/// unread (a chunk of an ended upload is refused before its bytes are read), and the server
/// then closes the connection; `Connection: close` tells the client so, rather than letting
/// it send its next request on a connection that is going away.
pub async fn close_after_refused_body(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let h = req.headers();
    let has_body = h.contains_key(http::header::TRANSFER_ENCODING)
        || h.get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .is_some_and(|n| n > 0);
    let mut res = next.run(req).await;
    if has_body && (res.status().is_client_error() || res.status().is_server_error()) {
        res.headers_mut().insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    res
}

/// Middleware: requests whose headers add up to more than [`MAX_HEADER_BYTES`] get 431 with
/// the JSON error shape (hyper's own limit is far higher than any client needs).
pub async fn limit_header_size(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let total: usize = req.headers().iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum();
    if total > MAX_HEADER_BYTES {
        return ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!("request headers are {total} bytes; the limit is {MAX_HEADER_BYTES}"),
        )
        .into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eventlog::EventLogError;

    #[test]
    fn a_full_event_store_is_507_with_retry_after_and_other_failures_stay_opaque_500s() {
        let full = ApiError::from(EventLogError::StoreFull { message: "10047".into() });
        assert_eq!((full.status.as_u16(), full.code), (507, "storage_full"));
        assert!(!full.message.contains("10047"), "no server detail reaches the client");
        let retry = full.headers.iter().find(|(k, _)| k == axum::http::header::RETRY_AFTER);
        assert_eq!(retry.map(|(_, v)| v.to_str().unwrap()), Some("60"));
        let other = ApiError::from(EventLogError::Refused {
            kind: async_nats::jetstream::context::PublishErrorKind::MaxPayloadExceeded,
            message: "too big".into(),
        });
        assert_eq!((other.status.as_u16(), other.code), (500, "internal"));
    }
}
