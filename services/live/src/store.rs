//! Live stream records in the `framelog_stream_keys` KV bucket: every replica of live-auth
//! sees a rotation or deletion at once. Updates are compare-and-set on the KV revision.

use async_nats::jetstream::{self, kv};
use framelog_events::{AggregateId, MediaServer, TenantId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use framelog_core::nats::KV_STREAM_KEYS;

/// A publisher currently live on a stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveSession {
    pub session_id: String,
    pub server: MediaServer,
    /// The media server's connection id (nginx-rtmp `clientid`, MediaMTX connection UUID).
    pub connection_id: String,
    pub protocol: String,
    pub remote_addr: Option<String>,
    /// nginx-rtmp application, for `control/drop`.
    pub app: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// The key generation the publisher authenticated with.
    pub generation: u32,
    /// When its media server last reported it (nginx-rtmp `on_update`), written at most every
    /// `--live-seen-every` seconds; the reaper ends a session not seen for too long.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_seen: Option<OffsetDateTime>,
}

impl LiveSession {
    /// The last time it was known to be live: its last sighting, or its start.
    pub fn last_sight(&self) -> OffsetDateTime {
        self.last_seen.map_or(self.started_at, |t| t.max(self.started_at))
    }
}

/// A live stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamRecord {
    pub stream_id: AggregateId,
    pub tenant: TenantId,
    pub name: String,
    pub record: bool,
    pub public: bool,
    pub generation: u32,
    /// sha256 of the current key (hex).
    pub key_hash: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub deleted: bool,
    pub session: Option<LiveSession>,
    /// The id of the last session that ended (names the recording that follows it).
    #[serde(default)]
    pub last_session: Option<String>,
    /// MediaMTX: the connection id of the last authorised publish (to kick it, and the only
    /// connection whose `available` hook may start a session).
    #[serde(default)]
    pub pending_connection: Option<(String, String)>,
    /// The connection of the last session that ended: its recording may arrive after the end
    /// (nginx-rtmp's `record_done` can follow `publish_done`).
    #[serde(default)]
    pub last_connection: Option<EndedConnection>,
}

/// Which connection a session that ended had.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndedConnection {
    pub server: MediaServer,
    pub connection_id: String,
}

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("stream store: {0}")]
    Kv(String),
    #[error("stream record changed concurrently")]
    Conflict,
    #[error("corrupt stream record: {0}")]
    Corrupt(#[from] serde_json::Error),
}

fn kv_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Kv(e.to_string())
}

fn key(stream: &str) -> String {
    format!("s.{stream}")
}

/// The stream store: KV is the source of truth; a local copy fed by a KV watch answers the
/// hot path (publish and read authorisation) without a NATS round trip.
#[derive(Clone)]
pub struct StreamStore {
    pub(crate) kv: kv::Store,
    cache:
        std::sync::Arc<std::sync::RwLock<std::collections::HashMap<String, (StreamRecord, u64)>>>,
}

impl std::fmt::Debug for StreamStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StreamStore")
    }
}

impl StreamStore {
    pub async fn open(js: &jetstream::Context) -> Result<StreamStore, StoreError> {
        Ok(StreamStore {
            kv: js.get_key_value(KV_STREAM_KEYS).await.map_err(kv_err)?,
            cache: Default::default(),
        })
    }

    fn remember(&self, r: &StreamRecord, revision: u64) {
        let mut c = self.cache.write().expect("stream cache poisoned");
        let id = r.stream_id.as_str().to_owned();
        if c.get(&id).is_none_or(|(_, rev)| *rev < revision) {
            c.insert(id, (r.clone(), revision));
        }
    }

