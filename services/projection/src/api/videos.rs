//! `GET /v1/videos` (newest first, cursor pagination, status filter) and `GET /v1/videos/{id}`
//! (with signed playback, poster and storyboard URLs and live transcode progress).

use std::time::Duration;

use axum::extract::State;
use framelog_core::ApiError;
use framelog_core::error::extract::{Json, Path, Query};
use framelog_core::nats::STREAM_PROGRESS;
use framelog_core::openapi::{AuthErrors, ErrorBody, InternalError};
use framelog_core::signing::{master_path, playback_token};
use framelog_core::tenants::Tenant;
use framelog_events::fold::{Status, VideoEntry, views};
use framelog_events::{AggregateId, Kind, Subject, TenantId};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::{ApiState, Consistent, check_limit, internal};
use crate::apply::index_key;
use crate::store::{View, be_u64, key, tenant_prefix};

/// `GET /v1/videos` parameters.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    /// 1..=100, default 20.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    pub status: Option<Status>,
}

/// `GET /v1/videos`: `{"videos": [...], "next_cursor": "..." | null}`.
#[utoipa::path(get, path = "/v1/videos", tag = "videos", operation_id = "list_videos",
    security(("bearer" = [])),
    params(
        ("limit" = Option<u32>, Query, description = "1..=100, default 20"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
        ("status" = Option<String>, Query, description = "only videos in this status, e.g. `ready`"),
        ("after_seq" = Option<u64>, Query, description = "read after this `VID` sequence (a write's answer); waits, bounded"),
        ("X-After-Seq" = Option<u64>, Header, description = "as `after_seq`"),
    ),
    responses(
        (status = 200, body = serde_json::Value,
            description = "`{\"videos\": [...], \"next_cursor\": ... }`: catalog records, newest first"),
        (status = 400, body = ErrorBody,
            description = "malformed input (`invalid_path`, `invalid_query`, `invalid_json` ...)"),
        AuthErrors, InternalError,
        (status = 504, body = ErrorBody,
            description = "the projection has not applied `after_seq` in time (`projection_lagging`)"),
    ))]
pub async fn list(
    State(s): State<ApiState>,
    Tenant(tenant): Tenant,
    _: Consistent,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = check_limit(q.limit, 20, 100)?;
    if let Some(st) = q.status
        && !st.is_visible()
    {
        return Err(ApiError::bad_request(
            "invalid_status",
            "status must be one of uploading, processing, playable, ready, failed",
        ));
    }
    let prefix = tenant_prefix(tenant.as_str());
    let start = match &q.cursor {
        None => prefix.clone(),
        Some(c) => index_key(tenant.as_str(), &decode_cursor(c)?),
    };
    let index = s.store.tree(View::VideoIndex);
    let mut page = Vec::new();
    let mut next_cursor = None;
    for kv in index.range(start.clone()..) {
        let (k, status) = kv.map_err(|e| internal(e.into()))?;
        if !k.starts_with(&prefix) {
            break;
        }
        if q.cursor.is_some() && k.as_ref() == start.as_slice() {
            continue;
        }
        if q.status.is_some_and(|st| st.as_str().as_bytes() != status.as_ref()) {
            continue;
        }
        if page.len() == limit {
            next_cursor = page
                .last()
                .map(|(k, _): &(sled::IVec, VideoEntry)| hex::encode(&k[prefix.len()..]));
            break;
        }
        let video = &k[prefix.len() + 8..];
        let entry: Option<VideoEntry> =
            s.store.get_json(View::Videos, &key(tenant.as_str(), &[video])).map_err(internal)?;
        if let Some(e) = entry {
            page.push((k, e));
        }
    }
    let videos: Vec<Value> =
        page.iter().map(|(_, e)| video_json(&s, e)).collect::<Result<_, _>>()?;
    Ok(Json(json!({ "videos": videos, "next_cursor": next_cursor })))
}

fn decode_cursor(c: &str) -> Result<Vec<u8>, ApiError> {
    let bad = || ApiError::bad_request("invalid_cursor", "cursor is not one this API returned");
    let bytes = hex::decode(c).map_err(|_| bad())?;
    if bytes.len() <= 8 {
        return Err(bad());
    }
    let id = std::str::from_utf8(&bytes[8..]).map_err(|_| bad())?;
    AggregateId::new(id).map_err(|_| bad())?;
    Ok(bytes)
}

/// `GET /v1/videos/{id}`: 404 for a missing, deleted or another tenant's video.
#[utoipa::path(get, path = "/v1/videos/{id}", tag = "videos", operation_id = "get_video",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "the video id"),
        ("after_seq" = Option<u64>, Query, description = "read after this `VID` sequence (a write's answer); waits, bounded"),
        ("X-After-Seq" = Option<u64>, Header, description = "as `after_seq`"),
    ),
    responses(
        (status = 200, body = serde_json::Value,
            description = "the video's catalog record (status, renditions, playback, progress)"),
        (status = 400, body = ErrorBody,
            description = "malformed input (`invalid_path`, `invalid_query`, `invalid_json` ...)"),
        AuthErrors, InternalError,
        (status = 404, body = ErrorBody,
            description = "no such resource for this tenant (`not_found`)"),
        (status = 504, body = ErrorBody,
            description = "the projection has not applied `after_seq` in time (`projection_lagging`)"),
    ))]
