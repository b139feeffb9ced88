//! The ingest service's state, shared by its handlers and tasks.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::extract::FromRef;
use framelog_core::Platform;
use framelog_core::media::SharedMediaStore;
use framelog_core::tenants::TenantStore;

use crate::session::SessionStore;
use crate::settings::IngestSettings;

/// Ingest state: one `Arc`, so axum's per-extractor clones cost one atomic increment.
#[derive(Clone, Debug)]
pub struct IngestState(Arc<IngestInner>);

impl std::ops::Deref for IngestState {
    type Target = IngestInner;
    fn deref(&self) -> &IngestInner {
        &self.0
    }
}

/// What ingest holds.
#[derive(Debug)]
pub struct IngestInner {
    pub platform: Platform,
    pub media: SharedMediaStore,
    pub settings: Arc<IngestSettings>,
    pub sessions: SessionStore,
    /// Where part files live (same filesystem as the media root by default).
    pub uploads_dir: PathBuf,
    locks: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    busy_chunks: Arc<Mutex<std::collections::HashSet<(String, u64)>>>,
}

impl FromRef<IngestState> for TenantStore {
    fn from_ref(s: &IngestState) -> TenantStore {
        s.platform.tenants.clone()
    }
}

impl IngestState {
    pub async fn new(
        platform: Platform,
        media: SharedMediaStore,
        settings: IngestSettings,
    ) -> Result<IngestState, crate::session::StoreError> {
        let uploads_dir = platform.settings.data_dir.join("uploads");
        std::fs::create_dir_all(&uploads_dir).map_err(sled::Error::Io)?;
        let sessions =
            SessionStore::open(&platform.nats, &platform.js, platform.settings.replicas).await?;
        sessions.migrate_from_sled(&platform.db).await?;
        // Registered now, so the counters are on the scrape before the first upload.
        crate::metrics::IngestMetrics::of(&platform.metrics);
        Ok(IngestState(Arc::new(IngestInner {
            sessions,
            platform,
            media,
            settings: Arc::new(settings),
            uploads_dir,
            locks: Arc::default(),
            busy_chunks: Arc::default(),
        })))
    }

    /// The per-upload lock serialising completion, tus PATCHes and aborts.
    pub fn upload_lock(&self, upload_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut m = self.locks.lock().expect("lock map poisoned");
        if m.len() > 10_000 {
            m.retain(|_, l| Arc::strong_count(l) > 1);
        }
        m.entry(upload_id.to_owned()).or_default().clone()
    }

    /// Marks a chunk as being written; `None` if another request is writing it now.
    pub fn claim_chunk(&self, upload_id: &str, n: u64) -> Option<ChunkClaim> {
        let key = (upload_id.to_owned(), n);
        let mut set = self.busy_chunks.lock().expect("chunk set poisoned");
        set.insert(key.clone()).then(|| ChunkClaim { set: self.busy_chunks.clone(), key })
    }
}

/// Releases a claimed chunk on drop.
pub struct ChunkClaim {
    set: Arc<Mutex<std::collections::HashSet<(String, u64)>>>,
    key: (String, u64),
}

impl Drop for ChunkClaim {
    fn drop(&mut self) {
        if let Ok(mut s) = self.set.lock() {
            s.remove(&self.key);
        }
    }
}
