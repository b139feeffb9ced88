//! Events an older build read past. A build that does not know a phase or type reads past it
//! (folds ignore it) and notes its sequence in the store. After an upgrade, the new build looks
//! at those notes when it binds: if it can read one of them now, the views lack an event this
//! build would have applied, so it says so (`/readyz` problem, error log) and names the remedy,
//! `framelog projection rebuild`, instead of serving views that silently differ from a rebuild.

use async_nats::jetstream;
use async_nats::jetstream::stream::RawMessageErrorKind;
use framelog_events::{Decoded, Event};

use crate::error::ProjectionError;
use crate::store::Store;

/// Most notes looked at per bind (each is one direct read from the stream).
pub const MAX_CHECKED: usize = 10_000;

/// Read-past events this build understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Understood {
    /// How many.
    pub count: usize,
    /// The lowest sequence among them.
    pub first: u64,
}

/// Re-reads the noted sequences of `stream`; forgets the notes whose message is gone.
pub async fn check(
    js: &jetstream::Context,
    store: &Store,
    stream_name: &'static str,
) -> Result<Option<Understood>, ProjectionError> {
    let notes = store.read_past(stream_name)?;
    if notes.is_empty() {
        return Ok(None);
    }
    let stream =
        js.get_stream(stream_name).await.map_err(|e| ProjectionError::js("get stream", e))?;
    let mut understood: Option<Understood> = None;
    for seq in notes.into_iter().take(MAX_CHECKED) {
        let msg = match stream.get_raw_message(seq).await {
            Ok(m) => m,
            Err(e) if matches!(e.kind(), RawMessageErrorKind::NoMessageFound) => {
                store.forget_read_past(stream_name, seq)?;
                continue;
            }
            Err(e) => return Err(ProjectionError::js("read a read-past event", e)),
        };
        if let Ok(Decoded::Event(e)) = Event::decode(&msg.payload)
            && !e.is_unknown()
        {
            let u = understood.get_or_insert(Understood { count: 0, first: seq });
            u.count += 1;
        }
    }
    Ok(understood)
}
