//! nginx-rtmp callbacks at `POST /v1/hooks/nginx-rtmp/{call}` (form bodies; the publisher's
//! own query arguments are appended to the form, so `?key=` arrives as a field).
//!
//! Publishers push to `rtmp://host/live/<stream id>?key=<stream key>` (OBS: server
//! `rtmp://host/live`, stream key `<stream id>?key=<stream key>`), the same form MediaMTX uses.
//! The stream name, and so the live HLS directory and every viewer URL, is the stream id.
//!
//! Why not the seed's `live/<key>` answered with a redirect to the stream id: nginx-rtmp's HLS
//! module handles a publish *before* the notify module (it registers later, so it runs first),
//! so a redirect renames the stream for the live module but the HLS files stay under the key
//! (our end-to-end test showed exactly that). A publish that uses the key as its name is
//! therefore refused with a message naming the right URL.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use framelog_core::ApiError;
use framelog_core::error::extract::{Form, Path};
use framelog_core::openapi::{ErrorBody, InternalError};
use framelog_events::MediaServer;

use crate::sessions::{self, Publisher};
use crate::state::LiveState;
use crate::{keys, recording};

type Fields = Vec<(String, String)>;

/// The form fields a callback reads (documentation of [`Fields`] for the OpenAPI document: the
/// handler takes the raw pairs, since nginx-rtmp appends the publisher's query arguments).
#[derive(Debug, utoipa::ToSchema)]
pub struct NginxFields {
    /// The stream name: the stream id.
    pub name: String,
    /// nginx-rtmp's connection id.
    pub clientid: Option<String>,
    /// The publisher's address.
    pub addr: Option<String>,
    /// The RTMP application (`live`).
    pub app: Option<String>,
    /// The stream key, from the publisher's `?key=`.
    pub key: Option<String>,
    /// The recorded file (`record_done`).
    pub path: Option<String>,
}

fn field<'a>(f: &'a Fields, name: &str) -> Option<&'a str> {
    f.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// The stream a callback is about: the name is the stream id, or (before the rename) the key.
fn stream_of_name(name: &str) -> String {
    keys::stream_of(name).unwrap_or(name).to_owned()
}

fn publisher(f: &Fields) -> Publisher {
    Publisher {
        server: MediaServer::NginxRtmp,
        connection_id: field(f, "clientid").unwrap_or_default().to_owned(),
        protocol: "rtmp".into(),
        remote_addr: field(f, "addr").map(str::to_owned),
        app: field(f, "app").map(str::to_owned),
    }
}

/// `POST /v1/hooks/nginx-rtmp/{call}`.
#[utoipa::path(post, path = "/v1/hooks/nginx-rtmp/{call}", tag = "hooks", operation_id = "nginx_rtmp_callback",
    params(
        ("call" = String, Path, description = "`publish`, `publish_done`, `update` or `record_done`"),
    ),
    request_body(content = NginxFields, content_type = "application/x-www-form-urlencoded", description = "nginx-rtmp's form fields (`call`, `name`, `addr`, `clientid`, `app`, ...) and the publisher's query arguments (`key`)"),
    responses(
        (status = 200, description = "allowed (nginx-rtmp: any 2xx)"),
        (status = 400, body = ErrorBody,
            description = "malformed input (`invalid_path`, `invalid_query`, `invalid_json` ...)"),
        (status = 401, body = ErrorBody,
            description = "the media server's credentials are refused (`unauthorized`)"),
        (status = 403, body = ErrorBody,
            description = "no or a wrong webhook secret, a proxied call or an address outside the allow list"),
        (status = 404, body = ErrorBody,
            description = "no such resource for this tenant (`not_found`)"),
        InternalError,
    ))]
pub async fn callback(
    State(st): State<LiveState>,
    Path(call): Path<String>,
    Form(f): Form<Fields>,
) -> Result<Response, ApiError> {
    let name = field(&f, "name")
        .filter(|n| !n.is_empty() && n.len() <= 256)
        .ok_or_else(|| ApiError::bad_request("invalid_form", "the callback has no stream name"))?;
    match call.as_str() {
        "publish" => publish(&st, &f, name).await,
        "publish_done" => {
            // Only the session of the connection nginx names ends (no id: refused).
            let stream = stream_of_name(name);
            match sessions::end(&st, &stream, field(&f, "clientid"), "publisher stopped").await? {
                Some(_) => Ok(StatusCode::OK.into_response()),
                None => Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "no_session",
                    "no live session of this connection",
                )),
            }
        }
        "update" => {
            let stream = stream_of_name(name);
            let conn = field(&f, "clientid").unwrap_or_default();
            if sessions::still_valid(&st, &stream, conn).await?
                || sessions::key_still_opens(&st, &stream, field(&f, "key")).await?
            {
                Ok(StatusCode::OK.into_response())
            } else {
                // A non-2xx answer to on_update ends the session in nginx-rtmp.
                Err(ApiError::forbidden("the stream key was rotated or the stream deleted"))
            }
        }
        "record_done" => {
            let stream = stream_of_name(name);
            let path = field(&f, "path")
                .ok_or_else(|| ApiError::bad_request("invalid_form", "record_done without path"))?;
            let Some((r, _)) = st.streams.get(&stream).await? else {
                return Err(ApiError::not_found("stream"));
            };
            // The connection must be the session's (an empty id matches none).
            let conn = field(&f, "clientid").unwrap_or_default();
            let server = MediaServer::NginxRtmp;
            recording::recording_done(&st, &r, server, Some(conn), std::path::Path::new(path))
                .await?;
            Ok(StatusCode::OK.into_response())
        }
        _ => Err(ApiError::not_found("callback")),
    }
}

async fn publish(st: &LiveState, f: &Fields, name: &str) -> Result<Response, ApiError> {
    let from = publisher(f);
    let Some(key) = field(f, "key") else {
        let hint = if keys::stream_of(name).is_some() {
            // The key was used as the stream name: it would name the HLS output. Refuse.
            sessions::deny_misplaced_key(st, name, &from).await?;
            "do not use the stream key as the stream name: publish to live/<stream id>?key=<stream key>"
        } else {
            "publishing needs the stream key: live/<stream id>?key=<stream key>"
        };
        return Err(ApiError::forbidden(hint));
    };
    match sessions::authorize(st, key, Some(name), &from).await? {
        Err(denial) => Err(ApiError::forbidden(denial.reason())),
        Ok(r) => {
            let started =
                sessions::start(st, r.stream_id.as_str(), &from, sessions::Authorised::Now).await;
            // The key was checked from the local copy: a session that cannot be recorded
            // (JetStream full or unreachable) does not refuse a valid key; `on_update` then
            // keeps it by its key (see `update`).
            if let Err(e) = started {
                tracing::error!(stream = %r.stream_id, error = %e,
                    "publish allowed by its key, but its session was not recorded");
            }
            Ok(StatusCode::OK.into_response())
        }
    }
}
