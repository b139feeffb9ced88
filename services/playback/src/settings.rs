//! Playback settings (flags `--playback-*`, variables `FRAMELOG_PLAYBACK_*`).

use std::path::PathBuf;
use std::time::Duration;

/// Whether immutable media is answered with a redirect (`--playback-redirect`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum RedirectMode {
    /// Every file is served by playback.
    #[default]
    Off,
    /// Segments redirect (302) to a URL the store presigned (S3); served here if it cannot.
    Presigned,
    /// Segments redirect to `<--playback-cdn-url>/<key>`.
    Cdn,
}

/// Settings of the playback service.
#[derive(Debug, Clone, clap::Args)]
pub struct PlaybackSettings {
    /// Directory nginx-rtmp writes live HLS into (`hls_nested on`: `<dir>/<stream id>/index.m3u8`).
    /// Default `<data dir>/live/hls`.
    #[arg(long = "playback-live-dir", env = "FRAMELOG_PLAYBACK_LIVE_DIR")]
    pub live_dir: Option<PathBuf>,

    /// Where media is copied to be served when the media store has neither local paths nor
    /// ranged reads (the JetStream Object Store; S3 is streamed by range). Default
    /// `<data dir>/playback-cache`.
    #[arg(long = "playback-fetch-dir", env = "FRAMELOG_PLAYBACK_FETCH_DIR")]
    pub fetch_dir: Option<PathBuf>,

    /// Memory for hot immutable segments, MiB (0 disables the cache).
    #[arg(long = "playback-cache-mb", env = "FRAMELOG_PLAYBACK_CACHE_MB", default_value_t = 256)]
    pub cache_mb: u64,

    /// A cached segment is checked against its file (size, mtime, inode) at most this often,
    /// milliseconds; a deleted or replaced file stops being served within this delay.
    #[arg(
        long = "playback-cache-revalidate-ms",
        env = "FRAMELOG_PLAYBACK_CACHE_REVALIDATE_MS",
        default_value_t = 1000
    )]
    pub cache_revalidate_ms: u64,

    /// View dedup window, seconds: one viewer counts once per window.
    #[arg(
        long = "playback-view-window",
        env = "FRAMELOG_PLAYBACK_VIEW_WINDOW",
        default_value_t = 30
    )]
    pub view_window_secs: u32,

    /// Proxies (IPs or CIDRs, comma-separated) whose `X-Forwarded-For` is believed. Empty: the
    /// peer address is the viewer's address.
    #[arg(
        long = "playback-trusted-proxies",
        env = "FRAMELOG_PLAYBACK_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<String>,

    /// Beacons waiting to be published; when full, beacons are answered 503.
    #[arg(
        long = "playback-beacon-queue",
        env = "FRAMELOG_PLAYBACK_BEACON_QUEUE",
        default_value_t = 65_536
    )]
    pub beacon_queue: usize,

    /// Most view events sent before their acks are awaited together.
    #[arg(
        long = "playback-batch-max",
        env = "FRAMELOG_PLAYBACK_BATCH_MAX",
        default_value_t = 1024
    )]
    pub batch_max: usize,

    /// Egress metering period, seconds (one event per tenant and period at most).
    #[arg(
        long = "playback-egress-period",
        env = "FRAMELOG_PLAYBACK_EGRESS_PERIOD",
        default_value_t = 60
    )]
    pub egress_period_secs: u32,

    /// View beacons per second refilled per viewer address (token bucket; 0 disables the
    /// limit). Beyond it beacons are answered 429 and count nothing.
    #[arg(
        long = "playback-beacon-rate",
        env = "FRAMELOG_PLAYBACK_BEACON_RATE",
        default_value_t = 10.0
    )]
    pub beacon_rate: f64,

    /// View beacons one address may send at once (the bucket size).
    #[arg(
        long = "playback-beacon-burst",
        env = "FRAMELOG_PLAYBACK_BEACON_BURST",
        default_value_t = 100
    )]
    pub beacon_burst: u32,

    /// Distinct player sessions (viewers) one address may count per view window; further new
    /// sessions are answered 429 (an office behind one NAT address is many viewers; a script
    /// inventing a session per beacon is not).
    #[arg(
        long = "playback-beacon-sessions",
        env = "FRAMELOG_PLAYBACK_BEACON_SESSIONS",
        default_value_t = 64
    )]
    pub beacon_sessions: usize,

    /// Viewer addresses the beacon limiter remembers (least recently seen forgotten first).
    #[arg(
        long = "playback-beacon-addresses",
        env = "FRAMELOG_PLAYBACK_BEACON_ADDRESSES",
        default_value_t = 100_000
    )]
    pub beacon_addresses: usize,

    /// Redirect segments, init segments, posters and sprite sheets (never playlists or
    /// storyboards) to a presigned store URL or a CDN instead of serving their bytes.
    #[arg(
        long = "playback-redirect",
        env = "FRAMELOG_PLAYBACK_REDIRECT",
        value_enum,
        default_value_t = RedirectMode::Off
    )]
    pub redirect: RedirectMode,

    /// The CDN base URL for `--playback-redirect cdn` (its origin is the bucket: a key
    /// `hls/<tenant>/<video>/...` is fetched at `<url>/hls/<tenant>/<video>/...`).
    #[arg(long = "playback-cdn-url", env = "FRAMELOG_PLAYBACK_CDN_URL")]
    pub cdn_url: Option<String>,

    /// Lifetime of a presigned redirect URL, seconds (at least 120).
    #[arg(
        long = "playback-redirect-ttl",
        env = "FRAMELOG_PLAYBACK_REDIRECT_TTL",
        default_value_t = 600
    )]
    pub redirect_ttl_secs: u64,

    /// This instance's id in egress events (`[a-z0-9_-]`); default `pb_<random>` at each start.
    #[arg(long = "playback-instance-id", env = "FRAMELOG_PLAYBACK_INSTANCE_ID")]
    pub instance_id: Option<String>,

    /// The Image API's render bounds (`--playback-image-*`).
    #[command(flatten)]
    pub images: crate::image::ImageSettings,
}

