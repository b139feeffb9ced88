//! The source half of completing an upload, wherever its bytes are: the whole-file sha256,
//! the probe, and the source in the media store.
//!
//! - **Part file** (filesystem and Object Store): the running sha256 of the session covers
//!   what arrived in order, so only the rest of the file is read; ffprobe reads the part file;
//!   the file then moves into the store.
//! - **Store multipart** (S3): the parts are assembled into the source key first
//!   (`CompleteMultipartUpload`); bytes the running sha256 does not cover are read back by
//!   range; ffprobe reads the object through a presigned URL (by range, no local copy) when
//!   the store makes one, else a local copy. A rejected source is deleted before the 422.

use std::path::PathBuf;

use framelog_core::ApiError;
use framelog_core::media_limits;
use framelog_core::probe::{self, Inspection, ProbeError};
use framelog_events::Probe;

use crate::files::{self, part_path};
use crate::session::UploadSession;
use crate::state::IngestState;
use crate::store_upload::{self, media_err};

/// What the bytes of a finished upload turned out to be.
#[derive(Debug)]
pub enum Verdict {
    Accepted { sha256: String, probe: Probe },
    Refused { code: String, reason: String },
}

/// Where the bytes were verified: what [`store`] still has to move.
#[derive(Debug)]
pub enum Bytes {
    /// A local file to move into the store under the source key.
    Local(PathBuf),
    /// Already the source object.
    InStore,
}

fn refused(code: &str, reason: impl Into<String>) -> Verdict {
    Verdict::Refused { code: code.to_owned(), reason: reason.into() }
}

/// The sha256, the length check, the announced digest and the probe.
pub async fn verify(
    st: &IngestState,
    s: &UploadSession,
    key: &str,
) -> Result<(Verdict, Bytes), ApiError> {
    let (sha256, len, bytes) = match &s.store_upload {
        Some(su) => {
            let etags = match s.protocol {
                // tus and URL fetches cut their stream into parts kept in the session.
                framelog_events::UploadProtocol::Tus | framelog_events::UploadProtocol::Url => {
                    su.etags.clone()
                }
                _ => rest_etags(st, s).await?,
            };
            store_upload::assemble(st.media.as_ref(), &s.upload_id, su, etags).await?;
            let (sha, len) =
                store_upload::finish_hash(st.media.as_ref(), key, s.size, s.hash.clone()).await?;
            (sha, len, Bytes::InStore)
        }
        None => {
            let (path, in_store) = local_bytes(st, s, key).await?;
            let hash = if in_store { None } else { s.hash.clone() };
            let (sha, len) = files::hash_file_from(path.clone(), hash)
                .await
                .map_err(|e| ApiError::internal(&e))?;
            let bytes = if in_store { Bytes::InStore } else { Bytes::Local(path) };
            (sha, len, bytes)
        }
    };
    if len != s.size {
        return Err(ApiError::conflict(
            "incomplete_upload",
            format!("{len} of {} bytes are stored", s.size),
        ));
    }
    if let Some(want) = &s.expected_sha256
        && want != &sha256
    {
        let reason = format!("sha256 of the uploaded bytes is {sha256}, not the announced {want}");
        return Ok((refused("checksum_mismatch", reason), bytes));
    }
    let inspected = inspect(st, s, key, &bytes).await?;
    let verdict = match inspected {
        Ok(i) => match media_limits::check(&st.settings.limits.media_limits(), &i.probe, i.streams)
        {
            Ok(()) => Verdict::Accepted { sha256, probe: i.probe },
            Err(v) => refused(v.code(), v.to_string()),
        },
        Err(e @ ProbeError::Tool(_)) => return Err(ApiError::unavailable(e.to_string())),
        Err(e) => refused(e.code(), e.to_string()),
    };
    Ok((verdict, bytes))
}