pub async fn show(
    State(s): State<ApiState>,
    Tenant(tenant): Tenant,
    _: Consistent,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let entry = find(&s, &tenant, &id)?.ok_or_else(|| ApiError::not_found("video"))?;
    let mut body = video_json(&s, &entry)?;
    if matches!(entry.status, Status::Processing | Status::Playable) {
        body["progress"] = progress(&s, &tenant, &entry.id).await.unwrap_or(Value::Null);
    }
    Ok(Json(body))
}

fn find(s: &ApiState, tenant: &TenantId, id: &str) -> Result<Option<VideoEntry>, ApiError> {
    let Ok(id) = AggregateId::new(id) else {
        return Ok(None);
    };
    let k = key(tenant.as_str(), &[id.as_str().as_bytes()]);
    let e: Option<VideoEntry> = s.store.get_json(View::Videos, &k).map_err(internal)?;
    Ok(e.filter(|e| e.status.is_visible()))
}

/// The last transcode progress value, if any (best effort, bounded to 500 ms).
async fn progress(s: &ApiState, tenant: &TenantId, video: &AggregateId) -> Option<Value> {
    let subject = Subject::progress(tenant, Kind::Transcode, video);
    let get =
        async {
            let stream = s.js.get_stream_no_info(STREAM_PROGRESS).await.ok()?;
            let m = stream.direct_get_last_for_subject(subject).await.ok()?;
            Some(serde_json::from_slice(&m.payload).unwrap_or_else(|_| {
                Value::String(String::from_utf8_lossy(&m.payload).into_owned())
            }))
        };
    tokio::time::timeout(Duration::from_millis(500), get).await.ok().flatten()
}

/// The public JSON of a video: the catalog entry, its views and signed URLs.
fn video_json(s: &ApiState, e: &VideoEntry) -> Result<Value, ApiError> {
    let tenant = e.tenant.as_str();
    let vid = e.id.as_str();
    let counter = |view: View, k: Vec<u8>| -> Result<u64, ApiError> {
        Ok(s.store
            .tree(view)
            .get(k)
            .map_err(|e| internal(e.into()))?
            .map(|v| be_u64(&v))
            .unwrap_or(0))
    };
    let views_total = counter(View::Views, key(tenant, &[vid.as_bytes()]))?;
    let today = views::day(OffsetDateTime::now_utc());
    let views_today = counter(View::ViewDays, key(tenant, &[vid.as_bytes(), today.as_bytes()]))?;
    let expires = OffsetDateTime::now_utc().unix_timestamp() + s.settings.url_ttl_secs as i64;
    let playable = matches!(e.status, Status::Playable | Status::Ready);
    let ready = e.status == Status::Ready;
    let token = playback_token(&s.secret, tenant, vid, expires);
    let probe = e.probe.as_ref();
    let renditions: Vec<Value> = e
        .renditions
        .values()
        .map(|r| match &r.details {
            Some(d) => serde_json::to_value(d).unwrap_or(Value::Null),
            None => json!({ "name": r.name }),
        })
        .collect();
    Ok(json!({
        "id": vid,
        "status": e.status,
        "filename": e.filename,
        "title": e.title,
        "external_id": e.external_id,
        "metadata": e.metadata,
        "size": e.size,
        "sha256": e.sha256,
        "source": e.source,
        "stream_id": e.stream_id,
        "duration_secs": e.duration_secs.or(probe.map(|p| p.duration_secs)),
        "width": probe.map(|p| p.width),
        "height": probe.map(|p| p.height),
        "rotation": probe.map(|p| p.rotation),
        "fps": probe.map(|p| p.fps),
        "video_codec": probe.map(|p| p.video_codec.clone()),
        "audio_codec": probe.and_then(|p| p.audio_codec.clone()),
        "renditions": renditions,
        "poster_key": e.poster_key,
        "storyboard_key": e.storyboard_key,
        "views": views_total,
        "views_today": views_today,
        "error": e.error,
        "attempt": e.attempt,
        "created_at": rfc3339(e.created_at),
        "updated_at": rfc3339(e.updated_at),
        "playback_url": playable.then(|| master_path(&s.secret, tenant, vid, expires)),
        "poster_url": (ready && e.poster_key.is_some()).then(|| format!("/hls/{token}/{vid}/poster.jpg")),
        "storyboard_url": (ready && e.storyboard_key.is_some()).then(|| format!("/hls/{token}/{vid}/storyboard.vtt")),
        "urls_expire_at": playable.then_some(expires),
        "mp4": super::mp4::mp4_json(e, &token),
    }))
}

/// RFC 3339 text of a time.
pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}
