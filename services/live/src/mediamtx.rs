//! MediaMTX: the HTTP auth webhook (`authHTTPAddress`, every publish and read) and the event
//! bridge that `framelog hook <name>` calls from MediaMTX's `runOn*` hooks.
//!
//! Publishers use `rtmp://host:1935/live/<stream id>?key=<stream key>` (OBS: server
//! `rtmp://host:1935/live`, key `<stream id>?key=<stream key>`), so the path, and every viewer
//! URL derived from it, carries the stream id and never the key.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use framelog_core::ApiError;
use framelog_core::error::extract::Json;
use framelog_core::openapi::{ErrorBody, InternalError, JsonBodyErrors};
use framelog_core::signing::verify_playback_token;
use framelog_events::MediaServer;
use serde::Deserialize;

use crate::recording;
use crate::sessions::{self, Publisher};
use crate::state::LiveState;

/// What MediaMTX posts to `authHTTPAddress`. Every field is optional but `action`: older
/// versions send fewer, newer ones more (unknown fields are ignored).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AuthRequest {
    #[serde(default)]
    pub ip: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub token: Option<String>,
    pub action: String,
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub protocol: String,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub query: String,
}

fn query_param<'a>(q: &'a str, name: &str) -> Option<&'a str> {
    q.split('&').find_map(|kv| kv.split_once('=').filter(|(k, _)| *k == name).map(|(_, v)| v))
}

/// `live/<stream id>` (or a bare id) → the stream id.
pub(crate) fn stream_of_path(path: &str) -> &str {
    path.trim_matches('/').rsplit('/').next().unwrap_or("")
}

fn deny(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

/// `POST /v1/hooks/mediamtx/auth`.
#[utoipa::path(post, path = "/v1/hooks/mediamtx/auth", tag = "hooks", operation_id = "mediamtx_auth",
    request_body(content = AuthRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "allowed"),
        (status = 400, body = ErrorBody,
            description = "malformed input (`invalid_path`, `invalid_query`, `invalid_json` ...)"),
        (status = 401, body = ErrorBody,
            description = "the media server's credentials are refused (`unauthorized`)"),
        (status = 403, body = ErrorBody,
            description = "no or a wrong webhook secret, a proxied call or an address outside the allow list"),
        JsonBodyErrors, InternalError,
    ))]
pub async fn auth(
    State(st): State<LiveState>,
    Json(req): Json<AuthRequest>,
) -> Result<Response, ApiError> {
    let stream = stream_of_path(&req.path).to_owned();
    match req.action.as_str() {
        "publish" => {
            let key = query_param(&req.query, "key")
                .or(req.password.as_deref().filter(|p| !p.is_empty()))
                .or(req.token.as_deref().filter(|t| !t.is_empty()))
                .ok_or_else(|| deny("publishing needs the stream key (?key=...)"))?;
            let from = Publisher {
                server: MediaServer::Mediamtx,
                connection_id: req.id.clone().unwrap_or_default(),
                protocol: req.protocol.clone(),
                remote_addr: req.ip.clone(),
                app: None,
            };
            match sessions::authorize(&st, key, Some(&stream), &from).await? {
                Err(d) => Err(deny(d.reason())),
                Ok(r) => {
                    let want =
                        req.id.clone().filter(|i| !i.is_empty()).map(|i| (i, req.protocol.clone()));
                    if want.is_some()
                        && r.pending_connection != want
                        && let Some(id) = req.id.clone().filter(|i| !i.is_empty())
                    {
                        let proto = req.protocol.clone();
                        let noted = st
                            .streams
                            .update(r.stream_id.as_str(), |x| {
                                let want = Some((id.clone(), proto.clone()));
                                if x.pending_connection == want {
                                    return Ok::<_, ApiError>(false);
                                }
                                x.pending_connection = want;
                                Ok(true)
                            })
                            .await;
                        // The key was checked from the local copy: a store that cannot take the
                        // write (JetStream full or unreachable) does not refuse a valid key.
                        if let Err(e) = noted {
                            tracing::error!(stream = %r.stream_id, error = %e,
                                "publish allowed by its key, but its connection was not recorded");
                        }
                    }
                    Ok(StatusCode::OK.into_response())
                }
            }
        }
        // A viewer reads live media or recorded playback: both need a viewer token (or a
        // public stream), whatever `--live-mediamtx-allow-actions` says.
        "read" | "playback" => {
            let Some(r) = st.streams.get_cached(&stream).await?.filter(|r| !r.deleted) else {
                return Err(deny("unknown stream"));
            };
            if r.public {
                return Ok(StatusCode::OK.into_response());
            }
            let token = req
                .token
                .as_deref()
                .filter(|t| !t.is_empty())
                .or_else(|| query_param(&req.query, "token"));
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            match token
                .map(|t| verify_playback_token(&st.platform.secret, t, r.stream_id.as_str(), now))
            {
                Some(Ok(tenant)) if tenant == r.tenant.as_str() => {
                    Ok(StatusCode::OK.into_response())
                }
                Some(_) => Err(deny("invalid or expired viewer token")),
                None => Err(deny("this stream needs a viewer token (?token=...)")),
            }
        }
        other if st.settings.mediamtx_allow_actions.iter().any(|a| a == other) => {
            Ok(StatusCode::OK.into_response())
        }
        other => Err(deny(&format!("action {other:?} is not allowed"))),
    }
}

