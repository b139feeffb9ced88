//! [`ProjectionError`]: what can go wrong while projecting, rebuilding or starting.

/// A projection failure: infrastructure, a cursor that no longer fits its stream, or (while
/// rebuilding) a message no build can read.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    #[error("a stored value in {tree} is unreadable: {message}")]
    Corrupt { tree: &'static str, message: String },
    #[error("JetStream {what}: {message}")]
    JetStream { what: &'static str, message: String },
    #[error("{0}")]
    Cursor(#[from] crate::cursor::CursorMismatch),
    #[error(
        "message {seq} of {stream} is unreadable ({reason}); the projection stops there rather \
         than skip it: upgrade Framelog if a newer version wrote it, or, once you have decided \
         to lose it, stop the projection and run `framelog projection skip --stream {stream} \
         --seq {seq}`"
    )]
    Unreadable { stream: &'static str, seq: u64, reason: String },
    #[error("reading the price table {path}: {message}")]
    PriceTable { path: String, message: String },
}

impl ProjectionError {
    /// A JetStream failure while doing `what`.
    pub fn js(what: &'static str, e: impl std::fmt::Display) -> Self {
        ProjectionError::JetStream { what, message: e.to_string() }
    }
}
