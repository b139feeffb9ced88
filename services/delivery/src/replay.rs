//! Replay: the tenant's events since a time, read from `VID` by start time through an ordered
//! consumer, queued again for one endpoint (its filter applies; its creation time does not).
//!
//! A replayed event keeps its `webhook-id` (event id + endpoint id): it is the same message
//! as far as the receiver is concerned, so a receiver that already processed it dedupes it.
//! Its queue message is new (a `Nats-Msg-Id` unique to the replay), so it is sent even
//! inside the duplicate window, with a fresh retry schedule.

use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use framelog_core::nats::STREAM_VID;
use framelog_events::{Decoded, Event};
use futures::StreamExt as _;
use time::OffsetDateTime;

use crate::endpoints::Endpoint;
use crate::fanout;

/// Most events one replay queues (ask again with a later `since` for more).
pub const MAX_EVENTS: usize = 10_000;

/// Queues the tenant's events stored since `since` that `endpoint` wants; returns how many.
pub async fn replay(
    nats: &async_nats::Client,
    js: &jetstream::Context,
    endpoint: &Endpoint,
    since: OffsetDateTime,
) -> Result<usize, String> {
    let stream = js.get_stream_no_info(STREAM_VID).await.map_err(|e| e.to_string())?;
    let consumer = stream
        .create_consumer(consumer::push::OrderedConfig {
            deliver_subject: nats.new_inbox(),
            filter_subject: format!("vid.{}.>", endpoint.tenant),
            replay_policy: consumer::ReplayPolicy::Instant,
            deliver_policy: consumer::DeliverPolicy::ByStartTime { start_time: since },
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    if consumer.cached_info().num_pending == 0 {
        return Ok(0);
    }
    let suffix = format!(".replay.{}", uuid::Uuid::now_v7().simple());
    let mut msgs = consumer.messages().await.map_err(|e| e.to_string())?;
    let mut queued = 0;
    loop {
        let m = match tokio::time::timeout(Duration::from_secs(5), msgs.next()).await {
            Ok(Some(m)) => m.map_err(|e| e.to_string())?,
            Ok(None) => break,
            Err(e) => return Err(e.to_string()),
        };
        let pending = m.info().map(|i| i.pending).unwrap_or(0);
        if let Ok(Decoded::Event(event)) = Event::decode(&m.payload)
            && wanted(endpoint, &event)
        {
            queued += fanout::enqueue_all(js, &event, &[endpoint], &suffix)
                .await
                .map_err(|e| e.to_string())?;
        }
        if pending == 0 || queued >= MAX_EVENTS {
            break;
        }
    }
    Ok(queued)
}

fn wanted(endpoint: &Endpoint, event: &Event) -> bool {
    event.tenant == endpoint.tenant
        && !event.is_unknown()
        && endpoint.wants(event.kind().event_type(), event.data.phase())
}
