//! The per-tenant limit of live (not deleted) streams (`--live-max-streams-per-tenant`).
//!
//! Each tenant has an index of its live stream ids in the stream bucket (`n.<tenant>`, a JSON
//! array), updated with compare-and-set so two concurrent creations cannot both take the last
//! slot. A stream is written first and indexed second (a creation refused here removes the
//! record before anything is announced), so every indexed id names a real record; an id whose
//! record was deleted without its release (a crash in between) is dropped when the tenant is
//! at the limit, so the index heals itself.

use async_nats::jetstream::kv;
use axum::http::{HeaderValue, StatusCode};
use framelog_core::ApiError;
use framelog_events::TenantId;

use crate::state::LiveState;
use crate::store::StoreError;

/// Seconds a refused creation is told to wait (`Retry-After`): a slot frees up only when the
/// tenant deletes a stream, so this is a polite pause, not a promise.
pub const RETRY_AFTER_SECS: u32 = 60;

fn index_key(tenant: &TenantId) -> String {
    format!("n.{tenant}")
}

fn kv_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Kv(e.to_string())
}

/// The answer to a creation past the limit.
pub fn exceeded(max: usize) -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "stream_quota_exceeded",
        format!("a tenant may have at most {max} live streams; delete one first"),
    )
    .with_header(http::header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS))
}

async fn read(st: &LiveState, tenant: &TenantId) -> Result<(Vec<String>, Option<u64>), StoreError> {
    match st.streams.kv.entry(index_key(tenant)).await.map_err(kv_err)? {
        Some(e) if e.operation == kv::Operation::Put => {
            Ok((serde_json::from_slice(&e.value)?, Some(e.revision)))
        }
        Some(e) => Ok((Vec::new(), Some(e.revision))),
        None => Ok((Vec::new(), None)),
    }
}

async fn write(
    st: &LiveState,
    tenant: &TenantId,
    ids: &[String],
    rev: Option<u64>,
) -> Result<bool, StoreError> {
    let body = serde_json::to_vec(ids)?;
    let key = index_key(tenant);
    let res = match rev {
        None => st.streams.kv.create(&key, body.into()).await.map(|_| ()).map_err(|e| {
            (e.kind() == kv::CreateErrorKind::AlreadyExists).then_some(()).ok_or_else(|| kv_err(e))
        }),
        Some(rev) => st.streams.kv.update(&key, body.into(), rev).await.map(|_| ()).map_err(|e| {
            (e.kind() == kv::UpdateErrorKind::WrongLastRevision)
                .then_some(())
                .ok_or_else(|| kv_err(e))
        }),
    };
    match res {
        Ok(()) => Ok(true),
        Err(Ok(())) => Ok(false), // a concurrent change: read again
        Err(Err(e)) => Err(e),
    }
}

/// Takes a slot for `stream` (already written), or answers 429 when the tenant is at the
/// limit. A limit of 0 means none.
pub async fn reserve(st: &LiveState, tenant: &TenantId, stream: &str) -> Result<(), ApiError> {
    let max = st.settings.max_streams_per_tenant;
    if max == 0 {
        return Ok(());
    }
    for _ in 0..16 {
        let (mut ids, rev) = read(st, tenant).await?;
        if ids.len() >= max {
            let mut live = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some((r, _)) = st.streams.get(&id).await?
                    && !r.deleted
                    && &r.tenant == tenant
                {
                    live.push(id);
                }
            }
            ids = live;
            if ids.len() >= max {
                return Err(exceeded(max));
            }
        }
        ids.push(stream.to_owned());
        if write(st, tenant, &ids, rev).await? {
            return Ok(());
        }
    }
    Err(StoreError::Conflict.into())
}

/// Frees the slot of a deleted stream.
pub async fn release(st: &LiveState, tenant: &TenantId, stream: &str) -> Result<(), ApiError> {
    for _ in 0..16 {
        let (mut ids, rev) = read(st, tenant).await?;
        let before = ids.len();
        ids.retain(|i| i != stream);
        if ids.len() == before || write(st, tenant, &ids, rev).await? {
            return Ok(());
        }
    }
    Err(StoreError::Conflict.into())
}
