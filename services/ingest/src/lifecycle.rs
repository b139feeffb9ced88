//! The life of an upload, shared by the REST and tus front ends: open, complete (verify,
//! probe, move into the media store, publish), reject, abort, expire.

use framelog_core::ApiError;
use framelog_core::eventlog::{EventLogError, Published};
use framelog_core::media::source_key;
use framelog_core::media_limits;
use framelog_events::{
    AggregateId, Event, EventData, Kind, Probe, SourceKind, TenantId, UploadData, UploadProtocol,
};
use serde::Serialize;
use time::OffsetDateTime;

use crate::complete_source::{self, Verdict};
use crate::files::{self, part_path};
use crate::session::{SessionState, StoreError, UploadSession};
use crate::state::IngestState;

/// Event source of everything ingest publishes.
pub const SOURCE: &str = "framelog/ingest";

/// What a new upload is.
#[derive(Debug, Clone)]
pub struct NewUpload {
    pub tenant: TenantId,
    pub protocol: UploadProtocol,
    pub source: SourceKind,
    pub stream_id: Option<AggregateId>,
    pub filename: String,
    pub content_type: Option<String>,
    pub size: u64,
    pub expected_sha256: Option<String>,
    pub tus_metadata: Option<String>,
    /// Ids and catalog fields fixed before the upload opens (a direct upload's).
    pub preset: Option<Preset>,
}

/// What a direct upload decided before its upload opened.
#[derive(Debug, Clone, Default)]
pub struct Preset {
    pub upload_id: String,
    pub video_id: Option<AggregateId>,
    pub title: Option<String>,
    pub external_id: Option<String>,
    pub metadata: std::collections::BTreeMap<String, String>,
}

/// The answer to a completed upload.
#[derive(Debug, Clone, Serialize)]
pub struct Completion {
    pub upload_id: String,
    pub video_id: String,
    pub status: &'static str,
    pub size: u64,
    pub sha256: String,
    pub probe: Probe,
    /// `VID` stream sequence of the `VID_TRANSCODE requested` event (read-your-writes), absent
    /// when the event waits in the outbox.
    pub sequence: Option<u64>,
}

/// A store failure: no room answers 507, NATS down or slow 503, anything else 500.
pub(crate) fn store_err(e: StoreError) -> ApiError {
    match &e {
        _ if e.is_full() => {
            tracing::warn!(error = %e, "JetStream has no room for upload state; answering 507");
            ApiError::storage_full()
        }
        StoreError::Kv { .. } => {
            tracing::warn!(error = %e, "upload state store unavailable");
            ApiError::unavailable("the upload state store is unavailable; retry later")
        }
        _ => ApiError::internal(&e),
    }
}

/// A full JetStream store answers 507 (see `ApiError::from(EventLogError)`), not 500.
pub(crate) fn publish_err(e: EventLogError) -> ApiError {
    ApiError::from(e)
}

fn event(s: &UploadSession, data: impl Into<EventData>, phase: &str, kind: Kind) -> Event {
    let id = Event::deterministic_id(&s.tenant, &s.video_id, kind, phase, &s.upload_id);
    Event::new(id, OffsetDateTime::now_utc(), SOURCE, s.tenant.clone(), s.video_id.clone(), data)
}

