//! Upload sessions, stored in sled: one record per upload, one per received REST chunk, and an
//! index from (tenant, video) to the upload that made the video. Changes that belong together
//! are one sled transaction; callers `flush` before answering 2xx.

use framelog_events::{AggregateId, Probe, SourceKind, TenantId, UploadProtocol};
use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use time::OffsetDateTime;

use crate::usage::{self, Usage};

const SESSIONS: &str = "ingest_sessions";
const CHUNKS: &str = "ingest_chunks";
const VIDEOS: &str = "ingest_videos";

/// Where an upload stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SessionState {
    /// Receiving bytes.
    Open,
    /// Accepted: the source is in the media store and the events are published.
    Completed { sha256: String, probe: Probe, sequence: Option<u64> },
    /// Refused at completion (not a video, checksum mismatch); the bytes are gone.
    Rejected { code: String, reason: String },
    /// Aborted by the client.
    Aborted,
    /// Removed after being idle too long.
    Expired,
}

/// One upload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadSession {
    pub upload_id: String,
    pub video_id: AggregateId,
    pub tenant: TenantId,
    pub protocol: UploadProtocol,
    pub source: SourceKind,
    /// The live stream a recording came from.
    #[serde(default)]
    pub stream_id: Option<AggregateId>,
    /// Sanitised display name; never used as a path.
    pub filename: String,
    pub content_type: Option<String>,
    pub size: u64,
    /// Whole-file sha256 the client announced (lower-case hex).
    pub expected_sha256: Option<String>,
    /// REST chunk size (tus: unused).
    pub chunk_size: u64,
    /// tus: bytes committed from the start.
    pub offset: u64,
    /// tus: the raw `Upload-Metadata` header, echoed on HEAD.
    #[serde(default)]
    pub tus_metadata: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub state: SessionState,
}

impl UploadSession {
    /// Number of REST chunks.
    pub fn total_chunks(&self) -> u64 {
        if self.chunk_size == 0 { 0 } else { self.size.div_ceil(self.chunk_size) }
    }

    /// Byte length of chunk `n`.
    pub fn chunk_len(&self, n: u64) -> u64 {
        let start = n * self.chunk_size;
        self.chunk_size.min(self.size.saturating_sub(start))
    }
}

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("upload state store: {0}")]
    Sled(#[from] sled::Error),
    #[error("corrupt upload record: {0}")]
    Corrupt(#[from] serde_json::Error),
    /// The session changed under the caller (not open any more, offset moved).
    #[error("upload changed concurrently")]
    Changed,
}

impl From<TransactionError<StoreError>> for StoreError {
    fn from(e: TransactionError<StoreError>) -> Self {
        match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => StoreError::Sled(e),
        }
    }
}

fn abort(e: StoreError) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(e)
}

fn chunk_key(upload: &str, n: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(upload.len() + 9);
    k.extend_from_slice(upload.as_bytes());
    k.push(b'/');
    k.extend_from_slice(&n.to_be_bytes());
    k
}

fn video_key(tenant: &TenantId, video: &AggregateId) -> Vec<u8> {
    format!("{tenant}/{video}").into_bytes()
}

/// The session store.
#[derive(Clone, Debug)]
pub struct SessionStore {
    db: sled::Db,
    sessions: sled::Tree,
    chunks: sled::Tree,
    videos: sled::Tree,
    /// Quotas: per-tenant index of open and stored uploads (see [`crate::usage`]).
    usage: sled::Tree,
    /// Quotas: serialises "check the tenant's usage, then insert" across concurrent creations.
    admit_lock: std::sync::Arc<std::sync::Mutex<()>>,
}

impl SessionStore {
    pub fn open(db: &sled::Db) -> Result<SessionStore, StoreError> {
        let store = SessionStore {
            db: db.clone(),
            sessions: db.open_tree(SESSIONS)?,
            chunks: db.open_tree(CHUNKS)?,
            videos: db.open_tree(VIDEOS)?,
            usage: db.open_tree(usage::USAGE)?,
            admit_lock: Default::default(),
        };
        store.index_usage_once()?;
        Ok(store)
    }

