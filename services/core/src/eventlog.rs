//! Publishing events to JetStream, with a local outbox so that no fact is lost while NATS is
//! unreachable.
//!
//! `publish` sends the event with `Nats-Msg-Id` = its id and the current W3C trace context, and
//! awaits the server's ack. When NATS is unreachable (or anything is already waiting in the
//! outbox, so that order is kept) the event is appended to a sled tree and flushed to disk
//! before `publish` returns [`Published::Queued`]; a background task drains the outbox in order
//! when NATS returns. The server's duplicate window drops a repeat of an id (a publish whose ack
//! was lost and that is sent again from the outbox), so each event is stored once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::connection::State;
use async_nats::jetstream::{self, context::PublishErrorKind, message::PublishMessage};
use bytes::Bytes;
use framelog_events::Event;
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, Notify};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

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
struct Outgoing {
    subject: String,
    msg_id: String,
    payload: String,
    #[serde(default)]
    traceparent: Option<String>,
    #[serde(default)]
    tracestate: Option<String>,
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
        PublishMessage::build()
            .payload(Bytes::from(self.payload.clone().into_bytes()))
            .headers(h)
            .message_id(&self.msg_id)
    }
}

/// Publishes events; cheap to clone.
#[derive(Clone)]
pub struct EventLog {
    inner: Arc<Inner>,
}

struct Inner {
    client: async_nats::Client,
    js: jetstream::Context,
    db: sled::Db,
    outbox: sled::Tree,
    refused: sled::Tree,
    /// Held while an outbox entry is added or the backlog flag cleared, so that "backlog is
    /// false" always implies "the outbox is empty".
    enqueue_lock: Mutex<()>,
    backlog: AtomicBool,
    wake: Notify,
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

fn is_refusal(kind: PublishErrorKind) -> bool {
    matches!(
        kind,
        PublishErrorKind::WrongLastMessageId
            | PublishErrorKind::WrongLastSequence
            | PublishErrorKind::MaxPayloadExceeded
    )
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
            }),
        })
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
        let span =
            tracing::info_span!("publish", subject = tracing::field::Empty, event_id = %event.id);
        async {
            let out = Outgoing::from_event(event);
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
            Ok(p) => Ok(p),
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

    async fn send(&self, out: &Outgoing) -> Result<Published, SendError> {
        let ack =
            async { self.inner.js.send_publish(out.subject.clone(), out.message()).await?.await }
                .await;
        match ack {
            Ok(ack) => {
                Ok(Published::Stored { stream_sequence: ack.sequence, duplicate: ack.duplicate })
            }
            Err(e) if is_store_full(&e) => Err(SendError::Full(e.to_string())),
            Err(e) if is_refusal(e.kind()) => {
                Err(SendError::Refused { kind: e.kind(), message: e.to_string() })
            }
            Err(e) => Err(SendError::Transport(e.to_string())),
        }
    }

    async fn enqueue(&self, out: &Outgoing) -> Result<(), EventLogError> {
        let bytes = serde_json::to_vec(out)?;
        {
            let _g = self.inner.enqueue_lock.lock().await;
            let key = self.inner.db.generate_id()?.to_be_bytes();
            self.inner.outbox.insert(key, bytes)?;
            self.inner.backlog.store(true, Ordering::Release);
        }
        self.inner.db.flush_async().await?;
        self.inner.wake.notify_one();
        Ok(())
    }

    /// Sends everything in the outbox, oldest first. Returns how many were sent; stops at the
    /// first transport failure (the rest stays, in order).
    pub async fn drain_outbox(&self) -> Result<usize, DrainError> {
        let mut sent = 0;
        loop {
            let Some((key, value)) = self.inner.outbox.first()? else {
                let _g = self.inner.enqueue_lock.lock().await;
                if self.inner.outbox.is_empty() {
                    self.inner.backlog.store(false, Ordering::Release);
                    return Ok(sent);
                }
                continue;
            };
            let out: Outgoing = serde_json::from_slice(&value)?;
            match self.send(&out).await {
                Ok(_) => {}
                Err(SendError::Refused { kind, message }) => {
                    tracing::error!(subject = %out.subject, %kind, %message,
                        "JetStream refused an outbox entry; moved to the outbox_refused tree");
                    self.inner.refused.insert(&key, value.clone())?;
                }
                // No room yet: keep the entry (and everything after it) for a later attempt.
                Err(SendError::Transport(e) | SendError::Full(e)) => {
                    return Err(DrainError::Transport { sent, error: e });
                }
            }
            self.inner.outbox.remove(&key)?;
            sent += 1;
        }
    }

    /// Drains the outbox whenever something is queued (and every second, to retry), until
    /// `shutdown` is cancelled.
    pub async fn run_outbox(self, shutdown: CancellationToken) {
        let mut delay = Duration::from_millis(200);
        loop {
            if self.inner.backlog.load(Ordering::Acquire) {
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
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.inner.wake.notified() => {}
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }
}

enum SendError {
    Refused {
        kind: PublishErrorKind,
        message: String,
    },
    /// JetStream has no room (see [`is_store_full`]).
    Full(String),
    Transport(String),
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