    /// Keeps the local copy current: every change to the bucket (from any replica) arrives
    /// within milliseconds. Runs until `shutdown`; reconnects after errors.
    pub async fn follow(self, shutdown: tokio_util::sync::CancellationToken) {
        use futures::StreamExt;
        loop {
            let mut watch = match self.kv.watch_with_history(">").await {
                Ok(w) => w,
                Err(e) => {
                    tracing::warn!(error = %e, "stream watch failed; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => continue,
                    }
                }
            };
            loop {
                let next = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    n = watch.next() => n,
                };
                match next {
                    Some(Ok(e)) => {
                        let Some(stream) = e.key.strip_prefix("s.") else { continue };
                        match e.operation {
                            kv::Operation::Put => {
                                if let Ok(r) = serde_json::from_slice::<StreamRecord>(&e.value) {
                                    self.remember(&r, e.revision);
                                }
                            }
                            _ => {
                                self.cache.write().expect("stream cache poisoned").remove(stream);
                            }
                        }
                    }
                    _ => break,
                }
            }
        }
    }

    /// The locally known records that have an open session (the reaper's candidates; each is
    /// checked again against KV before anything changes).
    pub fn cached_live(&self) -> Vec<StreamRecord> {
        let c = self.cache.read().expect("stream cache poisoned");
        c.values().filter(|(r, _)| r.session.is_some()).map(|(r, _)| r.clone()).collect()
    }

    /// A record for authorisation: the local copy, or KV when this replica has not seen it yet.
    pub async fn get_cached(&self, stream: &str) -> Result<Option<StreamRecord>, StoreError> {
        if let Some((r, _)) = self.cache.read().expect("stream cache poisoned").get(stream) {
            return Ok(Some(r.clone()));
        }
        Ok(self.get(stream).await?.map(|(r, _)| r))
    }

    /// Stores a new record.
    pub async fn create(&self, r: &StreamRecord) -> Result<(), StoreError> {
        let body = serde_json::to_vec(r)?;
        let rev = self.kv.create(key(r.stream_id.as_str()), body.into()).await.map_err(kv_err)?;
        self.remember(r, rev);
        Ok(())
    }

    /// Removes a record that was never announced (its creation was refused after the write).
    pub async fn forget(&self, stream: &str) -> Result<(), StoreError> {
        self.cache.write().expect("stream cache poisoned").remove(stream);
        self.kv.purge(key(stream)).await.map_err(kv_err)
    }

    /// A record and its revision.
    pub async fn get(&self, stream: &str) -> Result<Option<(StreamRecord, u64)>, StoreError> {
        if framelog_events::id::validate_id(stream).is_err() {
            return Ok(None);
        }
        match self.kv.entry(key(stream)).await.map_err(kv_err)? {
            Some(e) if e.operation == kv::Operation::Put => {
                let r: StreamRecord = serde_json::from_slice(&e.value)?;
                self.remember(&r, e.revision);
                Ok(Some((r, e.revision)))
            }
            _ => Ok(None),
        }
    }

    /// A tenant's live (not deleted) stream; another tenant's is `None`, like a missing one.
    pub async fn get_for(
        &self,
        tenant: &TenantId,
        stream: &str,
    ) -> Result<Option<(StreamRecord, u64)>, StoreError> {
        Ok(self.get(stream).await?.filter(|(r, _)| &r.tenant == tenant && !r.deleted))
    }

    /// Applies `f` to the record with compare-and-set, retrying on concurrent changes.
    /// `f` returns `Ok(false)` to leave the record unchanged.
    pub async fn update<F, E>(&self, stream: &str, mut f: F) -> Result<Option<StreamRecord>, E>
    where
        F: FnMut(&mut StreamRecord) -> Result<bool, E>,
        E: From<StoreError>,
    {
        for _ in 0..16 {
            let Some((mut r, rev)) = self.get(stream).await? else { return Ok(None) };
            if !f(&mut r)? {
                return Ok(Some(r));
            }
            let body = serde_json::to_vec(&r).map_err(StoreError::from)?;
            match self.kv.update(key(stream), body.into(), rev).await {
                Ok(new_rev) => {
                    // This replica sees its own change at once (others through the watch).
                    self.remember(&r, new_rev);
                    return Ok(Some(r));
                }
                Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => continue,
                Err(e) => return Err(kv_err(e).into()),
            }
        }
        Err(StoreError::Conflict.into())
    }
}
