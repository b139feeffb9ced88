//! The request and answer bodies of the `/v1/webhooks` routes ([`crate::api`]), with their
//! OpenAPI schemas: what a client sends and reads, apart from the handlers that act on it.

use framelog_core::openapi::ErrorBody;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use crate::attempts::Attempt;
use crate::endpoints::{DisabledReason, Endpoint};

/// `POST /v1/webhooks`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpoint {
    /// Where deliveries are POSTed (public `https://` or `http://`; private addresses refused).
    pub url: String,
    /// Event types wanted (`VID_READY`, `VID_UPLOAD.completed`, ...); empty or absent = all.
    #[serde(default)]
    pub event_types: Vec<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default = "yes")]
    #[schema(default = true)]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// `PATCH /v1/webhooks/{id}`: only the fields given change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEndpoint {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
}

/// An endpoint as answered; `secret` only on create and rotate.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointView {
    pub id: String,
    pub url: String,
    pub event_types: Vec<String>,
    pub description: String,
    pub enabled: bool,
    pub disabled_reason: Option<DisabledReason>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
    /// The signing secret (`whsec_...`), only in the answers to create and rotate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl EndpointView {
    pub(crate) fn of(e: &Endpoint, secret: Option<String>) -> EndpointView {
        EndpointView {
            id: e.id.clone(),
            url: e.url.clone(),
            event_types: e.event_types.clone(),
            description: e.description.clone(),
            enabled: e.enabled,
            disabled_reason: e.disabled_reason,
            created_at: e.created_at,
            updated_at: e.updated_at,
            secret,
        }
    }
}

/// `GET /v1/webhooks`.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointList {
    pub endpoints: Vec<EndpointView>,
}

/// `GET /v1/webhooks/{id}/attempts`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptList {
    pub attempts: Vec<Attempt>,
}

/// `POST /v1/webhooks/{id}/replay?since=<RFC 3339>`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReplayQuery {
    /// Re-deliver the endpoint's events stored at or after this RFC 3339 time.
    pub since: String,
}

/// `POST /v1/webhooks/{id}/replay` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayQueued {
    /// How many deliveries were queued.
    pub queued: usize,
}

/// `POST /v1/webhooks/{id}/secret/rotate?overlap_secs=<n>`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RotateQuery {
    /// Seconds the old secret keeps signing too (default `--webhook-rotation-overlap`, 24 h;
    /// at most 7 days).
    pub overlap_secs: Option<u64>,
}

/// `POST /v1/webhooks/{id}/test` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestQueued {
    /// The `webhook-id` the test delivery carries.
    pub webhook_id: String,
}

/// The 404 and 500 of every `/v1/webhooks/{id}...` route, for `responses(..., EndpointErrors)`.
#[derive(Debug, utoipa::IntoResponses)]
pub enum EndpointErrors {
    /// Absent, or another tenant's.
    #[response(status = 404, description = "no such endpoint for this tenant (`not_found`)")]
    NotFound(ErrorBody),
    /// A store failure (logged).
    #[response(status = 500, description = "unexpected failure, logged (`internal`)")]
    Internal(ErrorBody),
}
