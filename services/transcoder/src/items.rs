//! Work items of a chunked job on JetStream: the `VID_WORK` queue, one lease per item, attempts
//! counted by the application, and results where the first writer wins.
//!
//! A job is planned as ranges plus one audio item (see `chunks`); each item is a [`WorkItem`]
//! on `VID_WORK` (WorkQueue retention: a message is gone once acked). Whoever encodes an item
//! first takes its **lease** in [`KV_ITEMS`] (key `<tenant>.<video>.<version>.<item>`), the
//! same [`crate::lease::Record`] as a job's: compare-and-set on the revision, renewed every
//! ttl/3 while it works, taken over once expired. Attempts follow the job's rules: taking
//! counts one, a hand-back (shutdown, another release's plan) gives it back, a failure or a
//! silent death keeps it; at `max_attempts` the item is dead-lettered with a
//! [`ItemResult::Failed`]. An encoded item records its result in [`KV_RESULTS`] with `create`:
//! the first result wins and a loser deletes its own files (their names are unique to the
//! attempt, so nothing of the winner's is touched).
//!
//! Architecture invariant: a result is only written by the lease's holder, right after a
//! renewal proved it still holds the lease (a fenced worker's result is refused), and never
//! overwritten; the coordinator trusts the results bucket alone.
//!
//! The stream and both buckets are declared with [`stream_config`] and [`bucket_configs`] and
//! created through `framelog_core::topology::ensure`, so a start never lowers their replicas.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::kv::{self, CreateErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self, stream};
use framelog_core::nats::DUPLICATE_WINDOW;
use futures::StreamExt;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

pub use crate::item_lease::ItemLease;
use crate::lease::{self, Decision, LeaseError, Leases};

/// Work-queue stream of items, subjects `work.<tenant>.<video>.<version>.<item>`.
pub const STREAM_WORK: &str = "VID_WORK";
/// Item leases, key `<tenant>.<video>.<version>.<item>`.
pub const KV_ITEMS: &str = "framelog_transcode_items";
/// Item results, same keys; `create` only.
pub const KV_RESULTS: &str = "framelog_transcode_results";
/// Name of the audio item.
pub const AUDIO_ITEM: &str = "audio";
/// How long leases, results and queued items of an abandoned version are kept.
pub const ITEMS_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);
/// Size limit of `VID_WORK` (items are small; a full queue refuses new items, never drops any).
pub const WORK_MAX_BYTES: i64 = 256 * 1024 * 1024;

/// The item name of range `index` (`r00003` for range 3).
pub fn range_item(index: u32) -> String {
    format!("r{index:05}")
}

/// One item of a job, as queued on `VID_WORK`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkItem {
    pub tenant: String,
    pub video: String,
    /// Id of the transcode request the job is about.
    pub request_id: String,
    /// Stream sequence of that request (the lease record's `request_seq`).
    pub request_seq: u64,
    /// The version being encoded.
    pub version: String,
    /// Media store key of the source.
    pub source_key: String,
    /// `r00003` for range 3 ([`range_item`]), or [`AUDIO_ITEM`].
    pub item: String,
    /// Hash of the plan the coordinator made (profiles, ranges, audio plan): a worker whose own
    /// plan differs (another release) hands the item back without using an attempt.
    pub plan_hash: String,
    /// The coordinator's job attempt (part of the publish msg-id).
    pub job_attempt: u32,
}

impl WorkItem {
    /// `<tenant>.<video>.<version>.<item>`: its lease and result key.
    pub fn key(&self) -> String {
        format!("{}.{}.{}.{}", self.tenant, self.video, self.version, self.item)
    }

    /// `work.<key>`: its subject on `VID_WORK`.
    pub fn subject(&self) -> String {
        format!("work.{}", self.key())
    }
}

/// The end of an item, stored as JSON in [`KV_RESULTS`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ItemResult {
    /// Encoded and uploaded: the handler's output (a `RangeOutput` for a range).
    Done(serde_json::Value),
    /// Dead-lettered: every attempt failed or died, or the failure was permanent.
    Failed { reason: String, attempts: u32 },
}

/// What [`Items::take`] found.
#[derive(Debug)]
pub enum Take {
    /// This worker holds the lease now (the attempt counted).
    Taken(ItemLease),
    /// Another worker holds a live lease: hand the message back (no attempt used).
    Held,
    /// The item has its result already (or was dead-lettered just now).
    Finished(ItemResult),
}

/// Why an item operation did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ItemError {
    /// The lease was taken over by another worker (or ran out unrenewed): nothing may be stored.
    #[error("the item's lease was lost to another worker: fenced")]
    Fenced,
    #[error("work item store: {0}")]
    Store(String),
    #[error("queueing work item {key}: {message}")]
    Publish { key: String, message: String },
}

fn store(e: impl std::fmt::Display) -> ItemError {
    ItemError::Store(e.to_string())
}

