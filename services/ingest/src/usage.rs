//! What each tenant holds, for quotas: one KV record per tenant (`u.<tenant>` in
//! [`crate::session_kv::BUCKET`]), shared by every ingest replica and changed only by
//! compare-and-set on its revision:
//!
//! - `open`: upload id → declared size of every open upload;
//! - `stored_bytes`: declared bytes of completed sources not deleted;
//! - `released`: completed uploads whose deletion already subtracted their bytes while their
//!   index entry is being removed (so a retried deletion subtracts once; normally empty).
//!
//! Admission and the new upload's entry are one CAS ([`SessionStore::insert_admitted`]), so two
//! replicas cannot both take the last slot. A session leaving `Open` moves its size to
//! `stored_bytes` (completed) or drops it, in a CAS keyed on its presence in `open`
//! (idempotent: [`UsageRecord::settle`]).

use std::collections::BTreeMap;

use framelog_events::TenantId;
use serde::{Deserialize, Serialize};

use crate::session::{SessionState, StoreError, UploadSession};
use crate::session_kv::{Cas, SessionStore};

/// A tenant's uploads, as quotas see them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Uploads still open (incomplete).
    pub open: usize,
    /// Declared bytes of open uploads and of completed sources not deleted.
    pub bytes: u64,
}

/// The usage record of one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRecord {
    #[serde(default)]
    pub open: BTreeMap<String, u64>,
    #[serde(default)]
    pub stored_bytes: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub released: BTreeMap<String, u64>,
}

/// The KV key of a tenant's usage record.
pub fn key(tenant: &TenantId) -> String {
    format!("u.{tenant}")
}

impl UsageRecord {
    /// The figure quotas check.
    pub fn usage(&self) -> Usage {
        let open: u64 = self.open.values().fold(0, |a, b| a.saturating_add(*b));
        Usage { open: self.open.len(), bytes: open.saturating_add(self.stored_bytes) }
    }

    /// Applies a session's state; true when the record changed. An open session is entered
    /// in `open`; one that left it moves (completed) or drops its size, once.
    pub fn settle(&mut self, s: &UploadSession) -> bool {
        if s.state == SessionState::Open {
            return self.open.insert(s.upload_id.clone(), s.size) != Some(s.size);
        }
        let Some(size) = self.open.remove(&s.upload_id) else { return false };
        if matches!(s.state, SessionState::Completed { .. }) {
            self.stored_bytes = self.stored_bytes.saturating_add(size);
        }
        true
    }

    /// Subtracts a deleted completed source's bytes unless already done; true when changed.
    pub fn release(&mut self, upload_id: &str, size: u64) -> bool {
        if self.released.contains_key(upload_id) {
            return false;
        }
        self.released.insert(upload_id.to_owned(), size);
        self.stored_bytes = self.stored_bytes.saturating_sub(size);
        true
    }
}

/// Quotas: the usage records.
impl SessionStore {
    /// A tenant's open uploads and stored bytes across every replica.
    pub async fn usage(&self, tenant: &TenantId) -> Result<Usage, StoreError> {
        Ok(self.read::<UsageRecord>(&key(tenant)).await?.unwrap_or_default().usage())
    }

    /// Stores a new session if `admit` accepts its tenant's current usage. The check and the
    /// new upload's entry in the usage record are one CAS, so two concurrent creations (on any
    /// replicas) cannot both take the last slot.
    pub async fn insert_admitted<E>(
        &self,
        s: &UploadSession,
        admit: impl Fn(Usage) -> Result<(), E>,
    ) -> Result<Result<(), E>, StoreError> {
        let refused = self
            .cas(&key(&s.tenant), |cur: Option<UsageRecord>| {
                let mut u = cur.unwrap_or_default();
                if let Err(e) = admit(u.usage()) {
                    return Ok(Cas::Keep(Some(e)));
                }
                u.settle(s);
                Ok(Cas::Write(u, None))
            })
            .await?;
        if let Some(e) = refused {
            return Ok(Err(e));
        }
        self.insert_unchecked(s).await?;
        Ok(Ok(()))
    }

    /// Brings `s`'s entry in its tenant's usage record in line with its state (idempotent).
    pub(crate) async fn settle_usage(&self, s: &UploadSession) -> Result<(), StoreError> {
        self.cas(&key(&s.tenant), |cur: Option<UsageRecord>| {
            let mut u = cur.unwrap_or_default();
            Ok(if u.settle(s) { Cas::Write(u, ()) } else { Cas::Keep(()) })
        })
        .await
    }

