//! URL ingest: `POST /v1/videos {"input": "https://...", "title"?, "external_id"?}` → 202
//! `{"video_id", "upload_id", "status": "fetching"}`, then the server pulls the source.
//!
//! - **At once**: the URL is checked by the outbound rule (`400 invalid_input` for a bad
//!   scheme or no URL, `422 input_forbidden` for a private or loopback target unless
//!   `--outbound-allow-private`), and an upload session (protocol `url`, declared size 0 until
//!   the bytes are in) is opened through the same admission as any upload (quotas,
//!   `VID_UPLOAD initiated`).
//! - **The fetch** ([`crate::url_fetch`]) streams the body into that session's bytes (part file
//!   or S3 multipart), then completes it by [`lifecycle::complete`]: the same probe fence and
//!   the same `completed` + `VID_TRANSCODE requested` events as a REST or tus upload.
//! - **Durable**: the session carries a [`FetchRecord`] (status, bytes so far, a lease). The
//!   process fetching renews the lease; when it dies, [`run`] on any ingest process finds the
//!   expired lease, claims it by compare-and-set and restarts the download from zero (no Range
//!   resume). Completion is idempotent, so a video arrives once.
//! - **Progress**: `bytes_received` in the record, shown under `fetch` by
//!   `GET /v1/videos/upload/{upload_id}` (renewed with the lease), and progress messages on
//!   the video's `vidp.<tenant>.upload.<video>` subject at most twice a second (the same
//!   channel as transcode progress, relayed by `GET /v1/events` as `event: progress`:
//!   `{"stage": "fetching"|"fetched", "bytes", "total_bytes", "percent"}`; not log facts).
//! - **Failure**: the upload is rejected (`VID_UPLOAD rejected`) with `input_unreachable`,
//!   `input_http_<status>`, `input_too_large`, `input_timeout` or `input_forbidden`; its
//!   bytes are removed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use framelog_core::ApiError;
use framelog_core::error::extract::Json;
use framelog_core::openapi::ErrorBody;
use framelog_core::outbound::{self, OutboundError, OutboundTimeouts};
use framelog_core::tenants::Tenant;
use framelog_events::{Kind, SourceKind, Subject, UploadProtocol};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::lifecycle::{self, NewUpload, store_err};
use crate::session::{SessionState, StoreError, UploadSession};
use crate::state::IngestState;
use crate::url_fetch::{self, FetchFailure};

/// Attempts (the first and restarts after a lost lease) before the input is refused.
pub const MAX_ATTEMPTS: u32 = 5;

/// Body of `POST /v1/videos`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateFromUrl {
    pub input: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub external_id: Option<String>,
}

/// Answer of `POST /v1/videos`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FetchAccepted {
    pub video_id: String,
    pub upload_id: String,
    pub status: FetchStatus,
}

/// Where a fetch stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FetchStatus {
    Fetching,
    Failed,
    Completed,
}

/// The fetch of a URL upload, kept in its session record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchRecord {
    pub url: String,
    pub status: FetchStatus,
    pub bytes_received: u64,
    /// Until when the current attempt's process holds the fetch.
    #[serde(with = "time::serde::rfc3339")]
    pub lease_until: OffsetDateTime,
    /// The current attempt (whoever renews the lease must be it).
    pub attempt: String,
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

fn field_ok(v: &Option<String>, max: usize) -> bool {
    v.as_ref().is_none_or(|s| s.len() <= max && !s.chars().any(char::is_control))
}

/// The display name of a URL source: the title, else the URL's last path segment.
fn display_name(url: &reqwest::Url, title: Option<&str>) -> String {
    title
        .filter(|t| !t.trim().is_empty())
        .map(str::to_owned)
        .or_else(|| url.path_segments()?.rev().find(|s| !s.is_empty()).map(str::to_owned))
        .unwrap_or_else(|| "source".to_owned())
}