pub(crate) fn lease_err(e: LeaseError) -> ItemError {
    match e {
        LeaseError::Conflict => ItemError::Fenced,
        LeaseError::Store(m) => ItemError::Store(m),
    }
}

/// `VID_WORK` with `replicas` copies: WorkQueue retention, file storage, the log's duplicate
/// window (so an item enqueued twice by one job attempt is stored once).
pub fn stream_config(replicas: usize) -> stream::Config {
    stream::Config {
        name: STREAM_WORK.into(),
        description: Some("Framelog transcode work items (ranges, audio) for any worker".into()),
        subjects: vec!["work.>".into()],
        retention: stream::RetentionPolicy::WorkQueue,
        storage: stream::StorageType::File,
        duplicate_window: DUPLICATE_WINDOW,
        max_age: ITEMS_MAX_AGE,
        max_bytes: WORK_MAX_BYTES,
        discard: stream::DiscardPolicy::New,
        num_replicas: replicas.max(1),
        ..Default::default()
    }
}

/// The lease and result buckets with `replicas` copies, entries kept at most a week.
pub fn bucket_configs(replicas: usize) -> Vec<kv::Config> {
    [
        (KV_ITEMS, "Framelog transcode item leases: request, attempts, holder"),
        (KV_RESULTS, "Framelog transcode item results (first writer wins)"),
    ]
    .into_iter()
    .map(|(bucket, description)| kv::Config {
        bucket: bucket.into(),
        description: description.into(),
        history: 1,
        max_age: ITEMS_MAX_AGE,
        storage: stream::StorageType::File,
        num_replicas: replicas.max(1),
        ..Default::default()
    })
    .collect()
}

/// The queue, the leases and the results.
#[derive(Clone)]
pub struct Items {
    js: jetstream::Context,
    pub(crate) leases: Leases,
    results: kv::Store,
    ttl: Duration,
    max_attempts: u32,
}

impl std::fmt::Debug for Items {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Items").field("ttl", &self.ttl).finish()
    }
}

impl Items {
    /// Creates what is missing of the stream and buckets (never changing existing ones) and
    /// opens them; leases last `ttl`, an item is dead-lettered after `max_attempts` attempts.
    pub async fn open(
        js: &jetstream::Context,
        replicas: usize,
        ttl: Duration,
        max_attempts: u32,
    ) -> Result<Items, ItemError> {
        let buckets = bucket_configs(replicas);
        framelog_core::topology::ensure(js, vec![stream_config(replicas)], buckets, true)
            .await
            .map_err(store)?;
        let leases = Leases::from_store(js.get_key_value(KV_ITEMS).await.map_err(store)?);
        let results = js.get_key_value(KV_RESULTS).await.map_err(store)?;
        Ok(Items { js: js.clone(), leases, results, ttl, max_attempts: max_attempts.max(1) })
    }

    /// How long a lease lasts unrenewed.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Attempts before an item is dead-lettered.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// Queues `item` (msg-id `<key>.<job_attempt>`: the same job attempt stores it once).
    pub async fn enqueue(&self, item: &WorkItem) -> Result<(), ItemError> {
        let key = item.key();
        let err = |e: &dyn std::fmt::Display| ItemError::Publish {
            key: key.clone(),
            message: e.to_string(),
        };
        let payload = serde_json::to_vec(item).expect("a work item serialises");
        let msg = PublishMessage::build()
            .payload(payload.into())
            .message_id(format!("{key}.{}", item.job_attempt));
        let ack = self.js.send_publish(item.subject(), msg).await.map_err(|e| err(&e))?;
        ack.await.map_err(|e| err(&e))?;
        Ok(())
    }

    /// Takes `item`'s lease as `worker` (one attempt), unless a live lease is held elsewhere or
    /// the item has its result; an item out of attempts is dead-lettered here.
    pub async fn take(&self, item: &WorkItem, worker: &str) -> Result<Take, ItemError> {
        if let Some(r) = self.result(item).await? {
            return Ok(Take::Finished(r));
        }
        let key = item.key();
        for _ in 0..5 {
            let (current, revision) = self.leases.read(&key).await.map_err(lease_err)?;
            let token = uuid::Uuid::now_v7().simple().to_string();
            let (now, ttl, max) = (lease::now_ms(), self.ttl, self.max_attempts);
            match lease::decide(current.as_ref(), item.request_seq, worker, &token, now, ttl, max) {
                Decision::Take { attempt, record } => {
                    match self.leases.write(&key, &record, revision).await {
                        Ok(revision) => {
                            let items = Arc::new(self.clone());
                            let lease =
                                ItemLease::new(items, key, token, record, revision, attempt);
                            return Ok(Take::Taken(lease));
                        }
                        Err(LeaseError::Conflict) => continue,
                        Err(LeaseError::Store(m)) => return Err(ItemError::Store(m)),
                    }
                }
                Decision::Busy { .. } => return Ok(Take::Held),
                Decision::Settled => {
                    let attempts = current.map_or(0, |c| c.attempts);
                    let reason = "settled without a result (superseded)".to_owned();
                    let r = self.result(item).await?;
                    return Ok(Take::Finished(
                        r.unwrap_or(ItemResult::Failed { reason, attempts }),
                    ));
                }
                Decision::OutOfAttempts { attempts } => {
                    let reason = format!("out of attempts: {attempts} attempts failed or died");
                    return Ok(Take::Finished(self.dead_letter(&key, reason, attempts).await?));
                }
            }
        }
        Err(ItemError::Store(format!("the lease of {key} kept changing")))
    }

