//! Durable pull consumers of events: explicit acks, decoding, and trace context continued from
//! the publisher. A service exposes one step built on [`EventConsumer::next`] and wraps it in a
//! thin loop; tests drive the step.

use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use async_nats::jetstream::{self, AckKind};
use framelog_events::{Decoded, Event};
use futures::StreamExt;

use crate::telemetry;

/// What a durable consumer is: its stream, name, filters and redelivery policy.
#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    pub stream: &'static str,
    /// Durable name; every replica of a service uses the same one (competing consumers).
    pub durable: String,
    pub filter_subjects: Vec<String>,
    /// How long the server waits for an ack before redelivering.
    pub ack_wait: Duration,
    /// Deliveries before the server gives up (-1: unlimited).
    pub max_deliver: i64,
    /// Redelivery delays after a nak-less timeout, one per attempt.
    pub backoff: Vec<Duration>,
    /// Unacked messages in flight across all replicas.
    pub max_ack_pending: i64,
    pub deliver_policy: DeliverPolicy,
    /// How long a message this build cannot read (corrupt, or a newer writer's type or version)
    /// is handed back before it is delivered again, maybe to a newer replica. Never terminated.
    pub unreadable_delay: Duration,
}

impl ConsumerSpec {
    /// A spec with sane defaults: 30 s ack wait, unlimited deliveries, from the start.
    pub fn new(stream: &'static str, durable: impl Into<String>, filters: Vec<String>) -> Self {
        ConsumerSpec {
            stream,
            durable: durable.into(),
            filter_subjects: filters,
            ack_wait: Duration::from_secs(30),
            max_deliver: -1,
            backoff: Vec::new(),
            max_ack_pending: 1000,
            deliver_policy: DeliverPolicy::All,
            unreadable_delay: Duration::from_secs(30),
        }
    }

    fn config(&self) -> pull::Config {
        let (filter_subject, filter_subjects) = match self.filter_subjects.as_slice() {
            [one] => (one.clone(), Vec::new()),
            many => (String::new(), many.to_vec()),
        };
        pull::Config {
            durable_name: Some(self.durable.clone()),
            ack_policy: AckPolicy::Explicit,
            ack_wait: self.ack_wait,
            max_deliver: self.max_deliver,
            backoff: self.backoff.clone(),
            filter_subject,
            filter_subjects,
            max_ack_pending: self.max_ack_pending,
            deliver_policy: self.deliver_policy,
            ..Default::default()
        }
    }
}

/// A consumer failure (transport or server), as opposed to a bad message.
#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    #[error("binding consumer {durable} on {stream}: {message}")]
    Bind { stream: &'static str, durable: String, message: String },
    #[error("receiving from consumer: {0}")]
    Receive(String),
}

/// A bound durable pull consumer.
pub struct EventConsumer {
    spec: ConsumerSpec,
    messages: pull::Stream,
}

impl std::fmt::Debug for EventConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventConsumer").field("spec", &self.spec).finish()
    }
}

impl EventConsumer {
    /// Creates the durable consumer if needed (updating its config if it changed) and starts
    /// pulling.
    pub async fn bind(js: &jetstream::Context, spec: ConsumerSpec) -> Result<Self, ConsumeError> {
        let bind_err = |m: String| ConsumeError::Bind {
            stream: spec.stream,
            durable: spec.durable.clone(),
            message: m,
        };
        let stream = js.get_stream(spec.stream).await.map_err(|e| bind_err(e.to_string()))?;
        let consumer: jetstream::consumer::PullConsumer =
            stream.create_consumer(spec.config()).await.map_err(|e| bind_err(e.to_string()))?;
        let messages = consumer.messages().await.map_err(|e| bind_err(e.to_string()))?;
        Ok(EventConsumer { spec, messages })
    }

    /// The next decodable event, waiting at most `wait`. `Ok(None)` when nothing arrived.
    /// A message this build cannot read (not a valid event, or a newer writer's type or schema
    /// version) is logged and handed back with a delay (`unreadable_delay`), never terminated:
    /// a newer replica, or this one once upgraded, takes it.
    pub async fn next(&mut self, wait: Duration) -> Result<Option<Delivery>, ConsumeError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let item = match tokio::time::timeout_at(deadline, self.messages.next()).await {
                Err(_) => return Ok(None),
                Ok(None) => return Err(ConsumeError::Receive("message stream ended".into())),
                Ok(Some(Err(e))) => return Err(ConsumeError::Receive(e.to_string())),
                Ok(Some(Ok(m))) => m,
            };
            let (stream_sequence, delivered) = match item.info() {
                Ok(i) => (i.stream_sequence, i.delivered),
                Err(e) => return Err(ConsumeError::Receive(format!("bad message metadata: {e}"))),
            };
            match Event::decode(&item.payload) {
                Ok(Decoded::Event(event)) => {
                    let span = tracing::info_span!(
                        "consume",
                        consumer = %self.spec.durable,
                        subject = %item.subject,
                        seq = stream_sequence,
                        delivered,
                    );
                    telemetry::set_parent_from(&span, item.headers.as_ref());
                    return Ok(Some(Delivery {
                        event,
                        stream_sequence,
                        delivered,
                        span,
                        message: item,
                    }));
                }
                Ok(Decoded::Unknown(u)) => {
                    tracing::warn!(subject = %item.subject, seq = stream_sequence,
                        event_type = %u.event_type, "event of an unknown type handed back");
                    let _ = item.ack_with(AckKind::Nak(Some(self.spec.unreadable_delay))).await;
                }
                Err(e) => {
                    tracing::error!(subject = %item.subject, seq = stream_sequence, error = %e,
                        "unreadable message handed back");
                    let _ = item.ack_with(AckKind::Nak(Some(self.spec.unreadable_delay))).await;
                }
            }
        }
    }
}

/// One delivered event, to be acked, naked or terminated by the handler.
pub struct Delivery {
    pub event: Event,
    /// Its sequence in the stream.
    pub stream_sequence: u64,
    /// How many times it was delivered (1 the first time).
    pub delivered: i64,
    /// A span continuing the publisher's trace; enter it while handling.
    pub span: tracing::Span,
    message: jetstream::Message,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("id", &self.event.id)
            .field("seq", &self.stream_sequence)
            .field("delivered", &self.delivered)
            .finish()
    }
}

impl Delivery {
    /// Done: the effect is durable. Waits for the server to confirm the ack.
    pub async fn ack(&self) -> Result<(), ConsumeError> {
        self.message.double_ack().await.map_err(|e| ConsumeError::Receive(e.to_string()))
    }

    /// Not done: redeliver after `delay` (to this or another replica).
    pub async fn nak(&self, delay: Option<Duration>) -> Result<(), ConsumeError> {
        self.message
            .ack_with(AckKind::Nak(delay))
            .await
            .map_err(|e| ConsumeError::Receive(e.to_string()))
    }

    /// Still working: restart the ack-wait clock.
    pub async fn in_progress(&self) -> Result<(), ConsumeError> {
        self.message
            .ack_with(AckKind::Progress)
            .await
            .map_err(|e| ConsumeError::Receive(e.to_string()))
    }

    /// Never redeliver.
    pub async fn term(&self) -> Result<(), ConsumeError> {
        self.message.ack_with(AckKind::Term).await.map_err(|e| ConsumeError::Receive(e.to_string()))
    }
}