/// What `framelog hook <name>` posts (built from MediaMTX's `MTX_*` variables).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HookEvent {
    /// `available`, `unavailable` or `record_segment_complete`.
    pub event: String,
    pub path: String,
    #[serde(default)]
    pub query: Option<String>,
    #[serde(default)]
    pub source_type: Option<String>,
    #[serde(default)]
    pub source_id: Option<String>,
    #[serde(default)]
    pub segment_path: Option<String>,
    #[serde(default)]
    pub segment_duration: Option<String>,
}

fn protocol_of(source_type: &str) -> &'static str {
    match source_type {
        t if t.starts_with("rtmps") => "rtmps",
        t if t.starts_with("rtmp") => "rtmp",
        t if t.starts_with("rtsps") => "rtsps",
        t if t.starts_with("rtsp") => "rtsp",
        t if t.starts_with("srt") => "srt",
        t if t.to_ascii_lowercase().starts_with("webrtc") => "webrtc",
        _ => "unknown",
    }
}

/// `POST /v1/hooks/mediamtx/event`.
#[utoipa::path(post, path = "/v1/hooks/mediamtx/event", tag = "hooks", operation_id = "mediamtx_event",
    request_body(content = HookEvent, content_type = "application/json"),
    responses(
        (status = 204, description = "recorded"),
        (status = 400, body = ErrorBody,
            description = "malformed input (`invalid_path`, `invalid_query`, `invalid_json` ...)"),
        (status = 403, body = ErrorBody,
            description = "no or a wrong webhook secret, a proxied call or an address outside the allow list"),
        (status = 404, body = ErrorBody,
            description = "no such resource for this tenant (`not_found`)"),
        JsonBodyErrors, InternalError,
    ))]
pub async fn event(
    State(st): State<LiveState>,
    Json(ev): Json<HookEvent>,
) -> Result<Response, ApiError> {
    let stream = stream_of_path(&ev.path).to_owned();
    match ev.event.as_str() {
        "available" => {
            let from = Publisher {
                server: MediaServer::Mediamtx,
                connection_id: ev.source_id.clone().unwrap_or_default(),
                protocol: protocol_of(ev.source_type.as_deref().unwrap_or("")).into(),
                remote_addr: None,
                app: None,
            };
            // Only the connection an authorised publish recorded may start a session.
            sessions::start(&st, &stream, &from, sessions::Authorised::Pending).await?;
        }
        "unavailable" => {
            let ended =
                sessions::end(&st, &stream, ev.source_id.as_deref(), "publisher stopped").await?;
            if ended.is_none() {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "no_session",
                    "no live session of this connection",
                ));
            }
        }
        "record_segment_complete" => {
            let path = ev.segment_path.as_deref().ok_or_else(|| {
                ApiError::bad_request("invalid_field", "record_segment_complete needs segment_path")
            })?;
            let Some((r, _)) = st.streams.get(&stream).await? else {
                return Err(ApiError::not_found("stream"));
            };
            // The segment hook names no connection: an authorised MediaMTX session of this
            // stream (current or just ended) must exist.
            let file = std::path::Path::new(path);
            recording::recording_done(&st, &r, MediaServer::Mediamtx, None, file).await?;
        }
        other => {
            return Err(ApiError::bad_request(
                "unknown_event",
                format!("unknown hook event {other:?}"),
            ));
        }
    }
    Ok(StatusCode::OK.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_queries_name_the_stream_and_key() {
        assert_eq!(stream_of_path("live/str_1"), "str_1");
        assert_eq!(stream_of_path("str_1"), "str_1");
        assert_eq!(query_param("a=1&key=abc.def&b", "key"), Some("abc.def"));
        assert_eq!(query_param("", "key"), None);
        assert_eq!(protocol_of("rtmpConn"), "rtmp");
        assert_eq!(protocol_of("rtspSession"), "rtsp");
        assert_eq!(protocol_of("webRTCSession"), "webrtc");
    }
}
