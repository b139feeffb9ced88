//! The OpenAPI 3.1 document's shared parts: the error schema every error response references,
//! the `bearer` security scheme (API keys `flk_...`), the document's info, and [`merge`], which
//! joins the services' parts into the one document `framelog serve` answers at
//! `GET /v1/openapi.json`.
//!
//! Each service builds its router and its part of the document from one
//! `utoipa_axum::router::OpenApiRouter` list (`routes!(...)`), so what is served and what is
//! described cannot drift; [`axum_paths`] turns axum's catch-all `{*name}` into OpenAPI's
//! `{name}`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa::ToSchema;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ComponentsBuilder, InfoBuilder, LicenseBuilder, OpenApi, OpenApiBuilder};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The path the document is served at.
pub const PATH: &str = "/v1/openapi.json";

/// The name of the API-key security scheme operations refer to (`security(("bearer" = []))`).
pub const BEARER: &str = "bearer";

/// The body of every error answer: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// A stable machine-readable `code` and a human `message`.
#[derive(Debug, ToSchema)]
pub struct ErrorDetail {
    /// Stable code, e.g. `not_found`, `invalid_json`, `unauthorized`, `route_not_found`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
}

/// The errors of every route that takes an API key (`Tenant`), for `responses(..., AuthErrors)`.
#[derive(Debug, utoipa::IntoResponses)]
pub enum AuthErrors {
    /// Missing, malformed or unknown API key.
    #[response(status = 401, description = "missing or unknown API key (`unauthorized`)")]
    Unauthorized(ErrorBody),
    /// The key lacks the route's scope, or `X-Tenant-ID` names another tenant.
    #[response(
        status = 403,
        description = "the API key lacks the route's scope (`insufficient_scope`) or \
                       `X-Tenant-ID` names another tenant (`forbidden`)"
    )]
    Forbidden(ErrorBody),
    /// The key store (or another dependency) cannot be reached.
    #[response(status = 503, description = "a dependency is unavailable (`unavailable`)")]
    Unavailable(ErrorBody),
}

/// The rejections of the JSON body extractor (`framelog_core::error::extract::Json`) beyond
/// 400 `invalid_json`, which each operation lists with its own 400 codes.
#[derive(Debug, utoipa::IntoResponses)]
pub enum JsonBodyErrors {
    /// Over the body limit.
    #[response(status = 413, description = "the body is over the limit (`body_too_large`)")]
    TooLarge(ErrorBody),
    /// Not `Content-Type: application/json`.
    #[response(
        status = 415,
        description = "the body is not `application/json` (`unsupported_media_type`)"
    )]
    UnsupportedMediaType(ErrorBody),
    /// Well-formed JSON of the wrong shape (missing or unknown field, wrong type).
    #[response(
        status = 422,
        description = "a field is missing, unknown or invalid (`invalid_field`)"
    )]
    InvalidField(ErrorBody),
}

/// A failure of the handler itself, for `responses(..., InternalError)`: every handler that can
/// fail unexpectedly (an `ApiError::internal`).
#[derive(Debug, utoipa::IntoResponses)]
pub enum InternalError {
    /// An unexpected failure; the cause is logged, not answered.
    #[response(status = 500, description = "unexpected failure, logged (`internal`)")]
    Internal(ErrorBody),
}

/// [`InternalError`] and 507, for a handler that writes to the event or media store and can
/// find it full (`responses(..., ServerErrors)`; never together with [`InternalError`]).
#[derive(Debug, utoipa::IntoResponses)]
pub enum ServerErrors {
    /// An unexpected failure; the cause is logged, not answered.
    #[response(status = 500, description = "unexpected failure, logged (`internal`)")]
    Internal(ErrorBody),
    /// The event stream or the media store has no room.
    #[response(status = 507, description = "no room in the event or media store")]
    NoRoom(ErrorBody),
}

/// The document's frame: `openapi: 3.1.0`, info, the error schema and the `bearer` scheme.
pub fn base() -> OpenApi {
    let info = InfoBuilder::new()
        .title("Framelog")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Self-hostable multi-tenant video platform: uploads, transcoding, HLS playback, \
             live streams, events and billing. Every error answers `ErrorBody`.",
        ))
        .license(Some(
            LicenseBuilder::new().name("Apache-2.0").identifier(Some("Apache-2.0")).build(),
        ))
        .build();
    let bearer = HttpBuilder::new()
        .scheme(HttpAuthScheme::Bearer)
        .bearer_format("flk_...")
        .description(Some("A tenant API key: `Authorization: Bearer flk_...`"))
        .build();
    let components = ComponentsBuilder::new()
        .schema_from::<ErrorBody>()
        .schema_from::<ErrorDetail>()
        .security_scheme(BEARER, SecurityScheme::Http(bearer))
        .build();
    OpenApiBuilder::new().info(info).components(Some(components)).build()
}