/// `POST /v1/videos`.
#[utoipa::path(post, path = "/v1/videos", tag = "uploads", operation_id = "import_video_from_url",
    security(("bearer" = [])),
    request_body(content = CreateFromUrl, content_type = "application/json"),
    responses(
        (status = 202, body = FetchAccepted,
            description = "the import started: follow it at `GET /v1/videos/upload/{upload_id}`"),
        (status = 400, body = ErrorBody, description = "not an http(s) URL (`invalid_input`) or malformed JSON"),
        (status = 401, body = ErrorBody, description = "missing or unknown API key (`unauthorized`)"),
        (status = 403, body = ErrorBody, description = "the API key lacks `uploads:write` (`insufficient_scope`)"),
        (status = 422, body = ErrorBody,
            description = "a loopback/private target (`input_forbidden`) or a field too long (`invalid_field`)"),
        (status = 413, body = ErrorBody, description = "the tenant's storage quota is used up (`storage_quota_exceeded`)"),
        (status = 429, body = ErrorBody, description = "too many open uploads (`too_many_open_uploads`)"),
        (status = 503, body = ErrorBody, description = "NATS or the media store is unreachable"),
    ))]
pub async fn create(
    State(st): State<IngestState>,
    Tenant(tenant): Tenant,
    Json(req): Json<CreateFromUrl>,
) -> Result<Response, ApiError> {
    let url = outbound::check_url(&req.input, st.platform.settings.outbound_policy()).map_err(
        |e| match e {
            OutboundError::Forbidden(_) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "input_forbidden", e.to_string())
            }
            _ => ApiError::bad_request("invalid_input", format!("input: {e}")),
        },
    )?;
    if !field_ok(&req.title, 1024) || !field_ok(&req.external_id, 255) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "title must be at most 1024 bytes and external_id at most 255, without control characters",
        ));
    }
    let (s, _) = lifecycle::open(
        &st,
        NewUpload {
            tenant,
            protocol: UploadProtocol::Url,
            source: SourceKind::Upload,
            stream_id: None,
            filename: display_name(&url, req.title.as_deref()),
            content_type: None,
            size: 0,
            expected_sha256: None,
            tus_metadata: None,
            // The title and external id reach the catalog like a direct upload's.
            preset: Some(lifecycle::Preset {
                title: req.title.clone(),
                external_id: req.external_id.clone(),
                ..Default::default()
            }),
        },
    )
    .await?;
    let attempt = framelog_core::new_id("fa").to_string();
    let record = FetchRecord {
        url: url.to_string(),
        status: FetchStatus::Fetching,
        bytes_received: 0,
        lease_until: OffsetDateTime::now_utc() + st.settings.url_lease(),
        attempt: attempt.clone(),
        attempts: 1,
        external_id: req.external_id,
    };
    let s = st
        .sessions
        .update(&s.upload_id, move |x| {
            x.fetch = Some(record.clone());
            Ok(())
        })
        .await
        .map_err(store_err)?;
    tracing::info!(tenant = %s.tenant, upload_id = %s.upload_id, video_id = %s.video_id, "URL import accepted");
    tokio::spawn(drive(st.clone(), s.upload_id.clone(), attempt));
    let body = FetchAccepted {
        video_id: s.video_id.to_string(),
        upload_id: s.upload_id,
        status: FetchStatus::Fetching,
    };
    Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
}

/// Ends a URL upload's fetch with its session's new state, in the same record write
/// (completed or rejected), so no reader sees one without the other.
pub(crate) fn settle_fetch(s: &mut UploadSession) {
    let status = match s.state {
        SessionState::Completed { .. } => FetchStatus::Completed,
        SessionState::Open => return,
        _ => FetchStatus::Failed,
    };
    let size = s.size;
    if let Some(f) = s.fetch.as_mut() {
        f.status = status;
        if status == FetchStatus::Completed {
            f.bytes_received = size;
        }
    }
}

/// Whether `s` is an open URL upload whose fetch is `attempt`.
fn ours(s: &UploadSession, attempt: &str) -> bool {
    s.state == SessionState::Open
        && s.fetch
            .as_ref()
            .is_some_and(|f| f.attempt == attempt && f.status == FetchStatus::Fetching)
}

/// Runs one attempt of a fetch to its end, logging what ended it.
pub async fn drive(st: IngestState, upload_id: String, attempt: String) {
    match attempt_fetch(&st, &upload_id, &attempt).await {
        Ok(()) => {}
        Err(FetchFailure::Lost) => tracing::info!(upload_id, "URL fetch taken over or ended"),
        Err(f @ FetchFailure::Internal(_)) => {
            tracing::warn!(
                upload_id,
                error = f.reason(),
                "URL fetch failed on our side; the lease retries it"
            )
        }
        Err(f) => refuse(&st, &upload_id, &attempt, &f).await,
    }
}

