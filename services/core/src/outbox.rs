//! The outbox's drain: events that waited for NATS are sent oldest first. A transport failure
//! stops the drain (the rest stays, in order, for the next try); an entry the server refuses
//! for good ([`crate::publish_class`]) is moved, after [`REFUSE_AFTER_TRIES`] refusals, to the
//! `outbox_refused` tree with its reason, counted in `framelog_outbox_refused_total` and logged,
//! so it never blocks the entries behind it. The outbox's size and the age of its oldest entry
//! are metrics (`framelog_outbox_size`, `framelog_outbox_oldest_age_seconds`) and `/readyz`
//! details.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::eventlog::{EventLog, Outgoing, Published, SendError, now_ms};
use crate::metrics::Metrics;
use framelog_events::Event;

/// Refusals of the same head entry before it is set aside (a refusal is an answer of the
/// server, so a few tries only guard against a misreading during a restart).
pub const REFUSE_AFTER_TRIES: u32 = 3;

/// An entry set aside in `outbox_refused`, for an operator.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefusedEntry {
    pub subject: String,
    /// The event id.
    pub msg_id: String,
    /// Why the server refused it (its error text).
    pub reason: String,
    /// Unix milliseconds.
    pub refused_at_ms: u64,
    /// The stored outbox entry, as it was.
    pub entry: serde_json::Value,
}

/// The outbox's metrics, registered with [`EventLog::register_metrics`].
#[derive(Debug, Clone)]
pub struct OutboxMetrics {
    pub refused: Counter,
    /// `framelog_events_published_total{kind,phase}`: events this process stored or queued
    /// (not the server's duplicates): uploads, transcode jobs, dead letters, ready, live.
    pub published: Family<EventLabels, Counter>,
    /// `framelog_event_since_request_seconds{kind,phase}`: from a request event's time to an
    /// event it caused (transcode `started`: queue wait; `playable`: time to playable after
    /// the upload; `completed`: the whole job), recorded by the publisher that knows the cause.
    pub since_request: Family<EventLabels, Histogram, fn() -> Histogram>,
    pub size: Gauge,
    pub oldest_age: Gauge<f64, AtomicU64>,
}

fn since_request_histogram() -> Histogram {
    Histogram::new([
        0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
    ])
}

impl Default for OutboxMetrics {
    fn default() -> Self {
        OutboxMetrics {
            refused: Counter::default(),
            published: Family::default(),
            since_request: Family::new_with_constructor(since_request_histogram),
            size: Gauge::default(),
            oldest_age: Gauge::default(),
        }
    }
}

/// Labels of `framelog_events_published_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    pub kind: String,
    pub phase: String,
}

impl OutboxMetrics {
    /// Counts `event` unless the server said it already had it.
    pub(crate) fn count(&self, event: &Event, published: &Published) {
        if matches!(published, Published::Stored { duplicate: true, .. }) {
            return;
        }
        let l =
            EventLabels { kind: event.kind().to_string(), phase: event.data.phase().to_owned() };
        self.published.get_or_create(&l).inc();
    }

    /// Updates size and oldest age from the tree.
    pub(crate) fn refresh(&self, outbox: &sled::Tree) {
        self.size.set(i64::try_from(outbox.len()).unwrap_or(i64::MAX));
        self.oldest_age.set(oldest_age(outbox).map_or(0.0, |d| d.as_secs_f64()));
    }
}

fn oldest_age(outbox: &sled::Tree) -> Option<Duration> {
    let (_, v) = outbox.first().ok()??;
    let at = serde_json::from_slice::<Outgoing>(&v).ok()?.queued_at_ms?;
    Some(Duration::from_millis(now_ms().saturating_sub(at)))
}