/// Opens an upload session and publishes `VID_UPLOAD initiated`.
pub async fn open(
    st: &IngestState,
    new: NewUpload,
) -> Result<(UploadSession, Published), ApiError> {
    if new.size > st.settings.max_upload_size {
        return Err(ApiError::new(
            http::StatusCode::PAYLOAD_TOO_LARGE,
            "upload_too_large",
            format!(
                "{} bytes is over the limit of {} bytes",
                new.size, st.settings.max_upload_size
            ),
        ));
    }
    let now = OffsetDateTime::now_utc();
    let preset = new.preset.unwrap_or_default();
    let video_id = preset.video_id.clone().unwrap_or_else(|| framelog_core::new_id("vid"));
    // Uploads go straight into the store's multipart upload when it has them (S3); live
    // recordings are local files and take the part-file path.
    let store_upload = match (st.media.multipart(), new.source) {
        (Some(_), SourceKind::Upload) => Some(
            crate::store_upload::begin(
                st.media.as_ref(),
                &source_key(new.tenant.as_str(), video_id.as_str()),
                new.size,
                st.settings.chunk_size,
            )
            .await?,
        ),
        _ => None,
    };
    let chunk_size = store_upload.as_ref().map_or(st.settings.chunk_size, |su| su.part_size);
    let s = UploadSession {
        upload_id: if preset.upload_id.is_empty() {
            framelog_core::new_id("up").to_string()
        } else {
            preset.upload_id.clone()
        },
        video_id,
        tenant: new.tenant,
        protocol: new.protocol,
        source: new.source,
        stream_id: new.stream_id,
        filename: files::sanitize_filename(&new.filename),
        content_type: new.content_type,
        size: new.size,
        expected_sha256: new.expected_sha256,
        chunk_size,
        offset: 0,
        tus_metadata: new.tus_metadata,
        created_at: now,
        updated_at: now,
        state: SessionState::Open,
        hash: None,
        store_upload,
        fetch: None,
    };
    // Quotas (open uploads, storage per tenant): see `quota.rs`.
    crate::quota::insert(st, &s).await?;
    st.sessions.flush().await.map_err(store_err)?;
    let data = UploadData::Initiated {
        upload_id: s.upload_id.clone(),
        filename: s.filename.clone(),
        size: s.size,
        content_type: s.content_type.clone(),
        protocol: s.protocol,
        title: preset.title,
        external_id: preset.external_id,
        metadata: preset.metadata,
    };
    let published = st
        .platform
        .events
        .publish(&event(&s, data, "initiated", Kind::Upload))
        .await
        .map_err(publish_err)?;
    tracing::info!(tenant = %s.tenant, upload_id = %s.upload_id, video_id = %s.video_id, size = s.size, "upload opened");
    Ok((s, published))
}

/// A tenant's upload session; another tenant's answers 404, like a missing one.
pub async fn load(
    st: &IngestState,
    tenant: &TenantId,
    id: &str,
) -> Result<UploadSession, ApiError> {
    st.sessions
        .get_for(tenant, id)
        .await
        .map_err(store_err)?
        .ok_or_else(|| ApiError::not_found("upload"))
}

/// When the upload stops being resumable.
pub fn expires_at(st: &IngestState, s: &UploadSession) -> OffsetDateTime {
    s.updated_at + st.settings.idle_timeout()
}

/// The error for a session that is not open.
pub fn not_open(s: &UploadSession) -> ApiError {
    match &s.state {
        SessionState::Open => ApiError::internal(&std::io::Error::other("session is open")),
        SessionState::Completed { .. } => {
            ApiError::conflict("upload_completed", "this upload is already complete")
        }
        SessionState::Rejected { reason, .. } => {
            ApiError::conflict("upload_rejected", format!("this upload was rejected: {reason}"))
        }
        SessionState::Aborted => {
            ApiError::new(http::StatusCode::GONE, "upload_gone", "this upload was aborted")
        }
        SessionState::Expired => {
            ApiError::new(http::StatusCode::GONE, "upload_gone", "this upload expired")
        }
    }
}

fn completion(s: &UploadSession, sha256: &str, probe: &Probe, sequence: Option<u64>) -> Completion {
    Completion {
        upload_id: s.upload_id.clone(),
        video_id: s.video_id.to_string(),
        status: "processing",
        size: s.size,
        sha256: sha256.to_owned(),
        probe: probe.clone(),
        sequence,
    }
}

