//! Rebuilding every view from sequence 1 of `VID` and `VID_VIEW` into a fresh store, with an
//! ordered (ephemeral, ack-less) consumer, committing large chunks. The same [`apply_event`]
//! as the incremental path, so a rebuilt store has the same digest. Like the incremental path,
//! a rebuild reads past events of unknown phases and types and stops at a message no build can
//! read (unless the operator skipped it), so it never silently differs.

use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use framelog_core::Platform;
use framelog_core::nats::{STREAM_VID, STREAM_VIEW};
use framelog_events::{Decoded, Event};
use futures::StreamExt;
use serde::Serialize;
use tracing::instrument;

use crate::apply::apply_event;
use crate::error::ProjectionError;
use crate::store::{Overlay, Store};

/// Events per transaction while rebuilding.
pub const REBUILD_CHUNK: usize = 20_000;

/// What a rebuild did.
#[derive(Debug, Clone, Serialize)]
pub struct RebuildReport {
    /// Events applied from `VID`.
    pub vid_events: u64,
    /// Events applied from `VID_VIEW`.
    pub view_events: u64,
    /// Last applied sequence of `VID` (the rebuilt store continues from here).
    pub vid_seq: u64,
    /// Last applied sequence of `VID_VIEW`.
    pub view_seq: u64,
    /// Wall time, seconds.
    pub seconds: f64,
    /// Digest of the rebuilt views.
    pub digest: String,
}

/// Empties the projection trees of `db` and rebuilds them from the start of both streams, up to
/// their last sequence at the time of the call. `db` must not be in use by a running projection.
#[instrument(skip_all, err)]
pub async fn rebuild(platform: &Platform, db: &sled::Db) -> Result<RebuildReport, ProjectionError> {
    let started = Instant::now();
    let store = Store::open(db)?;
    store.clear()?;
    let (vid_events, vid_seq) = replay(platform, &store, STREAM_VID).await?;
    let (view_events, view_seq) = replay(platform, &store, STREAM_VIEW).await?;
    store.flush().await?;
    Ok(RebuildReport {
        vid_events,
        view_events,
        vid_seq,
        view_seq,
        seconds: started.elapsed().as_secs_f64(),
        digest: store.digest(None)?,
    })
}

/// Applies every message of `stream` up to its current last sequence.
async fn replay(
    platform: &Platform,
    store: &Store,
    stream: &'static str,
) -> Result<(u64, u64), ProjectionError> {
    let mut s =
        platform.js.get_stream(stream).await.map_err(|e| ProjectionError::js("get stream", e))?;
    let info = s.info().await.map_err(|e| ProjectionError::js("stream info", e))?;
    store.set_stream_created(stream, info.created)?;
    let (last, messages) = (info.state.last_sequence, info.state.messages);
    if last == 0 {
        return Ok((0, 0));
    }
    if messages == 0 {
        // Everything aged out or was purged: nothing to apply, resume after it.
        Overlay::new(store).commit(stream, last)?;
        return Ok((0, last));
    }
    let consumer = s
        .create_consumer(pull::OrderedConfig {
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .map_err(|e| ProjectionError::js("create ordered consumer", e))?;
    let mut messages = consumer.messages().await.map_err(|e| ProjectionError::js("pull", e))?;
    let (mut events, mut seq) = (0u64, 0u64);
    let mut ov = Overlay::new(store);
    let mut in_chunk = 0;
    while seq < last {
        let msg = match tokio::time::timeout(Duration::from_secs(30), messages.next()).await {
            Err(_) => return Err(ProjectionError::js("replay", "no message for 30 s")),
            Ok(None) => return Err(ProjectionError::js("replay", "message stream ended")),
            Ok(Some(Err(e))) => return Err(ProjectionError::js("replay", e)),
            Ok(Some(Ok(m))) => m,
        };
        seq = msg.info().map_err(|e| ProjectionError::js("message metadata", e))?.stream_sequence;
        if seq > last {
            break; // published after the rebuild began: the incremental projector takes it
        }
        match Event::decode(&msg.payload) {
            Ok(Decoded::Event(e)) => {
                if e.is_unknown() {
                    store.note_read_past(stream, seq)?;
                }
                apply_event(&mut ov, &e)?;
                events += 1;
            }
            Ok(Decoded::Unknown(u)) => {
                tracing::warn!(stream, seq, event_type = %u.event_type, "unknown type read past");
                store.note_read_past(stream, seq)?;
            }
            Err(_) if store.is_skipped(stream, seq)? => {
                tracing::warn!(stream, seq, "unreadable message skipped (operator)")
            }
            Err(e) => {
                // Keep what came before it, so a restarted projection resumes right there.
                ov.commit(stream, seq - 1)?;
                store.flush().await?;
                return Err(ProjectionError::Unreadable { stream, seq, reason: e.to_string() });
            }
        }
        in_chunk += 1;
        if in_chunk >= REBUILD_CHUNK {
            std::mem::replace(&mut ov, Overlay::new(store)).commit(stream, seq)?;
            in_chunk = 0;
        }
    }
    ov.commit(stream, seq.min(last))?;
    Ok((events, seq.min(last)))
}
