//! [`ItemWorker`]: takes work items of other transcoders' jobs from `VID_WORK` (work stealing)
//! with slots of its own, runs each under its item lease ([`crate::items`]) with an
//! [`ItemHandler`], and settles the message: ack once the result is stored (or found already
//! stored), nak with a delay while another worker holds a live lease (no attempt used), nak
//! with back-off after a failed attempt, term once the item is dead-lettered, nak at once with
//! a hand-back on shutdown, and nothing at all when fenced (the message belongs to the new
//! holder). Server redeliveries are unlimited (`max_deliver` -1): attempts are the lease's.
//! [`ItemWorker::process_next`] is the one step; loops and tests drive it.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, PullConsumer, pull};
use async_nats::jetstream::{self, AckKind};
use async_trait::async_trait;
use framelog_core::service::ServiceContext;
use futures::StreamExt;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::error::JobError;
use crate::items::{ItemError, ItemLease, ItemResult, Items, STREAM_WORK, Take, WorkItem};

/// Durable consumer shared by every transcoder's item worker.
pub const DURABLE_ITEMS: &str = "transcode-items";
/// How long an item this build cannot read is handed back for.
pub const UNREADABLE_DELAY: Duration = Duration::from_secs(30);

/// Encodes one item and uploads its files; the lead's item runner in production.
#[async_trait]
pub trait ItemHandler: Send + Sync + 'static {
    /// Does the work of `item`; its JSON output becomes the item's `Done` result. Return
    /// `Err(JobError::Cancelled)` to hand the item back without using an attempt (shutdown,
    /// or a plan hash that differs from this build's: another release takes it).
    async fn run(
        &self,
        item: &WorkItem,
        cancel: &CancellationToken,
    ) -> Result<serde_json::Value, JobError>;

    /// The result of this attempt was not stored (another attempt's won, or this one was
    /// fenced): deletes the files it uploaded. Nothing by default.
    async fn discard(&self, _item: &WorkItem, _output: &serde_json::Value) {}
}

/// What one step observed (`item` is the item's key).
#[derive(Debug, Clone, PartialEq)]
pub enum ItemOutcome {
    /// No item arrived within the poll time.
    Idle,
    /// An item's lease was taken and its work started; its end is reported by a later step.
    Taken { item: String, attempt: u32 },
    /// Its result is stored and the message acked.
    Done { item: String, attempt: u32 },
    /// It had a result already (or this attempt's result lost to another's): acked.
    AlreadyDone { item: String },
    /// Another worker holds its live lease: naked for `delay`, no attempt used.
    Held { item: String, delay: Duration },
    /// The attempt failed and the item will be retried (naked with back-off).
    Failed { item: String, reason: String, attempt: u32 },
    /// Out of attempts (or failed permanently): a `Failed` result is stored, message terminated.
    DeadLettered { item: String, reason: String, attempts: u32 },
    /// Its lease was taken over: the work was dropped, nothing stored, the message left alone.
    Fenced { item: String },
    /// Handed back (shutdown, another plan): attempt given back, message naked.
    HandedBack { item: String },
    /// Not a work item this build can read: handed back for [`UNREADABLE_DELAY`].
    Rejected { reason: String },
    /// Pulling or a store failed.
    ConsumerError(String),
    /// A task panicked (its message comes back after the ack wait).
    Crashed(String),
}

/// The pull consumer of `VID_WORK`: explicit ack, ack wait twice the lease ttl, unlimited
/// redeliveries.
pub fn consumer_config(ttl: Duration) -> pull::Config {
    pull::Config {
        durable_name: Some(DURABLE_ITEMS.into()),
        description: Some("Framelog transcoders taking work items".into()),
        ack_policy: AckPolicy::Explicit,
        ack_wait: ttl * 2,
        max_deliver: -1,
        ..Default::default()
    }
}

/// Takes items from `VID_WORK`, at most `slots` at once.
pub struct ItemWorker {
    items: Items,
    consumer: PullConsumer,
    handler: Arc<dyn ItemHandler>,
    name: Arc<str>,
    permits: Arc<Semaphore>,
    running: JoinSet<ItemOutcome>,
    cancel: CancellationToken,
    poll: Duration,
    retry_delay: Duration,
}

impl std::fmt::Debug for ItemWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ItemWorker").field("name", &self.name).finish()
    }
}

