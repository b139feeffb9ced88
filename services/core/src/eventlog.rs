//! Publishing events to JetStream, with a local outbox so that no fact is lost while NATS is
//! unreachable.
//!
//! `publish` sends the event with `Nats-Msg-Id` = its id and the current W3C trace context, and
//! awaits the server's ack. When NATS is unreachable (or anything is already waiting in the
//! outbox, so that order is kept) the event is appended to a sled tree and flushed to disk
//! before `publish` returns [`Published::Queued`]; a background task drains the outbox in order
//! when NATS returns (see [`crate::outbox`]). The server's duplicate window drops a repeat of an
//! id (a publish whose ack was lost and that is sent again from the outbox); a one-shot fact
//! ([`framelog_events::once::once_per_subject`]) is also published with an expected last subject
//! sequence of 0, so a repeat after the window is refused and reported as a duplicate: each such
//! fact is stored once, forever. Failures are classified by the server's error code
//! ([`crate::publish_class`]): a refusal is returned (or, for an outbox entry, set aside in
//! `outbox_refused`) instead of blocking everything behind it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_nats::HeaderMap;
use async_nats::connection::State;
use async_nats::jetstream::context::GetStreamByNameErrorKind;
use async_nats::jetstream::{self, context::PublishErrorKind, message::PublishMessage};
use bytes::Bytes;
use framelog_events::Event;
use framelog_events::once::once_per_subject;
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, Notify};
use tracing::Instrument;

use crate::outbox::OutboxMetrics;
use crate::publish_class::{Class, classify, failure};
use crate::telemetry::{self, TRACEPARENT, TRACESTATE};

/// Name of the sled tree holding events waiting for NATS.
pub const OUTBOX_TREE: &str = "outbox";
/// Name of the sled tree holding outbox entries the server refused for good (kept for an operator).
pub const OUTBOX_REFUSED_TREE: &str = "outbox_refused";

/// What happened to a published event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// Stored in its stream at `sequence`; `duplicate` when the server already had this id.
    Stored { stream_sequence: u64, duplicate: bool },
    /// NATS is unreachable: the event is durable in the local outbox and will be sent, in order.
    Queued,
}

impl Published {
    /// The stream sequence, when known (for read-your-writes).
    pub fn sequence(&self) -> Option<u64> {
        match self {
            Published::Stored { stream_sequence, .. } => Some(*stream_sequence),
            Published::Queued => None,
        }
    }
}