    /// Makes every change so far durable (fsync).
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.db.flush_async().await?;
        Ok(())
    }

    /// Stores a new session and indexes its video.
    pub fn insert(&self, s: &UploadSession) -> Result<(), StoreError> {
        let body = serde_json::to_vec(s)?;
        let vkey = video_key(&s.tenant, &s.video_id);
        (&self.sessions, &self.videos, &self.usage).transaction(|(sessions, videos, usage)| {
            sessions.insert(s.upload_id.as_bytes(), body.clone())?;
            videos.insert(vkey.clone(), s.upload_id.as_bytes())?;
            usage::record(usage, s)?;
            Ok::<_, ConflictableTransactionError<StoreError>>(())
        })?;
        Ok(())
    }

    pub fn get(&self, upload_id: &str) -> Result<Option<UploadSession>, StoreError> {
        match self.sessions.get(upload_id.as_bytes())? {
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
            None => Ok(None),
        }
    }

    /// The session of a tenant's upload; another tenant's upload is `None`, like a missing one.
    pub fn get_for(
        &self,
        tenant: &TenantId,
        upload_id: &str,
    ) -> Result<Option<UploadSession>, StoreError> {
        Ok(self.get(upload_id)?.filter(|s| &s.tenant == tenant))
    }

    /// The upload that made a tenant's video.
    pub fn by_video(
        &self,
        tenant: &TenantId,
        video: &AggregateId,
    ) -> Result<Option<UploadSession>, StoreError> {
        match self.videos.get(video_key(tenant, video))? {
            Some(id) => self.get_for(tenant, &String::from_utf8_lossy(&id)),
            None => Ok(None),
        }
    }

    /// Forgets a video in the index (after deletion); its source stops counting in quotas.
    pub fn unindex_video(&self, tenant: &TenantId, video: &AggregateId) -> Result<(), StoreError> {
        if let Some(id) = self.videos.remove(video_key(tenant, video))? {
            self.usage.remove(usage::key(tenant, &String::from_utf8_lossy(&id)))?;
        }
        Ok(())
    }

    /// Replaces a session record (read-modify-write by `f`), atomically.
    pub fn update<F>(&self, upload_id: &str, f: F) -> Result<UploadSession, StoreError>
    where
        F: Fn(&mut UploadSession) -> Result<(), StoreError>,
    {
        let out = (&self.sessions, &self.usage).transaction(|(t, usage)| {
            let cur = t.get(upload_id.as_bytes())?.ok_or_else(|| abort(StoreError::Changed))?;
            let mut s: UploadSession =
                serde_json::from_slice(&cur).map_err(|e| abort(StoreError::Corrupt(e)))?;
            f(&mut s).map_err(abort)?;
            let body = serde_json::to_vec(&s).map_err(|e| abort(StoreError::Corrupt(e)))?;
            t.insert(upload_id.as_bytes(), body)?;
            usage::record(usage, &s)?;
            Ok(s)
        })?;
        Ok(out)
    }

    /// Whether chunk `n` arrived: `Some(Some(sha256))` when its digest was checked on arrival,
    /// `Some(None)` when it arrived without one.
    #[allow(clippy::option_option)]
    pub fn chunk(&self, upload_id: &str, n: u64) -> Result<Option<Option<[u8; 32]>>, StoreError> {
        Ok(self.chunks.get(chunk_key(upload_id, n))?.map(|v| v.as_ref().try_into().ok()))
    }

    /// Records chunk `n` (its bytes already durable) and touches the session, if still open.
    pub fn record_chunk(
        &self,
        upload_id: &str,
        n: u64,
        digest: Option<[u8; 32]>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let key = chunk_key(upload_id, n);
        (&self.sessions, &self.chunks).transaction(|(sessions, chunks)| {
            let cur =
                sessions.get(upload_id.as_bytes())?.ok_or_else(|| abort(StoreError::Changed))?;
            let mut s: UploadSession =
                serde_json::from_slice(&cur).map_err(|e| abort(StoreError::Corrupt(e)))?;
            if s.state != SessionState::Open {
                return Err(abort(StoreError::Changed));
            }
            s.updated_at = now;
            let body = serde_json::to_vec(&s).map_err(|e| abort(StoreError::Corrupt(e)))?;
            sessions.insert(upload_id.as_bytes(), body)?;
            chunks.insert(key.clone(), digest.map(|d| d.to_vec()).unwrap_or_default())?;
            Ok(())
        })?;
        Ok(())
    }

    /// Indices of the chunks received, ascending.
    pub fn received_chunks(&self, upload_id: &str) -> Result<Vec<u64>, StoreError> {
        let mut prefix = upload_id.as_bytes().to_vec();
        prefix.push(b'/');
        let mut out = Vec::new();
        for kv in self.chunks.scan_prefix(&prefix) {
            let (k, _) = kv?;
            if let Ok(b) = <[u8; 8]>::try_from(&k[prefix.len()..]) {
                out.push(u64::from_be_bytes(b));
            }
        }
        Ok(out)
    }

    /// Drops the chunk records of an upload (once it is finished either way).
    pub fn forget_chunks(&self, upload_id: &str) -> Result<(), StoreError> {
        let mut prefix = upload_id.as_bytes().to_vec();
        prefix.push(b'/');
        let keys: Vec<_> = self.chunks.scan_prefix(&prefix).keys().collect::<Result<_, _>>()?;
        let mut batch = sled::Batch::default();
        for k in keys {
            batch.remove(k);
        }
        self.chunks.apply_batch(batch)?;
        Ok(())
    }

    /// Every session (for the cleaner).
    pub fn all(&self) -> impl Iterator<Item = Result<UploadSession, StoreError>> + '_ {
        self.sessions.iter().values().map(|v| Ok(serde_json::from_slice(&v?)?))
    }
}