/// Rejects the upload with the failure's code and marks the fetch failed.
async fn refuse(st: &IngestState, upload_id: &str, attempt: &str, f: &FetchFailure) {
    let Ok(Some(s)) = st.sessions.get(upload_id).await else { return };
    if !ours(&s, attempt) {
        return;
    }
    let _: Result<(), ApiError> = lifecycle::reject(st, &s, &f.code(), &f.reason()).await;
}

async fn attempt_fetch(
    st: &IngestState,
    upload_id: &str,
    attempt: &str,
) -> Result<(), FetchFailure> {
    let internal = |e: StoreError| FetchFailure::Internal(e.to_string());
    let s = st.sessions.get(upload_id).await.map_err(internal)?.ok_or(FetchFailure::Lost)?;
    if !ours(&s, attempt) {
        return Err(FetchFailure::Lost);
    }
    let url = s.fetch.as_ref().map(|f| f.url.clone()).unwrap_or_default();
    let url = reqwest::Url::parse(&url).map_err(|e| FetchFailure::Unreachable(e.to_string()))?;
    let max = room(st, &s).await.map_err(internal)?;
    let policy = st.platform.settings.outbound_policy();
    let client = outbound::client(
        policy,
        OutboundTimeouts {
            connect: Duration::from_secs(10),
            total: Some(Duration::from_secs(st.settings.url_total_timeout_secs.max(1))),
            read: Duration::from_secs(st.settings.url_read_timeout_secs.max(1)),
        },
    );
    let progress = Arc::new(AtomicU64::new(0));
    let total = Arc::new(AtomicU64::new(0));
    let cancel = CancellationToken::new();
    let subject = Subject::progress(&s.tenant, Kind::Upload, &s.video_id);
    tokio::spawn(report_progress(
        st.platform.events.clone(),
        subject.clone(),
        progress.clone(),
        total.clone(),
        cancel.clone(),
    ));
    // The lease is renewed through the download *and* the completion (a slow probe must not
    // let another process restart the fetch under it); it stops when `_stop` drops.
    tokio::spawn(heartbeat(
        st.clone(),
        s.upload_id.clone(),
        attempt.to_owned(),
        progress.clone(),
        cancel.clone(),
    ));
    let _stop = cancel.clone().drop_guard();
    let fetched = async {
        let resp = url_fetch::open(&client, url, policy, max).await?;
        total.store(resp.content_length().unwrap_or(0), Ordering::Relaxed);
        url_fetch::download(st, &s, resp, max, &progress, &cancel).await
    }
    .await;
    let fetched = fetched?;
    let done = progress_message("fetched", fetched.size, fetched.size);
    st.platform.events.publish_progress(subject, done).await;
    let (size, attempt_id) = (fetched.size, attempt.to_owned());
    let (hash, store) = (fetched.hash, fetched.store);
    let s = st
        .sessions
        .update(upload_id, move |x| {
            if !ours(x, &attempt_id) {
                return Err(StoreError::Changed);
            }
            x.size = size;
            x.offset = size;
            x.hash = Some(hash.clone());
            if store.is_some() {
                x.store_upload = store.clone();
            }
            if let Some(f) = x.fetch.as_mut() {
                f.bytes_received = size;
            }
            x.updated_at = OffsetDateTime::now_utc();
            Ok(())
        })
        .await
        .map_err(|e| match e {
            StoreError::Changed => FetchFailure::Lost,
            e => internal(e),
        })?;
    // The declared size was 0 until now: the tenant's usage takes the real one.
    st.sessions.settle_usage(&s).await.map_err(internal)?;
    // The fetch record ends with the session (`settle_fetch`): completed, or rejected by the
    // probe fence (422, already recorded); anything else is our side, retried by the lease.
    match lifecycle::complete(st, &s).await {
        Ok(_) => {}
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {}
        Err(e) => return Err(FetchFailure::Internal(e.message)),
    }
    tracing::info!(upload_id, size, "URL import fetched");
    Ok(())
}

/// The most bytes this upload may take: the upload limit, and what the storage quota leaves.
async fn room(st: &IngestState, s: &UploadSession) -> Result<u64, StoreError> {
    let quota = st.settings.storage_quota_bytes;
    if quota == 0 {
        return Ok(st.settings.max_upload_size);
    }
    let used = st.sessions.usage(&s.tenant).await?.bytes;
    Ok(st.settings.max_upload_size.min(quota.saturating_sub(used)))
}

