//! Uploads straight into the media store's multipart upload (S3), so no upload byte waits on
//! the disk of the replica that took it and any ingest replica takes any chunk:
//!
//! - the multipart upload is created with the session, for the source key itself;
//! - a REST chunk `n` is part `n` (its ETag in the chunk record);
//! - a tus PATCH is cut into parts at fixed positions ([`PartCutter`]); bytes past the last whole
//!   part wait in a tail object `uploads/<upload id>/tail-<start>-<len>` that the next PATCH,
//!   on any replica, reads back and prepends;
//! - "S3 acknowledged the part (or the tail object) before the 2xx" replaces the fsync;
//! - completion puts the tail as the last part and calls `CompleteMultipartUpload` with the
//!   recorded ETags (a part rewritten since with other bytes has another ETag, so the store
//!   refuses it rather than assembling the wrong bytes);
//! - the whole-file sha256 comes from the session's running [`Sha256State`]: only bytes it has
//!   not covered (REST chunks that came out of order) are read back, by range.

use axum::body::Body;
use bytes::Bytes;
use framelog_core::ApiError;
use framelog_core::media::{MediaError, MediaStore, MultipartMedia};
use framelog_core::sha256_state::Sha256State;
use futures::StreamExt;
use http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::files::BodyEnd;
use crate::part_cutter::{MAX_PARTS, PartCutter, part_size_for};

/// An upload's multipart upload in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreUpload {
    /// The store's id of the multipart upload.
    pub upload: String,
    /// Where it assembles (the source key).
    pub key: String,
    /// Bytes per part (every part but the last).
    pub part_size: u64,
    /// tus: the ETags of parts `0..`, in order (REST keeps them in its chunk records).
    #[serde(default)]
    pub etags: Vec<String>,
    /// tus: the bytes past the last whole part.
    #[serde(default)]
    pub tail: Option<Tail>,
}

/// A tail object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tail {
    pub key: String,
    pub len: u64,
}

/// The prefix of an upload's tail objects.
pub fn tails_prefix(upload_id: &str) -> String {
    format!("uploads/{upload_id}")
}

fn tail_key(upload_id: &str, start: u64, len: usize) -> String {
    format!("{}/tail-{start}-{len}", tails_prefix(upload_id))
}

/// The answer for a store failure: 503 `store_unavailable` when it is down (the client
/// retries), 507 when it is full, else 500.
pub fn media_err(e: MediaError) -> ApiError {
    if e.is_unavailable() {
        tracing::warn!(error = %e, "media store unavailable");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "the media store is unavailable; nothing of this request was kept, retry it",
        )
        .with_header(http::header::RETRY_AFTER, http::HeaderValue::from_static("5"))
    } else if e.is_out_of_space() {
        ApiError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "insufficient_storage",
            "the media store is full",
        )
    } else {
        ApiError::internal(&e)
    }
}

fn multipart(media: &dyn MediaStore) -> Result<&dyn MultipartMedia, ApiError> {
    media
        .multipart()
        .ok_or_else(|| ApiError::internal(&std::io::Error::other("the store has no multipart")))
}

/// Starts the multipart upload of a new session (part size from the upload's size).
pub async fn begin(
    media: &dyn MediaStore,
    key: &str,
    size: u64,
    chunk_size: u64,
) -> Result<StoreUpload, ApiError> {
    let mp = multipart(media)?;
    let part_size = part_size_for(size, chunk_size, mp.min_part_size(), MAX_PARTS);
    let upload = mp.create_multipart(key).await.map_err(media_err)?;
    Ok(StoreUpload { upload, key: key.to_owned(), part_size, etags: Vec::new(), tail: None })
}

/// What a tus body left in the store, to commit with the new offset.
#[derive(Debug)]
pub struct Streamed {
    pub store: StoreUpload,
    /// The running sha256 over every byte up to the new offset (`None` if the session had
    /// none covering its old offset).
    pub hash: Option<Sha256State>,
    pub written: u64,
    pub end: BodyEnd,
    /// The tail the new state replaces (remove it once the new state is committed).
    pub old_tail: Option<String>,
}

/// Where a tus body goes: the upload, its store upload, its offset and running hash, and how
/// many bytes it may still take.
#[derive(Debug)]
pub struct TusTarget<'a> {
    pub upload_id: &'a str,
    pub su: &'a StoreUpload,
    pub offset: u64,
    pub hash: Option<Sha256State>,
    pub room: u64,
}

