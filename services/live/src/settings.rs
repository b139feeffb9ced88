//! Live settings (flags `--live-*`, variables `FRAMELOG_LIVE_*`).

use std::path::PathBuf;

/// Settings of the live-auth service. Its `Debug` never shows the webhook secret.
#[derive(Clone, clap::Args)]
pub struct LiveSettings {
    /// RTMP ingest URL shown to publishers (OBS "Server").
    #[arg(
        long = "live-rtmp-url",
        env = "FRAMELOG_LIVE_RTMP_URL",
        default_value = "rtmp://127.0.0.1:1935/live"
    )]
    pub rtmp_url: String,

    /// The webhook secret itself (overrides the file; prefer the file: argv is visible to
    /// other local users). Every webhook call must carry it, as `?secret=`, as
    /// `X-Framelog-Hook-Secret` or as `Authorization: Bearer`.
    #[arg(long = "live-hook-secret", env = "FRAMELOG_LIVE_HOOK_SECRET", hide_env_values = true)]
    pub hook_secret: Option<String>,

    /// File holding the webhook secret (default `<data dir>/hook-secret`, generated with mode
    /// 0600 on first start if absent).
    #[arg(long = "live-hook-secret-file", env = "FRAMELOG_LIVE_HOOK_SECRET_FILE")]
    pub hook_secret_file: Option<PathBuf>,

    /// The media servers' recordings directories (nginx-rtmp `record_path`, MediaMTX
    /// `recordPath` root), comma-separated; a recording hook naming a file anywhere else is
    /// refused. Default `<data dir>/live/recordings`.
    #[arg(
        long = "live-recordings-dir",
        env = "FRAMELOG_LIVE_RECORDINGS_DIR",
        value_delimiter = ','
    )]
    pub recordings_dirs: Vec<PathBuf>,

    /// Most live (not deleted) streams a tenant may have; creating one more answers 429.
    #[arg(
        long = "live-max-streams-per-tenant",
        env = "FRAMELOG_LIVE_MAX_STREAMS_PER_TENANT",
        default_value_t = 100
    )]
    pub max_streams_per_tenant: usize,

    /// At most one `publish_denied` event per (stream, remote address) in this many seconds;
    /// the next one carries how many were suppressed.
    #[arg(
        long = "live-denied-audit-window",
        env = "FRAMELOG_LIVE_DENIED_AUDIT_WINDOW",
        default_value_t = 60
    )]
    pub denied_audit_window_secs: u64,

    /// Source addresses allowed to call the webhooks (comma-separated IPs, or `any`).
    #[arg(
        long = "live-hook-allow",
        env = "FRAMELOG_LIVE_HOOK_ALLOW",
        value_delimiter = ',',
        default_value = "127.0.0.1,::1"
    )]
    pub hook_allow: Vec<String>,

    /// nginx-rtmp `rtmp_control` base URL (e.g. http://127.0.0.1:8081/control), to cut
    /// publishers when a key is rotated or a stream deleted.
    #[arg(long = "live-nginx-control-url", env = "FRAMELOG_LIVE_NGINX_CONTROL_URL")]
    pub nginx_control_url: Option<String>,

    /// MediaMTX control API base URL (e.g. http://127.0.0.1:9997), to kick publishers and to
    /// poll `GET /v3/paths/list` for sightings of its sessions (the reaper ends MediaMTX
    /// sessions only with it, and only while it answers).
    #[arg(
        long = "live-mediamtx-api-url",
        alias = "live-mediamtx-api",
        env = "FRAMELOG_LIVE_MEDIAMTX_API_URL"
    )]
    pub mediamtx_api_url: Option<String>,

    /// Poll the MediaMTX API's path list every this many seconds (0: never, and MediaMTX
    /// sessions are then never reaped). Keep `--live-reap-after` well above this period plus
    /// `--live-seen-every`.
    #[arg(
        long = "live-mediamtx-poll-every",
        env = "FRAMELOG_LIVE_MEDIAMTX_POLL_EVERY",
        default_value_t = 5
    )]
    pub mediamtx_poll_every_secs: u64,

    /// MediaMTX actions besides publish/read/playback to allow without a check (api, metrics,
    /// pprof). `playback` always needs a viewer token, like `read`, whatever this says.
    #[arg(
        long = "live-mediamtx-allow-actions",
        env = "FRAMELOG_LIVE_MEDIAMTX_ALLOW_ACTIONS",
        value_delimiter = ','
    )]
    pub mediamtx_allow_actions: Vec<String>,

    /// Lifetime of viewer tokens in live playback URLs (seconds).
    #[arg(long = "live-viewer-token-ttl", env = "FRAMELOG_LIVE_VIEWER_TOKEN_TTL", default_value_t = 6 * 3600)]
    pub viewer_token_ttl_secs: i64,

    /// End a live session its media server has not reported for this many seconds (it died
    /// without `publish_done`), billed up to the last sight; 0 never reaps. nginx-rtmp reports
    /// every `notify_update_timeout` (5 s in the shipped config) through `on_update`: keep this
    /// well above that period (a few periods), or live sessions are ended between two reports.
    #[arg(long = "live-reap-after", env = "FRAMELOG_LIVE_REAP_AFTER", default_value_t = 90)]
    pub reap_after_secs: u64,

    /// Write a session's `last_seen` to the stream record at most once per this many seconds
    /// (each sighting in between costs no KV write; billing may lose up to this much).
    #[arg(long = "live-seen-every", env = "FRAMELOG_LIVE_SEEN_EVERY", default_value_t = 10)]
    pub seen_every_secs: u64,
}

impl Default for LiveSettings {
    fn default() -> Self {
        LiveSettings {
            rtmp_url: "rtmp://127.0.0.1:1935/live".into(),
            hook_secret: None,
            hook_secret_file: None,
            recordings_dirs: Vec::new(),
            max_streams_per_tenant: 100,
            denied_audit_window_secs: 60,
            hook_allow: vec!["127.0.0.1".into(), "::1".into()],
            nginx_control_url: None,
            mediamtx_api_url: None,
            mediamtx_poll_every_secs: 5,
            mediamtx_allow_actions: Vec::new(),
            viewer_token_ttl_secs: 6 * 3600,
            reap_after_secs: 90,
            seen_every_secs: 10,
        }
    }
}

impl std::fmt::Debug for LiveSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveSettings")
            .field("rtmp_url", &self.rtmp_url)
            .field("hook_secret", &self.hook_secret.as_ref().map(|_| "<redacted>"))
            .field("hook_secret_file", &self.hook_secret_file)
            .field("recordings_dirs", &self.recordings_dirs)
            .field("max_streams_per_tenant", &self.max_streams_per_tenant)
            .field("denied_audit_window_secs", &self.denied_audit_window_secs)
            .field("hook_allow", &self.hook_allow)
            .field("nginx_control_url", &self.nginx_control_url)
            .field("mediamtx_api_url", &self.mediamtx_api_url)
            .field("mediamtx_poll_every_secs", &self.mediamtx_poll_every_secs)
            .field("mediamtx_allow_actions", &self.mediamtx_allow_actions)
            .field("viewer_token_ttl_secs", &self.viewer_token_ttl_secs)
            .field("reap_after_secs", &self.reap_after_secs)
            .field("seen_every_secs", &self.seen_every_secs)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_webhook_secret() {
        let s =
            LiveSettings { hook_secret: Some("do-not-print-me-0123".into()), ..Default::default() };
        let d = format!("{s:?}");
        assert!(!d.contains("do-not-print-me"), "{d}");
        assert!(d.contains("<redacted>"));
    }
}
