//! `framelog_live_sessions`: streams publishing now, i.e. stream records with an open session
//! in this replica's watch-fed copy of the `framelog_live_streams` bucket (the same figure on
//! every replica: rules take `max`). Set every [`EVERY`]; registered at 0 before any session.

use std::time::Duration;

use framelog_core::metrics::Metrics;
use prometheus_client::metrics::gauge::Gauge;
use tokio_util::sync::CancellationToken;

use crate::store::StreamStore;

/// How often the gauge is set.
pub const EVERY: Duration = Duration::from_secs(5);

/// The `framelog_live_sessions` gauge; cheap to clone.
#[derive(Debug, Clone)]
pub struct LiveSessionsGauge(pub Gauge);

/// The gauge, registered in `metrics` once per process.
pub fn registered(metrics: &Metrics) -> LiveSessionsGauge {
    metrics.once(|m| {
        let g = LiveSessionsGauge(Gauge::default());
        m.register("live_sessions", "Live streams publishing now (open sessions)", g.0.clone());
        g
    })
}

impl LiveSessionsGauge {
    /// Sets the gauge from the open sessions `streams` knows.
    pub fn set_from(&self, streams: &StreamStore) {
        self.0.set(i64::try_from(streams.cached_live().len()).unwrap_or(i64::MAX));
    }
}

/// Sets the gauge every [`EVERY`] until `shutdown`.
pub async fn export(streams: StreamStore, gauge: LiveSessionsGauge, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(EVERY);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => gauge.set_from(&streams),
        }
    }
}
