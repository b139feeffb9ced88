//! Live settings (flags `--live-*`, variables `FRAMELOG_LIVE_*`).

/// Settings of the live-auth service.
#[derive(Debug, Clone, clap::Args)]
pub struct LiveSettings {
    /// RTMP ingest URL shown to publishers (OBS "Server").
    #[arg(
        long = "live-rtmp-url",
        env = "FRAMELOG_LIVE_RTMP_URL",
        default_value = "rtmp://127.0.0.1:1935/live"
    )]
    pub rtmp_url: String,

    /// Shared secret that webhook calls must carry as `?secret=` (unset: not required).
    #[arg(long = "live-hook-secret", env = "FRAMELOG_LIVE_HOOK_SECRET", hide_env_values = true)]
    pub hook_secret: Option<String>,

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

    /// MediaMTX control API base URL (e.g. http://127.0.0.1:9997), to kick publishers.
    #[arg(long = "live-mediamtx-api-url", env = "FRAMELOG_LIVE_MEDIAMTX_API_URL")]
    pub mediamtx_api_url: Option<String>,

    /// MediaMTX actions besides publish/read to allow (api, metrics, pprof, playback).
    #[arg(
        long = "live-mediamtx-allow-actions",
        env = "FRAMELOG_LIVE_MEDIAMTX_ALLOW_ACTIONS",
        value_delimiter = ','
    )]
    pub mediamtx_allow_actions: Vec<String>,

    /// Lifetime of viewer tokens in live playback URLs (seconds).
    #[arg(long = "live-viewer-token-ttl", env = "FRAMELOG_LIVE_VIEWER_TOKEN_TTL", default_value_t = 6 * 3600)]
    pub viewer_token_ttl_secs: i64,
}

impl Default for LiveSettings {
    fn default() -> Self {
        LiveSettings {
            rtmp_url: "rtmp://127.0.0.1:1935/live".into(),
            hook_secret: None,
            hook_allow: vec!["127.0.0.1".into(), "::1".into()],
            nginx_control_url: None,
            mediamtx_api_url: None,
            mediamtx_allow_actions: Vec::new(),
            viewer_token_ttl_secs: 6 * 3600,
        }
    }
}
