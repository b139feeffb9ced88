//! [`ProjectionError`]: what can go wrong while projecting, rebuilding or starting.

/// A projection failure (infrastructure, not a bad event: bad events are skipped and logged).
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    #[error("a stored value in {tree} is unreadable: {message}")]
    Corrupt { tree: &'static str, message: String },
    #[error("JetStream {what}: {message}")]
    JetStream { what: &'static str, message: String },
    #[error("reading the price table {path}: {message}")]
    PriceTable { path: String, message: String },
}

impl ProjectionError {
    /// A JetStream failure while doing `what`.
    pub fn js(what: &'static str, e: impl std::fmt::Display) -> Self {
        ProjectionError::JetStream { what, message: e.to_string() }
    }
}
