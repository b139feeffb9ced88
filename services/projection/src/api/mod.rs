//! The query API and the live feed: tenant-scoped reads of the views (Bearer API key via
//! [`Tenant`]), every error in core's JSON shape.
//!
//! Read your writes: a query may carry `?after_seq=N` or `X-After-Seq: N` (a `VID` stream
//! sequence a write answered with); it waits until the projection has applied N, at most the
//! `read_wait` setting, and otherwise answers **504 `projection_lagging`** with `Retry-After: 1`
//! (never a silently stale view). Every answer carries `X-Projection-Seq`, the applied `VID`
//! sequence it was read at: taken **before** the handler reads the views (and raised after a
//! read-your-writes wait, still before the read), so the body holds at least every event up to
//! it. Taken after the read, it could claim events the read never saw.

mod admin;
mod billing;
mod events;
mod mp4;
mod qoe;
pub mod quota;
mod streams;
mod videos;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_nats::jetstream;
use axum::Router;
use axum::extract::{FromRef, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use framelog_core::ApiError;
use framelog_core::secret::Secret;
use framelog_core::tenants::TenantStore;
use serde::Deserialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::pricing::PriceTable;
use crate::settings::ProjectionSettings;
use crate::store::Store;

/// Header carrying the sequence a client wants to read after.
pub const AFTER_SEQ_HEADER: &str = "x-after-seq";
/// Header carrying the applied `VID` sequence an answer was read at.
pub const PROJECTION_SEQ_HEADER: &str = "x-projection-seq";

/// Everything the routes read; cheap to clone.
#[derive(Clone)]
pub struct ApiState {
    pub store: Store,
    pub tenants: TenantStore,
    pub secret: Secret,
    pub js: jetstream::Context,
    pub nats: async_nats::Client,
    pub settings: Arc<ProjectionSettings>,
    pub prices: Option<Arc<PriceTable>>,
    /// The applied `VID` sequence, updated once each batch is durable.
    pub applied: watch::Receiver<u64>,
    /// Ends live feeds at shutdown.
    pub shutdown: CancellationToken,
    /// Open live feeds per tenant (`--projection-sse-max-per-tenant`).
    pub feeds: quota::FeedSlots,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState").field("applied", &*self.applied.borrow()).finish()
    }
}

impl FromRef<ApiState> for TenantStore {
    fn from_ref(s: &ApiState) -> TenantStore {
        s.tenants.clone()
    }
}

/// The one list of the query routes: the router and the OpenAPI part both come from it.
fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(videos::list))
        .routes(routes!(videos::show))
        .routes(routes!(streams::list))
        .routes(routes!(streams::show))
        .routes(routes!(streams::live_now))
        .routes(routes!(billing::usage))
        .routes(routes!(billing::stats))
        .routes(routes!(events::feed))
        .routes(routes!(admin::digest))
        .routes(routes!(qoe::video))
        .routes(routes!(qoe::tenant))
}

/// The projection's routes.
pub fn router(state: ApiState) -> Router {
    let (routes, _) = routes().split_for_parts();
    routes.layer(axum::middleware::from_fn_with_state(state.clone(), stamp_seq)).with_state(state)
}

/// The query routes' part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().split_for_parts().1
}

/// The applied `VID` sequence a request reads at: set before the handler runs, raised by
/// [`Consistent`] after its wait (before the handler reads), stamped on the answer.
#[derive(Clone, Debug)]
struct ReadAt(Arc<AtomicU64>);

async fn stamp_seq(State(s): State<ApiState>, mut req: Request, next: Next) -> Response {
    let read_at = ReadAt(Arc::new(AtomicU64::new(*s.applied.borrow())));
    req.extensions_mut().insert(read_at.clone());
    let mut res = next.run(req).await;
    let seq = read_at.0.load(Ordering::SeqCst);
    res.headers_mut()
        .insert(HeaderName::from_static(PROJECTION_SEQ_HEADER), HeaderValue::from(seq));
    res
}

/// A read-your-writes request: waits (bounded) until the `VID` sequence it names is applied.
#[derive(Debug, Clone, Copy)]
pub struct Consistent;

#[derive(Deserialize)]
struct AfterSeqQuery {
    after_seq: Option<String>,
}

fn parse_seq(s: &str) -> Result<u64, ApiError> {
    s.trim().parse().map_err(|_| {
        ApiError::bad_request(
            "invalid_after_seq",
            "after_seq must be a stream sequence (an unsigned integer)",
        )
    })
}

impl FromRequestParts<ApiState> for Consistent {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &ApiState) -> Result<Self, ApiError> {
        let q = axum::extract::Query::<AfterSeqQuery>::try_from_uri(&parts.uri)
            .map_err(ApiError::from)?;
        let mut want = q.0.after_seq.as_deref().map(parse_seq).transpose()?;
        if let Some(h) = parts.headers.get(AFTER_SEQ_HEADER) {
            let h = h.to_str().map_err(|_| parse_seq("").unwrap_err())?;
            want = want.max(Some(parse_seq(h)?));
        }
        if let Some(n) = want {
            wait_applied(s, n).await?;
            if let Some(ReadAt(at)) = parts.extensions.get::<ReadAt>() {
                at.fetch_max(*s.applied.borrow(), Ordering::SeqCst);
            }
        }
        Ok(Consistent)
    }
}

/// Waits until `seq` of `VID` is applied, at most the setting's bound.
async fn wait_applied(s: &ApiState, seq: u64) -> Result<(), ApiError> {
    let mut rx = s.applied.clone();
    let waited =
        tokio::time::timeout(s.settings.read_wait(), rx.wait_for(|applied| *applied >= seq)).await;
    match waited {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(_)) => Err(ApiError::unavailable("the projection is not running")),
        Err(_) => Err(ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "projection_lagging",
            format!(
                "the projection has not applied sequence {seq} yet (at {}); retry",
                *s.applied.borrow()
            ),
        )
        .with_header(axum::http::header::RETRY_AFTER, HeaderValue::from_static("1"))),
    }
}

/// `limit` between 1 and `max`, default `default`.
fn check_limit(limit: Option<u32>, default: u32, max: u32) -> Result<usize, ApiError> {
    match limit {
        None => Ok(default as usize),
        Some(n) if (1..=max).contains(&n) => Ok(n as usize),
        Some(_) => Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit must be between 1 and {max}"),
        )),
    }
}

/// Unexpected store failures: an opaque 500, logged.
fn internal(e: crate::error::ProjectionError) -> ApiError {
    ApiError::internal(&e)
}
