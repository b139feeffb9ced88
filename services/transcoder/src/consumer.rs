//! The job queue: the durable pull consumer every worker shares, pulled one message at a time.
//!
//! `framelog_core::consumer::EventConsumer` keeps a pull stream that asks the server for batches
//! of up to 200 messages: right for quick projections, wrong for jobs that run for minutes, as
//! one worker would hoard every queued job while another sits idle, and the hoarded ones would
//! time out and be redelivered while still queued. So the transcoder asks for exactly one
//! message, and only when it has a free slot (see [`crate::worker`]).

use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, PullConsumer, pull};
use async_nats::jetstream::{self, AckKind};
use framelog_core::consumer::{ConsumeError, ConsumerSpec};
use framelog_core::nats::STREAM_VID;
use framelog_core::telemetry;
use framelog_events::{Decoded, Event, Kind, Subject};
use futures::StreamExt;

use crate::settings::TranscoderSettings;

/// Durable name shared by every transcoder worker.
pub const DURABLE: &str = "transcoder";

/// The consumer of transcode requests, with the redelivery policy of `settings`.
pub fn job_spec(settings: &TranscoderSettings) -> ConsumerSpec {
    let mut spec = ConsumerSpec::new(
        STREAM_VID,
        DURABLE,
        vec![Subject::phase_filter(Kind::Transcode, "requested")],
    );
    spec.ack_wait = settings.ack_wait();
    // Hand-backs to keep one tenant from taking every slot are deliveries too; they have a
    // budget of their own (see `crate::fairness`), so a healthy job is never dropped for them.
    spec.max_deliver = settings.server_max_deliver();
    spec.backoff = settings.backoff();
    spec
}

fn pull_config(spec: &ConsumerSpec) -> pull::Config {
    let (filter_subject, filter_subjects) = match spec.filter_subjects.as_slice() {
        [one] => (one.clone(), Vec::new()),
        many => (String::new(), many.to_vec()),
    };
    pull::Config {
        durable_name: Some(spec.durable.clone()),
        ack_policy: AckPolicy::Explicit,
        ack_wait: spec.ack_wait,
        max_deliver: spec.max_deliver,
        backoff: spec.backoff.clone(),
        filter_subject,
        filter_subjects,
        max_ack_pending: spec.max_ack_pending,
        deliver_policy: spec.deliver_policy,
        ..Default::default()
    }
}

/// A bound job consumer.
pub struct JobConsumer {
    consumer: PullConsumer,
    durable: String,
    unreadable_delay: Duration,
}

impl std::fmt::Debug for JobConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobConsumer").field("durable", &self.durable).finish()
    }
}

impl JobConsumer {
    /// Creates or updates the durable consumer described by `spec`.
    pub async fn bind(js: &jetstream::Context, spec: &ConsumerSpec) -> Result<Self, ConsumeError> {
        let bind_err = |m: String| ConsumeError::Bind {
            stream: spec.stream,
            durable: spec.durable.clone(),
            message: m,
        };
        let stream = js.get_stream(spec.stream).await.map_err(|e| bind_err(e.to_string()))?;
        let consumer: PullConsumer =
            stream.create_consumer(pull_config(spec)).await.map_err(|e| bind_err(e.to_string()))?;
        Ok(JobConsumer {
            consumer,
            durable: spec.durable.clone(),
            unreadable_delay: spec.unreadable_delay,
        })
    }

    /// Asks for one job, waiting at most `wait`. `Ok(None)`: none arrived. A message this build
    /// cannot read (corrupt, or a newer writer's schema version or type) is logged and handed
    /// back with the spec's `unreadable_delay`, never terminated: a newer worker can take it.
    pub async fn next(&self, wait: Duration) -> Result<Option<JobMessage>, ConsumeError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left < Duration::from_millis(10) {
                return Ok(None);
            }
            let mut batch = self
                .consumer
                .batch()
                .max_messages(1)
                .expires(left)
                .messages()
                .await
                .map_err(|e| ConsumeError::Receive(e.to_string()))?;
            let message = match batch.next().await {
                None => return Ok(None),
                Some(Err(e)) => return Err(ConsumeError::Receive(e.to_string())),
                Some(Ok(m)) => m,
            };
            let (stream_sequence, delivered) = match message.info() {
                Ok(i) => (i.stream_sequence, i.delivered),
                Err(e) => return Err(ConsumeError::Receive(format!("bad message metadata: {e}"))),
            };
            match Event::decode(&message.payload) {
                Ok(Decoded::Event(event)) => {
                    let span = tracing::info_span!(
                        "transcode_job",
                        consumer = %self.durable,
                        subject = %message.subject,
                        seq = stream_sequence,
                        delivered,
                    );
                    telemetry::set_parent_from(&span, message.headers.as_ref());
                    return Ok(Some(JobMessage {
                        event,
                        stream_sequence,
                        delivered,
                        span,
                        message,
                    }));
                }
                unreadable => {
                    let why = match unreadable {
                        Err(e) => e.to_string(),
                        Ok(_) => "an event type this build does not know".to_owned(),
                    };
                    tracing::error!(subject = %message.subject, seq = stream_sequence, error = %why,
                        "unreadable job handed back for a newer worker");
                    let _ = message.ack_with(AckKind::Nak(Some(self.unreadable_delay))).await;
                }
            }
        }
    }
}

impl JobConsumer {
    /// Jobs in the queue never delivered yet (the server's `num_pending`).
    pub async fn queued(&self) -> Result<u64, ConsumeError> {
        let info = self.consumer.get_info().await.map_err(receive_err)?;
        Ok(info.num_pending)
    }
}

/// One delivered job, to be acked, naked or terminated.
pub struct JobMessage {
    /// The `VID_TRANSCODE requested` event.
    pub event: Event,
    pub stream_sequence: u64,
    /// Deliveries so far (1 the first time): the attempt number.
    pub delivered: i64,
    /// A span continuing the requester's trace.
    pub span: tracing::Span,
    message: jetstream::Message,
}

impl std::fmt::Debug for JobMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobMessage")
            .field("id", &self.event.id)
            .field("seq", &self.stream_sequence)
            .field("delivered", &self.delivered)
            .finish()
    }
}

fn receive_err(e: impl std::fmt::Display) -> ConsumeError {
    ConsumeError::Receive(e.to_string())
}

impl JobMessage {
    /// Done: outputs and events are durable. Waits for the server to confirm.
    pub async fn ack(&self) -> Result<(), ConsumeError> {
        self.message.double_ack().await.map_err(receive_err)
    }

    /// Not done: redeliver after `delay` (to any worker).
    pub async fn nak(&self, delay: Option<Duration>) -> Result<(), ConsumeError> {
        self.message.ack_with(AckKind::Nak(delay)).await.map_err(receive_err)
    }

    /// Still working: restart the ack-wait clock.
    pub async fn in_progress(&self) -> Result<(), ConsumeError> {
        self.message.ack_with(AckKind::Progress).await.map_err(receive_err)
    }

    /// Never redeliver.
    pub async fn term(&self) -> Result<(), ConsumeError> {
        self.message.ack_with(AckKind::Term).await.map_err(receive_err)
    }
}
