//! Ingest settings (flags `--ingest-*`, variables `FRAMELOG_INGEST_*`).

use std::time::Duration;

use framelog_core::media_limits::{self as ml, MediaLimits};

/// 5 MiB: the default REST chunk size.
pub const DEFAULT_CHUNK_SIZE: u64 = 5 * 1024 * 1024;

/// Settings of the ingest service.
#[derive(Debug, Clone, clap::Args)]
pub struct IngestSettings {
    /// REST chunk size in bytes (every chunk but the last has exactly this size).
    #[arg(long = "ingest-chunk-size", env = "FRAMELOG_INGEST_CHUNK_SIZE", default_value_t = DEFAULT_CHUNK_SIZE)]
    pub chunk_size: u64,

    /// Largest accepted upload in bytes (larger: 413).
    #[arg(long = "ingest-max-upload-size", env = "FRAMELOG_INGEST_MAX_UPLOAD_SIZE", default_value_t = 20 * 1024 * 1024 * 1024)]
    pub max_upload_size: u64,

    /// An upload idle for longer than this is removed (seconds).
    #[arg(long = "ingest-idle-timeout", env = "FRAMELOG_INGEST_IDLE_TIMEOUT", default_value_t = 24 * 3600)]
    pub idle_timeout_secs: u64,

    /// How often abandoned uploads are looked for (seconds).
    #[arg(long = "ingest-gc-interval", env = "FRAMELOG_INGEST_GC_INTERVAL", default_value_t = 6 * 3600)]
    pub gc_interval_secs: u64,

    /// Longest ffprobe may take on an upload (seconds).
    #[arg(
        long = "ingest-probe-timeout",
        env = "FRAMELOG_INGEST_PROBE_TIMEOUT",
        default_value_t = 60
    )]
    pub probe_timeout_secs: u64,

    // Quotas per tenant (see `quota.rs`).
    /// Incomplete uploads one tenant may have open (0: no limit); one more answers 429.
    #[arg(
        long = "ingest-max-open-uploads",
        env = "FRAMELOG_INGEST_MAX_OPEN_UPLOADS",
        default_value_t = 100
    )]
    pub max_open_uploads: usize,

    /// Bytes of sources (open uploads by declared size, plus stored sources) one tenant may
    /// hold (0: no limit); an upload that would pass it answers 413 `storage_quota_exceeded`.
    #[arg(
        long = "ingest-storage-quota-bytes",
        env = "FRAMELOG_INGEST_STORAGE_QUOTA_BYTES",
        default_value_t = 0
    )]
    pub storage_quota_bytes: u64,

    // URL ingest (see `url_ingest.rs`).
    /// Longest silence while downloading a URL source (seconds); then `input_timeout`.
    #[arg(
        long = "ingest-url-read-timeout",
        env = "FRAMELOG_INGEST_URL_READ_TIMEOUT",
        default_value_t = 30
    )]
    pub url_read_timeout_secs: u64,

    /// Longest a URL source's whole download may take (seconds); then `input_timeout`.
    #[arg(long = "ingest-url-timeout", env = "FRAMELOG_INGEST_URL_TIMEOUT", default_value_t = 2 * 3600)]
    pub url_total_timeout_secs: u64,

    /// A URL fetch whose ingest process stopped renewing its lease this long (seconds) is
    /// restarted by any ingest process.
    #[arg(long = "ingest-url-lease", env = "FRAMELOG_INGEST_URL_LEASE", default_value_t = 30)]
    pub url_lease_secs: u64,
    /// The public base URL of the API (e.g. `https://video.example`), used in direct-upload
    /// URLs; unset: `http://<Host of the request>`.
    #[arg(long = "public-url", env = "FRAMELOG_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// What an uploaded video may ask of the transcoder (checked at completion).
    #[command(flatten)]
    pub limits: IngestLimits,
}

impl Default for IngestSettings {
    fn default() -> Self {
        IngestSettings {
            chunk_size: DEFAULT_CHUNK_SIZE,
            max_upload_size: 20 * 1024 * 1024 * 1024,
            idle_timeout_secs: 24 * 3600,
            gc_interval_secs: 6 * 3600,
            probe_timeout_secs: 60,
            // Quotas per tenant.
            max_open_uploads: 100,
            storage_quota_bytes: 0,
            // URL ingest.
            url_read_timeout_secs: 30,
            url_total_timeout_secs: 2 * 3600,
            url_lease_secs: 30,
            public_url: None,
            limits: IngestLimits::default(),
        }
    }
}