fn rejected_error(code: &str, reason: &str) -> ApiError {
    let code: &'static str = match code {
        "empty_file" => "empty_file",
        "no_video_stream" => "no_video_stream",
        "unusable_video" => "unusable_video",
        "checksum_mismatch" => "checksum_mismatch",
        other => media_limits::known_code(other).unwrap_or("not_a_video"),
    };
    ApiError::new(http::StatusCode::UNPROCESSABLE_ENTITY, code, reason.to_owned())
}

/// Completes an upload whose bytes have all arrived: verifies the whole-file sha256, probes,
/// moves the file into the media store and publishes `VID_UPLOAD completed` and
/// `VID_TRANSCODE requested`. Idempotent: a second call answers the same without publishing
/// again (event ids are deterministic, so even a crash between steps cannot publish twice).
#[tracing::instrument(skip_all, fields(tenant = %session.tenant, upload_id = %session.upload_id, video_id = %session.video_id), err(Display))]
pub async fn complete(st: &IngestState, session: &UploadSession) -> Result<Completion, ApiError> {
    let lock = st.upload_lock(&session.upload_id);
    let _g = lock.lock().await;
    let s = st
        .sessions
        .get(&session.upload_id)
        .await
        .map_err(store_err)?
        .ok_or_else(|| ApiError::not_found("upload"))?;
    match &s.state {
        SessionState::Completed { sha256, probe, sequence } => {
            return Ok(completion(&s, sha256, probe, *sequence));
        }
        SessionState::Rejected { code, reason } => return Err(rejected_error(code, reason)),
        SessionState::Aborted | SessionState::Expired => return Err(not_open(&s)),
        SessionState::Open => {}
    }
    let key = source_key(s.tenant.as_str(), s.video_id.as_str());
    let (verdict, bytes) = complete_source::verify(st, &s, &key).await?;
    let (sha256, probe) = match verdict {
        Verdict::Accepted { sha256, probe } => (sha256, probe),
        Verdict::Refused { code, reason } => return reject(st, &s, &code, &reason).await,
    };
    complete_source::store(st, &key, &bytes).await?;
    let completed = event(
        &s,
        UploadData::Completed {
            upload_id: s.upload_id.clone(),
            source: s.source,
            filename: s.filename.clone(),
            size: s.size,
            sha256: sha256.clone(),
            source_key: key.clone(),
            probe: probe.clone(),
            stream_id: s.stream_id.clone(),
        },
        "completed",
        Kind::Upload,
    );
    st.platform.events.publish(&completed).await.map_err(publish_err)?;
    // Also published by the `jobs` reactor from `completed` (a crash here loses no job); both
    // facts are one-shot, so a retried completion after the duplicate window stores neither
    // twice.
    let requested = crate::jobs::request_for(&completed).expect("a completed upload");
    let published = st.platform.events.publish(&requested).await.map_err(publish_err)?;
    let sequence = published.sequence();
    let (sha, pr) = (sha256.clone(), probe.clone());
    let done = st
        .sessions
        .update(&s.upload_id, move |x| {
            x.state = SessionState::Completed { sha256: sha.clone(), probe: pr.clone(), sequence };
            x.offset = x.size;
            crate::url_ingest::settle_fetch(x);
            x.updated_at = OffsetDateTime::now_utc();
            Ok(())
        })
        .await
        .map_err(store_err)?;
    st.sessions.forget_chunks(&s.upload_id).await.map_err(store_err)?;
    st.sessions.flush().await.map_err(store_err)?;
    crate::metrics::IngestMetrics::of(&st.platform.metrics).completed(s.protocol);
    tracing::info!(
        duration = probe.duration_secs,
        width = probe.width,
        height = probe.height,
        "upload completed"
    );
    Ok(completion(&done, &sha256, &probe, sequence))
}

