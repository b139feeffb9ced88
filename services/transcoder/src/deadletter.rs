//! Dead letters for jobs whose worker never settled their last delivery.
//!
//! Attempts are counted by the application ([`crate::lease`]): a worker that receives a job
//! whose attempts are used up dead-letters it without running it, and a worker that fails a job
//! on its last attempt writes `dead_lettered` itself ([`crate::worker`]). The server's own
//! `max_deliver` is only a backstop (attempts + hand-back and requeue budgets, see
//! [`crate::settings::TranscoderSettings::server_max_deliver`]); when it is reached the server
//! drops the message and publishes a max-deliveries advisory on
//! `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.VID.transcoder`. That is a core NATS message, so
//! the `VID_ADVISORY` stream captures it, and a durable consumer every transcoder shares
//! ([`DURABLE_ADVISORIES`]) drains it: an advisory emitted while every worker is down is
//! handled when one comes back. The handler reads the request back from `VID` by its sequence
//! and writes the `dead_lettered` event the dead worker could not. The event has the same
//! deterministic id as the worker's own, so a repeat is dropped by the server; a request whose
//! job record is settled, or whose completion marker names it (done, but the ack was lost), is
//! not dead-lettered; one whose lease is still live is retried later (its worker may finish).

use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, PullConsumer, pull};
use async_nats::jetstream::{self, AckKind};
use framelog_core::media::hls_prefix;
use framelog_core::nats::{STREAM_ADVISORY, STREAM_VID};
use framelog_core::service::ServiceContext;
use framelog_events::{Event, EventData, TranscodeData};
use futures::StreamExt;
use serde::Deserialize;
use tokio::task::JoinHandle;

use crate::consumer::DURABLE;
use crate::emit::Emitter;
use crate::job::TMP_DIR;
use crate::lease::{self, KV_LEASES, Leases};
use crate::outputs::read_marker;

/// The durable consumer of `VID_ADVISORY` every transcoder shares.
pub const DURABLE_ADVISORIES: &str = "transcoder-dead-letters";

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

/// Binds the durable advisory consumer now (advisories stored before, even with every worker
/// down, are delivered) and handles advisories until `ctx.shutdown`.
pub async fn spawn(ctx: &ServiceContext) -> Result<JoinHandle<()>, String> {
    let consumer = bind(&ctx.platform.js).await?;
    let mut messages = consumer.messages().await.map_err(|e| e.to_string())?;
    let ctx = ctx.clone();
    Ok(tokio::spawn(async move {
        loop {
            let msg = tokio::select! {
                _ = ctx.shutdown.cancelled() => break,
                m = messages.next() => match m {
                    Some(Ok(m)) => m,
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "reading max-deliveries advisories failed");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                    None => break,
                },
            };
            let settle = match serde_json::from_slice::<MaxDeliveries>(&msg.payload) {
                Ok(a) => match handle(&ctx, &a).await {
                    Ok(_) => AckKind::Ack,
                    Err(e) => {
                        tracing::warn!(seq = a.stream_seq, error = %e,
                            "a job out of deliveries is not dead-lettered yet; retrying later");
                        AckKind::Nak(Some(Duration::from_secs(2)))
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "unreadable max-deliveries advisory");
                    AckKind::Term
                }
            };
            if let Err(e) = msg.ack_with(settle).await {
                tracing::warn!(error = %e, "settling an advisory failed; it will come back");
            }
        }
    }))
}

/// The durable consumer of the transcoder's advisories (created if missing).
pub async fn bind(js: &jetstream::Context) -> Result<PullConsumer, String> {
    let stream = js.get_stream(STREAM_ADVISORY).await.map_err(|e| e.to_string())?;
    stream
        .get_or_create_consumer(
            DURABLE_ADVISORIES,
            pull::Config {
                durable_name: Some(DURABLE_ADVISORIES.into()),
                ack_policy: AckPolicy::Explicit,
                ack_wait: Duration::from_secs(60),
                filter_subject: advisory_subject(),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| format!("binding {DURABLE_ADVISORIES}: {e}"))
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
    let key = lease::key(request.tenant.as_str(), request.subject.as_str());
    let leases = match ctx.platform.js.get_key_value(KV_LEASES).await {
        Ok(kv) => Some(Leases::from_store(kv)),
        Err(_) => None, // no job was ever taken here: nothing to check
    };
    let record = match &leases {
        Some(l) => l.read(&key).await.map_err(|e| e.to_string())?.0,
        None => None,
    };
    let record = record.filter(|r| r.request_seq == a.stream_seq);
    if let Some(r) = &record {
        if r.done {
            return Ok(false);
        }
        if let Some(h) = r.holder.as_ref().filter(|h| h.live(lease::now_ms())) {
            return Err(format!("worker {} still holds the job", h.worker));
        }
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
    let attempts = match &record {
        Some(r) => r.attempts,
        None => u32::try_from(a.deliveries).unwrap_or(u32::MAX),
    };
    let dead = TranscodeData::DeadLettered { reason: reason(u64::from(attempts)), attempts };
    let emit = Emitter::new(ctx.platform.events.clone(), request);
    // The outbox keeps it if NATS went away meanwhile; a short wait is enough otherwise.
    tokio::time::timeout(Duration::from_secs(30), emit.emit(dead, ""))
        .await
        .map_err(|_| "publishing timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    tracing::warn!(video = %emit.video(), tenant = %emit.tenant(), attempts,
        "a job ran out of attempts with its worker gone: dead-lettered");
    if let (Some(l), Some(_)) = (&leases, &record) {
        let settled = l.modify(&key, |r| (r.request_seq == a.stream_seq).then(|| r.settled()));
        if let Err(e) = settled.await {
            tracing::warn!(error = %e, "the dead-lettered job's record was not settled");
        }
    }
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
