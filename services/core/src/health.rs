//! `/healthz` (the process answers), `/readyz` (NATS connected, the streams present and no
//! problem reported in [`Readiness`]; the outbox's size, oldest age and refused entries as
//! details) and `/metrics` (Prometheus text).

use async_nats::connection::State as ConnState;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::metrics::Metrics;
use crate::nats;
use crate::readiness::Readiness;

/// State of the health routes.
#[derive(Clone, Debug)]
pub struct HealthState {
    pub nats: async_nats::Client,
    pub js: async_nats::jetstream::Context,
    pub metrics: Metrics,
    /// Problems the services reported: any makes the process not ready.
    pub readiness: Readiness,
    /// The process's event log, for the outbox details of `/readyz`.
    pub events: Option<crate::eventlog::EventLog>,
}

/// The one list of the health routes: the router and the OpenAPI part both come from it.
fn routes() -> OpenApiRouter<HealthState> {
    OpenApiRouter::new().routes(routes!(healthz)).routes(routes!(readyz)).routes(routes!(metrics))
}

/// The health and metrics routes.
pub fn router(state: HealthState) -> Router {
    routes().split_for_parts().0.with_state(state)
}

/// The health routes' part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().split_for_parts().1
}

/// `431`: every route of the app refuses oversized request headers with the error shape.
const HEADERS_TOO_LARGE: &str = "request headers over the limit (`headers_too_large`)";

/// The process answers.
#[utoipa::path(get, path = "/healthz", tag = "health", operation_id = "healthz",
    responses(
        (status = 200, description = "`{\"status\": \"ok\"}`", body = serde_json::Value),
        (status = 431, description = HEADERS_TOO_LARGE, body = crate::openapi::ErrorBody),
    ))]
async fn healthz() -> impl IntoResponse {
    axum::Json(json!({"status": "ok"}))
}

/// NATS connected, the streams present, no problem reported; the outbox's state as details.
#[utoipa::path(get, path = "/readyz", tag = "health", operation_id = "readyz",
    responses(
        (status = 200, description = "ready: `status`, `nats_connected`, `streams_present`, \
            `problems`, `outbox`", body = serde_json::Value),
        (status = 503, description = "not ready (the same fields, `status: not_ready`)",
            body = serde_json::Value),
        (status = 431, description = HEADERS_TOO_LARGE, body = crate::openapi::ErrorBody),
    ))]
async fn readyz(State(s): State<HealthState>) -> Response {
    let connected = s.nats.connection_state() == ConnState::Connected;
    let streams = connected && nats::topology_present(&s.js).await;
    let problems = s.readiness.problems();
    let ready = streams && problems.is_empty();
    let mut body = json!({"status": if ready { "ready" } else { "not_ready" },
                      "nats_connected": connected, "streams_present": streams,
                      "problems": problems});
    // A refused entry needs an operator but does not make the replica unready: it no longer
    // blocks anything (see `outbox.rs`).
    if let Some(ev) = &s.events {
        let refused: Vec<_> = ev
            .refused_entries()
            .into_iter()
            .rev()
            .take(10)
            .map(|r| json!({"subject": r.subject, "event_id": r.msg_id, "reason": r.reason}))
            .collect();
        body["outbox"] = json!({
            "size": ev.outbox_len(),
            "oldest_age_secs": ev.outbox_oldest_age().map(|d| d.as_secs_f64()),
            "refused": ev.refused_len(),
            "last_refused": refused,
        });
    }
    let code = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, axum::Json(body)).into_response()
}

/// Prometheus / OpenMetrics text.
#[utoipa::path(get, path = "/metrics", tag = "health", operation_id = "metrics",
    responses(
        (status = 200, description = "OpenMetrics text",
            content_type = "application/openmetrics-text", body = String),
        (status = 431, description = HEADERS_TOO_LARGE, body = crate::openapi::ErrorBody),
    ))]
async fn metrics(State(s): State<HealthState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        s.metrics.render(),
    )
        .into_response()
}
