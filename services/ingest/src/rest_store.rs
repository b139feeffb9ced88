//! REST chunks of an upload that goes straight into the store ([`crate::store_upload`]): a
//! chunk is one part, so its body is read whole (at most one chunk), checked (length, digest),
//! stored as part `n`, and recorded with its sha256 and ETag. A 2xx means the store
//! acknowledged the part and the record is in NATS KV, so any replica can take the next chunk,
//! answer the status, or complete.

use axum::body::Body;
use axum::response::Response;
use framelog_core::ApiError;
use framelog_core::sha256_state::Sha256State;
use futures::StreamExt;
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
    let mut buf = bytes::BytesMut::with_capacity(want_len as usize);
    let mut stream = body.into_data_stream();
    while let Some(frame) = stream.next().await {
        let frame = frame.map_err(|_| {
            ApiError::bad_request("body_incomplete", "the request body ended early")
        })?;
        if (buf.len() + frame.len()) as u64 > want_len {
            return Err(wrong_len("more".into()));
        }
        buf.extend_from_slice(&frame);
    }
    let bytes = buf.freeze();
    crate::metrics::IngestMetrics::of(&st.platform.metrics)
        .received(s.protocol, bytes.len() as u64);
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
    let at = n * s.chunk_size;
    if let Some(mut h) = running_hash(s, at) {
        h.update(&bytes);
        advance_hash(st, &s.upload_id, at, h).await;
    }
    chunk_answer(st, s, n, false).await
}

/// The running sha256 extended by a chunk at `at`, when the session's (as read at the start
/// of the request) ends exactly there: the first chunk, or the next one of an in-order client.
pub(crate) fn running_hash(s: &UploadSession, at: u64) -> Option<Sha256State> {
    match &s.hash {
        Some(h) if h.len() == at => Some(h.clone()),
        None if at == 0 => Some(Sha256State::new()),
        _ => None,
    }
}

/// Stores `next` (the running sha256 through the end of the chunk at `at`) if the session's
/// still ends at `at`. Best effort: a chunk that loses the race is hashed at completion.
pub(crate) async fn advance_hash(st: &IngestState, upload_id: &str, at: u64, next: Sha256State) {
    let res = st
        .sessions
        .update(upload_id, |x| {
            if x.hash.as_ref().map_or(0, |h| h.len()) != at {
                return Err(StoreError::Changed);
            }
            x.hash = Some(next.clone());
            Ok(())
        })
        .await;
    if let Err(e) = res
        && !matches!(e, StoreError::Changed)
    {
        tracing::warn!(upload_id, error = %e, "could not advance the upload hash");
    }
}
