//! Per-tenant upload quotas, checked when an upload is created (REST and tus alike):
//!
//! - **open uploads**: at most `--ingest-max-open-uploads` incomplete uploads per tenant; one
//!   more answers **429 `too_many_open_uploads`** with `Retry-After` (finish, abort or let one
//!   expire first);
//! - **storage**: the declared size of the new upload plus the tenant's open uploads and stored
//!   sources must stay within `--ingest-storage-quota-bytes`; otherwise **413
//!   `storage_quota_exceeded`** (retrying does not help until something is deleted).
//!
//! The figures come from this ingest's session store (see [`crate::usage`]), which is exact
//! for the sources this replica took in. Live recordings are never refused here: the
//! recording has already happened.

use framelog_core::ApiError;
use framelog_events::SourceKind;
use http::{HeaderValue, StatusCode, header};

use crate::lifecycle::store_err;
use crate::session::UploadSession;
use crate::settings::IngestSettings;
use crate::state::IngestState;
use crate::usage::Usage;

/// Seconds a tenant at its open-upload quota is told to wait.
pub const OPEN_UPLOADS_RETRY_AFTER_SECS: u32 = 60;

/// Why a new upload is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuotaRefusal {
    OpenUploads { limit: usize },
    Storage { used: u64, size: u64, quota: u64 },
}

/// Whether a new upload of `size` bytes fits a tenant's `usage` under `settings`.
pub fn admit(settings: &IngestSettings, usage: Usage, size: u64) -> Result<(), QuotaRefusal> {
    let limit = settings.max_open_uploads;
    if limit > 0 && usage.open >= limit {
        return Err(QuotaRefusal::OpenUploads { limit });
    }
    let quota = settings.storage_quota_bytes;
    if quota > 0 && usage.bytes.saturating_add(size) > quota {
        return Err(QuotaRefusal::Storage { used: usage.bytes, size, quota });
    }
    Ok(())
}

impl From<QuotaRefusal> for ApiError {
    fn from(r: QuotaRefusal) -> Self {
        match r {
            QuotaRefusal::OpenUploads { limit } => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_open_uploads",
                format!("this tenant already has {limit} incomplete uploads; finish or abort one"),
            )
            .with_header(header::RETRY_AFTER, HeaderValue::from(OPEN_UPLOADS_RETRY_AFTER_SECS)),
            QuotaRefusal::Storage { used, size, quota } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "storage_quota_exceeded",
                format!(
                    "{size} more bytes would exceed the storage quota of {quota} bytes \
                     ({used} bytes used)"
                ),
            ),
        }
    }
}

/// Stores a new session, within the tenant's quotas unless it is a live recording.
pub async fn insert(st: &IngestState, s: &UploadSession) -> Result<(), ApiError> {
    if s.source != SourceKind::Upload {
        return st.sessions.insert(s).await.map_err(store_err);
    }
    let settings = &st.settings;
    st.sessions
        .insert_admitted(s, |usage| admit(settings, usage, s.size))
        .await
        .map_err(store_err)?
        .map_err(|r| {
            tracing::info!(tenant = %s.tenant, refusal = ?r, "upload refused by a quota");
            ApiError::from(r)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(open: usize, bytes: u64) -> IngestSettings {
        IngestSettings { max_open_uploads: open, storage_quota_bytes: bytes, ..Default::default() }
    }

    #[test]
    fn the_open_upload_limit_counts_incomplete_uploads_only() {
        let s = settings(2, 0);
        assert_eq!(admit(&s, Usage { open: 1, bytes: u64::MAX }, 10), Ok(()));
        assert_eq!(
            admit(&s, Usage { open: 2, bytes: 0 }, 10),
            Err(QuotaRefusal::OpenUploads { limit: 2 })
        );
        assert_eq!(admit(&settings(0, 0), Usage { open: 10_000, bytes: 0 }, 1), Ok(()));
    }

    #[test]
    fn the_storage_quota_includes_the_declared_size_of_the_new_upload() {
        let s = settings(0, 100);
        assert_eq!(admit(&s, Usage { open: 0, bytes: 60 }, 40), Ok(()), "exactly the quota");
        assert_eq!(
            admit(&s, Usage { open: 0, bytes: 60 }, 41),
            Err(QuotaRefusal::Storage { used: 60, size: 41, quota: 100 })
        );
        assert!(admit(&s, Usage { open: 0, bytes: u64::MAX }, u64::MAX).is_err(), "no overflow");
        let e = ApiError::from(QuotaRefusal::Storage { used: 60, size: 41, quota: 100 });
        assert_eq!((e.status.as_u16(), e.code), (413, "storage_quota_exceeded"));
        let e = ApiError::from(QuotaRefusal::OpenUploads { limit: 2 });
        assert_eq!((e.status.as_u16(), e.code), (429, "too_many_open_uploads"));
        assert!(e.headers.iter().any(|(k, _)| k == header::RETRY_AFTER));
    }
}
