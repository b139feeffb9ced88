//! What every Framelog service shares.
//!
//! # Layout
//! - [`settings`]: the flags and `FRAMELOG_*` variables of the operating contract.
//! - [`platform`]: [`Platform`], the handles a service is built from, started once per process.
//! - [`nats`]: connecting (with retry and a server version check) and the JetStream topology.
//! - [`eventlog`]: publishing events with ack, dedup ids, trace context and the sled outbox.
//! - [`consumer`]: durable pull consumers yielding decoded [`consumer::Delivery`]s.
//! - [`tenants`]: tenants and hashed API keys in KV, the [`tenants::Tenant`] extractor.
//! - [`error`]: the one JSON error shape, [`ApiError`], and extractors that answer with it.
//! - [`health`], [`metrics`]: `/healthz`, `/readyz`, `/metrics`.
//! - [`telemetry`]: logs, OpenTelemetry export, W3C context in NATS headers.
//! - [`secret`]: the server HMAC secret.

pub mod consumer;
pub mod error;
pub mod eventlog;
pub mod health;
pub mod media;
pub mod media_nats;
pub mod metrics;
pub mod nats;
pub mod platform;
pub mod probe;
pub mod readiness;
pub mod redact;
pub mod secret;
pub mod service;
pub mod settings;
pub mod signing;
pub mod telemetry;
pub mod tenants;
pub mod tombstones;

pub use error::ApiError;
pub use platform::Platform;
pub use settings::CommonSettings;

/// A readable unique id with a prefix (`vid_0193...`), time-ordered (UUIDv7).
pub fn new_id(prefix: &str) -> framelog_events::AggregateId {
    framelog_events::AggregateId::generate(prefix, uuid::Uuid::now_v7())
}
