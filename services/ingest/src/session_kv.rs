//! The session store: NATS JetStream KV bucket [`BUCKET`] (history 1), shared by every ingest
//! (and live) replica on one NATS. Keys:
//!
//! - `s.<upload id>`: the [`UploadSession`] (JSON);
//! - `c.<upload id>.<n>`: the [`ChunkRecord`] of REST chunk `n` (one key per chunk, so parallel
//!   chunks never contend);
//! - `v.<tenant>.<video>`: the upload that made the video;
//! - `u.<tenant>`: the tenant's quota usage ([`crate::usage`]).
//!
//! Read-modify-write is a compare-and-set loop on the key's revision ([`SessionStore::update`]);
//! a put is acknowledged by JetStream once stored, so [`SessionStore::flush`] has nothing left
//! to do. Listings (chunks of one upload, every session) are one ordered consumer filtered on
//! the key prefix, read until the server says nothing is pending.

use std::time::Duration;

use async_nats::jetstream::{self, consumer, kv, stream};
use bytes::Bytes;
use framelog_events::{AggregateId, TenantId};
use futures::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

use crate::session::{ChunkRecord, SessionState, StoreError, UploadSession};

/// The KV bucket of upload sessions.
pub const BUCKET: &str = "framelog_upload_sessions";
/// Subject prefix of the bucket's keys.
const SUBJECT_PREFIX: &str = "$KV.framelog_upload_sessions.";
/// A chunk touches its session's `updated_at` (the idle clock) at most this often, so parallel
/// chunks rarely contend on the session record.
const TOUCH_EVERY: time::Duration = time::Duration::seconds(1);
/// How long a listing waits for the next entry the server said is pending.
const LIST_WAIT: Duration = Duration::from_secs(5);

/// The bucket with `replicas` copies.
pub fn bucket_config(replicas: usize) -> kv::Config {
    kv::Config {
        bucket: BUCKET.into(),
        description: "Framelog upload sessions, chunk records, video index, quota usage".into(),
        history: 1,
        storage: stream::StorageType::File,
        num_replicas: replicas.max(1),
        ..Default::default()
    }
}

/// What a compare-and-set step decides.
pub(crate) enum Cas<T, R> {
    /// Write `T` (if the key did not change meanwhile) and answer `R`.
    Write(T, R),
    /// Write nothing and answer `R`.
    Keep(R),
}

/// Whether `id` can be one token of a key (client-supplied ids are checked before use).
fn is_token(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

pub(crate) fn session_key(upload_id: &str) -> String {
    format!("s.{upload_id}")
}

pub(crate) fn chunk_key(upload_id: &str, n: u64) -> String {
    format!("c.{upload_id}.{n}")
}

pub(crate) fn video_key(tenant: &TenantId, video: &AggregateId) -> String {
    format!("v.{tenant}.{video}")
}

/// The session store.
#[derive(Clone)]
pub struct SessionStore {
    pub(crate) kv: kv::Store,
    nats: async_nats::Client,
}

impl std::fmt::Debug for SessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionStore").field("bucket", &BUCKET).finish()
    }
}

impl SessionStore {
    /// Creates the bucket if missing (never changing an existing one) and opens it.
    pub async fn open(
        nats: &async_nats::Client,
        js: &jetstream::Context,
        replicas: usize,
    ) -> Result<SessionStore, StoreError> {
        framelog_core::topology::ensure(js, Vec::new(), vec![bucket_config(replicas)], true)
            .await
            .map_err(|e| StoreError::kv("creating the bucket", e))?;
        let kv = js.get_key_value(BUCKET).await.map_err(|e| StoreError::kv("opening", e))?;
        Ok(SessionStore { kv, nats: nats.clone() })
    }

    /// Nothing to do: every put was acknowledged by JetStream once stored.
    pub async fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// A value and its revision; `None` when missing or deleted.
    pub(crate) async fn entry<T: DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<(Option<T>, u64)>, StoreError> {
        let Some(e) = self.kv.entry(key).await.map_err(|e| StoreError::kv("reading", e))? else {
            return Ok(None);
        };
        if e.operation != kv::Operation::Put {
            return Ok(Some((None, e.revision)));
        }
        Ok(Some((Some(serde_json::from_slice(&e.value)?), e.revision)))
    }

