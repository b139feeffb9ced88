//! What each tenant holds in this ingest's session store, for quotas: one index entry per
//! upload that is open (bytes still to come) or completed and not deleted (a source in the
//! media store), keyed `<tenant>/<upload id>`, value `[open flag][declared size, 8 bytes BE]`.
//! The entry changes in the same sled transaction as its session, so it is never stale; a
//! store written before the index existed is indexed once at start.
//!
//! A tenant's figure is a prefix scan of its own entries (no scan of other tenants' uploads).

use framelog_events::TenantId;
use sled::transaction::{TransactionalTree, UnabortableTransactionError};

use crate::session::{SessionState, UploadSession};

/// Name of the index tree.
pub const USAGE: &str = "ingest_usage";

/// A tenant's uploads in this store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Uploads still open (incomplete).
    pub open: usize,
    /// Declared bytes of open uploads and of completed sources not deleted.
    pub bytes: u64,
}

/// The index key of an upload.
pub fn key(tenant: &TenantId, upload_id: &str) -> Vec<u8> {
    format!("{tenant}/{upload_id}").into_bytes()
}

/// The index value of a session, `None` when it holds nothing (rejected, aborted, expired).
pub fn value(s: &UploadSession) -> Option<[u8; 9]> {
    let open = match s.state {
        SessionState::Open => 1,
        SessionState::Completed { .. } => 0,
        SessionState::Rejected { .. } | SessionState::Aborted | SessionState::Expired => {
            return None;
        }
    };
    let mut v = [0u8; 9];
    v[0] = open;
    v[1..].copy_from_slice(&s.size.to_be_bytes());
    Some(v)
}

/// Records `s` in the index inside a transaction.
pub fn record(
    tree: &TransactionalTree,
    s: &UploadSession,
) -> Result<(), UnabortableTransactionError> {
    let k = key(&s.tenant, &s.upload_id);
    match value(s) {
        Some(v) => tree.insert(k, v.to_vec()).map(|_| ()),
        None => tree.remove(k).map(|_| ()),
    }
}

/// Adds one index value to a figure.
fn add(u: &mut Usage, v: &[u8]) {
    if v.len() != 9 {
        return;
    }
    u.open += usize::from(v[0] == 1);
    let mut size = [0u8; 8];
    size.copy_from_slice(&v[1..]);
    u.bytes = u.bytes.saturating_add(u64::from_be_bytes(size));
}

/// A tenant's figure.
pub fn of(tree: &sled::Tree, tenant: &TenantId) -> Result<Usage, sled::Error> {
    let mut u = Usage::default();
    for kv in tree.scan_prefix(format!("{tenant}/").as_bytes()) {
        let (_, v) = kv?;
        add(&mut u, &v);
    }
    Ok(u)
}

#[cfg(test)]
mod tests {
    use super::*;
    use framelog_events::{AggregateId, SourceKind, UploadProtocol};
    use time::OffsetDateTime;

    fn session(state: SessionState, size: u64) -> UploadSession {
        UploadSession {
            upload_id: "up_1".into(),
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
        }
    }

    #[test]
    fn open_and_completed_uploads_count_and_the_others_do_not() {
        let mut u = Usage::default();
        add(&mut u, &value(&session(SessionState::Open, 10)).unwrap());
        let done = SessionState::Completed {
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
        };
        add(&mut u, &value(&session(done, 32)).unwrap());
        assert_eq!(u, Usage { open: 1, bytes: 42 });
        assert_eq!(value(&session(SessionState::Aborted, 10)), None);
        assert_eq!(value(&session(SessionState::Expired, 10)), None);
        let rejected = SessionState::Rejected { code: "x".into(), reason: "y".into() };
        assert_eq!(value(&session(rejected, 10)), None);
        add(&mut u, b"garbage");
        assert_eq!(u, Usage { open: 1, bytes: 42 }, "a malformed entry counts nothing");
    }

    #[test]
    fn a_tenants_prefix_is_not_another_tenants() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let t = db.open_tree(USAGE).unwrap();
        let mut v = [1u8; 9];
        v[1..].copy_from_slice(&5u64.to_be_bytes());
        t.insert(key(&TenantId::new("acme").unwrap(), "up_a"), v.to_vec()).unwrap();
        t.insert(key(&TenantId::new("acme2").unwrap(), "up_b"), v.to_vec()).unwrap();
        assert_eq!(of(&t, &TenantId::new("acme").unwrap()).unwrap(), Usage { open: 1, bytes: 5 });
    }
}
