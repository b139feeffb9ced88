//! Publishing a job's events: every event is caused by the request, and every event a
//! redelivery could repeat has a deterministic id, so the server's duplicate window drops the
//! repeat. A job's emitter carries its [`Deletion`]: nothing is emitted for a deleted video.
//!
//! A job's final facts (`completed`, `ready.published`) are one-shot and are [`settle`]d: the
//! job returns only once they are stored in JetStream, not merely queued in this machine's
//! outbox, so the job is never acked while its completion could still be lost with the
//! machine.
//!
//! [`settle`]: Emitter::settle

use std::time::Duration;

use framelog_core::eventlog::{EventLog, Published};
use framelog_events::{AggregateId, Event, EventData, TenantId};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use tracing::instrument;

use crate::error::JobError;
use crate::metrics::TranscodeMetrics;
use crate::outputs::Deletion;

/// The `source` of every event the transcoder writes.
pub const SOURCE: &str = "framelog/transcoder";

/// Publishes the events of one job.
#[derive(Debug, Clone)]
pub struct Emitter {
    events: EventLog,
    request: Event,
    /// When set, every emit first checks that the video is not deleted.
    deletion: Option<Deletion>,
    /// When set, `playable` and `ready` are timed from the request ([`crate::metrics`]).
    metrics: Option<TranscodeMetrics>,
}

impl Emitter {
    /// An emitter for the job asked for by `request`.
    pub fn new(events: EventLog, request: Event) -> Emitter {
        Emitter { events, request, deletion: None, metrics: None }
    }

    /// This emitter, refusing (with [`JobError::Deleted`]) to emit once the video is deleted.
    pub fn guarded(mut self, deletion: Deletion) -> Emitter {
        self.deletion = Some(deletion);
        self
    }

    /// This emitter, timing `playable` and `ready` from the request in `metrics`.
    pub fn with_metrics(mut self, metrics: TranscodeMetrics) -> Emitter {
        self.metrics = Some(metrics);
        self
    }

    pub fn tenant(&self) -> &TenantId {
        &self.request.tenant
    }

    pub fn video(&self) -> &AggregateId {
        &self.request.subject
    }

    /// The request event.
    pub fn request(&self) -> &Event {
        &self.request
    }

    /// The event `data` would be, with its deterministic id (`discriminator` as documented on
    /// [`Event::deterministic_id`]).
    pub fn event(&self, data: impl Into<EventData>, discriminator: &str) -> Event {
        let data = data.into();
        let id = Event::deterministic_id(
            self.tenant(),
            self.video(),
            data.kind(),
            data.phase(),
            discriminator,
        );
        Event::new(
            id,
            OffsetDateTime::now_utc(),
            SOURCE,
            self.tenant().clone(),
            self.video().clone(),
            data,
        )
        .caused_by(&self.request)
    }

    /// Publishes and waits for the server's ack (or the outbox's fsync when NATS is away).
    #[instrument(skip_all, fields(tenant = %self.request.tenant, video = %self.request.subject), err)]
    pub async fn emit(
        &self,
        data: impl Into<EventData>,
        discriminator: &str,
    ) -> Result<(), JobError> {
        let event = self.event(data, discriminator);
        if let Some(d) = &self.deletion {
            d.check().await?;
        }
        let published = self.events.publish(&event).await?;
        self.events.observe_since_request(&event, &self.request, &published);
        if let Some(m) = &self.metrics {
            m.published(&event, &self.request, &published);
        }
        Ok(())
    }

    /// Publishes `events` (already built, e.g. read back from the completion marker) and waits
    /// until every one of them is stored in JetStream: an event queued in the outbox is waited
    /// for until the outbox has sent it, or until `cancel` ([`JobError::Cancelled`]: the job
    /// is handed back, and whoever gets it re-emits the same events from the marker).
    #[instrument(skip_all, fields(tenant = %self.request.tenant, video = %self.request.subject), err)]
    pub async fn settle(
        &self,
        events: &[Event],
        cancel: &CancellationToken,
    ) -> Result<(), JobError> {
        let mut queued = Vec::new();
        for event in events {
            if let Some(d) = &self.deletion {
                d.check().await?;
            }
            let published = self.events.publish(event).await?;
            self.events.observe_since_request(event, &self.request, &published);
            if let Some(m) = &self.metrics {
                m.published(event, &self.request, &published);
            }
            if published == Published::Queued {
                queued.push(event.id);
            }
        }
        if !queued.is_empty() {
            tracing::warn!(
                waiting = queued.len(),
                "the job's final events wait in the outbox; the job is not acked until they are stored"
            );
        }
        while queued.iter().any(|id| self.events.is_queued(id)) {
            tokio::select! {
                () = cancel.cancelled() => return Err(JobError::Cancelled),
                () = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
        }
        Ok(())
    }
}