/// A publish that failed.
#[derive(Debug, thiserror::Error)]
pub enum EventLogError {
    /// The server refused the event itself (not a transport problem): retrying cannot help.
    #[error("JetStream refused the event ({kind}): {message}")]
    Refused { kind: PublishErrorKind, message: String },
    /// The JetStream store (or the stream's limit) is full: nothing can be written until space
    /// is freed. Not queued in the outbox, which would only hide the problem.
    #[error("JetStream has no room for the event: {message}")]
    StoreFull { message: String },
    /// The local outbox could not be written: the event is not durable.
    #[error("writing the local outbox failed")]
    Outbox(#[from] sled::Error),
    #[error("outbox entry is corrupt")]
    Corrupt(#[from] serde_json::Error),
}

/// One event ready to send (also the outbox's stored form).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Outgoing {
    pub(crate) subject: String,
    pub(crate) msg_id: String,
    payload: String,
    #[serde(default)]
    traceparent: Option<String>,
    #[serde(default)]
    tracestate: Option<String>,
    /// A one-shot fact: sent with an expected last subject sequence of 0.
    #[serde(default)]
    pub(crate) once: bool,
    /// When it entered the outbox, unix milliseconds (outbox age).
    #[serde(default)]
    pub(crate) queued_at_ms: Option<u64>,
}

pub(crate) fn now_ms() -> u64 {
    let now = time::OffsetDateTime::now_utc();
    u64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

impl Outgoing {
    fn from_event(event: &Event) -> Outgoing {
        let (traceparent, tracestate) = telemetry::current_trace_headers();
        Outgoing {
            subject: event.nats_subject().to_string(),
            msg_id: event.id.to_string(),
            payload: String::from_utf8(event.to_json()).expect("serde_json writes UTF-8"),
            traceparent,
            tracestate,
            once: once_per_subject(&event.data),
            queued_at_ms: None,
        }
    }

    fn message(&self) -> PublishMessage {
        let mut h = HeaderMap::new();
        if let Some(tp) = &self.traceparent {
            h.insert(TRACEPARENT, tp.as_str());
        }
        if let Some(ts) = &self.tracestate {
            h.insert(TRACESTATE, ts.as_str());
        }
        // `.headers` replaces every header: it must come before `message_id` (STACK.md).
        let m = PublishMessage::build()
            .payload(Bytes::from(self.payload.clone().into_bytes()))
            .headers(h)
            .message_id(&self.msg_id);
        if self.once { m.expected_last_subject_sequence(0) } else { m }
    }
}

/// Publishes events; cheap to clone.
#[derive(Clone)]
pub struct EventLog {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    client: async_nats::Client,
    js: jetstream::Context,
    pub(crate) db: sled::Db,
    pub(crate) outbox: sled::Tree,
    pub(crate) refused: sled::Tree,
    /// Held while an outbox entry is added or the backlog flag cleared, so that "backlog is
    /// false" always implies "the outbox is empty".
    pub(crate) enqueue_lock: Mutex<()>,
    pub(crate) backlog: AtomicBool,
    pub(crate) wake: Notify,
    /// The outbox head's key and how often JetStream refused it (refused after a few tries).
    pub(crate) head_refusals: std::sync::Mutex<Option<(sled::IVec, u32)>>,
    pub(crate) metrics: OutboxMetrics,
    /// The connection's publish permission violations, when watched ([`EventLog::watch`]).
    pub(crate) violations: std::sync::OnceLock<crate::publish_denied::PublishViolations>,
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLog").field("backlog", &self.outbox_len()).finish()
    }
}

/// JetStream error codes (nats-server `server/errors.json`) that mean "no room to store":
/// 10002 account resources exceeded, 10023 insufficient resources, 10028 insufficient memory
/// resources, 10047 insufficient storage resources, 10077 stream store failed (what a stream at
/// its `max_bytes`/`max_msgs` with `discard: new` answers: "maximum bytes exceeded").
pub const STORE_FULL_CODES: [u64; 5] = [10002, 10023, 10028, 10047, 10077];

/// The JetStream API error code in `err`'s source chain, if any.
pub fn jetstream_code(err: &(dyn std::error::Error + 'static)) -> Option<u64> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(js) = e.downcast_ref::<async_nats::jetstream::Error>() {
            return Some(js.error_code().0);
        }
        cur = e.source();
    }
    None
}

