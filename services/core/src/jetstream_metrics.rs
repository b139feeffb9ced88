//! JetStream gauges for alerting: a periodic collector that reads every stream's info and every
//! durable consumer's info and exports them, because the NATS server's own numbers are not on
//! our `/metrics` and the alert rules (`deploy/prometheus/framelog-rules.yml`) need consumer
//! lag and storage use next to the HTTP metrics.
//!
//! Exported (prefix `framelog_`): `jetstream_stream_bytes{stream}`,
//! `jetstream_stream_max_bytes{stream}` (-1 when unlimited), `jetstream_stream_messages{stream}`,
//! `jetstream_stream_last_sequence{stream}` (the projection's lag is this minus
//! `framelog_projection_applied_sequence`),
//! `consumer_pending{stream,consumer}` (messages not yet delivered) and
//! `consumer_ack_pending{stream,consumer}` (delivered, not yet acked), for durable consumers
//! only. Every process exporting them (a cluster) reports the same numbers: rules take `max`.
//! A consumer or stream that
//! disappears has its series removed on the next pass, so a deleted durable cannot keep a lag
//! alert firing.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream;
use futures::StreamExt as _;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// How often the collector reads the server.
pub const INTERVAL: Duration = Duration::from_secs(15);

/// Labels of the stream gauges.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StreamLabels {
    pub stream: String,
}

/// Labels of the consumer gauges.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConsumerLabels {
    pub stream: String,
    pub consumer: String,
}

/// The collector's gauges; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct JetStreamGauges {
    stream_bytes: Family<StreamLabels, Gauge>,
    stream_max_bytes: Family<StreamLabels, Gauge>,
    stream_messages: Family<StreamLabels, Gauge>,
    stream_last_seq: Family<StreamLabels, Gauge>,
    pending: Family<ConsumerLabels, Gauge>,
    ack_pending: Family<ConsumerLabels, Gauge>,
    /// Labels the last pass exported, to remove those the next pass does not see.
    last: Arc<Mutex<(HashSet<StreamLabels>, HashSet<ConsumerLabels>)>>,
}

fn gauge_value(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl JetStreamGauges {
    /// Gauges registered in `metrics`.
    pub fn registered(metrics: &Metrics) -> JetStreamGauges {
        let g = JetStreamGauges::default();
        metrics.register(
            "jetstream_stream_bytes",
            "Bytes stored in a stream",
            g.stream_bytes.clone(),
        );
        metrics.register(
            "jetstream_stream_max_bytes",
            "A stream's byte limit (-1: unlimited)",
            g.stream_max_bytes.clone(),
        );
        metrics.register(
            "jetstream_stream_messages",
            "Messages stored in a stream",
            g.stream_messages.clone(),
        );
        metrics.register(
            "jetstream_stream_last_sequence",
            "The last sequence stored in a stream",
            g.stream_last_seq.clone(),
        );
        metrics.register(
            "consumer_pending",
            "Messages a durable consumer has not been delivered yet (its lag)",
            g.pending.clone(),
        );
        metrics.register(
            "consumer_ack_pending",
            "Messages delivered to a durable consumer and not yet acknowledged",
            g.ack_pending.clone(),
        );
        g
    }

    /// Reads every stream and consumer once and updates the gauges; series of streams and
    /// consumers no longer present are removed.
    pub async fn collect(&self, js: &jetstream::Context) -> Result<(), String> {
        let mut streams = js.streams();
        let mut seen_streams = HashSet::new();
        let mut seen_consumers = HashSet::new();
        while let Some(info) = streams.next().await {
            let info = info.map_err(|e| e.to_string())?;
            let name = info.config.name.clone();
            let l = StreamLabels { stream: name.clone() };
            self.stream_bytes.get_or_create(&l).set(gauge_value(info.state.bytes));
            self.stream_max_bytes.get_or_create(&l).set(info.config.max_bytes);
            self.stream_messages.get_or_create(&l).set(gauge_value(info.state.messages));
            self.stream_last_seq.get_or_create(&l).set(gauge_value(info.state.last_sequence));
            seen_streams.insert(l);
            let stream = js.get_stream_no_info(&name).await.map_err(|e| e.to_string())?;
            let mut consumers = stream.consumers();
            while let Some(c) = consumers.next().await {
                let c = c.map_err(|e| e.to_string())?;
                // Only durables: ephemeral consumers (KV watchers, ordered readers) have random
                // names per process and would churn the series.
                if c.config.durable_name.is_none() {
                    continue;
                }
                let l = ConsumerLabels { stream: name.clone(), consumer: c.name.clone() };
                self.pending.get_or_create(&l).set(gauge_value(c.num_pending));
                self.ack_pending
                    .get_or_create(&l)
                    .set(i64::try_from(c.num_ack_pending).unwrap_or(i64::MAX));
                seen_consumers.insert(l);
            }
        }
        let mut last = self.last.lock().expect("collector state poisoned");
        for gone in last.0.difference(&seen_streams) {
            self.stream_bytes.remove(gone);
            self.stream_max_bytes.remove(gone);
            self.stream_messages.remove(gone);
            self.stream_last_seq.remove(gone);
        }
        for gone in last.1.difference(&seen_consumers) {
            self.pending.remove(gone);
            self.ack_pending.remove(gone);
        }
        *last = (seen_streams, seen_consumers);
        Ok(())
    }

    /// Collects every `interval` until `shutdown`; a failed pass is logged and retried next time.
    pub async fn run(
        self,
        js: jetstream::Context,
        interval: Duration,
        shutdown: CancellationToken,
    ) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(e) = self.collect(&js).await {
                tracing::warn!(error = %e, "JetStream metrics not collected");
            }
        }
    }
}