    /// Step one of a deletion: the completed source's bytes leave `stored_bytes` (once).
    pub(crate) async fn release_usage(
        &self,
        tenant: &TenantId,
        upload_id: &str,
        size: u64,
    ) -> Result<(), StoreError> {
        self.cas(&key(tenant), |cur: Option<UsageRecord>| {
            let mut u = cur.unwrap_or_default();
            Ok(if u.release(upload_id, size) { Cas::Write(u, ()) } else { Cas::Keep(()) })
        })
        .await
    }

    /// Last step of a deletion (its index entry is gone): forgets the release marker.
    pub(crate) async fn forget_release(
        &self,
        tenant: &TenantId,
        upload_id: &str,
    ) -> Result<(), StoreError> {
        self.cas(&key(tenant), |cur: Option<UsageRecord>| {
            let mut u = cur.unwrap_or_default();
            Ok(if u.released.remove(upload_id).is_some() {
                Cas::Write(u, ())
            } else {
                Cas::Keep(())
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use framelog_events::{AggregateId, SourceKind, UploadProtocol};
    use time::OffsetDateTime;

    fn session(id: &str, state: SessionState, size: u64) -> UploadSession {
        UploadSession {
            upload_id: id.into(),
            video_id: AggregateId::new("vid_1").unwrap(),
            tenant: TenantId::new("acme").unwrap(),
            protocol: UploadProtocol::Rest,
            source: SourceKind::Upload,
            stream_id: None,
            filename: "f".into(),
            content_type: None,
            size,
            expected_sha256: None,
            chunk_size: 5,
            offset: 0,
            tus_metadata: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
            state,
            hash: None,
            store_upload: None,
            fetch: None,
        }
    }

    fn completed() -> SessionState {
        SessionState::Completed {
            sha256: String::new(),
            probe: framelog_events::Probe {
                duration_secs: 1.0,
                width: 2,
                height: 2,
                rotation: 0,
                fps: 25.0,
                video_codec: "h264".into(),
                audio_codec: None,
                format: "mp4".into(),
                bit_rate: None,
            },
            sequence: None,
        }
    }

    #[test]
    fn open_and_completed_uploads_count_and_the_others_do_not() {
        let mut u = UsageRecord::default();
        assert!(u.settle(&session("a", SessionState::Open, 10)));
        assert!(u.settle(&session("b", SessionState::Open, 32)));
        assert!(u.settle(&session("c", SessionState::Open, 7)));
        assert_eq!(u.usage(), Usage { open: 3, bytes: 49 });
        assert!(u.settle(&session("b", completed(), 32)));
        assert!(u.settle(&session("c", SessionState::Aborted, 7)));
        assert_eq!(u.usage(), Usage { open: 1, bytes: 42 });
        let rejected = SessionState::Rejected { code: "x".into(), reason: "y".into() };
        assert!(u.settle(&session("a", rejected, 10)));
        assert!(u.settle(&session("z", SessionState::Open, 1)));
        assert!(u.settle(&session("z", SessionState::Expired, 1)));
        assert_eq!(u.usage(), Usage { open: 0, bytes: 32 });
    }

    #[test]
    fn settling_twice_moves_the_size_once() {
        let mut u = UsageRecord::default();
        u.settle(&session("a", SessionState::Open, 10));
        assert!(u.settle(&session("a", completed(), 10)));
        assert!(!u.settle(&session("a", completed(), 10)), "a retry changes nothing");
        assert!(!u.settle(&session("a", SessionState::Aborted, 10)));
        assert_eq!(u.usage(), Usage { open: 0, bytes: 10 });
    }

    #[test]
    fn a_deleted_source_is_subtracted_once() {
        let mut u = UsageRecord { stored_bytes: 100, ..Default::default() };
        assert!(u.release("a", 40));
        assert!(!u.release("a", 40), "a retried deletion subtracts nothing");
        assert_eq!(u.usage(), Usage { open: 0, bytes: 60 });
        assert!(u.release("b", 1000));
        assert_eq!(u.stored_bytes, 0, "never below zero");
        let json = serde_json::to_string(&UsageRecord::default()).unwrap();
        assert_eq!(json, r#"{"open":{},"stored_bytes":0}"#);
    }
}
