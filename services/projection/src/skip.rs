//! [`skip`]: the operator's way past a message no build can read. The projection stops before
//! such a message rather than lose it silently; once the operator decides it is lost anyway
//! (`framelog projection skip --stream VID --seq N`, with the projection stopped), the store
//! records the decision and the projection reads past exactly that message at its next start.
//! A readable message is never skipped: the command refuses, and the projector only honours a
//! skip for a message it cannot read.

use framelog_core::Platform;
use framelog_core::nats::{STREAM_VID, STREAM_VIEW};
use framelog_events::{Decoded, Event};
use serde::Serialize;
use tracing::instrument;

use crate::error::ProjectionError;
use crate::store::Store;

/// What [`skip`] recorded.
#[derive(Debug, Clone, Serialize)]
pub struct SkipReport {
    pub stream: &'static str,
    pub seq: u64,
    /// Why the message cannot be read.
    pub reason: String,
    /// The store's applied sequence of that stream.
    pub applied: u64,
}

/// Why a skip was refused.
#[derive(Debug, thiserror::Error)]
pub enum SkipError {
    #[error("unknown stream {0:?}: the projection reads VID and VID_VIEW")]
    Stream(String),
    #[error("message {seq} of {stream} is readable ({what}): skipping it would lose it")]
    Readable { stream: &'static str, seq: u64, what: String },
    #[error("message {seq} of {stream} cannot be read from the stream: {message}")]
    Missing { stream: &'static str, seq: u64, message: String },
    #[error(transparent)]
    Projection(#[from] ProjectionError),
}

/// The projection's name of a stream.
pub fn stream_name(s: &str) -> Result<&'static str, SkipError> {
    [STREAM_VID, STREAM_VIEW]
        .into_iter()
        .find(|n| n.eq_ignore_ascii_case(s))
        .ok_or_else(|| SkipError::Stream(s.to_owned()))
}

/// Records in `platform.db`'s store that the unreadable message `seq` of `stream` is to be
/// read past, after checking on the server that it exists and is unreadable.
#[instrument(skip(platform), err)]
pub async fn skip(platform: &Platform, stream: &str, seq: u64) -> Result<SkipReport, SkipError> {
    let stream = stream_name(stream)?;
    let missing = |message: String| SkipError::Missing { stream, seq, message };
    let s = platform.js.get_stream(stream).await.map_err(|e| missing(e.to_string()))?;
    let msg = s.get_raw_message(seq).await.map_err(|e| missing(e.to_string()))?;
    let reason = match Event::decode(&msg.payload) {
        Ok(Decoded::Event(e)) => {
            let what = format!("{} {}", e.kind().event_type(), e.data.phase());
            return Err(SkipError::Readable { stream, seq, what });
        }
        Ok(Decoded::Unknown(u)) => {
            let what = format!("{}, a type the projection reads past anyway", u.event_type);
            return Err(SkipError::Readable { stream, seq, what });
        }
        Err(e) => e.to_string(),
    };
    let store = Store::open(&platform.db)?;
    store.mark_skip(stream, seq)?;
    store.flush().await?;
    Ok(SkipReport { stream, seq, reason, applied: store.applied(stream)? })
}