    /// The stored result of `item`, if any.
    pub async fn result(&self, item: &WorkItem) -> Result<Option<ItemResult>, ItemError> {
        match self.results.entry(item.key()).await.map_err(store)? {
            Some(e) if e.operation == kv::Operation::Put => serde_json::from_slice(&e.value)
                .map(Some)
                .map_err(|e| ItemError::Store(format!("unreadable item result: {e}"))),
            _ => Ok(None),
        }
    }

    /// Every result under `<tenant>.<video>.<version>.>` now and as it lands, as (item, result).
    pub async fn watch(
        &self,
        tenant: &str,
        video: &str,
        version: &str,
    ) -> Result<BoxStream<'static, (String, ItemResult)>, ItemError> {
        let prefix = format!("{tenant}.{video}.{version}.");
        let watch = self.results.watch_with_history(format!("{prefix}>")).await.map_err(store)?;
        let results = watch.filter_map(move |entry| {
            let item = match entry {
                Ok(e) if e.operation == kv::Operation::Put => {
                    match serde_json::from_slice::<ItemResult>(&e.value) {
                        Ok(r) => e.key.strip_prefix(&prefix).map(|i| (i.to_owned(), r)),
                        Err(err) => {
                            tracing::warn!(key = %e.key, error = %err, "unreadable item result");
                            None
                        }
                    }
                }
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!(error = %e, "watching item results");
                    None
                }
            };
            std::future::ready(item)
        });
        Ok(results.boxed())
    }

    /// Clears a dead-lettered item (its `Failed` result and its lease record) so that a new
    /// attempt of its job tries it again with fresh attempts; a `Done` result is kept.
    /// Returns whether it was cleared.
    pub async fn retry_failed(&self, item: &WorkItem) -> Result<bool, ItemError> {
        let Some(ItemResult::Failed { .. }) = self.result(item).await? else { return Ok(false) };
        self.reset(item).await?;
        Ok(true)
    }

    /// Forgets an item's result and lease record: it will be done again (a result whose files
    /// are gone).
    pub async fn reset(&self, item: &WorkItem) -> Result<(), ItemError> {
        let key = item.key();
        self.results.purge(&key).await.map_err(store)?;
        let leases = self.js.get_key_value(KV_ITEMS).await.map_err(store)?;
        leases.purge(&key).await.map_err(store)?;
        Ok(())
    }

    /// Removes the leases and results of a version (after its job completes).
    pub async fn forget(&self, tenant: &str, video: &str, version: &str) -> Result<(), ItemError> {
        let leases = self.js.get_key_value(KV_ITEMS).await.map_err(store)?;
        for (bucket, kv) in [(KV_ITEMS, &leases), (KV_RESULTS, &self.results)] {
            let filter = format!("$KV.{bucket}.{tenant}.{video}.{version}.>");
            kv.stream.purge().filter(filter).await.map_err(store)?;
        }
        Ok(())
    }

    /// Writes a `Failed` result for `key` (unless one exists) and settles its lease record;
    /// the stored result.
    pub(crate) async fn dead_letter(
        &self,
        key: &str,
        reason: String,
        attempts: u32,
    ) -> Result<ItemResult, ItemError> {
        let failed = ItemResult::Failed { reason, attempts };
        let stored = if self.create_result(key, &failed).await? {
            tracing::error!(item = key, ?failed, "work item dead-lettered");
            failed
        } else {
            match self.results.entry(key).await.map_err(store)? {
                Some(e) => serde_json::from_slice(&e.value).map_err(store)?,
                None => failed,
            }
        };
        if let Err(e) = self.leases.modify(key, |r| Some(r.settled())).await {
            tracing::warn!(item = key, error = %e, "the dead item's lease record was not settled");
        }
        Ok(stored)
    }

    /// `create`s the result; false if one exists.
    pub(crate) async fn create_result(
        &self,
        key: &str,
        result: &ItemResult,
    ) -> Result<bool, ItemError> {
        let value = serde_json::to_vec(result).expect("a result serialises");
        match self.results.create(key, value.into()).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == CreateErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(store(e)),
        }
    }
}

#[cfg(test)]
#[path = "items_tests.rs"]
mod tests;
