//! Every completed upload gets its transcode job: a durable consumer that all ingest replicas
//! share reads `vid.*.upload.completed.*` and publishes the `VID_TRANSCODE requested` that
//! follows from it (one-shot, deterministic id, caused by it), acking only once it is stored.
//!
//! [`crate::lifecycle::complete`] publishes the request itself right after `completed` (so the
//! client's answer carries its sequence); this reactor covers the crash, or the lost machine,
//! between the two: `completed` in the log implies `requested` in the log. Since `requested` is
//! stored at most once per video, the two publishers never make two jobs.

use std::time::Duration;

use framelog_core::consumer::{ConsumeError, ConsumerSpec, EventConsumer};
use framelog_core::eventlog::{EventLog, Published};
use framelog_core::nats::STREAM_VID;
use framelog_events::{Event, EventData, Kind, TranscodeData, UploadData};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Durable name of the consumer (shared by every ingest replica).
pub const DURABLE: &str = "ingest_job_requests";

/// The `VID_TRANSCODE requested` that follows from `completed` (an `upload.completed` event),
/// with the id ingest gives it; none for any other event.
pub fn request_for(completed: &Event) -> Option<Event> {
    let EventData::Upload(UploadData::Completed { upload_id, source_key, probe, .. }) =
        &completed.data
    else {
        return None;
    };
    let id = Event::deterministic_id(
        &completed.tenant,
        &completed.subject,
        Kind::Transcode,
        "requested",
        upload_id,
    );
    let data = TranscodeData::Requested { source_key: source_key.clone(), probe: probe.clone() };
    Some(
        Event::new(
            id,
            completed.time,
            crate::lifecycle::SOURCE,
            completed.tenant.clone(),
            completed.subject.clone(),
            data,
        )
        .caused_by(completed),
    )
}

/// What one step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing arrived.
    Idle,
    /// The request is stored (`duplicate`: it already was).
    Requested { duplicate: bool },
    /// The request waits in the outbox or failed: the completion is redelivered later.
    Retry(String),
}

/// The consumer of completed uploads.
#[derive(Debug)]
pub struct Requester {
    consumer: EventConsumer,
    events: EventLog,
}

impl Requester {
    /// Binds the shared durable consumer.
    pub async fn bind(events: EventLog) -> Result<Requester, ConsumeError> {
        let mut spec =
            ConsumerSpec::new(STREAM_VID, DURABLE, vec!["vid.*.upload.completed.*".into()]);
        spec.ack_wait = Duration::from_secs(30);
        let consumer = EventConsumer::bind(events.jetstream(), spec).await?;
        Ok(Requester { consumer, events })
    }

    /// Handles the next completed upload, if one arrives within `wait`.
    pub async fn process_next(&mut self, wait: Duration) -> Result<Step, ConsumeError> {
        let Some(d) = self.consumer.next(wait).await? else { return Ok(Step::Idle) };
        let span = d.span.clone();
        async {
            let Some(request) = request_for(&d.event) else {
                d.term().await?;
                return Ok(Step::Idle);
            };
            match self.events.publish(&request).await {
                Ok(Published::Stored { duplicate, .. }) => {
                    d.ack().await?;
                    if !duplicate {
                        tracing::info!(video = %request.subject, "transcode requested for a completed upload that had none");
                    }
                    Ok(Step::Requested { duplicate })
                }
                // Queued here only: not acked, so a lost machine cannot lose the job.
                Ok(Published::Queued) => {
                    d.nak(Some(Duration::from_secs(5))).await?;
                    Ok(Step::Retry("the request waits in the outbox".into()))
                }
                Err(e) => {
                    tracing::error!(error = %e, "the transcode request was not published");
                    d.nak(Some(Duration::from_secs(5))).await?;
                    Ok(Step::Retry(e.to_string()))
                }
            }
        }
        .instrument(span)
        .await
    }
}

/// Runs the requester until `shutdown`, rebinding after consumer failures.
pub async fn run(events: EventLog, shutdown: CancellationToken) {
    let mut requester: Option<Requester> = None;
    loop {
        if shutdown.is_cancelled() {
            return;
        }
        let r = match requester.as_mut() {
            Some(r) => r,
            None => match Requester::bind(events.clone()).await {
                Ok(r) => requester.insert(r),
                Err(e) => {
                    tracing::warn!(error = %e, "job requester not bound yet");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(2)) => continue,
                    }
                }
            },
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            step = r.process_next(Duration::from_secs(5)) => if let Err(e) = step {
                tracing::warn!(error = %e, "job requester: consumer failed; rebinding");
                requester = None;
                tokio::time::sleep(Duration::from_secs(1)).await;
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use framelog_events::{AggregateId, Probe, SourceKind, TenantId};

    #[test]
    fn a_completed_upload_implies_the_request_ingest_would_have_made() {
        let (t, v) = (TenantId::new("acme").unwrap(), AggregateId::new("vid_1").unwrap());
        let probe = Probe {
            duration_secs: 1.0,
            width: 2,
            height: 2,
            rotation: 0,
            fps: 1.0,
            video_codec: "h264".into(),
            audio_codec: None,
            format: "mp4".into(),
            bit_rate: None,
        };
        let completed = Event::new(
            uuid::Uuid::now_v7(),
            time::OffsetDateTime::now_utc(),
            "framelog/ingest",
            t.clone(),
            v.clone(),
            UploadData::Completed {
                upload_id: "up_1".into(),
                source: SourceKind::Upload,
                filename: "a.mp4".into(),
                size: 1,
                sha256: "00".into(),
                source_key: "sources/acme/vid_1/source".into(),
                probe,
                stream_id: None,
            },
        );
        let r = request_for(&completed).unwrap();
        assert_eq!(r.id, Event::deterministic_id(&t, &v, Kind::Transcode, "requested", "up_1"));
        assert_eq!(r.causation_id, Some(completed.id.to_string()));
        assert!(matches!(r.data, EventData::Transcode(TranscodeData::Requested { .. })));
        let aborted = Event::new(
            uuid::Uuid::now_v7(),
            time::OffsetDateTime::now_utc(),
            "x",
            t,
            v,
            UploadData::Aborted { upload_id: "up_1".into() },
        );
        assert!(request_for(&aborted).is_none());
    }
}