impl Default for PlaybackSettings {
    fn default() -> Self {
        PlaybackSettings {
            live_dir: None,
            fetch_dir: None,
            cache_mb: 256,
            cache_revalidate_ms: 1000,
            view_window_secs: 30,
            trusted_proxies: Vec::new(),
            beacon_queue: 65_536,
            batch_max: 1024,
            egress_period_secs: 60,
            beacon_rate: 10.0,
            beacon_burst: 100,
            beacon_sessions: 64,
            beacon_addresses: 100_000,
            instance_id: None,
            redirect: RedirectMode::Off,
            cdn_url: None,
            redirect_ttl_secs: 600,
            images: crate::image::ImageSettings::default(),
        }
    }
}

impl PlaybackSettings {
    /// The view dedup window (at least one second).
    pub fn view_window(&self) -> i64 {
        i64::from(self.view_window_secs.max(1))
    }

    /// The beacon limiter's configuration.
    pub fn beacon_limits(&self) -> crate::limiter::LimiterConfig {
        crate::limiter::LimiterConfig {
            rate: if self.beacon_rate.is_finite() { self.beacon_rate.max(0.0) } else { 0.0 },
            burst: self.beacon_burst.max(1),
            sessions: self.beacon_sessions,
            addresses: self.beacon_addresses.max(1),
        }
    }

    /// The redirect policy; an error naming the flag if `cdn` mode has no usable URL.
    pub fn redirects(&self) -> Result<crate::redirect::Redirects, String> {
        let cdn = self.cdn_url.as_deref().map(str::trim).filter(|u| !u.is_empty());
        if self.redirect == RedirectMode::Cdn {
            match cdn {
                Some(u) if u.starts_with("https://") || u.starts_with("http://") => {}
                _ => {
                    return Err(
                        "--playback-redirect cdn needs --playback-cdn-url http(s)://...".into()
                    );
                }
            }
        }
        let ttl = Duration::from_secs(self.redirect_ttl_secs);
        Ok(crate::redirect::Redirects::new(self.redirect, cdn, ttl))
    }

    /// The egress period (at least one second).
    pub fn egress_period(&self) -> Duration {
        Duration::from_secs(u64::from(self.egress_period_secs.max(1)))
    }

    /// The segment cache budget in bytes.
    pub fn cache_bytes(&self) -> u64 {
        self.cache_mb.saturating_mul(1024 * 1024)
    }

    /// How often a cached segment is checked against its file.
    pub fn cache_revalidate(&self) -> Duration {
        Duration::from_millis(self.cache_revalidate_ms)
    }
}
