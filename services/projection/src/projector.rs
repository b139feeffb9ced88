//! [`Projector`]: one ordered consumer on one stream (`VID` or `VID_VIEW`) applying events to
//! the views, one sled transaction per fetched batch.
//!
//! Exactly once: the last applied stream sequence is written in the same transaction as the
//! view changes, and the sled store, not the server, is the cursor. The consumer is an ordered
//! one (ephemeral, no acks, no durable name): at bind it starts right after the stored sequence,
//! so a crash before a commit replays the batch and a crash after it replays nothing. Having no
//! name, it cannot be shared or deleted by another replica, even one started from a copy of this
//! data dir. Deliveries at or below the stored sequence are skipped.
//!
//! Never skip, never double (see [`crate::cursor`] and [`crate::readiness`]):
//! - at bind, the stored sequence is checked against the stream (purged, aged out, recreated):
//!   a mismatch is refused with the remedy, `framelog projection rebuild`;
//! - an event of a phase or type this build does not know is read past (folds ignore it) and
//!   noted, so a later build that knows it says the views lack it ([`crate::read_past`]);
//! - a message no build can read (corrupt JSON, a newer schema version) stops the projector at
//!   its sequence: what came before is applied, nothing after it, `/readyz` says why, until an
//!   upgrade reads it or the operator skips it (`framelog projection skip`).

use std::time::Duration;

use async_nats::jetstream::{self, consumer::DeliverPolicy, consumer::pull};
use framelog_core::readiness::Readiness;
use framelog_events::{Decoded, Event};
use futures::StreamExt;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::instrument;

use crate::apply::apply_event;
use crate::cursor::{self, StreamState};
use crate::error::ProjectionError;
use crate::read_past::Understood;
use crate::readiness::{Health, Stop, StopGauges};
use crate::store::{Overlay, Store};

/// What one step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A batch was applied and made durable.
    Applied {
        /// Events folded (skipped redeliveries and events of unknown types excluded).
        events: usize,
        /// The stream sequence now stored as applied.
        last_seq: u64,
    },
    /// Nothing arrived within the wait.
    Idle,
    /// Stopped before an unreadable message: everything before it is applied, nothing after.
    Stopped(Stop),
}

/// A fetched batch, not yet applied.
pub struct Batch {
    /// Decoded events with their stream sequences, in stream order, above the stored sequence.
    pub events: Vec<(u64, Event)>,
    /// Highest stream sequence read past (events of unknown types and skipped ones included).
    pub last_seq: u64,
    /// The unreadable message the batch stops before, if any.
    pub stop: Option<Stop>,
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("events", &self.events.len())
            .field("last_seq", &self.last_seq)
            .field("stop", &self.stop)
            .finish()
    }
}

/// An ordered consumer of one stream feeding the views.
pub struct Projector {
    store: Store,
    js: jetstream::Context,
    stream: &'static str,
    batch: usize,
    applied: u64,
    messages: Option<pull::Ordered>,
    progress: watch::Sender<u64>,
    health: Health,
}

impl std::fmt::Debug for Projector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Projector")
            .field("stream", &self.stream)
            .field("applied", &self.applied)
            .finish()
    }
}

impl Projector {
    /// A projector of `stream` into `store`; `batch` is the most events per transaction.
    /// Refuses ([`ProjectionError::Cursor`]) a stored sequence that no longer fits the stream.
    #[instrument(skip_all, fields(stream), err)]
    pub async fn bind(
        js: &jetstream::Context,
        store: Store,
        stream: &'static str,
        batch: usize,
    ) -> Result<Projector, ProjectionError> {
        let applied = store.applied(stream)?;
        let (progress, _) = watch::channel(applied);
        let mut p = Projector {
            store,
            js: js.clone(),
            stream,
            batch: batch.max(1),
            applied,
            messages: None,
            progress,
            health: Health::new(stream, Readiness::default(), &StopGauges::default()),
        };
        p.rebind().await?;
        Ok(p)
    }