impl IngestSettings {
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }
    pub fn gc_interval(&self) -> Duration {
        Duration::from_secs(self.gc_interval_secs.max(1))
    }
    pub fn probe_timeout(&self) -> Duration {
        Duration::from_secs(self.probe_timeout_secs.max(1))
    }
    /// The lease of a URL fetch.
    pub fn url_lease(&self) -> Duration {
        Duration::from_secs(self.url_lease_secs.max(1))
    }
}

// ---- Media limits (issue #13, hostile media) --------------------------------------------------

/// Limits on an upload's declared media (`--ingest-max-*`), checked from ffprobe at completion;
/// a violation answers 422 and publishes `VID_UPLOAD rejected`. Defaults and why: see
/// `framelog_core::media_limits`.
#[derive(Debug, Clone, clap::Args)]
pub struct IngestLimits {
    /// Longest accepted video, seconds.
    #[arg(
        long = "ingest-max-duration-secs",
        id = "ingest_max_duration_secs",
        value_name = "SECS",
        env = "FRAMELOG_INGEST_MAX_DURATION_SECS",
        default_value_t = ml::DEFAULT_MAX_DURATION_SECS
    )]
    pub max_duration_secs: f64,
    /// Widest accepted frame, pixels.
    #[arg(
        long = "ingest-max-width",
        id = "ingest_max_width",
        value_name = "PIXELS",
        env = "FRAMELOG_INGEST_MAX_WIDTH",
        default_value_t = ml::DEFAULT_MAX_WIDTH
    )]
    pub max_width: u32,
    /// Tallest accepted frame, pixels.
    #[arg(
        long = "ingest-max-height",
        id = "ingest_max_height",
        value_name = "PIXELS",
        env = "FRAMELOG_INGEST_MAX_HEIGHT",
        default_value_t = ml::DEFAULT_MAX_HEIGHT
    )]
    pub max_height: u32,
    /// Largest frame, width × height.
    #[arg(
        long = "ingest-max-pixels",
        id = "ingest_max_pixels",
        value_name = "PIXELS",
        env = "FRAMELOG_INGEST_MAX_PIXELS",
        default_value_t = ml::DEFAULT_MAX_PIXELS
    )]
    pub max_pixels: u64,
    /// Highest frame rate, fps.
    #[arg(
        long = "ingest-max-fps",
        id = "ingest_max_fps",
        value_name = "FPS",
        env = "FRAMELOG_INGEST_MAX_FPS",
        default_value_t = ml::DEFAULT_MAX_FPS
    )]
    pub max_fps: f64,
    /// Most decode work: width × height × fps × duration, in gigapixels.
    #[arg(
        long = "ingest-max-gigapixels",
        id = "ingest_max_gigapixels",
        value_name = "GIGAPIXELS",
        env = "FRAMELOG_INGEST_MAX_GIGAPIXELS",
        default_value_t = ml::DEFAULT_MAX_GIGAPIXELS
    )]
    pub max_gigapixels: f64,
    /// Most streams in the container.
    #[arg(
        long = "ingest-max-streams",
        id = "ingest_max_streams",
        value_name = "COUNT",
        env = "FRAMELOG_INGEST_MAX_STREAMS",
        default_value_t = ml::DEFAULT_MAX_STREAMS
    )]
    pub max_streams: u32,
}

impl Default for IngestLimits {
    fn default() -> Self {
        IngestLimits::from(MediaLimits::default())
    }
}

impl From<MediaLimits> for IngestLimits {
    fn from(l: MediaLimits) -> Self {
        IngestLimits {
            max_duration_secs: l.max_duration_secs,
            max_width: l.max_width,
            max_height: l.max_height,
            max_pixels: l.max_pixels,
            max_fps: l.max_fps,
            max_gigapixels: l.max_gigapixels,
            max_streams: l.max_streams,
        }
    }
}

impl IngestLimits {
    /// The limits to check.
    pub fn media_limits(&self) -> MediaLimits {
        MediaLimits {
            max_duration_secs: self.max_duration_secs,
            max_width: self.max_width,
            max_height: self.max_height,
            max_pixels: self.max_pixels,
            max_fps: self.max_fps,
            max_gigapixels: self.max_gigapixels,
            max_streams: self.max_streams,
        }
    }
}
