//! Why the playback service could not start.

/// A start-up failure.
#[derive(Debug, thiserror::Error)]
pub enum PlaybackError {
    #[error("creating the KV bucket {bucket}: {source}")]
    Kv { bucket: &'static str, source: Box<dyn std::error::Error + Send + Sync> },
    #[error("invalid --playback-instance-id {id:?}: {source}")]
    InstanceId { id: String, source: framelog_events::IdError },
    #[error("invalid --playback-trusted-proxies entry {0:?} (expected an IP address or a CIDR)")]
    TrustedProxy(String),
    #[error("invalid redirect settings: {0}")]
    Redirect(String),
    #[error("creating the directory {path}: {source}")]
    Dir { path: String, source: std::io::Error },
}