/// A progress message: bytes so far, the size when the origin said it (0: unknown).
fn progress_message(stage: &str, bytes: u64, total: u64) -> Bytes {
    let percent = (total > 0).then(|| (bytes as f64 * 100.0 / total as f64).min(100.0));
    let total = (total > 0).then_some(total);
    let v = serde_json::json!({"stage": stage, "bytes": bytes, "total_bytes": total, "percent": percent});
    Bytes::from(v.to_string())
}

/// Publishes the download's progress at most every [`PROGRESS_EVERY`] while it moves.
async fn report_progress(
    events: framelog_core::eventlog::EventLog,
    subject: String,
    progress: Arc<AtomicU64>,
    total: Arc<AtomicU64>,
    cancel: CancellationToken,
) {
    let mut last = 0;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(PROGRESS_EVERY) => {}
        }
        let bytes = progress.load(Ordering::Relaxed);
        if bytes != last {
            last = bytes;
            let m = progress_message("fetching", bytes, total.load(Ordering::Relaxed));
            events.publish_progress(subject.clone(), m).await;
        }
    }
}

/// Least time between two progress messages of one fetch.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// Renews the lease and publishes progress every third of a lease; cancels the download when
/// the fetch stopped being this attempt's (taken over, aborted).
async fn heartbeat(
    st: IngestState,
    upload_id: String,
    attempt: String,
    progress: Arc<AtomicU64>,
    cancel: CancellationToken,
) {
    let every = st.settings.url_lease() / 3;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let (lease, bytes, a) =
            (st.settings.url_lease(), progress.load(Ordering::Relaxed), attempt.clone());
        let r = st
            .sessions
            .update(&upload_id, move |x| {
                if !ours(x, &a) {
                    return Err(StoreError::Changed);
                }
                let now = OffsetDateTime::now_utc();
                x.updated_at = now;
                if let Some(f) = x.fetch.as_mut() {
                    f.lease_until = now + lease;
                    f.bytes_received = bytes;
                }
                Ok(())
            })
            .await;
        match r {
            Ok(_) => {}
            Err(StoreError::Changed) => return cancel.cancel(),
            Err(e) => tracing::warn!(upload_id, error = %e, "could not renew a URL fetch's lease"),
        }
    }
}

/// Claims every open fetch whose lease expired before `now` and restarts it. Returns how many.
pub async fn resume_once(st: &IngestState, now: OffsetDateTime) -> usize {
    let all = match st.sessions.all().await {
        Ok(all) => all,
        Err(e) => {
            tracing::warn!(error = %e, "could not list upload sessions");
            return 0;
        }
    };
    let mut n = 0;
    for s in all.into_iter().filter(|s| expired(s, now)) {
        let attempt = framelog_core::new_id("fa").to_string();
        let (a, lease) = (attempt.clone(), st.settings.url_lease());
        let claimed = st
            .sessions
            .update(&s.upload_id, move |x| {
                if !expired(x, OffsetDateTime::now_utc()) {
                    return Err(StoreError::Changed);
                }
                let f = x.fetch.as_mut().expect("expired() saw a fetch");
                f.attempt = a.clone();
                f.attempts += 1;
                f.bytes_received = 0;
                f.lease_until = OffsetDateTime::now_utc() + lease;
                Ok(())
            })
            .await;
        let Ok(claimed) = claimed else { continue };
        let attempts = claimed.fetch.as_ref().map_or(0, |f| f.attempts);
        tracing::info!(upload_id = %s.upload_id, attempts, "restarting a URL fetch whose lease expired");
        if attempts > MAX_ATTEMPTS {
            let f = FetchFailure::Unreachable(format!("{MAX_ATTEMPTS} attempts did not finish"));
            refuse(st, &s.upload_id, &attempt, &f).await;
            continue;
        }
        tokio::spawn(drive(st.clone(), s.upload_id.clone(), attempt));
        n += 1;
    }
    n
}

fn expired(s: &UploadSession, now: OffsetDateTime) -> bool {
    s.state == SessionState::Open
        && s.fetch
            .as_ref()
            .is_some_and(|f| f.status == FetchStatus::Fetching && f.lease_until < now)
}

/// Runs [`resume_once`] every half lease until `shutdown`.
pub async fn run(st: IngestState, shutdown: CancellationToken) {
    let every = st.settings.url_lease() / 2;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        resume_once(&st, OffsetDateTime::now_utc()).await;
    }
}
