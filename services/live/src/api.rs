//! Stream management (Bearer tenant auth): create, delete, reveal and rotate the key, and a
//! signed live playback URL. Reading streams (`GET /v1/streams`, `/v1/live`) is the
//! projection's. A key is shown at creation and on an explicit reveal, never in lists.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use framelog_core::ApiError;
use framelog_core::error::extract::{Json, Path};
use framelog_core::openapi::{AuthErrors, ErrorBody, InternalError, JsonBodyErrors, ServerErrors};
use framelog_core::signing::playback_token;
use framelog_core::tenants::Tenant;
use framelog_events::LiveData;
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::keys;
use crate::state::LiveState;
use crate::store::StreamRecord;

/// Body of `POST /v1/streams`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateStream {
    pub name: String,
    #[serde(default)]
    pub record: bool,
    #[serde(default)]
    pub public: bool,
}

fn key_view(st: &LiveState, r: &StreamRecord, key: &str) -> Value {
    // Both media servers take `live/<stream id>?key=<key>`: the path (and so every viewer URL)
    // carries the stream id, the key stays in the query string.
    let obs_key = format!("{}?key={key}", r.stream_id);
    json!({
        "stream_key": key,
        "rtmp_url": st.settings.rtmp_url,
        "publish_url": format!("{}/{obs_key}", st.settings.rtmp_url.trim_end_matches('/')),
        "obs": {
            "server": st.settings.rtmp_url,
            "key": obs_key,
            "recommended": {"encoder": "x264", "rate_control": "CBR", "bitrate_kbps": 4500,
                             "keyframe_interval_secs": 2, "preset": "veryfast", "profile": "high",
                             "audio_bitrate_kbps": 160},
        },
        "generation": r.generation,
    })
}

fn playback(st: &LiveState, r: &StreamRecord) -> Value {
    let exp = OffsetDateTime::now_utc().unix_timestamp() + st.settings.viewer_token_ttl_secs;
    let token = playback_token(&st.platform.secret, r.tenant.as_str(), r.stream_id.as_str(), exp);
    json!({"hls_path": format!("/live/{token}/{}/index.m3u8", r.stream_id), "token": token, "expires_at": exp})
}

/// `POST /v1/streams`.
#[utoipa::path(post, path = "/v1/streams", tag = "live", operation_id = "create_stream",
    security(("bearer" = [])),
    request_body(content = CreateStream, content_type = "application/json"),
    responses(
        (status = 201, body = serde_json::Value,
            description = "the stream with its key (shown here and on reveal/rotate), RTMP and OBS settings"),
        (status = 400, body = ErrorBody,
            description = "malformed input (`invalid_path`, `invalid_query`, `invalid_json` ...)"),
        AuthErrors, JsonBodyErrors, ServerErrors,
        (status = 429, description = "over the rate or session limit", body = ErrorBody),
    ))]
pub async fn create(
    State(st): State<LiveState>,
    Tenant(tenant): Tenant,
    Json(req): Json<CreateStream>,
) -> Result<Response, ApiError> {
    let name = req.name.trim();
    if name.is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "name must be 1-200 printable characters",
        ));
    }
    let stream_id = framelog_core::new_id("str");
    let key = keys::derive(&st.platform.secret, tenant.as_str(), stream_id.as_str(), 0);
    let r = StreamRecord {
        stream_id,
        tenant,
        name: name.to_owned(),
        record: req.record,
        public: req.public,
        generation: 0,
        key_hash: keys::hash(&key),
        created_at: OffsetDateTime::now_utc(),
        deleted: false,
        session: None,
        last_session: None,
        pending_connection: None,
        last_connection: None,
    };
    st.streams.create(&r).await?;
    if let Err(e) = crate::quota::reserve(&st, &r.tenant, r.stream_id.as_str()).await {
        // Nothing was announced yet: the record goes away again.
        if let Err(f) = st.streams.forget(r.stream_id.as_str()).await {
            tracing::warn!(stream = %r.stream_id, error = %f, "could not remove a refused stream");
        }
        return Err(e);
    }
    let seq = st
        .publish(
            &r,
            LiveData::StreamCreated { name: r.name.clone(), record: r.record, public: r.public },
            Some(""),
        )
        .await?;
    tracing::info!(tenant = %r.tenant, stream = %r.stream_id, "stream created");
    let mut body = key_view(&st, &r, &key);
    body["stream_id"] = json!(r.stream_id);
    body["name"] = json!(r.name);
    body["record"] = json!(r.record);
    body["public"] = json!(r.public);
    body["playback"] = playback(&st, &r);
    body["sequence"] = json!(seq);
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

async fn load(
    st: &LiveState,
    tenant: &framelog_events::TenantId,
    id: &str,
) -> Result<StreamRecord, ApiError> {
    Ok(st.streams.get_for(tenant, id).await?.ok_or_else(|| ApiError::not_found("stream"))?.0)
}