/// The ETags of a REST upload's parts, in order (every chunk must have arrived).
async fn rest_etags(st: &IngestState, s: &UploadSession) -> Result<Vec<String>, ApiError> {
    let records =
        st.sessions.chunk_records(&s.upload_id).await.map_err(crate::lifecycle::store_err)?;
    let total = s.total_chunks();
    let etags: Vec<String> = records.into_iter().filter_map(|(_, r)| r.etag).collect();
    if etags.len() as u64 != total {
        return Err(ApiError::conflict(
            "incomplete_upload",
            format!("{} of {total} chunks have arrived", etags.len()),
        ));
    }
    Ok(etags)
}

/// The local file holding a part-file upload, and whether it is already the stored source
/// (after a crash between the move and the state change).
async fn local_bytes(
    st: &IngestState,
    s: &UploadSession,
    key: &str,
) -> Result<(PathBuf, bool), ApiError> {
    let part = part_path(&st.uploads_dir, &s.upload_id);
    let in_store = !tokio::fs::try_exists(&part).await.unwrap_or(false)
        && st.media.exists(key).await.unwrap_or(false);
    if !in_store {
        if s.size == 0 {
            files::PartFile::open(part.clone()).await.map_err(|e| ApiError::internal(&e))?;
        }
        return Ok((part, false));
    }
    match st.media.local_path(key) {
        Some(p) => Ok((p, true)),
        // A store without local paths: work on a local copy.
        None => {
            st.media.fetch_to(key, &part).await.map_err(media_err)?;
            Ok((part, true))
        }
    }
}

async fn inspect(
    st: &IngestState,
    s: &UploadSession,
    key: &str,
    bytes: &Bytes,
) -> Result<Result<Inspection, ProbeError>, ApiError> {
    let timeout = st.settings.probe_timeout();
    match bytes {
        Bytes::Local(path) => Ok(probe::inspect(path, timeout).await),
        Bytes::InStore => {
            if let Some(p) = st.media.local_path(key) {
                return Ok(probe::inspect(&p, timeout).await);
            }
            let ttl = timeout + std::time::Duration::from_secs(60);
            if let Some(url) = st.media.presigned_get(key, ttl).await.map_err(media_err)? {
                return Ok(probe::inspect_url(&url, timeout).await);
            }
            let copy = part_path(&st.uploads_dir, &s.upload_id);
            st.media.fetch_to(key, &copy).await.map_err(media_err)?;
            let res = probe::inspect(&copy, timeout).await;
            files::remove_quietly(&copy).await;
            Ok(res)
        }
    }
}

/// Puts a verified source in the store (a part file moves in; a store upload already is).
pub async fn store(st: &IngestState, key: &str, bytes: &Bytes) -> Result<(), ApiError> {
    let Bytes::Local(path) = bytes else { return Ok(()) };
    if st.media.local_path(key).as_ref() == Some(path) {
        return Ok(());
    }
    st.media.put_file(key, path).await.map(|_| ()).map_err(|e| {
        if e.is_out_of_space() {
            ApiError::new(
                http::StatusCode::INSUFFICIENT_STORAGE,
                "insufficient_storage",
                "the media store is full; the upload is kept, complete it again later",
            )
        } else {
            tracing::error!(error = %e, "media store not writable");
            ApiError::new(
                http::StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                format!(
                    "the media store cannot take the file ({e}); the upload is kept, complete it again later"
                ),
            )
        }
    })
}

/// Removes the bytes of an upload that ended without a source: its part file, or its store
/// upload (and the assembled object, if completion got that far).
pub async fn discard(st: &IngestState, s: &UploadSession, key: &str) {
    files::remove_quietly(&part_path(&st.uploads_dir, &s.upload_id)).await;
    if let Some(su) = &s.store_upload {
        store_upload::discard(st.media.as_ref(), &s.upload_id, su).await;
        if let Err(e) = st.media.delete_prefix(key).await {
            tracing::warn!(upload_id = %s.upload_id, error = %e, "could not remove a refused source");
        }
    }
}