    /// Reports problems (a stop, a cursor mismatch) to `readiness` and `gauges`.
    pub fn with_health(mut self, readiness: Readiness, gauges: &StopGauges) -> Self {
        self.health = Health::new(self.stream, readiness, gauges);
        self
    }

    /// Looks for events an older build read past that this one understands
    /// ([`crate::read_past`]); reports them as a readiness problem naming the remedy.
    pub async fn check_read_past(&self) -> Result<Option<Understood>, ProjectionError> {
        let understood = crate::read_past::check(&self.js, &self.store, self.stream).await?;
        if let Some(u) = understood {
            tracing::error!(
                stream = self.stream,
                count = u.count,
                first = u.first,
                "events an older build read past are understood now: the views lack them; run `framelog projection rebuild`"
            );
            self.health.read_past_understood(u);
        } else {
            self.health.read_past_clear();
        }
        Ok(understood)
    }

    /// The last applied stream sequence.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// The stream this projector reads.
    pub fn stream(&self) -> &'static str {
        self.stream
    }

    /// Follows the applied sequence (updated once a batch is durable).
    pub fn progress(&self) -> watch::Receiver<u64> {
        self.progress.subscribe()
    }

    /// Checks the stored sequence against the stream, then starts an ordered consumer right
    /// after it.
    async fn rebind(&mut self) -> Result<(), ProjectionError> {
        self.messages = None;
        self.applied = self.store.applied(self.stream)?;
        let mut stream = self
            .js
            .get_stream(self.stream)
            .await
            .map_err(|e| ProjectionError::js("get stream", e))?;
        let info = stream.info().await.map_err(|e| ProjectionError::js("stream info", e))?;
        let now = StreamState {
            first_seq: info.state.first_sequence,
            last_seq: info.state.last_sequence,
            created: info.created,
        };
        let created = self.store.stream_created(self.stream)?;
        if let Err(mismatch) = cursor::check(self.stream, self.applied, created, now) {
            self.health.cursor_refused(&mismatch);
            return Err(mismatch.into());
        }
        if created.is_none() {
            self.store.set_stream_created(self.stream, now.created)?;
        }
        let deliver_policy = match self.applied {
            0 => DeliverPolicy::All,
            n => DeliverPolicy::ByStartSequence { start_sequence: n + 1 },
        };
        let consumer = stream
            .create_consumer(pull::OrderedConfig {
                description: Some("framelog projection (ordered, sled is the cursor)".into()),
                deliver_policy,
                ..Default::default()
            })
            .await
            .map_err(|e| ProjectionError::js("create ordered consumer", e))?;
        let messages = consumer.messages().await.map_err(|e| ProjectionError::js("pull", e))?;
        self.messages = Some(messages);
        Ok(())
    }

    /// Waits up to `wait` for a first message, then takes whatever else is already there, up to
    /// the batch size, stopping before an unreadable message. `Ok(None)`: nothing arrived.
    pub async fn fetch(&mut self, wait: Duration) -> Result<Option<Batch>, ProjectionError> {
        if self.messages.is_none() {
            self.rebind().await?;
        }
        let messages = self.messages.as_mut().expect("bound above");
        let mut batch = Batch { events: Vec::new(), last_seq: self.applied, stop: None };
        let deadline = tokio::time::Instant::now() + wait;
        let mut got = 0;
        while got < self.batch {
            let until = if got == 0 { deadline } else { tokio::time::Instant::now() };
            let msg = match tokio::time::timeout_at(until, messages.next()).await {
                Err(_) => break,
                Ok(None) => {
                    self.messages = None;
                    return Err(ProjectionError::js("pull", "message stream ended"));
                }
                Ok(Some(Err(e))) => {
                    self.messages = None;
                    return Err(ProjectionError::js("pull", e));
                }
                Ok(Some(Ok(m))) => m,
            };
            got += 1;
            let seq = match msg.info() {
                Ok(i) => i.stream_sequence,
                Err(e) => return Err(ProjectionError::js("message metadata", e)),
            };
            if seq <= batch.last_seq {
                continue; // already applied
            }
            match Event::decode(&msg.payload) {
                Ok(Decoded::Event(e)) => {
                    if e.is_unknown() {
                        tracing::warn!(stream = self.stream, seq, subject = %msg.subject,
                            "event of a phase this build does not know read past");
                        self.store.note_read_past(self.stream, seq)?;
                    }
                    batch.events.push((seq, e));
                }
                Ok(Decoded::Unknown(u)) => {
                    tracing::warn!(stream = self.stream, seq, event_type = %u.event_type,
                        "event of a type this build does not know read past");
                    self.store.note_read_past(self.stream, seq)?;
                }
                Err(_) if self.store.is_skipped(self.stream, seq)? => {
                    tracing::warn!(
                        stream = self.stream,
                        seq,
                        "unreadable message skipped (operator)"
                    );
                }
                Err(e) => {
                    tracing::error!(stream = self.stream, seq, subject = %msg.subject, error = %e,
                        "unreadable message: the projection stops before it");
                    batch.stop = Some(Stop { seq, reason: e.to_string() });
                    // Later messages may be buffered: the next fetch starts again after the
                    // stored sequence.
                    self.messages = None;
                    break;
                }
            }
            batch.last_seq = seq;
        }
        Ok((got > 0).then_some(batch))
    }

    /// Applies a batch in one transaction with its last sequence. Not durable until
    /// [`Store::flush`]; [`Projector::process_next`] does both.
    pub fn commit(&mut self, batch: &Batch) -> Result<usize, ProjectionError> {
        if batch.last_seq <= self.applied {
            return Ok(0);
        }
        let mut ov = Overlay::new(&self.store);
        for (_, e) in &batch.events {
            apply_event(&mut ov, e)?;
        }
        ov.commit(self.stream, batch.last_seq)?;
        self.applied = batch.last_seq;
        Ok(batch.events.len())
    }

    /// Kept for callers that stage fetch, commit and ack: an ordered consumer has no acks
    /// (the stored sequence is the cursor), so this only drops the batch.
    pub async fn ack(&self, batch: Batch) -> Result<(), ProjectionError> {
        drop(batch);
        Ok(())
    }

    /// One step: fetch a batch, commit it, flush, publish the new sequence; report a stop.
    #[instrument(skip_all, fields(stream = self.stream), err)]
    pub async fn process_next(&mut self, wait: Duration) -> Result<Outcome, ProjectionError> {
        let Some(batch) = self.fetch(wait).await? else {
            return Ok(Outcome::Idle);
        };
        let events = self.commit(&batch)?;
        self.store.flush().await?;
        self.progress.send_replace(self.applied);
        match batch.stop {
            Some(stop) => {
                self.health.stopped(&stop, self.applied);
                Ok(Outcome::Stopped(stop))
            }
            None => {
                self.health.running();
                Ok(Outcome::Applied { events, last_seq: self.applied })
            }
        }
    }

    /// Steps until `shutdown` is cancelled; on errors waits (up to 5 s) and rebinds; when
    /// stopped before an unreadable message, tries again every 5 s (an operator may have
    /// removed it from the stream).
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut delay = Duration::from_millis(100);
        loop {
            let step = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = self.process_next(Duration::from_secs(1)) => r,
            };
            let pause = match step {
                Ok(Outcome::Stopped(_)) => Duration::from_secs(5),
                Ok(_) => {
                    delay = Duration::from_millis(100);
                    continue;
                }
                Err(e) => {
                    tracing::error!(stream = self.stream, error = %e, "projection step failed; retrying");
                    self.messages = None;
                    let d = delay;
                    delay = (delay * 2).min(Duration::from_secs(5));
                    d
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }
}