    pub(crate) async fn read<T: DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        Ok(self.entry(key).await?.and_then(|(v, _)| v))
    }

    pub(crate) async fn put<T: Serialize>(&self, key: &str, v: &T) -> Result<(), StoreError> {
        let body = Bytes::from(serde_json::to_vec(v)?);
        self.kv.put(key, body).await.map_err(|e| StoreError::kv("writing", e))?;
        Ok(())
    }

    /// Read, decide (`f`), write if the key kept its revision; again from the read otherwise.
    pub(crate) async fn cas<T, R>(
        &self,
        key: &str,
        f: impl Fn(Option<T>) -> Result<Cas<T, R>, StoreError>,
    ) -> Result<R, StoreError>
    where
        T: Serialize + DeserializeOwned,
    {
        loop {
            let cur = self.entry::<T>(key).await?;
            let (value, revision) = match cur {
                Some((v, r)) => (v, Some(r)),
                None => (None, None),
            };
            let (next, answer) = match f(value)? {
                Cas::Keep(r) => return Ok(r),
                Cas::Write(t, r) => (t, r),
            };
            let body = Bytes::from(serde_json::to_vec(&next)?);
            let lost = match revision {
                Some(rev) => match self.kv.update(key, body, rev).await {
                    Ok(_) => false,
                    Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => true,
                    Err(e) => return Err(StoreError::kv("updating", e)),
                },
                None => match self.kv.create(key, body).await {
                    Ok(_) => false,
                    Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => true,
                    Err(e) => return Err(StoreError::kv("creating", e)),
                },
            };
            if !lost {
                return Ok(answer);
            }
        }
    }

    /// The latest values of the keys matching `filter` (a key pattern with `*`), read through
    /// one ordered consumer until nothing is pending: `(key, value)`; deleted keys are skipped.
    pub(crate) async fn list(
        &self,
        filter: &str,
        headers_only: bool,
    ) -> Result<Vec<(String, Bytes)>, StoreError> {
        let consumer = self
            .kv
            .stream
            .create_consumer(consumer::push::OrderedConfig {
                deliver_subject: self.nats.new_inbox(),
                description: Some("framelog session listing".into()),
                filter_subject: format!("{SUBJECT_PREFIX}{filter}"),
                headers_only,
                replay_policy: consumer::ReplayPolicy::Instant,
                deliver_policy: consumer::DeliverPolicy::LastPerSubject,
                ..Default::default()
            })
            .await
            .map_err(|e| StoreError::kv("listing", e))?;
        let mut out = Vec::new();
        if consumer.cached_info().num_pending == 0 {
            return Ok(out);
        }
        let mut msgs = consumer.messages().await.map_err(|e| StoreError::kv("listing", e))?;
        loop {
            let m = match tokio::time::timeout(LIST_WAIT, msgs.next()).await {
                Ok(Some(m)) => m.map_err(|e| StoreError::kv("listing", e))?,
                Ok(None) => break,
                Err(e) => return Err(StoreError::kv("listing", e)),
            };
            let pending = m.info().map(|i| i.pending).unwrap_or(0);
            let deleted = m
                .headers
                .as_ref()
                .and_then(|h| h.get("KV-Operation"))
                .is_some_and(|op| matches!(op.as_str(), "DEL" | "PURGE"));
            if !deleted && let Some(key) = m.subject.as_str().strip_prefix(SUBJECT_PREFIX) {
                out.push((key.to_owned(), m.payload.clone()));
            }
            if pending == 0 {
                break;
            }
        }
        Ok(out)
    }
}

/// Sessions, chunks and the video index.
impl SessionStore {
    /// Stores a new session (counted in its tenant's usage, never refused) and indexes it.
    pub async fn insert(&self, s: &UploadSession) -> Result<(), StoreError> {
        self.settle_usage(s).await?;
        self.insert_unchecked(s).await
    }

    /// The session record and the video index entry (usage already recorded).
    pub(crate) async fn insert_unchecked(&self, s: &UploadSession) -> Result<(), StoreError> {
        self.put(&session_key(&s.upload_id), s).await?;
        self.put(&video_key(&s.tenant, &s.video_id), &s.upload_id).await
    }

    pub async fn get(&self, upload_id: &str) -> Result<Option<UploadSession>, StoreError> {
        if !is_token(upload_id) {
            return Ok(None);
        }
        self.read(&session_key(upload_id)).await
    }

    /// The session of a tenant's upload; another tenant's upload is `None`, like a missing one.
    pub async fn get_for(
        &self,
        tenant: &TenantId,
        upload_id: &str,
    ) -> Result<Option<UploadSession>, StoreError> {
        Ok(self.get(upload_id).await?.filter(|s| &s.tenant == tenant))
    }

    /// The upload that made a tenant's video.
    pub async fn by_video(
        &self,
        tenant: &TenantId,
        video: &AggregateId,
    ) -> Result<Option<UploadSession>, StoreError> {
        match self.read::<String>(&video_key(tenant, video)).await? {
            Some(id) => self.get_for(tenant, &id).await,
            None => Ok(None),
        }
    }

