//! The delivery log: one record per attempt on the `WEBHOOK_ATTEMPTS` stream, subject
//! `whattempt.<tenant>.<endpoint>`, at most [`KEPT_PER_ENDPOINT`] per endpoint (the server
//! drops the oldest), so the log is bounded per endpoint and shared by every replica.

use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use futures::StreamExt as _;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The attempts stream.
pub const STREAM_ATTEMPTS: &str = "WEBHOOK_ATTEMPTS";
/// Attempts kept per endpoint.
pub const KEPT_PER_ENDPOINT: i64 = 1000;
/// Size limit of the stream.
pub const MAX_BYTES: i64 = 512 * 1024 * 1024;
/// How long attempts are kept.
pub const MAX_AGE: Duration = Duration::from_secs(30 * 24 * 3600);

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttemptStatus {
    /// 2xx.
    Succeeded,
    /// Anything else; retried per the schedule (see `next_retry_at`) or given up.
    Failed,
    /// 410 Gone: the endpoint is disabled.
    Gone,
}

/// One attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attempt {
    pub webhook_id: String,
    pub event_id: String,
    pub event_type: String,
    /// 1 for the first try.
    pub attempt: u32,
    pub status: AttemptStatus,
    /// The HTTP status answered, if any.
    pub response_status: Option<u16>,
    pub latency_ms: u64,
    /// What went wrong (transport error, policy refusal, non-2xx).
    pub error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    /// When the next attempt is due; `None` when there is none.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_retry_at: Option<OffsetDateTime>,
}

/// `WEBHOOK_ATTEMPTS` with `replicas` copies.
pub fn stream_config(replicas: usize) -> stream::Config {
    stream::Config {
        name: STREAM_ATTEMPTS.into(),
        description: Some("Framelog webhook delivery attempts (bounded per endpoint)".into()),
        subjects: vec!["whattempt.>".into()],
        retention: stream::RetentionPolicy::Limits,
        storage: stream::StorageType::File,
        max_messages_per_subject: KEPT_PER_ENDPOINT,
        max_bytes: MAX_BYTES,
        max_age: MAX_AGE,
        discard: stream::DiscardPolicy::Old,
        num_replicas: replicas.max(1),
        ..Default::default()
    }
}

fn subject(tenant: &str, endpoint: &str) -> String {
    format!("whattempt.{tenant}.{endpoint}")
}

/// Records `a` (best effort for the caller: the delivery's outcome does not depend on it).
pub async fn record(
    js: &jetstream::Context,
    tenant: &str,
    endpoint: &str,
    a: &Attempt,
) -> Result<(), String> {
    let body = serde_json::to_vec(a).map_err(|e| e.to_string())?;
    js.publish(subject(tenant, endpoint), body.into())
        .await
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// The endpoint's attempts, oldest first (at most [`KEPT_PER_ENDPOINT`]).
pub async fn list(
    nats: &async_nats::Client,
    js: &jetstream::Context,
    tenant: &str,
    endpoint: &str,
) -> Result<Vec<Attempt>, String> {
    let stream = js.get_stream_no_info(STREAM_ATTEMPTS).await.map_err(|e| e.to_string())?;
    let consumer = stream
        .create_consumer(consumer::push::OrderedConfig {
            deliver_subject: nats.new_inbox(),
            filter_subject: subject(tenant, endpoint),
            replay_policy: consumer::ReplayPolicy::Instant,
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    if consumer.cached_info().num_pending == 0 {
        return Ok(out);
    }
    let mut msgs = consumer.messages().await.map_err(|e| e.to_string())?;
    loop {
        let m = match tokio::time::timeout(Duration::from_secs(5), msgs.next()).await {
            Ok(Some(m)) => m.map_err(|e| e.to_string())?,
            Ok(None) => break,
            Err(e) => return Err(e.to_string()),
        };
        let pending = m.info().map(|i| i.pending).unwrap_or(0);
        match serde_json::from_slice::<Attempt>(&m.payload) {
            Ok(a) => out.push(a),
            Err(e) => tracing::warn!(error = %e, "unreadable webhook attempt skipped"),
        }
        if pending == 0 {
            break;
        }
    }
    Ok(out)
}
