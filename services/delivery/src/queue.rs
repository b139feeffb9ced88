//! The `WEBHOOK` work stream: one message per (event, endpoint) delivery, subject
//! `webhook.<tenant>.<endpoint>`, WorkQueue retention (gone once acked).
//!
//! A delivery's message stays in the stream until it succeeded or was given up, so a worker
//! killed mid-backoff loses nothing: the server hands the message to the next worker when its
//! back-off (a NAK with delay) or its ack wait ends. The message carries the body that is
//! signed, so every retry sends the same bytes under the same `webhook-id`. Its attempt count
//! is the JetStream delivery count and its first attempt the message's stored time.

use std::time::Duration;

use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self, stream};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The work stream.
pub const STREAM_WEBHOOK: &str = "WEBHOOK";
/// Duplicate window of `WEBHOOK`: a fan-out redone within it (crash before the event's ack)
/// enqueues nothing twice; later, a repeat is the same `webhook-id` (receivers dedupe).
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(3600);
/// Size limit of `WEBHOOK` (a full queue refuses new deliveries; the fan-out retries).
pub const MAX_BYTES: i64 = 1024 * 1024 * 1024;

/// Namespace of `webhook-id`s (UUIDv5 of event id and endpoint id).
const WEBHOOK_ID_NAMESPACE: Uuid = Uuid::from_u128(0x3a1d_52c0_7b9e_4f61_a0c4_19d8_e2f7_6b35);

/// The `webhook-id` of `event_id` sent to `endpoint`: stable across retries and replays, so a
/// receiver dedupes on it.
pub fn webhook_id(event_id: &str, endpoint: &str) -> String {
    let u = Uuid::new_v5(&WEBHOOK_ID_NAMESPACE, format!("{event_id}/{endpoint}").as_bytes());
    format!("msg_{}", u.simple())
}

/// One delivery, as queued.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryJob {
    pub tenant: String,
    pub endpoint: String,
    pub webhook_id: String,
    pub event_id: String,
    /// `VID_READY` ...
    pub event_type: String,
    /// The exact body sent (and signed).
    pub body: String,
}

impl DeliveryJob {
    pub fn subject(&self) -> String {
        format!("webhook.{}.{}", self.tenant, self.endpoint)
    }
}

/// `WEBHOOK` with `replicas` copies.
pub fn stream_config(replicas: usize) -> stream::Config {
    stream::Config {
        name: STREAM_WEBHOOK.into(),
        description: Some("Framelog webhook deliveries (one per event and endpoint)".into()),
        subjects: vec!["webhook.>".into()],
        retention: stream::RetentionPolicy::WorkQueue,
        storage: stream::StorageType::File,
        duplicate_window: DUPLICATE_WINDOW,
        max_bytes: MAX_BYTES,
        discard: stream::DiscardPolicy::New,
        num_replicas: replicas.max(1),
        ..Default::default()
    }
}

/// A queueing failure.
#[derive(Debug, thiserror::Error)]
#[error("queueing a webhook delivery: {0}")]
pub struct QueueError(pub String);

/// Publishes `job` with `msg_id` (dedup) and waits for the stream's ack.
pub async fn enqueue(
    js: &jetstream::Context,
    job: &DeliveryJob,
    msg_id: &str,
) -> Result<(), QueueError> {
    let payload = serde_json::to_vec(job).map_err(|e| QueueError(e.to_string()))?;
    let msg = PublishMessage::build().payload(payload.into()).message_id(msg_id);
    js.send_publish(job.subject(), msg)
        .await
        .map_err(|e| QueueError(e.to_string()))?
        .await
        .map_err(|e| QueueError(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_webhook_id_depends_on_the_event_and_the_endpoint_only() {
        let a = webhook_id("0193-e1", "whe_1");
        assert_eq!(a, webhook_id("0193-e1", "whe_1"));
        assert_ne!(a, webhook_id("0193-e1", "whe_2"));
        assert_ne!(a, webhook_id("0193-e2", "whe_1"));
        assert!(a.starts_with("msg_") && a.len() == 36);
    }
}