    /// Forgets a video in the index (after deletion or abort); a completed source's bytes stop
    /// counting in its tenant's usage, once even if the deletion is retried.
    pub async fn unindex_video(
        &self,
        tenant: &TenantId,
        video: &AggregateId,
    ) -> Result<(), StoreError> {
        let key = video_key(tenant, video);
        let Some((Some(id), revision)) = self.entry::<String>(&key).await? else {
            return Ok(());
        };
        let completed = self
            .get_for(tenant, &id)
            .await?
            .filter(|s| matches!(s.state, SessionState::Completed { .. }));
        if let Some(s) = &completed {
            self.release_usage(tenant, &id, s.size).await?;
        }
        match self.kv.delete_expect_revision(&key, Some(revision)).await {
            Ok(()) => {}
            // Another replica removed (or re-pointed) it meanwhile.
            Err(e) if e.kind() == kv::DeleteErrorKind::WrongLastRevision => {}
            Err(e) => return Err(StoreError::kv("deleting", e)),
        }
        if completed.is_some() {
            self.forget_release(tenant, &id).await?;
        }
        Ok(())
    }

    /// Replaces a session record (read-modify-write by `f`, a CAS on its revision; `f` may run
    /// more than once). A session that left `Open` settles its tenant's usage.
    pub async fn update<F>(&self, upload_id: &str, f: F) -> Result<UploadSession, StoreError>
    where
        F: Fn(&mut UploadSession) -> Result<(), StoreError>,
    {
        if !is_token(upload_id) {
            return Err(StoreError::Changed);
        }
        let s = self
            .cas(&session_key(upload_id), |cur: Option<UploadSession>| {
                let mut s = cur.ok_or(StoreError::Changed)?;
                f(&mut s)?;
                Ok(Cas::Write(s.clone(), s))
            })
            .await?;
        if s.state != SessionState::Open {
            self.settle_usage(&s).await?;
        }
        Ok(s)
    }

    /// The record of chunk `n`, if it arrived.
    pub async fn chunk(&self, upload_id: &str, n: u64) -> Result<Option<ChunkRecord>, StoreError> {
        if !is_token(upload_id) {
            return Ok(None);
        }
        self.read(&chunk_key(upload_id, n)).await
    }

    /// Records chunk `n` (its bytes already durable) and touches the session, if still open.
    pub async fn record_chunk(
        &self,
        upload_id: &str,
        n: u64,
        record: ChunkRecord,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let s = self.get(upload_id).await?.ok_or(StoreError::Changed)?;
        if s.state != SessionState::Open {
            return Err(StoreError::Changed);
        }
        self.put(&chunk_key(upload_id, n), &record).await?;
        if now - s.updated_at < TOUCH_EVERY {
            return Ok(());
        }
        self.cas(&session_key(upload_id), |cur: Option<UploadSession>| {
            let mut s = cur.ok_or(StoreError::Changed)?;
            if s.state != SessionState::Open {
                return Err(StoreError::Changed);
            }
            if s.updated_at >= now {
                return Ok(Cas::Keep(()));
            }
            s.updated_at = now;
            Ok(Cas::Write(s, ()))
        })
        .await
    }

    /// The chunk records of an upload, ascending by index.
    pub async fn chunk_records(
        &self,
        upload_id: &str,
    ) -> Result<Vec<(u64, ChunkRecord)>, StoreError> {
        if !is_token(upload_id) {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for (key, value) in self.list(&format!("c.{upload_id}.*"), false).await? {
            if let Some(n) = key.rsplit('.').next().and_then(|n| n.parse().ok()) {
                out.push((n, serde_json::from_slice(&value)?));
            }
        }
        out.sort_by_key(|(n, _)| *n);
        Ok(out)
    }

    /// Indices of the chunks received, ascending.
    pub async fn received_chunks(&self, upload_id: &str) -> Result<Vec<u64>, StoreError> {
        if !is_token(upload_id) {
            return Ok(Vec::new());
        }
        let keys = self.list(&format!("c.{upload_id}.*"), true).await?;
        let mut out: Vec<u64> = keys
            .iter()
            .filter_map(|(k, _)| k.rsplit('.').next().and_then(|n| n.parse().ok()))
            .collect();
        out.sort_unstable();
        Ok(out)
    }

    /// Drops the chunk records of an upload (once it is finished either way): one purge of
    /// the bucket's stream filtered on the upload's chunk keys.
    pub async fn forget_chunks(&self, upload_id: &str) -> Result<(), StoreError> {
        if !is_token(upload_id) {
            return Ok(());
        }
        let subject = format!("{SUBJECT_PREFIX}c.{upload_id}.*");
        self.kv.stream.purge().filter(subject).await.map_err(|e| StoreError::kv("purging", e))?;
        Ok(())
    }

    /// Every session (for the cleaner); unreadable records are skipped with a warning.
    pub async fn all(&self) -> Result<Vec<UploadSession>, StoreError> {
        let entries = self.list("s.*", false).await?;
        Ok(entries
            .into_iter()
            .filter_map(|(key, v)| match serde_json::from_slice(&v) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!(%key, error = %e, "unreadable upload session skipped");
                    None
                }
            })
            .collect())
    }
}
