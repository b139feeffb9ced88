//! Dead letters for jobs whose worker never settled their last delivery.
//!
//! A worker that fails a job on its last attempt writes `dead_lettered` itself
//! ([`crate::worker`]). A worker that dies on its last attempt (SIGKILL, OOM, a lost machine)
//! writes nothing: the server only notices when the ack wait runs out, drops the message and
//! publishes a max-deliveries advisory on `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.VID.
//! transcoder`. Every transcoder listens in one queue group, reads the request back from the
//! stream by its sequence and writes the `dead_lettered` event the dead worker could not. The
//! event has the same deterministic id as the worker's own, so a repeat is dropped by the
//! server; a video whose completion marker names this request (done, but the ack was lost) is
//! not dead-lettered.

use std::time::Duration;

use framelog_core::media::hls_prefix;
use framelog_core::nats::STREAM_VID;
use framelog_core::service::ServiceContext;
use framelog_events::{Event, EventData, TranscodeData};
use futures::StreamExt;
use serde::Deserialize;
use tokio::task::JoinHandle;

use crate::consumer::DURABLE;
use crate::emit::Emitter;
use crate::job::TMP_DIR;
use crate::outputs::read_marker;

/// Queue group: one transcoder handles each advisory.
const QUEUE: &str = "framelog-transcoder-dead-letters";

/// The advisory subject for the transcoder's consumer.
pub fn advisory_subject() -> String {
    format!("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{STREAM_VID}.{DURABLE}")
}

/// `io.nats.jetstream.advisory.v1.max_deliver`, the fields we use.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MaxDeliveries {
    pub stream: String,
    pub consumer: String,
    pub stream_seq: u64,
    pub deliveries: u64,
}

/// The reason written in the event.
pub fn reason(deliveries: u64) -> String {
    format!(
        "the worker running attempt {deliveries} of {deliveries} stopped without finishing or \
         reporting it (killed, crashed or cut off); no attempts are left"
    )
}

/// Subscribes now (so no advisory published after this returns is missed) and handles
/// advisories until `ctx.shutdown`.
pub async fn spawn(ctx: &ServiceContext) -> Result<JoinHandle<()>, async_nats::SubscribeError> {
    let mut sub = ctx.platform.nats.queue_subscribe(advisory_subject(), QUEUE.into()).await?;
    let ctx = ctx.clone();
    Ok(tokio::spawn(async move {
        loop {
            let msg = tokio::select! {
                _ = ctx.shutdown.cancelled() => break,
                m = sub.next() => match m { Some(m) => m, None => break },
            };
            match serde_json::from_slice::<MaxDeliveries>(&msg.payload) {
                Ok(a) => {
                    if let Err(e) = handle(&ctx, &a).await {
                        tracing::error!(seq = a.stream_seq, error = %e,
                            "a job out of attempts could not be dead-lettered");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "unreadable max-deliveries advisory"),
            }
        }
    }))
}

/// Writes `dead_lettered` for the request at `a.stream_seq`, unless its job completed.
/// Returns whether an event was written.
pub async fn handle(ctx: &ServiceContext, a: &MaxDeliveries) -> Result<bool, String> {
    if a.stream != STREAM_VID || a.consumer != DURABLE {
        return Ok(false);
    }
    let stream = ctx.platform.js.get_stream(STREAM_VID).await.map_err(|e| e.to_string())?;
    let raw = stream.get_raw_message(a.stream_seq).await.map_err(|e| e.to_string())?;
    let request = Event::from_json(&raw.payload).map_err(|e| e.to_string())?;
    if !matches!(request.data, EventData::Transcode(TranscodeData::Requested { .. })) {
        return Ok(false);
    }
    let prefix = hls_prefix(request.tenant.as_str(), request.subject.as_str());
    let tmp_root = ctx.platform.settings.data_dir.join(TMP_DIR);
    tokio::fs::create_dir_all(&tmp_root).await.map_err(|e| e.to_string())?;
    let scratch = tempfile::tempdir_in(&tmp_root).map_err(|e| e.to_string())?;
    let marker =
        read_marker(&ctx.media, &prefix, scratch.path()).await.map_err(|e| e.to_string())?;
    if marker.is_some_and(|m| m.request_id == request.id.to_string()) {
        tracing::info!(video = %request.subject, "out of attempts but complete; not dead-lettered");
        return Ok(false);
    }
    let attempts = u32::try_from(a.deliveries).unwrap_or(u32::MAX);
    let dead = TranscodeData::DeadLettered { reason: reason(a.deliveries), attempts };
    let emit = Emitter::new(ctx.platform.events.clone(), request);
    // The outbox keeps it if NATS went away meanwhile; a short wait is enough otherwise.
    tokio::time::timeout(Duration::from_secs(30), emit.emit(dead, ""))
        .await
        .map_err(|_| "publishing timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    tracing::warn!(video = %emit.video(), tenant = %emit.tenant(), attempts,
        "a job ran out of attempts with its worker gone: dead-lettered");
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_advisory_is_read_and_names_the_transcoder_consumer() {
        let json = r#"{"type":"io.nats.jetstream.advisory.v1.max_deliver",
            "id":"x","timestamp":"2026-11-24T10:00:00Z","stream":"VID",
            "consumer":"transcoder","stream_seq":42,"deliveries":4,"domain":""}"#;
        let a: MaxDeliveries = serde_json::from_str(json).unwrap();
        assert_eq!(a.stream_seq, 42);
        assert_eq!(a.deliveries, 4);
        assert_eq!(advisory_subject(), "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.VID.transcoder");
        assert!(reason(4).contains("attempt 4 of 4"));
    }
}