/// Refuses an upload at completion: `VID_UPLOAD rejected`, bytes removed, 422.
pub(crate) async fn reject<T>(
    st: &IngestState,
    s: &UploadSession,
    code: &str,
    reason: &str,
) -> Result<T, ApiError> {
    let ev = event(
        s,
        UploadData::Rejected {
            upload_id: s.upload_id.clone(),
            code: code.to_owned(),
            reason: reason.to_owned(),
        },
        "rejected",
        Kind::Upload,
    );
    st.platform.events.publish(&ev).await.map_err(publish_err)?;
    let (c, r) = (code.to_owned(), reason.to_owned());
    st.sessions
        .update(&s.upload_id, move |x| {
            x.state = SessionState::Rejected { code: c.clone(), reason: r.clone() };
            crate::url_ingest::settle_fetch(x);
            Ok(())
        })
        .await
        .map_err(store_err)?;
    st.sessions.forget_chunks(&s.upload_id).await.map_err(store_err)?;
    st.sessions.flush().await.map_err(store_err)?;
    complete_source::discard(st, s, &source_key(s.tenant.as_str(), s.video_id.as_str())).await;
    crate::metrics::IngestMetrics::of(&st.platform.metrics).refused(s.protocol, code);
    tracing::info!(upload_id = %s.upload_id, code, reason, "upload rejected");
    Err(rejected_error(code, reason))
}

/// Ends an open upload (`Aborted` by the client or `Expired` by the cleaner): event, state,
/// bytes removed. Returns false if it was not open.
pub async fn end(st: &IngestState, s: &UploadSession, expired: bool) -> Result<bool, ApiError> {
    let lock = st.upload_lock(&s.upload_id);
    let _g = lock.lock().await;
    let cur = st
        .sessions
        .get(&s.upload_id)
        .await
        .map_err(store_err)?
        .ok_or_else(|| ApiError::not_found("upload"))?;
    if cur.state != SessionState::Open {
        return Ok(false);
    }
    let (data, phase) = if expired {
        let idle = (OffsetDateTime::now_utc() - cur.updated_at).whole_seconds().max(0) as u64;
        (UploadData::Expired { upload_id: cur.upload_id.clone(), idle_secs: idle }, "expired")
    } else {
        (UploadData::Aborted { upload_id: cur.upload_id.clone() }, "aborted")
    };
    st.platform
        .events
        .publish(&event(&cur, data, phase, Kind::Upload))
        .await
        .map_err(publish_err)?;
    st.sessions
        .update(&cur.upload_id, move |x| {
            x.state = if expired { SessionState::Expired } else { SessionState::Aborted };
            crate::url_ingest::settle_fetch(x);
            Ok(())
        })
        .await
        .map_err(store_err)?;
    st.sessions.unindex_video(&cur.tenant, &cur.video_id).await.map_err(store_err)?;
    st.sessions.forget_chunks(&cur.upload_id).await.map_err(store_err)?;
    st.sessions.flush().await.map_err(store_err)?;
    complete_source::discard(st, &cur, &source_key(cur.tenant.as_str(), cur.video_id.as_str()))
        .await;
    Ok(true)
}

/// Imports a local file that did not come through an upload protocol (a live recording) into
/// the same path as a completed upload: a session is opened (`initiated`), the file is moved
/// into the uploads directory (a rename on the same filesystem), and [`complete`] verifies,
/// probes and publishes `completed` + `requested`.
pub async fn import_file(
    st: &IngestState,
    new: NewUpload,
    file: &std::path::Path,
) -> Result<Completion, ApiError> {
    let (s, _) = open(st, new).await?;
    let part = part_path(&st.uploads_dir, &s.upload_id);
    if tokio::fs::rename(file, &part).await.is_err() {
        tokio::fs::copy(file, &part).await.map_err(|e| ApiError::internal(&e))?;
        let f = tokio::fs::File::open(&part).await.map_err(|e| ApiError::internal(&e))?;
        f.sync_all().await.map_err(|e| ApiError::internal(&e))?;
        files::remove_quietly(file).await;
    }
    let size = s.size;
    let s = st
        .sessions
        .update(&s.upload_id, move |x| {
            x.offset = size;
            Ok(())
        })
        .await
        .map_err(store_err)?;
    complete(st, &s).await
}