/// Quotas: the usage index (see [`crate::usage`]).
impl SessionStore {
    /// A tenant's open uploads and stored bytes in this store.
    pub fn usage(&self, tenant: &TenantId) -> Result<Usage, StoreError> {
        Ok(usage::of(&self.usage, tenant)?)
    }

    /// Stores a new session if `admit` accepts its tenant's current usage; the check and the
    /// insert are serialised, so two concurrent creations cannot both take the last slot.
    pub fn insert_admitted<E>(
        &self,
        s: &UploadSession,
        admit: impl FnOnce(Usage) -> Result<(), E>,
    ) -> Result<Result<(), E>, StoreError> {
        let _g = self.admit_lock.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = admit(self.usage(&s.tenant)?) {
            return Ok(Err(e));
        }
        self.insert(s)?;
        Ok(Ok(()))
    }

    /// Indexes a store written before the usage index existed (once: the index is then kept
    /// in step by every insert and update). Deleted videos' sources are not counted.
    fn index_usage_once(&self) -> Result<(), StoreError> {
        if !self.usage.is_empty() || self.sessions.is_empty() {
            return Ok(());
        }
        for s in self.all() {
            let s = s?;
            let indexed = self.videos.get(video_key(&s.tenant, &s.video_id))?;
            let deleted = indexed.as_deref() != Some(s.upload_id.as_bytes());
            if let Some(v) = usage::value(&s).filter(|_| !deleted || s.state == SessionState::Open)
            {
                self.usage.insert(usage::key(&s.tenant, &s.upload_id), v.to_vec())?;
            }
        }
        Ok(())
    }
}

/// Contiguous ranges `[start, end]` (inclusive) of sorted indices.
pub fn ranges(sorted: &[u64]) -> Vec<[u64; 2]> {
    let mut out: Vec<[u64; 2]> = Vec::new();
    for &n in sorted {
        match out.last_mut() {
            Some(r) if r[1] + 1 == n => r[1] = n,
            _ => out.push([n, n]),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_chunks_collapse_into_ranges() {
        assert_eq!(ranges(&[]), Vec::<[u64; 2]>::new());
        assert_eq!(ranges(&[0, 1, 2, 5, 7, 8]), vec![[0, 2], [5, 5], [7, 8]]);
    }

    #[test]
    fn chunk_lengths_cover_the_file_exactly() {
        let s = UploadSession {
            upload_id: "up".into(),
            video_id: AggregateId::new("v").unwrap(),
            tenant: TenantId::new("t").unwrap(),
            protocol: UploadProtocol::Rest,
            source: SourceKind::Upload,
            stream_id: None,
            filename: "f".into(),
            content_type: None,
            size: 11,
            expected_sha256: None,
            chunk_size: 5,
            offset: 0,
            tus_metadata: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
            state: SessionState::Open,
        };
        assert_eq!(s.total_chunks(), 3);
        assert_eq!((0..3).map(|n| s.chunk_len(n)).collect::<Vec<_>>(), vec![5, 5, 1]);
        let empty = UploadSession { size: 0, ..s };
        assert_eq!(empty.total_chunks(), 0);
    }
}
