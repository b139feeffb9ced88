//! Settings shared by every service (DESIGN §6, the operating contract): flags with
//! `FRAMELOG_*` environment fallbacks. Library code never reads the environment itself.

use std::path::PathBuf;

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (default on a terminal).
    Human,
    /// One JSON object per line (for log shippers).
    Json,
}

/// Settings every service needs.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonSettings {
    /// NATS server URL(s), comma-separated for a cluster.
    #[arg(long, env = "FRAMELOG_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,

    /// Directory for sled stores, uploads and media.
    #[arg(long, env = "FRAMELOG_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// File holding the server's HMAC secret (stream keys, playback tokens). Generated into the
    /// data dir on first start if absent.
    #[arg(long, env = "FRAMELOG_SECRET_FILE")]
    pub secret_file: Option<PathBuf>,

    /// Log format.
    #[arg(long, env = "FRAMELOG_LOG_FORMAT", value_enum, default_value = "human")]
    pub log_format: LogFormat,

    /// Replicas of streams, KV and object buckets (1 on one node, 3 on a cluster).
    #[arg(long, env = "FRAMELOG_REPLICAS", default_value_t = 1)]
    pub replicas: usize,

    /// Size limit of the `VID_VIEW` stream in bytes (its oldest views are dropped beyond it).
    /// Unset: the limit already on the server is kept (10 GiB for a new stream).
    #[arg(long = "view-stream-max-bytes", env = "FRAMELOG_VIEW_STREAM_MAX_BYTES")]
    pub view_stream_max_bytes: Option<u64>,
}

impl CommonSettings {
    /// Settings for tests and tools: a NATS URL and a data dir, defaults elsewhere.
    pub fn for_test(nats_url: &str, data_dir: PathBuf) -> Self {
        CommonSettings {
            nats_url: nats_url.to_owned(),
            data_dir,
            secret_file: None,
            log_format: LogFormat::Human,
            replicas: 1,
            view_stream_max_bytes: None,
        }
    }

    /// The secret file path: the flag, or `<data dir>/secret.key`.
    pub fn secret_path(&self) -> PathBuf {
        self.secret_file.clone().unwrap_or_else(|| self.data_dir.join("secret.key"))
    }

    /// The NATS server URLs.
    pub fn nats_urls(&self) -> Vec<String> {
        self.nats_url
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
}
