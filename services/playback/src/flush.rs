//! The egress flusher: closes the metering period at each boundary and publishes its events
//! through the event log (awaiting acks, with the local outbox when NATS is away: egress is
//! billed, so it is never dropped); closes the last, partial period on shutdown.

use std::time::Duration;

use framelog_events::Event;
use tokio_util::sync::CancellationToken;

use crate::state::PlaybackState;

/// Runs until `shutdown`, then flushes once more.
pub async fn run(st: PlaybackState, shutdown: CancellationToken) {
    loop {
        let now = st.now();
        let now_ms = (now.unix_timestamp_nanos() / 1_000_000) as i64;
        let wait_ms = st.meter.period_end() * 1000 - now_ms;
        if wait_ms <= 0 {
            publish(&st, st.meter.close_period(now)).await;
            continue;
        }
        let nap = Duration::from_millis(wait_ms.min(1000) as u64);
        tokio::select! {
            _ = shutdown.cancelled() => {
                publish(&st, st.meter.close_period(st.now())).await;
                return;
            }
            _ = tokio::time::sleep(nap) => {}
        }
    }
}

#[tracing::instrument(skip_all, fields(events = events.len()))]
async fn publish(st: &PlaybackState, events: Vec<Event>) {
    for e in events {
        if let Err(err) = st.platform.events.publish(&e).await {
            tracing::error!(error = %err, tenant = %e.tenant, "egress event not published");
        }
    }
}
