//! Cutting an ongoing publish when its key stops being valid: MediaMTX's control API kick by
//! connection id, nginx-rtmp's `control/drop/publisher`. nginx-rtmp also re-checks every
//! publisher on `on_update`, so a missed cut still ends within one update interval.

use framelog_events::MediaServer;

use crate::state::LiveState;
use crate::store::StreamRecord;

/// The MediaMTX control API collection of a protocol's connections.
pub fn mediamtx_collection(protocol: &str) -> &'static str {
    match protocol {
        "rtmps" => "rtmpsconns",
        "rtsp" => "rtspsessions",
        "rtsps" => "rtspssessions",
        "srt" => "srtconns",
        "webrtc" => "webrtcsessions",
        _ => "rtmpconns",
    }
}

/// Asks the media server to drop the stream's publisher, if one is live. Best effort: returns
/// whether a cut was requested successfully.
pub async fn cut_publisher(st: &LiveState, r: &StreamRecord) -> bool {
    let target = match (&r.session, &r.pending_connection) {
        (Some(s), _) => {
            Some((s.server, s.connection_id.clone(), s.protocol.clone(), s.app.clone()))
        }
        (None, Some((id, proto))) => Some((MediaServer::Mediamtx, id.clone(), proto.clone(), None)),
        (None, None) => None,
    };
    let Some((server, conn, protocol, app)) = target else { return false };
    let req = match server {
        MediaServer::NginxRtmp => {
            let Some(base) = &st.settings.nginx_control_url else { return false };
            // nginx application names are plain words; anything else falls back to "live".
            let app = app
                .filter(|a| {
                    !a.is_empty()
                        && a.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                })
                .unwrap_or_else(|| "live".into());
            let base = base.trim_end_matches('/');
            st.http.get(format!("{base}/drop/publisher?app={app}&name={}", r.stream_id))
        }
        MediaServer::Mediamtx => {
            let Some(base) = &st.settings.mediamtx_api_url else { return false };
            st.http.post(format!(
                "{}/v3/{}/kick/{conn}",
                base.trim_end_matches('/'),
                mediamtx_collection(&protocol)
            ))
        }
    };
    match req.send().await {
        Ok(res) if res.status().is_success() => {
            tracing::info!(stream = %r.stream_id, ?server, "publisher cut");
            true
        }
        Ok(res) => {
            tracing::warn!(stream = %r.stream_id, status = %res.status(), "media server refused to cut the publisher");
            false
        }
        Err(e) => {
            tracing::warn!(stream = %r.stream_id, error = %e, "could not reach the media server to cut the publisher");
            false
        }
    }
}
