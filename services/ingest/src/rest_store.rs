//! REST chunks of an upload that goes straight into the store ([`crate::store_upload`]): a
//! chunk is one part, so its body is read whole (at most one chunk), checked (length, digest),
//! stored as part `n`, and recorded with its sha256 and ETag. A 2xx means the store
//! acknowledged the part and the record is in NATS KV, so any replica can take the next chunk,
//! answer the status, or complete.

use axum::body::Body;
use axum::response::Response;
use framelog_core::ApiError;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::lifecycle::{self, load, store_err};
use crate::rest::{chunk_answer, digest_mismatch};
use crate::session::{ChunkRecord, StoreError, UploadSession};
use crate::state::IngestState;
use crate::store_upload::{self, StoreUpload};

/// `PUT .../chunk/{n}` into the store.
pub async fn put_chunk(
    st: &IngestState,
    s: &UploadSession,
    su: &StoreUpload,
    n: u64,
    digest: Option<[u8; 32]>,
    body: Body,
) -> Result<Response, ApiError> {
    let want_len = s.chunk_len(n);
    let wrong_len = |got: String| {
        ApiError::bad_request(
            "chunk_length_mismatch",
            format!("chunk {n} must be exactly {want_len} bytes, got {got}"),
        )
    };
    let bytes = axum::body::to_bytes(body, want_len as usize + 1).await.map_err(|e| {
        if std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
        {
            wrong_len("more".into())
        } else {
            ApiError::bad_request("body_incomplete", "the request body ended early")
        }
    })?;
    if bytes.len() as u64 != want_len {
        return Err(wrong_len(bytes.len().to_string()));
    }
    let actual: [u8; 32] = Sha256::digest(&bytes).into();
    if digest.is_some_and(|d| d != actual) {
        return Err(digest_mismatch(n));
    }
    // A chunk that already arrived is never replaced: the same bytes are a duplicate, others
    // a conflict.
    if let Some(prev) = st.sessions.chunk(&s.upload_id, n).await.map_err(store_err)? {
        if prev.digest == Some(actual) {
            return chunk_answer(st, s, n, true).await;
        }
        return Err(ApiError::conflict(
            "chunk_conflict",
            format!("chunk {n} was already received with different bytes"),
        ));
    }
    let etag = store_upload::put_chunk(st.media.as_ref(), su, n, bytes.clone()).await?;
    let record = ChunkRecord { digest: Some(actual), etag: Some(etag) };
    match st.sessions.record_chunk(&s.upload_id, n, record, OffsetDateTime::now_utc()).await {
        Ok(()) => {}
        Err(StoreError::Changed) => {
            let now = load(st, &s.tenant, &s.upload_id).await?;
            return Err(lifecycle::not_open(&now));
        }
        Err(e) => return Err(store_err(e)),
    }
    advance_hash(st, s, n, &bytes).await;
    chunk_answer(st, s, n, false).await
}

/// Extends the session's running sha256 with chunk `n` when it is the next one in order (a
/// client sending in order, even several in flight, mostly is); the rest is hashed at
/// completion. Best effort: a lost race only means more hashing at completion.
async fn advance_hash(st: &IngestState, s: &UploadSession, n: u64, bytes: &[u8]) {
    let at = n * s.chunk_size;
    let res = st
        .sessions
        .update(&s.upload_id, |x| {
            let h = x.hash.get_or_insert_with(Default::default);
            if h.len() != at {
                return Err(StoreError::Changed);
            }
            h.update(bytes);
            Ok(())
        })
        .await;
    if let Err(e) = res
        && !matches!(e, StoreError::Changed)
    {
        tracing::warn!(upload_id = %s.upload_id, error = %e, "could not advance the upload hash");
    }
}