/// [`base`] with every part merged in (paths, schemas); catch-all paths in OpenAPI form.
pub fn merge(parts: impl IntoIterator<Item = OpenApi>) -> OpenApi {
    let mut doc = base();
    for p in parts {
        doc.merge(axum_paths(p));
    }
    doc
}

/// Rewrites axum's catch-all segments (`{*path}`) to OpenAPI templates (`{path}`).
pub fn axum_paths(mut api: OpenApi) -> OpenApi {
    let paths = std::mem::take(&mut api.paths.paths);
    for (k, v) in paths {
        let k = k.replace("{*", "{");
        match api.paths.paths.get_mut(&k) {
            Some(item) => item.merge_operations(v),
            None => {
                api.paths.paths.insert(k, v);
            }
        }
    }
    api
}

/// The serialised document, made once at start.
#[derive(Clone, Debug)]
struct Document(Arc<String>);

/// The document's own route: listed in itself like every other.
fn routes() -> OpenApiRouter<Document> {
    OpenApiRouter::new().routes(routes!(document_route))
}

/// The whole document of a process: [`merge`] of `parts` (the parts of the services it runs,
/// health included) and of `GET /v1/openapi.json` itself.
pub fn document(parts: impl IntoIterator<Item = OpenApi>) -> OpenApi {
    let (_, own) = routes().split_for_parts();
    merge(parts.into_iter().chain([own]))
}

/// `GET /v1/openapi.json` answering [`document`] of `parts`.
pub fn router(parts: impl IntoIterator<Item = OpenApi>) -> Router {
    let json = serde_json::to_string(&document(parts)).expect("the OpenAPI document serialises");
    routes().split_for_parts().0.with_state(Document(Arc::new(json)))
}

/// The OpenAPI 3.1 description of the routes this process serves (no auth; `no-cache`: it
/// changes with the services run, `--only`).
#[utoipa::path(get, path = "/v1/openapi.json", tag = "openapi", operation_id = "openapi",
    responses(
        (status = 200, description = "this document", body = serde_json::Value),
        (status = 431, description = "request headers over the limit (`headers_too_large`)",
            body = ErrorBody),
    ))]
async fn document_route(State(doc): State<Document>) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        doc.0.as_str().to_owned(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_document_is_openapi_3_1_with_the_error_schema_and_the_bearer_scheme() {
        let v = serde_json::to_value(base()).unwrap();
        assert_eq!(v["openapi"], "3.1.0");
        assert_eq!(v["info"]["title"], "Framelog");
        assert_eq!(v["info"]["license"]["name"], "Apache-2.0");
        let c = &v["components"];
        assert_eq!(c["securitySchemes"]["bearer"]["scheme"], "bearer");
        let props = &c["schemas"]["ErrorDetail"]["properties"];
        assert!(props["code"].is_object() && props["message"].is_object(), "{c}");
    }

    #[test]
    fn the_shared_error_responses_reference_the_error_schema() {
        use utoipa::IntoResponses as _;
        let mut all = AuthErrors::responses();
        all.extend(JsonBodyErrors::responses());
        all.extend(ServerErrors::responses());
        let statuses: Vec<&str> = all.keys().map(String::as_str).collect();
        assert_eq!(statuses, ["401", "403", "413", "415", "422", "500", "503", "507"]);
        assert_eq!(
            serde_json::to_value(&InternalError::responses()["500"]).unwrap(),
            serde_json::to_value(&all["500"]).unwrap(),
            "the 500 of InternalError and ServerErrors are the same answer"
        );
        for (status, r) in all {
            let v = serde_json::to_value(r).unwrap();
            let schema = &v["content"]["application/json"]["schema"]["$ref"];
            assert_eq!(schema, "#/components/schemas/ErrorBody", "{status}: {v}");
        }
    }

    #[test]
    fn a_catch_all_segment_becomes_a_plain_template() {
        let mut api = OpenApiBuilder::new().build();
        api.paths.paths.insert("/hls/{token}/{*path}".into(), Default::default());
        let api = axum_paths(api);
        assert!(api.paths.paths.contains_key("/hls/{token}/{path}"));
        assert!(!api.paths.paths.keys().any(|k| k.contains('*')));
    }
}
