//! Ingest settings (flags `--ingest-*`, variables `FRAMELOG_INGEST_*`).

use std::time::Duration;

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
}
