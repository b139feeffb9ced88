//! Upload sessions: the records (this file) and their store in NATS JetStream KV
//! ([`crate::session_kv`]): one record per upload, one per received REST chunk, an index from
//! (tenant, video) to the upload that made the video, and per-tenant quota usage
//! ([`crate::usage`]). Every ingest replica on one NATS shares them, so any replica accepts
//! any request of any upload.

use framelog_events::{AggregateId, Probe, SourceKind, TenantId, UploadProtocol};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use crate::session_kv::{BUCKET, SessionStore, bucket_config};

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
    /// The running sha256 of the bytes received in order so far (tus: up to `offset`; REST:
    /// the chunks from the first that arrived in order), so completion reads back only what
    /// it does not cover.
    #[serde(default)]
    pub hash: Option<framelog_core::sha256_state::Sha256State>,
    /// The store's multipart upload the bytes go to, when the store has multipart uploads
    /// (S3): no part file on any replica.
    #[serde(default)]
    pub store_upload: Option<crate::store_upload::StoreUpload>,
    /// URL ingest: the fetch that fills this upload (see [`crate::url_ingest`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetch: Option<crate::url_ingest::FetchRecord>,
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

/// A received REST chunk (its bytes already durable in the part file or the store).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRecord {
    /// The chunk's sha256 when it was checked on arrival (hex in JSON).
    #[serde(default, with = "hex_digest")]
    pub digest: Option<[u8; 32]>,
    /// The store's part etag (S3 multipart), when the chunk went into a part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
}

mod hex_digest {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<[u8; 32]>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&hex::encode(d)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<[u8; 32]>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(h) => {
                let mut out = [0u8; 32];
                hex::decode_to_slice(&h, &mut out).map_err(serde::de::Error::custom)?;
                Ok(Some(out))
            }
        }
    }
}

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// NATS did not answer or refused (the store is down: 503; no room: 507).
    #[error("upload state store: {what}: {source}")]
    Kv { what: &'static str, source: Box<dyn std::error::Error + Send + Sync + 'static> },
    /// The sled store a migration reads.
    #[error("old upload state store: {0}")]
    Sled(#[from] sled::Error),
    #[error("corrupt upload record: {0}")]
    Corrupt(#[from] serde_json::Error),
    /// The session changed under the caller (not open any more, offset moved).
    #[error("upload changed concurrently")]
    Changed,
}

impl StoreError {
    pub(crate) fn kv(
        what: &'static str,
        e: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError::Kv { what, source: Box::new(e) }
    }

    /// Whether JetStream refused for lack of room.
    pub fn is_full(&self) -> bool {
        match self {
            StoreError::Kv { source, .. } => {
                framelog_core::eventlog::is_store_full(source.as_ref())
                    || source.to_string().contains("insufficient resources")
            }
            _ => false,
        }
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
            hash: None,
            store_upload: None,
            fetch: None,
        };
        assert_eq!(s.total_chunks(), 3);
        assert_eq!((0..3).map(|n| s.chunk_len(n)).collect::<Vec<_>>(), vec![5, 5, 1]);
        let empty = UploadSession { size: 0, ..s };
        assert_eq!(empty.total_chunks(), 0);
    }
}