/// Why the outbox was not drained completely.
#[derive(Debug, thiserror::Error)]
pub enum DrainError {
    #[error("NATS unreachable after sending {sent}: {error}")]
    Transport { sent: usize, error: String },
    #[error(transparent)]
    Sled(#[from] sled::Error),
    #[error(transparent)]
    Corrupt(#[from] serde_json::Error),
}

impl EventLog {
    /// Registers the outbox metrics.
    pub fn register_metrics(&self, metrics: &Metrics) {
        let m = &self.inner().metrics;
        m.refresh(&self.inner().outbox);
        metrics.register(
            "outbox_refused",
            "Outbox entries JetStream refused for good",
            m.refused.clone(),
        );
        metrics.register(
            "events_published",
            "Events this process stored or queued, by kind and phase",
            m.published.clone(),
        );
        metrics.register(
            "event_since_request_seconds",
            "Seconds from a request event to an event it caused, by the caused event's kind and phase",
            m.since_request.clone(),
        );
        metrics.register("outbox_size", "Events waiting in the local outbox", m.size.clone());
        metrics.register(
            "outbox_oldest_age_seconds",
            "Age of the oldest event waiting in the local outbox",
            m.oldest_age.clone(),
        );
    }

    /// Records how long after `request` its consequence `event` was published (skipped for the
    /// server's duplicates: a redelivered job's repeat is not a second job).
    pub fn observe_since_request(&self, event: &Event, request: &Event, published: &Published) {
        if matches!(published, Published::Stored { duplicate: true, .. }) {
            return;
        }
        let secs = (event.time - request.time).as_seconds_f64().max(0.0);
        let l =
            EventLabels { kind: event.kind().to_string(), phase: event.data.phase().to_owned() };
        self.inner().metrics.since_request.get_or_create(&l).observe(secs);
    }

    /// Age of the oldest event in the outbox (none when empty).
    pub fn outbox_oldest_age(&self) -> Option<Duration> {
        oldest_age(&self.inner().outbox)
    }

    /// Entries set aside because JetStream refused them for good, oldest first.
    pub fn refused_entries(&self) -> Vec<RefusedEntry> {
        let tree = &self.inner().refused;
        tree.iter().values().flatten().filter_map(|v| serde_json::from_slice(&v).ok()).collect()
    }

    /// How many entries were set aside.
    pub fn refused_len(&self) -> usize {
        self.inner().refused.len()
    }

    fn set_aside(
        &self,
        key: &sled::IVec,
        value: &[u8],
        subject: &str,
        msg_id: &str,
        reason: String,
    ) -> Result<(), DrainError> {
        tracing::error!(%subject, event_id = %msg_id, %reason,
            "JetStream refused an outbox entry for good; moved to the outbox_refused tree");
        let rec = RefusedEntry {
            subject: subject.to_owned(),
            msg_id: msg_id.to_owned(),
            reason,
            refused_at_ms: now_ms(),
            entry: serde_json::from_slice(value).unwrap_or(serde_json::Value::Null),
        };
        self.inner().refused.insert(key, serde_json::to_vec(&rec)?)?;
        self.inner().metrics.refused.inc();
        Ok(())
    }

    /// Counts one more refusal of the head entry `key`; whether it is now to be set aside.
    fn refused_enough(&self, key: &sled::IVec) -> bool {
        let mut head = self.inner().head_refusals.lock().expect("not poisoned");
        let n = match head.as_ref() {
            Some((k, n)) if k == key => n + 1,
            _ => 1,
        };
        *head = Some((key.clone(), n));
        n >= REFUSE_AFTER_TRIES
    }

    /// Sends everything in the outbox, oldest first. Returns how many left it (sent or set
    /// aside); stops at the first transport failure, or at a refusal not yet tried
    /// [`REFUSE_AFTER_TRIES`] times (the rest stays, in order).
    pub async fn drain_outbox(&self) -> Result<usize, DrainError> {
        let inner = self.inner();
        let mut sent = 0;
        let result = loop {
            let Some((key, value)) = inner.outbox.first()? else {
                let _g = inner.enqueue_lock.lock().await;
                if inner.outbox.is_empty() {
                    inner.backlog.store(false, Ordering::Release);
                    break Ok(sent);
                }
                continue;
            };
            let out: Outgoing = match serde_json::from_slice(&value) {
                Ok(o) => o,
                Err(e) => {
                    self.set_aside(&key, &value, "?", "?", format!("corrupt entry: {e}"))?;
                    inner.outbox.remove(&key)?;
                    continue;
                }
            };
            match self.send(&out).await {
                Ok(_) => {}
                Err(SendError::Refused { message, .. }) => {
                    if !self.refused_enough(&key) {
                        break Err(DrainError::Transport { sent, error: message });
                    }
                    self.set_aside(&key, &value, &out.subject, &out.msg_id, message)?;
                }
                // No room yet: keep the entry (and everything after it) for a later attempt.
                Err(SendError::Transport(e) | SendError::Full(e)) => {
                    break Err(DrainError::Transport { sent, error: e });
                }
            }
            inner.outbox.remove(&key)?;
            sent += 1;
        };
        inner.metrics.refresh(&inner.outbox);
        result
    }

    /// Drains the outbox whenever something is queued (and every second, to retry), until
    /// `shutdown` is cancelled.
    pub async fn run_outbox(self, shutdown: CancellationToken) {
        let mut delay = Duration::from_millis(200);
        loop {
            if self.inner().backlog.load(Ordering::Acquire) {
                match self.drain_outbox().await {
                    Ok(n) => {
                        if n > 0 {
                            tracing::info!(sent = n, "outbox drained");
                        }
                        delay = Duration::from_millis(200);
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "outbox not drained yet");
                        delay = (delay * 2).min(Duration::from_secs(2));
                    }
                }
            }
            self.inner().metrics.refresh(&self.inner().outbox);
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.inner().wake.notified() => {}
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }
}
