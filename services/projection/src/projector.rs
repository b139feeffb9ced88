//! [`Projector`]: one durable pull consumer on one stream (`VID` or `VID_VIEW`) applying events
//! to the views, one sled transaction per fetched batch.
//!
//! Exactly once: the last applied stream sequence is written in the same transaction as the
//! view changes, and the batch is acked only after the transaction is flushed to disk. At bind
//! time the durable consumer is recreated to start right after the stored sequence, so the sled
//! store, not the server's ack floor, is the cursor: a crash before the commit replays the batch;
//! a crash after the commit but before the ack replays nothing. Deliveries at or below the
//! stored sequence (redeliveries after an ack timeout) are skipped.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::AckPolicy, consumer::DeliverPolicy, consumer::pull};
use framelog_events::Event;
use futures::StreamExt;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::instrument;

use crate::apply::apply_event;
use crate::error::ProjectionError;
use crate::store::{Overlay, Store};

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A batch was applied, made durable and acked.
    Applied {
        /// Events folded (skipped redeliveries and undecodable messages excluded).
        events: usize,
        /// The stream sequence now stored as applied.
        last_seq: u64,
    },
    /// Nothing arrived within the wait.
    Idle,
}

/// A fetched batch, not yet applied.
pub struct Batch {
    /// Decoded events with their stream sequences, in stream order, above the stored sequence.
    pub events: Vec<(u64, Event)>,
    /// Highest stream sequence in the batch (undecodable messages included).
    pub last_seq: u64,
    last_message: Option<jetstream::Message>,
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("events", &self.events.len())
            .field("last_seq", &self.last_seq)
            .finish()
    }
}

/// A durable consumer of one stream feeding the views.
pub struct Projector {
    store: Store,
    js: jetstream::Context,
    stream: &'static str,
    durable: String,
    batch: usize,
    applied: u64,
    messages: Option<pull::Stream>,
    progress: watch::Sender<u64>,
}

impl std::fmt::Debug for Projector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Projector")
            .field("stream", &self.stream)
            .field("durable", &self.durable)
            .field("applied", &self.applied)
            .finish()
    }
}

impl Projector {
    /// A projector of `stream` into `store`, with a durable consumer named after the store's
    /// replica id (each replica keeps its own views, so each has its own consumer). `batch` is
    /// the most events per transaction.
    #[instrument(skip_all, fields(stream), err)]
    pub async fn bind(
        js: &jetstream::Context,
        store: Store,
        stream: &'static str,
        batch: usize,
    ) -> Result<Projector, ProjectionError> {
        let applied = store.applied(stream)?;
        let durable = format!("projection_{}_{}", store.replica_id()?, stream.to_lowercase());
        let (progress, _) = watch::channel(applied);
        let mut p = Projector {
            store,
            js: js.clone(),
            stream,
            durable,
            batch: batch.max(1),
            applied,
            messages: None,
            progress,
        };
        p.rebind().await?;
        Ok(p)
    }

    /// The last applied stream sequence.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// Follows the applied sequence (updated once a batch is durable).
    pub fn progress(&self) -> watch::Receiver<u64> {
        self.progress.subscribe()
    }

    /// Recreates the durable consumer right after the stored sequence.
    async fn rebind(&mut self) -> Result<(), ProjectionError> {
        self.messages = None;
        self.applied = self.store.applied(self.stream)?;
        let stream = self
            .js
            .get_stream(self.stream)
            .await
            .map_err(|e| ProjectionError::js("get stream", e))?;
        match stream.delete_consumer(&self.durable).await {
            Ok(_) => {}
            Err(e) if e.to_string().contains("not found") => {}
            Err(e) => return Err(ProjectionError::js("delete consumer", e)),
        }
        let deliver_policy = match self.applied {
            0 => DeliverPolicy::All,
            n => DeliverPolicy::ByStartSequence { start_sequence: n + 1 },
        };
        let consumer: jetstream::consumer::PullConsumer = stream
            .create_consumer(pull::Config {
                durable_name: Some(self.durable.clone()),
                description: Some("framelog projection".into()),
                ack_policy: AckPolicy::All,
                ack_wait: Duration::from_secs(60),
                deliver_policy,
                max_ack_pending: (self.batch * 8) as i64,
                inactive_threshold: Duration::from_secs(24 * 3600),
                ..Default::default()
            })
            .await
            .map_err(|e| ProjectionError::js("create consumer", e))?;
        let messages = consumer
            .stream()
            .max_messages_per_batch(self.batch)
            .heartbeat(Duration::from_secs(5))
            .expires(Duration::from_secs(30))
            .messages()
            .await
            .map_err(|e| ProjectionError::js("pull", e))?;
        self.messages = Some(messages);
        Ok(())
    }

    /// Waits up to `wait` for a first message, then takes whatever else is already there, up to
    /// the batch size. `Ok(None)`: nothing arrived.
    pub async fn fetch(&mut self, wait: Duration) -> Result<Option<Batch>, ProjectionError> {
        if self.messages.is_none() {
            self.rebind().await?;
        }
        let messages = self.messages.as_mut().expect("bound above");
        let mut batch = Batch { events: Vec::new(), last_seq: self.applied, last_message: None };
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
                continue; // already applied (a redelivery)
            }
            match Event::from_json(&msg.payload) {
                Ok(e) => batch.events.push((seq, e)),
                Err(e) => {
                    tracing::error!(stream = self.stream, seq, subject = %msg.subject, error = %e,
                    "undecodable message skipped")
                }
            }
            batch.last_seq = seq;
            batch.last_message = Some(msg);
        }
        Ok((got > 0).then_some(batch))
    }

    /// Applies a batch in one transaction with its last sequence. Not durable until
    /// [`Store::flush`]; [`Projector::process_next`] does both and acks.
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

    /// Acks everything up to the batch's last message (ack policy `all`) and waits for the
    /// server to confirm.
    pub async fn ack(&self, batch: Batch) -> Result<(), ProjectionError> {
        if let Some(m) = batch.last_message {
            m.double_ack().await.map_err(|e| ProjectionError::js("ack", e))?;
        }
        Ok(())
    }

    /// One step: fetch a batch, commit it, flush, publish the new sequence, ack.
    #[instrument(skip_all, fields(stream = self.stream), err)]
    pub async fn process_next(&mut self, wait: Duration) -> Result<Outcome, ProjectionError> {
        let Some(batch) = self.fetch(wait).await? else {
            return Ok(Outcome::Idle);
        };
        let events = self.commit(&batch)?;
        self.store.flush().await?;
        self.progress.send_replace(self.applied);
        let last_seq = self.applied;
        if let Err(e) = self.ack(batch).await {
            // The views are durable; a lost ack only causes a redelivery we skip.
            tracing::warn!(error = %e, "ack failed");
        }
        Ok(Outcome::Applied { events, last_seq })
    }

    /// Steps until `shutdown` is cancelled; on errors waits (up to 5 s) and rebinds.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut delay = Duration::from_millis(100);
        loop {
            let step = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = self.process_next(Duration::from_secs(1)) => r,
            };
            match step {
                Ok(_) => delay = Duration::from_millis(100),
                Err(e) => {
                    tracing::error!(stream = self.stream, error = %e, "projection step failed; retrying");
                    self.messages = None;
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}