/// Streams a tus body (at most `room` bytes) from the session's `offset` into whole parts and
/// a new tail, showing each frame to `observe` (checksums).
pub async fn stream_tus(
    media: &dyn MediaStore,
    target: TusTarget<'_>,
    body: Body,
    mut observe: impl FnMut(&[u8]),
) -> Result<Streamed, ApiError> {
    let TusTarget { upload_id, su, offset, hash, room } = target;
    let mp = multipart(media)?;
    let tail = match &su.tail {
        Some(t) => {
            let b = media.get_bytes(&t.key).await.map_err(media_err)?;
            if b.len() as u64 != t.len {
                return Err(ApiError::internal(&std::io::Error::other(format!(
                    "tail {} holds {} bytes, not {}",
                    t.key,
                    b.len(),
                    t.len
                ))));
            }
            b
        }
        None => Bytes::new(),
    };
    let mut hash = hash.filter(|h| h.len() == offset);
    let mut store = su.clone();
    let mut cutter = PartCutter::new(su.part_size, su.etags.len(), tail);
    let mut stream = body.into_data_stream();
    let (mut written, mut end) = (0u64, BodyEnd::Complete);
    loop {
        match stream.next().await {
            Some(Ok(frame)) => {
                if written + frame.len() as u64 > room {
                    end = BodyEnd::TooLong;
                    break;
                }
                observe(&frame);
                if let Some(h) = hash.as_mut() {
                    h.update(&frame);
                }
                written += frame.len() as u64;
                for (k, part) in cutter.push(&frame) {
                    let etag =
                        mp.put_part(&su.key, &su.upload, k, part).await.map_err(media_err)?;
                    store.etags.truncate(k);
                    store.etags.push(etag);
                }
            }
            Some(Err(_)) => {
                end = BodyEnd::Cut;
                break;
            }
            None => break,
        }
    }
    let (next, rest) = cutter.finish();
    debug_assert_eq!(next, store.etags.len());
    let old_tail = su.tail.as_ref().map(|t| t.key.clone());
    store.tail = if rest.is_empty() {
        None
    } else {
        let start = next as u64 * su.part_size;
        let key = tail_key(upload_id, start, rest.len());
        let len = rest.len() as u64;
        media.put_bytes(&key, rest).await.map_err(media_err)?;
        Some(Tail { key, len })
    };
    let old_tail = old_tail.filter(|k| store.tail.as_ref().is_none_or(|t| &t.key != k));
    Ok(Streamed { store, hash, written, end, old_tail })
}

/// Stores REST chunk `n` as part `n`; returns its ETag.
pub async fn put_chunk(
    media: &dyn MediaStore,
    su: &StoreUpload,
    n: u64,
    bytes: Bytes,
) -> Result<String, ApiError> {
    let mp = multipart(media)?;
    let k = usize::try_from(n).map_err(|_| ApiError::bad_request("chunk_out_of_range", "chunk"))?;
    mp.put_part(&su.key, &su.upload, k, bytes).await.map_err(media_err)
}

/// Assembles the upload into its key: the tus tail becomes the last part, then
/// `CompleteMultipartUpload` with `etags` (tus: the session's; REST: the chunk records').
/// After a crash between assembling and recording it, the object is already there: that
/// counts as assembled.
pub async fn assemble(
    media: &dyn MediaStore,
    upload_id: &str,
    su: &StoreUpload,
    mut etags: Vec<String>,
) -> Result<(), ApiError> {
    let mp = multipart(media)?;
    if let Some(t) = &su.tail {
        match media.get_bytes(&t.key).await {
            Ok(b) => {
                let etag =
                    mp.put_part(&su.key, &su.upload, etags.len(), b).await.map_err(media_err)?;
                etags.push(etag);
            }
            Err(MediaError::NotFound(_)) if media.exists(&su.key).await.unwrap_or(false) => {
                return Ok(());
            }
            Err(e) => return Err(media_err(e)),
        }
    }
    match mp.complete_multipart(&su.key, &su.upload, etags).await {
        Ok(()) => {}
        Err(e) if !e.is_unavailable() && media.exists(&su.key).await.unwrap_or(false) => {
            tracing::info!(upload_id, error = %e, "multipart upload already assembled");
        }
        Err(e) => return Err(media_err(e)),
    }
    if let Err(e) = media.delete_prefix(&tails_prefix(upload_id)).await {
        tracing::warn!(upload_id, error = %e, "could not remove tail objects");
    }
    Ok(())
}

/// The sha256 of the assembled object of `size` bytes, continuing `hash` (which covers its
/// first `hash.len()` bytes) over the rest, read by range.
pub async fn finish_hash(
    media: &dyn MediaStore,
    key: &str,
    size: u64,
    hash: Option<Sha256State>,
) -> Result<(String, u64), ApiError> {
    const STEP: u64 = 8 * 1024 * 1024;
    let mut h = hash.filter(|h| h.len() <= size).unwrap_or_default();
    if h.len() < size {
        tracing::info!(key, from = h.len(), size, "hashing the rest of the upload by range");
    }
    while h.len() < size {
        let from = h.len();
        let b = media.get_range(key, from..(from + STEP).min(size)).await.map_err(media_err)?;
        if b.is_empty() {
            break;
        }
        h.update(&b);
    }
    let len = h.len();
    Ok((h.finalize_hex(), len))
}

/// Abandons an upload's multipart upload and tails (abort, reject, expire).
pub async fn discard(media: &dyn MediaStore, upload_id: &str, su: &StoreUpload) {
    if let Some(mp) = media.multipart()
        && let Err(e) = mp.abort_multipart(&su.key, &su.upload).await
    {
        tracing::warn!(upload_id, error = %e, "could not abort the multipart upload");
    }
    if let Err(e) = media.delete_prefix(&tails_prefix(upload_id)).await {
        tracing::warn!(upload_id, error = %e, "could not remove tail objects");
    }
}
