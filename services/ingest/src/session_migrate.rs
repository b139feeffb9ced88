//! One-time migration of an ingest's sled session store (`platform.db`, before sessions moved
//! to NATS KV) into [`crate::session_kv`]: sessions, chunk records and the video index, and
//! the quota usage they imply. It runs at start when the sled tree holds sessions and this
//! database was not migrated yet (a marker in sled), so every old replica's sessions are
//! copied once; a session already in the bucket is left as it is (and not counted twice).

use framelog_events::TenantId;

use crate::session::{ChunkRecord, SessionState, StoreError, UploadSession};
use crate::session_kv::{SessionStore, chunk_key, session_key, video_key};

const SESSIONS: &str = "ingest_sessions";
const CHUNKS: &str = "ingest_chunks";
const VIDEOS: &str = "ingest_videos";
/// Marker tree: holds `done` once this database was copied.
const MIGRATED: &str = "ingest_sessions_in_kv";

/// What a migration copied.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Migrated {
    pub sessions: usize,
    pub chunks: usize,
    pub videos: usize,
}

impl SessionStore {
    /// Copies `db`'s sled sessions into the bucket once (see the module docs).
    pub async fn migrate_from_sled(&self, db: &sled::Db) -> Result<Migrated, StoreError> {
        let marker = db.open_tree(MIGRATED)?;
        let sessions = db.open_tree(SESSIONS)?;
        if marker.contains_key("done")? || sessions.is_empty() {
            return Ok(Migrated::default());
        }
        let chunks = db.open_tree(CHUNKS)?;
        let videos = db.open_tree(VIDEOS)?;
        let mut out = Migrated::default();
        for kv in sessions.iter() {
            let (_, v) = kv?;
            let s: UploadSession = match serde_json::from_slice(&v) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "unreadable sled session not migrated");
                    continue;
                }
            };
            if self.read::<UploadSession>(&session_key(&s.upload_id)).await?.is_some() {
                continue;
            }
            // Indexed to this upload: a completed source not deleted.
            let vkey = format!("{}/{}", s.tenant, s.video_id);
            let indexed =
                videos.get(vkey.as_bytes())?.is_some_and(|id| id == s.upload_id.as_bytes());
            let counts = s.state == SessionState::Open
                || (indexed && matches!(s.state, SessionState::Completed { .. }));
            if counts {
                let open = UploadSession { state: SessionState::Open, ..s.clone() };
                self.settle_usage(&open).await?;
                self.settle_usage(&s).await?;
            }
            self.put(&session_key(&s.upload_id), &s).await?;
            if indexed {
                self.put(&video_key(&s.tenant, &s.video_id), &s.upload_id).await?;
                out.videos += 1;
            }
            let mut prefix = s.upload_id.as_bytes().to_vec();
            prefix.push(b'/');
            for c in chunks.scan_prefix(&prefix) {
                let (k, v) = c?;
                let Ok(n) = <[u8; 8]>::try_from(&k[prefix.len()..]).map(u64::from_be_bytes) else {
                    continue;
                };
                let record = ChunkRecord { digest: v.as_ref().try_into().ok(), etag: None };
                self.put(&chunk_key(&s.upload_id, n), &record).await?;
                out.chunks += 1;
            }
            out.sessions += 1;
        }
        marker.insert("done", &[1u8])?;
        db.flush_async().await?;
        tracing::info!(?out, "sled upload sessions copied to NATS KV");
        Ok(out)
    }
}

/// A tenant's sled index key (for tests writing an old store).
pub fn sled_video_key(tenant: &TenantId, video: &framelog_events::AggregateId) -> String {
    format!("{tenant}/{video}")
}

/// Writes `s` and its chunks into an old-style sled store (tests of the migration).
pub fn write_sled(
    db: &sled::Db,
    s: &UploadSession,
    chunks: &[(u64, Option<[u8; 32]>)],
) -> Result<(), StoreError> {
    db.open_tree(SESSIONS)?.insert(s.upload_id.as_bytes(), serde_json::to_vec(s)?)?;
    db.open_tree(VIDEOS)?
        .insert(sled_video_key(&s.tenant, &s.video_id).as_bytes(), s.upload_id.as_bytes())?;
    let t = db.open_tree(CHUNKS)?;
    for (n, d) in chunks {
        let mut k = s.upload_id.as_bytes().to_vec();
        k.push(b'/');
        k.extend_from_slice(&n.to_be_bytes());
        t.insert(k, d.map(|d| d.to_vec()).unwrap_or_default())?;
    }
    Ok(())
}