/// Whether `err` (a publish, create or update failure) says JetStream has no room.
pub fn is_store_full(err: &(dyn std::error::Error + 'static)) -> bool {
    jetstream_code(err).is_some_and(|c| STORE_FULL_CODES.contains(&c))
}

impl EventLog {
    /// An event log over `client`, with its outbox in `db`.
    pub fn new(client: async_nats::Client, db: sled::Db) -> Result<EventLog, sled::Error> {
        let js = jetstream::new(client.clone());
        let outbox = db.open_tree(OUTBOX_TREE)?;
        let refused = db.open_tree(OUTBOX_REFUSED_TREE)?;
        let backlog = AtomicBool::new(!outbox.is_empty());
        Ok(EventLog {
            inner: Arc::new(Inner {
                client,
                js,
                db,
                outbox,
                refused,
                enqueue_lock: Mutex::new(()),
                backlog,
                wake: Notify::new(),
                head_refusals: std::sync::Mutex::new(None),
                metrics: OutboxMetrics::default(),
                violations: std::sync::OnceLock::new(),
            }),
        })
    }

    /// Takes the publish permission violations of this log's connection into account (the
    /// connection must have been made with [`PublishViolations::install`]): a publish they
    /// name is refused at once instead of timing out. Only the first call counts.
    ///
    /// [`PublishViolations::install`]: crate::publish_denied::PublishViolations::install
    pub fn watch(self, violations: crate::publish_denied::PublishViolations) -> EventLog {
        let _ = self.inner.violations.set(violations);
        self
    }

    /// The JetStream context.
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.inner.js
    }

    /// The NATS client.
    pub fn client(&self) -> &async_nats::Client {
        &self.inner.client
    }

    /// Events waiting in the outbox.
    pub fn outbox_len(&self) -> usize {
        self.inner.outbox.len()
    }

    /// Publishes `event` and waits for the server's ack, or queues it durably in the outbox
    /// when NATS is unreachable. An error means the event was neither stored nor queued.
    pub async fn publish(&self, event: &Event) -> Result<Published, EventLogError> {
        self.publish_outgoing(Outgoing::from_event(event), event).await
    }

    /// [`EventLog::publish`] of a one-shot fact that is deliberately said again (an operator's
    /// or the sweeper's re-request): only its own id deduplicates it, not its subject.
    pub async fn publish_again(&self, event: &Event) -> Result<Published, EventLogError> {
        let out = Outgoing { once: false, ..Outgoing::from_event(event) };
        self.publish_outgoing(out, event).await
    }

    async fn publish_outgoing(
        &self,
        out: Outgoing,
        event: &Event,
    ) -> Result<Published, EventLogError> {
        let res = self.publish_outgoing_uncounted(out, event).await;
        if let Ok(p) = &res {
            self.inner.metrics.count(event, p);
        }
        res
    }

    async fn publish_outgoing_uncounted(
        &self,
        out: Outgoing,
        event: &Event,
    ) -> Result<Published, EventLogError> {
        let span =
            tracing::info_span!("publish", subject = tracing::field::Empty, event_id = %event.id);
        async {
            tracing::Span::current().record("subject", out.subject.as_str());
            let connected = self.inner.client.connection_state() == State::Connected;
            if connected && !self.inner.backlog.load(Ordering::Acquire) {
                match self.send(&out).await {
                    Ok(p) => return Ok(p),
                    Err(SendError::Refused { kind, message }) => {
                        return Err(EventLogError::Refused { kind, message });
                    }
                    Err(SendError::Full(message)) => {
                        return Err(EventLogError::StoreFull { message });
                    }
                    Err(SendError::Transport(e)) => {
                        tracing::warn!(error = %e, "publish failed, keeping the event in the outbox");
                    }
                }
            }
            self.enqueue(&out).await?;
            Ok(Published::Queued)
        }
        .instrument(span)
        .await
    }

    /// Publishes without the outbox (fails when NATS is unreachable). For facts that are only
    /// worth sending now, and for tests.
    pub async fn publish_direct(&self, event: &Event) -> Result<Published, EventLogError> {
        let out = Outgoing::from_event(event);
        match self.send(&out).await {
            Ok(p) => {
                self.inner.metrics.count(event, &p);
                Ok(p)
            }
            Err(SendError::Refused { kind, message }) => {
                Err(EventLogError::Refused { kind, message })
            }
            Err(SendError::Full(message)) => Err(EventLogError::StoreFull { message }),
            Err(SendError::Transport(e)) => {
                Err(EventLogError::Refused { kind: PublishErrorKind::Other, message: e })
            }
        }
    }

    /// Publishes a progress value on a `vidp.` subject (last value per subject). Best effort:
    /// progress is not a fact of the log, so a failure is logged, not returned.
    pub async fn publish_progress(&self, subject: String, payload: Bytes) {
        match self.inner.js.publish(subject, payload).await {
            Ok(ack) => drop(ack),
            Err(e) => tracing::debug!(error = %e, "progress not published"),
        }
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    pub(crate) async fn send(&self, out: &Outgoing) -> Result<Published, SendError> {
        let publish =
            async { self.inner.js.send_publish(out.subject.clone(), out.message()).await?.await };
        // A publish refused for permissions gets no reply: the server's error decides at once.
        let ack = match self.inner.violations.get() {
            Some(v) => {
                let rx = v.subscribe();
                tokio::select! {
                    ack = publish => ack,
                    d = crate::publish_denied::denied(rx, &out.subject) => {
                        return Err(SendError::Refused {
                            kind: PublishErrorKind::Other,
                            message: d.reason,
                        });
                    }
                }
            }
            None => publish.await,
        };
        let e = match ack {
            Ok(ack) => {
                return Ok(Published::Stored {
                    stream_sequence: ack.sequence,
                    duplicate: ack.duplicate,
                });
            }
            Err(e) => e,
        };
        let f = failure(&e);
        match classify(&f, out.once) {
            Class::Duplicate { sequence } => {
                let stream_sequence = match sequence {
                    Some(s) => s,
                    None => self.last_sequence(&out.subject).await.unwrap_or(0),
                };
                tracing::debug!(subject = %out.subject, stream_sequence,
                    "a one-shot fact was already stored");
                Ok(Published::Stored { stream_sequence, duplicate: true })
            }
            Class::Refused { reason } => Err(SendError::Refused { kind: f.kind, message: reason }),
            Class::NoStream if self.no_stream_takes(&out.subject).await => {
                Err(SendError::Refused {
                    kind: f.kind,
                    message: format!("no stream takes the subject {}", out.subject),
                })
            }
            Class::Full => Err(SendError::Full(f.message)),
            Class::NoStream | Class::Transport => Err(SendError::Transport(f.message)),
        }
    }

    /// Whether the server confirms that no stream takes `subject` (an answer, not a timeout).
    async fn no_stream_takes(&self, subject: &str) -> bool {
        matches!(self.inner.js.stream_by_subject(subject).await,
            Err(e) if e.kind() == GetStreamByNameErrorKind::NotFound)
    }

    /// The stream sequence of the last message on `subject`.
    async fn last_sequence(&self, subject: &str) -> Option<u64> {
        let name = self.inner.js.stream_by_subject(subject).await.ok()?;
        let stream = self.inner.js.get_stream_no_info(name).await.ok()?;
        stream.get_last_raw_message_by_subject(subject).await.ok().map(|m| m.sequence)
    }

    async fn enqueue(&self, out: &Outgoing) -> Result<(), EventLogError> {
        self.enqueue_all(std::slice::from_ref(out)).await
    }

    /// Puts `outs` in the outbox in one atomic batch, in order, and fsyncs.
    async fn enqueue_all(&self, outs: &[Outgoing]) -> Result<(), EventLogError> {
        {
            let _g = self.inner.enqueue_lock.lock().await;
            let mut batch = sled::Batch::default();
            for out in outs {
                let mut out = out.clone();
                out.queued_at_ms = Some(now_ms());
                let key = self.inner.db.generate_id()?.to_be_bytes();
                batch.insert(&key, serde_json::to_vec(&out)?);
            }
            self.inner.outbox.apply_batch(batch)?;
            self.inner.backlog.store(true, Ordering::Release);
        }
        self.inner.db.flush_async().await?;
        self.inner.metrics.refresh(&self.inner.outbox);
        self.inner.wake.notify_one();
        Ok(())
    }

    /// Queues `events` durably, all or none (one sled batch), to be sent in order by the
    /// outbox task: for facts that must follow one another even across a crash.
    pub async fn queue(&self, events: &[&Event]) -> Result<(), EventLogError> {
        let outs: Vec<Outgoing> = events.iter().map(|e| Outgoing::from_event(e)).collect();
        self.enqueue_all(&outs).await?;
        for e in events {
            self.inner.metrics.count(e, &Published::Queued);
        }
        Ok(())
    }

    /// Whether the event `id` still waits in the outbox.
    pub fn is_queued(&self, id: &uuid::Uuid) -> bool {
        let id = id.to_string();
        self.inner
            .outbox
            .iter()
            .values()
            .flatten()
            .any(|v| serde_json::from_slice::<Outgoing>(&v).is_ok_and(|o| o.msg_id == id))
    }
}

pub(crate) enum SendError {
    Refused {
        kind: PublishErrorKind,
        message: String,
    },
    /// JetStream has no room (see [`is_store_full`]).
    Full(String),
    Transport(String),
}
pub use crate::outbox::DrainError;
