//! The live service's state and the events it publishes.

use std::sync::Arc;

use axum::extract::FromRef;
use framelog_core::tenants::TenantStore;
use framelog_core::{ApiError, Platform};
use framelog_events::{Event, Kind, LiveData};
use framelog_ingest::IngestState;
use time::OffsetDateTime;

use crate::denials::DenialLimiter;
use crate::hook_secret::HookSecret;
use crate::settings::LiveSettings;
use crate::store::{StoreError, StreamRecord, StreamStore};

/// Event source of everything live publishes.
pub const SOURCE: &str = "framelog/live";

/// Live state: one `Arc`, so the per-request clones axum makes for every extractor cost one
/// atomic increment (the fields hold NATS clients, KV stores with their stream info, and
/// ingest's state, which are far from free to clone field by field).
#[derive(Clone, Debug)]
pub struct LiveState(Arc<LiveInner>);

impl std::ops::Deref for LiveState {
    type Target = LiveInner;
    fn deref(&self) -> &LiveInner {
        &self.0
    }
}

impl LiveState {
    pub fn new(inner: LiveInner) -> LiveState {
        LiveState(Arc::new(inner))
    }
}

/// What the live service holds.
#[derive(Debug)]
pub struct LiveInner {
    pub platform: Platform,
    pub settings: Arc<LiveSettings>,
    pub streams: StreamStore,
    /// Recordings enter the same path as uploads.
    pub ingest: IngestState,
    pub http: reqwest::Client,
    /// What every webhook call must carry.
    pub hook_secret: HookSecret,
    /// The media servers' recordings directories: the only place a recording may come from.
    pub recordings_dirs: Vec<std::path::PathBuf>,
    /// Rate limit of the `publish_denied` / `recording_refused` audit.
    pub denials: std::sync::Mutex<DenialLimiter>,
    /// Whether the MediaMTX API poll reads the path list (MediaMTX sessions are reaped only
    /// then).
    pub mediamtx_poll: crate::mediamtx_poll::PollHealth,
}

impl FromRef<LiveState> for TenantStore {
    fn from_ref(s: &LiveState) -> TenantStore {
        s.platform.tenants.clone()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::Conflict => {
                ApiError::conflict("concurrent_change", "the stream changed concurrently; retry")
            }
            e => ApiError::internal(&e),
        }
    }
}

impl LiveState {
    /// Publishes a `VID_LIVE` event about `r`. `discriminator` makes the id deterministic (a
    /// retry is dropped by the server); `None` gives a fresh id.
    pub async fn publish(
        &self,
        r: &StreamRecord,
        data: LiveData,
        discriminator: Option<&str>,
    ) -> Result<Option<u64>, ApiError> {
        let id = match discriminator {
            Some(d) => Event::deterministic_id(
                &r.tenant,
                &r.stream_id,
                Kind::Live,
                {
                    use framelog_events::Phased;
                    data.phase()
                },
                d,
            ),
            None => uuid::Uuid::now_v7(),
        };
        let ev = Event::new(
            id,
            OffsetDateTime::now_utc(),
            SOURCE,
            r.tenant.clone(),
            r.stream_id.clone(),
            data,
        );
        let p = self.platform.events.publish(&ev).await.map_err(|e| ApiError::internal(&e))?;
        Ok(p.sequence())
    }
}