impl ItemWorker {
    /// Binds the shared durable consumer. Work stops (handed back) when `ctx.shutdown` is
    /// cancelled or [`ItemWorker::shutdown`] is called; dropping the worker aborts it without
    /// any ack or hand-back (as a crash would).
    pub async fn new(
        ctx: &ServiceContext,
        items: Items,
        handler: Arc<dyn ItemHandler>,
        name: impl Into<String>,
        slots: usize,
    ) -> Result<ItemWorker, ItemError> {
        let stream = ctx.platform.js.get_stream(STREAM_WORK).await.map_err(store)?;
        let consumer = stream
            .get_or_create_consumer(DURABLE_ITEMS, consumer_config(items.ttl()))
            .await
            .map_err(store)?;
        Ok(ItemWorker {
            items,
            consumer,
            handler,
            name: name.into().into(),
            permits: Arc::new(Semaphore::new(slots.max(1))),
            running: JoinSet::new(),
            cancel: ctx.shutdown.child_token(),
            poll: Duration::from_secs(5),
            retry_delay: Duration::from_secs(2),
        })
    }

    /// How long one step waits for an item (default 5 s).
    pub fn with_poll(mut self, poll: Duration) -> ItemWorker {
        self.poll = poll;
        self
    }

    /// Delay before a failed item is retried, times its attempt (default 2 s).
    pub fn with_retry_delay(mut self, delay: Duration) -> ItemWorker {
        self.retry_delay = delay;
        self
    }

    /// The worker's name (it holds leases under it).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Items running now.
    pub fn running(&self) -> usize {
        self.running.len()
    }

