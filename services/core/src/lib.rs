//! What every Framelog service shares.
//!
//! # Layout
//! - [`settings`]: the flags and `FRAMELOG_*` variables of the operating contract.
//! - [`platform`]: [`Platform`], the handles a service is built from, started once per process.
//! - [`nats`]: connecting (with retry and a server version check) and the JetStream topology.
//! - [`nats_auth`]: NATS credentials (flags, 0600 password file, or the URL), URL redaction.
//! - [`eventlog`]: publishing events with ack, dedup ids, trace context and the sled outbox;
//!   one-shot facts with an expected last subject sequence of 0 (stored once, forever).
//! - [`outbox`]: draining the outbox in order; refused entries set aside with their reason;
//!   its metrics; [`outbox_replay`]: sending them again once the cause is fixed.
//!   [`publish_class`]: what a publish error means, from the server's code;
//!   [`publish_denied`]: publishes refused for permissions, seen at once.
//! - [`consumer`]: durable pull consumers yielding decoded [`consumer::Delivery`]s.
//! - [`tenants`]: tenants and hashed API keys in KV, the [`tenants::Tenant`] extractor (which
//!   enforces [`scopes`]: the scope strings and the route table); [`api_keys`]: named, scoped
//!   keys with a per-tenant index; [`api_keys_api`]: `/v1/api-keys`.
//! - [`error`]: the one JSON error shape, [`ApiError`], and extractors that answer with it.
//! - [`health`], [`metrics`]: `/healthz`, `/readyz`, `/metrics`.
//! - [`telemetry`]: logs, OpenTelemetry export, W3C context in NATS headers.
//! - [`probe`], [`media_limits`]: ffprobe behind the input fence, and what a source may cost.
//! - [`secret`]: the server's master keys (file, 0600 check); [`keyring`]: key ids, rotation
//!   and per-purpose keys derived with [`hkdf`] (RFC 5869).
//! - [`media_s3`]: the S3 media store ([`S3Settings`], `--media-store s3`), pointers in NATS KV.
//! - [`outbound`]: the fence for requests to tenant-chosen URLs (webhooks, URL ingest):
//!   public addresses only (checked after DNS), no redirects, timeouts, capped bodies.
//! - [`mp4_settings`]: static MP4 settings (tenant default, per-video override) in KV.
//! - [`tls`]: the process's one rustls crypto provider (ring), installed before any client.
//! - [`serve`]: HTTP/1.1 serving with a header-read timeout, the peer address and graceful
//!   shutdown.

pub mod api_keys;
pub mod api_keys_api;
pub mod api_keys_legacy;
pub mod consumer;
pub mod error;
pub mod eventlog;
pub mod health;
pub mod hkdf;
pub mod jetstream_metrics;
pub mod keyring;
pub mod media;
pub mod media_limits;
pub mod media_nats;
pub mod media_s3;
pub mod metrics;
pub mod mp4_settings;
pub mod nats;
pub mod nats_auth;
pub mod openapi;
pub mod outbound;
pub mod outbox;
pub mod outbox_replay;
pub mod platform;
pub mod probe;
pub mod publish_class;
pub mod publish_denied;
pub mod readiness;
pub mod redact;
pub mod s3_settings;
pub mod scopes;
pub mod secret;
pub mod serve;
pub mod service;
pub mod settings;
pub mod sha256_state;
pub mod signing;
pub mod telemetry;
pub mod tenants;
pub mod tls;
pub mod tombstones;
pub mod topology;

pub use error::ApiError;
pub use platform::Platform;
pub use s3_settings::S3Settings;
pub use settings::CommonSettings;

/// A readable unique id with a prefix (`vid_0193...`), time-ordered (UUIDv7).
pub fn new_id(prefix: &str) -> framelog_events::AggregateId {
    framelog_events::AggregateId::generate(prefix, uuid::Uuid::now_v7())
}
