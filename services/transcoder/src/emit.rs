//! Publishing a job's events: every event is caused by the request, and every event a
//! redelivery could repeat has a deterministic id, so the server's duplicate window drops the
//! repeat. A job's emitter carries its [`Deletion`]: nothing is emitted for a deleted video.

use framelog_core::eventlog::EventLog;
use framelog_events::{AggregateId, Event, EventData, TenantId};
use time::OffsetDateTime;
use tracing::instrument;

use crate::error::JobError;
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
}

impl Emitter {
    /// An emitter for the job asked for by `request`.
    pub fn new(events: EventLog, request: Event) -> Emitter {
        Emitter { events, request, deletion: None }
    }

    /// This emitter, refusing (with [`JobError::Deleted`]) to emit once the video is deleted.
    pub fn guarded(mut self, deletion: Deletion) -> Emitter {
        self.deletion = Some(deletion);
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
        self.events.publish(&event).await?;
        Ok(())
    }
}
