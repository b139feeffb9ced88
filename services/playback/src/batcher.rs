//! Batched publishing of view events: beacons are enqueued (bounded) and one task sends them to
//! JetStream without awaiting each ack, then awaits the acks of the whole batch together. Under
//! load a batch is whatever queued up while the previous batch's acks were in flight, so a burst
//! of beacons costs a few round trips, not one per beacon.
//!
//! Every event carries its deterministic id as `Nats-Msg-Id`, so a batch (or part of one) whose
//! acks were lost is simply sent again: the server stores each (video, viewer, window) once,
//! whichever replica or retry sent it. A batch is retried with back-off while NATS is away, and
//! dropped (counted in `framelog_playback_views_dropped`) after the last attempt; meanwhile the
//! queue fills and beacons are answered 503, which players retry.

use std::time::Duration;

use async_nats::jetstream::{self, message::PublishMessage};
use bytes::Bytes;
use framelog_events::Event;
use prometheus_client::metrics::counter::Counter;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use framelog_core::metrics::Metrics;

/// Delays before the attempts after the first.
const RETRY: [Duration; 4] = [
    Duration::from_millis(100),
    Duration::from_millis(500),
    Duration::from_secs(2),
    Duration::from_secs(5),
];

/// One event, serialised by the request handler (so the publishing task only sends).
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub subject: String,
    pub msg_id: String,
    pub payload: Bytes,
}

impl Outgoing {
    /// The wire form of `event`.
    pub fn of(event: &Event) -> Outgoing {
        Outgoing {
            subject: event.nats_subject().to_string(),
            msg_id: event.id.to_string(),
            payload: Bytes::from(event.to_json()),
        }
    }
}

/// Counters of the view pipeline (also exported as Prometheus metrics).
#[derive(Debug, Clone, Default)]
pub struct ViewStats {
    /// Beacons accepted into the queue.
    pub accepted: Counter,
    /// Beacons refused because the queue was full.
    pub rejected: Counter,
    /// Beacons refused by the per-address limiter (rate or sessions per window).
    pub limited: Counter,
    /// Events stored by JetStream.
    pub stored: Counter,
    /// Events JetStream dropped as duplicates (same viewer and window, from anywhere).
    pub duplicates: Counter,
    /// Events given up after the last retry.
    pub dropped: Counter,
}

impl ViewStats {
    /// Registers the counters with the process's metrics.
    pub fn register(&self, m: &Metrics) {
        m.register("playback_beacons_accepted", "View beacons queued", self.accepted.clone());
        m.register(
            "playback_beacons_rejected",
            "View beacons refused (queue full)",
            self.rejected.clone(),
        );
        m.register(
            "playback_beacons_limited",
            "View beacons refused by the per-address limit",
            self.limited.clone(),
        );
        m.register("playback_views_stored", "View events stored", self.stored.clone());
        m.register(
            "playback_views_duplicate",
            "View events dropped as duplicates",
            self.duplicates.clone(),
        );
        m.register(
            "playback_views_dropped",
            "View events lost after retries",
            self.dropped.clone(),
        );
    }
}

/// Sends queued events in batches until `shutdown`, then sends what is left and returns.
pub async fn run(
    js: jetstream::Context,
    mut rx: mpsc::Receiver<Outgoing>,
    max_batch: usize,
    stats: ViewStats,
    shutdown: CancellationToken,
) {
    let max_batch = max_batch.max(1);
    let mut batch = Vec::with_capacity(max_batch);
    loop {
        let n = tokio::select! {
            biased;
            n = rx.recv_many(&mut batch, max_batch) => n,
            _ = shutdown.cancelled() => {
                rx.close();
                while rx.recv_many(&mut batch, max_batch).await > 0 {
                    publish_batch(&js, std::mem::take(&mut batch), &stats, &CancellationToken::new()).await;
                }
                return;
            }
        };
        if n == 0 {
            return;
        }
        publish_batch(&js, std::mem::take(&mut batch), &stats, &shutdown).await;
        batch.reserve(max_batch);
    }
}

/// Sends `batch`, awaits its acks together, and retries what failed (fewer retries after
/// `shutdown`, so that stopping is not held up by an absent server for long).
pub async fn publish_batch(
    js: &jetstream::Context,
    mut batch: Vec<Outgoing>,
    stats: &ViewStats,
    shutdown: &CancellationToken,
) {
    let mut attempt = 0;
    loop {
        batch = send_once(js, batch, stats).await;
        if batch.is_empty() {
            return;
        }
        let Some(delay) = RETRY.get(attempt).filter(|_| !shutdown.is_cancelled() || attempt < 1)
        else {
            tracing::warn!(lost = batch.len(), "view events dropped after retries");
            stats.dropped.inc_by(batch.len() as u64);
            return;
        };
        tracing::debug!(failed = batch.len(), attempt, "retrying view events");
        tokio::time::sleep(*delay).await;
        attempt += 1;
    }
}

/// One attempt: returns the events that were not acknowledged.
async fn send_once(
    js: &jetstream::Context,
    batch: Vec<Outgoing>,
    stats: &ViewStats,
) -> Vec<Outgoing> {
    let mut failed = Vec::new();
    let mut pending = Vec::with_capacity(batch.len());
    for out in batch {
        let msg = PublishMessage::build().payload(out.payload.clone()).message_id(&out.msg_id);
        match js.send_publish(out.subject.clone(), msg).await {
            Ok(ack) => pending.push((out, ack)),
            Err(e) => {
                tracing::debug!(error = %e, "view event not sent");
                failed.push(out);
            }
        }
    }
    let acks = futures::future::join_all(
        pending.into_iter().map(|(out, ack)| async move { (out, ack.await) }),
    )
    .await;
    for (out, ack) in acks {
        match ack {
            Ok(a) if a.duplicate => {
                stats.duplicates.inc();
            }
            Ok(_) => {
                stats.stored.inc();
            }
            Err(e) => {
                tracing::debug!(error = %e, "view event not acknowledged");
                failed.push(out);
            }
        }
    }
    failed
}
