//! Fan-out: one durable consumer on `VID` (shared by every delivery replica) turns each event
//! into one queued delivery per matching endpoint of its tenant, and acks the event only once
//! every one of those is stored in `WEBHOOK`.
//!
//! The enqueue's `Nats-Msg-Id` is `<event id>.<endpoint id>`, so an event fanned out again
//! after a crash (before its ack) queues nothing twice within the work stream's duplicate
//! window. An endpoint receives the events stored after it was created (older ones on
//! request: replay). Views (`VID_VIEW`) are not delivered.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use framelog_core::consumer::{ConsumeError, ConsumerSpec, Delivery, EventConsumer};
use framelog_core::nats::STREAM_VID;
use framelog_events::Event;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::cache::EndpointCache;
use crate::endpoints::{Endpoint, EndpointStore};
use crate::queue::{self, DeliveryJob};

/// Durable name of the fan-out consumer.
pub const DURABLE: &str = "delivery_fanout";

/// The public payload of an event (`schemas/webhook.v1.json`): its type, phase, time, data,
/// and the event and aggregate ids a receiver needs to act on it.
pub fn payload(event: &Event) -> Value {
    let ce: Value = serde_json::from_slice(&event.to_json()).expect("an event is JSON");
    json!({
        "type": ce["type"],
        "phase": event.data.phase(),
        "timestamp": ce["time"],
        "id": ce["id"],
        "subject": ce["subject"],
        "data": ce["data"],
    })
}

/// The delivery of `event` to `endpoint`.
pub fn job_for(event: &Event, endpoint: &Endpoint) -> DeliveryJob {
    let event_id = event.id.to_string();
    DeliveryJob {
        tenant: endpoint.tenant.to_string(),
        endpoint: endpoint.id.clone(),
        webhook_id: queue::webhook_id(&event_id, &endpoint.id),
        event_id,
        event_type: event.kind().event_type().to_owned(),
        body: payload(event).to_string(),
    }
}

/// Whether `endpoint` takes `event` as a live (not replayed) delivery.
pub fn takes_live(endpoint: &Endpoint, event: &Event) -> bool {
    endpoint.enabled
        && !event.is_unknown()
        && event.time >= endpoint.created_at
        && endpoint.wants(event.kind().event_type(), event.data.phase())
}

/// Queues `event` for every endpoint in `targets`, `msg_id` suffixed by `suffix` (empty for
/// the live fan-out); waits for every ack.
pub async fn enqueue_all(
    js: &jetstream::Context,
    event: &Event,
    targets: &[&Endpoint],
    suffix: &str,
) -> Result<usize, queue::QueueError> {
    let jobs: Vec<DeliveryJob> = targets.iter().map(|e| job_for(event, e)).collect();
    let sends = jobs.iter().map(|j| {
        let msg_id = format!("{}.{}{suffix}", j.event_id, j.endpoint);
        async move { queue::enqueue(js, j, &msg_id).await }
    });
    for r in futures::future::join_all(sends).await {
        r?;
    }
    Ok(jobs.len())
}

/// What one step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Idle,
    /// The event was queued for this many endpoints (possibly none) and acked.
    Fanned(usize),
    /// Not done; the event comes back later.
    Retry(String),
}

/// Fans out one delivered event: queues it for every endpoint that takes it, then acks; a
/// failure hands it back to be fanned out again (the msg ids make that idempotent).
pub async fn handle(
    js: &jetstream::Context,
    endpoints: &EndpointStore,
    cache: &EndpointCache,
    d: Delivery,
) -> Result<Step, ConsumeError> {
    let received = tokio::time::Instant::now();
    let span = d.span.clone();
    async {
        let cached = cache.endpoints_of(endpoints.kv(), &d.event.tenant, received).await;
        let listed = match cached {
            Some(c) => Ok(c),
            None => endpoints.list(&d.event.tenant).await,
        };
        let all = match listed {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "webhook endpoints unreadable; event handed back");
                d.nak(Some(Duration::from_secs(2))).await?;
                return Ok(Step::Retry(e.to_string()));
            }
        };
        let targets: Vec<&Endpoint> = all.iter().filter(|e| takes_live(e, &d.event)).collect();
        match enqueue_all(js, &d.event, &targets, "").await {
            Ok(n) => {
                d.ack().await?;
                Ok(Step::Fanned(n))
            }
            Err(e) => {
                tracing::warn!(error = %e, "webhook fan-out failed; event handed back");
                d.nak(Some(Duration::from_secs(2))).await?;
                Ok(Step::Retry(e.to_string()))
            }
        }
    }
    .instrument(span)
    .await
}

/// The fan-out consumer.
#[derive(Debug)]
pub struct Fanout {
    consumer: EventConsumer,
    js: jetstream::Context,
    endpoints: EndpointStore,
    cache: EndpointCache,
}

impl Fanout {
    pub async fn bind(
        js: jetstream::Context,
        endpoints: EndpointStore,
        cache: EndpointCache,
    ) -> Result<Fanout, ConsumeError> {
        let mut spec = ConsumerSpec::new(STREAM_VID, DURABLE, Vec::new());
        spec.ack_wait = Duration::from_secs(60);
        let consumer = EventConsumer::bind(&js, spec).await?;
        Ok(Fanout { consumer, js, endpoints, cache })
    }

    /// Fans out the next event, if one arrives within `wait`.
    pub async fn process_next(&mut self, wait: Duration) -> Result<Step, ConsumeError> {
        let Some(d) = self.consumer.next(wait).await? else { return Ok(Step::Idle) };
        handle(&self.js, &self.endpoints, &self.cache, d).await
    }
}

/// Events fanned out at once by one process (deliveries are not ordered; see ARCHITECTURE).
pub const CONCURRENCY: usize = 32;

/// Runs the fan-out until `shutdown`, [`CONCURRENCY`] events at a time, rebinding after
/// consumer failures.
pub async fn run(js: jetstream::Context, endpoints: EndpointStore, shutdown: CancellationToken) {
    let cache = EndpointCache::default();
    tokio::spawn(cache.clone().follow(endpoints.kv().clone(), shutdown.clone()));
    let permits = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    let mut fanout: Option<Fanout> = None;
    loop {
        if shutdown.is_cancelled() {
            return;
        }
        let f = match fanout.as_mut() {
            Some(f) => f,
            None => match Fanout::bind(js.clone(), endpoints.clone(), cache.clone()).await {
                Ok(f) => fanout.insert(f),
                Err(e) => {
                    tracing::warn!(error = %e, "webhook fan-out not bound yet");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(2)) => continue,
                    }
                }
            },
        };
        let permit = tokio::select! {
            _ = shutdown.cancelled() => return,
            p = permits.clone().acquire_owned() => p.expect("semaphore never closed"),
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            next = f.consumer.next(Duration::from_secs(5)) => match next {
                Ok(Some(d)) => {
                    let (js, endpoints, cache) =
                        (f.js.clone(), f.endpoints.clone(), f.cache.clone());
                    tokio::spawn(async move {
                        if let Err(e) = handle(&js, &endpoints, &cache, d).await {
                            tracing::warn!(error = %e, "webhook fan-out: ack failed");
                        }
                        drop(permit);
                    });
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "webhook fan-out: consumer failed; rebinding");
                    fanout = None;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            },
        }
    }
}