    /// One step: reports a finished item if there is one; else, with a free slot, pulls one
    /// item and starts it; with no free slot, waits for a running item to end.
    pub async fn process_next(&mut self) -> ItemOutcome {
        if let Some(done) = self.running.try_join_next() {
            return joined(done);
        }
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            return match self.running.join_next().await {
                Some(done) => joined(done),
                None => ItemOutcome::Idle,
            };
        };
        let msg = match self.next().await {
            Ok(Some(m)) => m,
            Ok(None) => return ItemOutcome::Idle,
            Err(e) => return ItemOutcome::ConsumerError(e),
        };
        let item: WorkItem = match serde_json::from_slice(&msg.payload) {
            Ok(i) => i,
            Err(e) => {
                // Never terminated: a newer release may read it (the stream's max age ends it).
                tracing::error!(subject = %msg.subject, error = %e,
                    "unreadable work item handed back for a newer worker");
                let _ = msg.ack_with(AckKind::Nak(Some(UNREADABLE_DELAY))).await;
                return ItemOutcome::Rejected { reason: e.to_string() };
            }
        };
        let key = item.key();
        let lease = match self.items.take(&item, &self.name).await {
            Ok(Take::Taken(lease)) => lease,
            Ok(Take::Held) => {
                let delay = self.items.ttl();
                let _ = msg.ack_with(AckKind::Nak(Some(delay))).await;
                return ItemOutcome::Held { item: key, delay };
            }
            Ok(Take::Finished(ItemResult::Done(_))) => {
                settle(msg.double_ack().await, "ack");
                return ItemOutcome::AlreadyDone { item: key };
            }
            Ok(Take::Finished(ItemResult::Failed { reason, attempts })) => {
                settle(msg.ack_with(AckKind::Term).await, "term");
                return ItemOutcome::DeadLettered { item: key, reason, attempts };
            }
            Err(e) => {
                let _ = msg.ack_with(AckKind::Nak(Some(Duration::from_secs(1)))).await;
                return ItemOutcome::ConsumerError(format!("taking {key}'s lease: {e}"));
            }
        };
        let attempt = lease.attempt();
        let task = Task {
            handler: self.handler.clone(),
            cancel: self.cancel.clone(),
            retry_delay: self.retry_delay,
            handback_delay: self.items.ttl(),
        };
        self.running.spawn(async move {
            let outcome = task.run(item, Arc::new(msg), lease).await;
            drop(permit);
            outcome
        });
        ItemOutcome::Taken { item: key, attempt }
    }

    /// Pulls at most one message within the poll time.
    async fn next(&self) -> Result<Option<jetstream::Message>, String> {
        let mut batch = self
            .consumer
            .batch()
            .max_messages(1)
            .expires(self.poll)
            .messages()
            .await
            .map_err(|e| e.to_string())?;
        match batch.next().await {
            None => Ok(None),
            Some(Err(e)) => Err(e.to_string()),
            Some(Ok(m)) => Ok(Some(m)),
        }
    }

    /// The thin loop around [`ItemWorker::process_next`] until `shutdown`, then
    /// [`ItemWorker::shutdown`] (running items handed back).
    pub async fn run(mut self, shutdown: CancellationToken) {
        tracing::info!(worker = %self.name, "work item worker running");
        loop {
            let outcome = tokio::select! {
                _ = shutdown.cancelled() => break,
                o = self.process_next() => o,
            };
            log_outcome(&outcome);
            if let ItemOutcome::ConsumerError(_) = outcome {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
        for o in self.shutdown().await {
            log_outcome(&o);
        }
        tracing::info!("work item worker stopped");
    }

    /// Stops every running item (handed back, message naked at once) and reports each end.
    pub async fn shutdown(mut self) -> Vec<ItemOutcome> {
        self.cancel.cancel();
        let mut out = Vec::new();
        while let Some(done) = self.running.join_next().await {
            out.push(joined(done));
        }
        out
    }
}

/// What a running item needs.
struct Task {
    handler: Arc<dyn ItemHandler>,
    cancel: CancellationToken,
    retry_delay: Duration,
    handback_delay: Duration,
}

impl Task {
    /// Runs the handler under the lease and settles the lease and the message.
    async fn run(
        self,
        item: WorkItem,
        msg: Arc<jetstream::Message>,
        lease: ItemLease,
    ) -> ItemOutcome {
        let key = item.key();
        let attempt = lease.attempt();
        let handler = self.handler.clone();
        let renew_msg = msg.clone();
        let work = |token: CancellationToken| {
            let item = item.clone();
            async move { handler.run(&item, &token).await }
        };
        let on_renew = || {
            let m = renew_msg.clone();
            async move {
                if let Err(e) = m.ack_with(AckKind::Progress).await {
                    tracing::warn!(error = %e, "in-progress ack of a work item failed");
                }
            }
        };
        let (result, lease) = match lease.run(work, on_renew, &self.cancel).await {
            Ok(done) => done,
            Err(ItemError::Fenced) => return ItemOutcome::Fenced { item: key },
            Err(e) => return ItemOutcome::ConsumerError(e.to_string()),
        };
        match result {
            Ok(output) => match lease.complete(output.clone()).await {
                Ok(won) => {
                    settle(msg.double_ack().await, "ack");
                    if won {
                        return ItemOutcome::Done { item: key, attempt };
                    }
                    self.handler.discard(&item, &output).await;
                    ItemOutcome::AlreadyDone { item: key }
                }
                Err(ItemError::Fenced) => {
                    self.handler.discard(&item, &output).await;
                    ItemOutcome::Fenced { item: key }
                }
                Err(e) => {
                    // Unknown whether it was stored: a redelivery finds out.
                    self.handler.discard(&item, &output).await;
                    let _ = msg.ack_with(AckKind::Nak(Some(self.retry_delay))).await;
                    ItemOutcome::ConsumerError(format!("storing {key}'s result: {e}"))
                }
            },
            Err(JobError::Cancelled | JobError::OtherPlan { .. }) => {
                let fenced = lease.hand_back().await.is_err();
                let delay = (!self.cancel.is_cancelled()).then_some(self.handback_delay);
                if fenced {
                    return ItemOutcome::Fenced { item: key };
                }
                settle(msg.ack_with(AckKind::Nak(delay)).await, "nak");
                ItemOutcome::HandedBack { item: key }
            }
            Err(e) => {
                let reason = e.to_string();
                tracing::warn!(item = %key, attempt, error = %reason, "work item attempt failed");
                // Retrying cannot mend the input's fault, nor bring a deleted video back.
                let dead = if e.is_permanent() || matches!(e, JobError::Deleted) {
                    lease.dead_letter(&reason).await.map(|()| true)
                } else {
                    lease.fail(&reason).await
                };
                match dead {
                    Ok(true) => {
                        settle(msg.ack_with(AckKind::Term).await, "term");
                        ItemOutcome::DeadLettered { item: key, reason, attempts: attempt }
                    }
                    Ok(false) => {
                        let delay = self.retry_delay * attempt;
                        settle(msg.ack_with(AckKind::Nak(Some(delay))).await, "nak");
                        ItemOutcome::Failed { item: key, reason, attempt }
                    }
                    Err(ItemError::Fenced) => ItemOutcome::Fenced { item: key },
                    Err(e) => {
                        let _ = msg.ack_with(AckKind::Nak(Some(self.retry_delay))).await;
                        ItemOutcome::ConsumerError(format!("recording {key}'s failure: {e}"))
                    }
                }
            }
        }
    }
}

fn store(e: impl std::fmt::Display) -> ItemError {
    ItemError::Store(e.to_string())
}

fn settle(r: Result<(), async_nats::Error>, what: &str) {
    if let Err(e) = r {
        tracing::warn!(error = %e, "{what} of a work item failed; it will be redelivered");
    }
}

fn log_outcome(o: &ItemOutcome) {
    match o {
        ItemOutcome::Idle => {}
        ItemOutcome::ConsumerError(e) => tracing::warn!(error = %e, "taking work items failed"),
        ItemOutcome::Crashed(e) => tracing::error!(error = %e, "a work item task crashed"),
        other => tracing::debug!(outcome = ?other, "work item step"),
    }
}

fn joined(r: Result<ItemOutcome, tokio::task::JoinError>) -> ItemOutcome {
    r.unwrap_or_else(|e| ItemOutcome::Crashed(e.to_string()))
}