/// `POST /v1/streams/{id}/key/reveal`.
#[utoipa::path(post, path = "/v1/streams/{id}/key/reveal", tag = "live", operation_id = "reveal_stream_key",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "the stream id")),
    responses(
        (status = 200, body = serde_json::Value,
            description = "the stream key and publish settings"),
        (status = 400, body = ErrorBody,
            description = "malformed input (`invalid_path`, `invalid_query`, `invalid_json` ...)"),
        AuthErrors, InternalError,
        (status = 404, body = ErrorBody,
            description = "no such resource for this tenant (`not_found`)"),
    ))]
pub async fn reveal(
    State(st): State<LiveState>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let r = load(&st, &tenant, &id).await?;
    // The master that made the key, which may predate a `framelog secret rotate`.
    let (t, s) = (r.tenant.as_str(), r.stream_id.as_str());
    let key = keys::reveal(&st.platform.secret, t, s, r.generation, &r.key_hash).ok_or_else(|| {
        ApiError::conflict(
            "key_not_revealable",
            "this stream's key was made with a master key no longer in the keyring; rotate the key",
        )
    })?;
    Ok(axum::Json(key_view(&st, &r, &key)).into_response())
}

/// `POST /v1/streams/{id}/key/rotate`: the old key fails at once and an ongoing publish is cut.
#[utoipa::path(post, path = "/v1/streams/{id}/key/rotate", tag = "live", operation_id = "rotate_stream_key",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "the stream id")),
    responses(
        (status = 200, body = serde_json::Value,
            description = "the new key; publishers with the old one are cut"),
        (status = 400, body = ErrorBody,
            description = "malformed input (`invalid_path`, `invalid_query`, `invalid_json` ...)"),
        AuthErrors, ServerErrors,
        (status = 404, body = ErrorBody,
            description = "no such resource for this tenant (`not_found`)"),
        (status = 409, description = "conflicts with the resource's state", body = ErrorBody),
    ))]
pub async fn rotate(
    State(st): State<LiveState>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    load(&st, &tenant, &id).await?;
    let secret = st.platform.secret.clone();
    let r = st
        .streams
        .update(&id, |r| {
            if r.deleted {
                return Err(ApiError::not_found("stream"));
            }
            r.generation += 1;
            r.key_hash = keys::hash(&keys::derive(
                &secret,
                r.tenant.as_str(),
                r.stream_id.as_str(),
                r.generation,
            ));
            Ok(true)
        })
        .await?
        .ok_or_else(|| ApiError::not_found("stream"))?;
    let seq = st
        .publish(
            &r,
            LiveData::KeyRotated { generation: r.generation },
            Some(&r.generation.to_string()),
        )
        .await?;
    let cut = crate::cut::cut_publisher(&st, &r).await;
    let key =
        keys::derive(&st.platform.secret, r.tenant.as_str(), r.stream_id.as_str(), r.generation);
    let mut body = key_view(&st, &r, &key);
    body["publisher_cut"] = json!(cut);
    body["sequence"] = json!(seq);
    Ok(axum::Json(body).into_response())
}

/// `DELETE /v1/streams/{id}`.
#[utoipa::path(delete, path = "/v1/streams/{id}", tag = "live", operation_id = "delete_stream",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "the stream id")),
    responses(
        (status = 204, description = "deleted; a publisher is cut"),
        (status = 400, body = ErrorBody,
            description = "malformed input (`invalid_path`, `invalid_query`, `invalid_json` ...)"),
        AuthErrors, ServerErrors,
        (status = 404, body = ErrorBody,
            description = "no such resource for this tenant (`not_found`)"),
        (status = 409, description = "conflicts with the resource's state", body = ErrorBody),
    ))]
pub async fn delete(
    State(st): State<LiveState>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    load(&st, &tenant, &id).await?;
    let r = st
        .streams
        .update(&id, |r| {
            if r.deleted {
                return Err(ApiError::not_found("stream"));
            }
            r.deleted = true;
            Ok(true)
        })
        .await?
        .ok_or_else(|| ApiError::not_found("stream"))?;
    let seq = st.publish(&r, LiveData::StreamDeleted {}, Some("")).await?;
    if let Err(e) = crate::quota::release(&st, &r.tenant, r.stream_id.as_str()).await {
        // The index heals itself at the limit (a deleted stream's id is dropped then).
        tracing::warn!(stream = %r.stream_id, error = %e, "could not free the stream's quota slot");
    }
    let cut = crate::cut::cut_publisher(&st, &r).await;
    Ok(axum::Json(
        json!({"stream_id": r.stream_id, "deleted": true, "publisher_cut": cut, "sequence": seq}),
    )
    .into_response())
}

/// `GET /v1/streams/{id}/playback`: a signed live HLS path (by stream id; never the key).
#[utoipa::path(get, path = "/v1/streams/{id}/playback", tag = "live", operation_id = "stream_playback_url",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "the stream id")),
    responses(
        (status = 200, description = "a signed live HLS URL", body = serde_json::Value),
        (status = 400, body = ErrorBody,
            description = "malformed input (`invalid_path`, `invalid_query`, `invalid_json` ...)"),
        AuthErrors, InternalError,
        (status = 404, body = ErrorBody,
            description = "no such resource for this tenant (`not_found`)"),
    ))]
pub async fn playback_url(
    State(st): State<LiveState>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let r = load(&st, &tenant, &id).await?;
    Ok(axum::Json(playback(&st, &r)).into_response())
}
