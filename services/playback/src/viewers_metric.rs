//! `framelog_live_viewers`: the concurrent live viewers of every stream, as this replica's
//! [`LiveViewers`] counts them from `presence` (the same figure on every replica, which follow
//! the same events: rules take `max`). Set every [`EVERY`]; registered at 0 before any viewer.

use std::time::Duration;

use framelog_core::metrics::Metrics;
use prometheus_client::metrics::gauge::Gauge;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::viewers::LiveViewers;

/// How often the gauge is set.
pub const EVERY: Duration = Duration::from_secs(5);

/// The gauge, registered in `metrics` once per process.
pub fn registered(metrics: &Metrics) -> LiveViewersGauge {
    metrics.once(|m| {
        let g = LiveViewersGauge(Gauge::default());
        m.register(
            "live_viewers",
            "Concurrent live viewers of every stream (presence in the last view windows)",
            g.0.clone(),
        );
        g
    })
}

/// The `framelog_live_viewers` gauge; cheap to clone.
#[derive(Debug, Clone)]
pub struct LiveViewersGauge(pub Gauge);

impl LiveViewersGauge {
    /// Sets the gauge from `viewers` at unix time `now`.
    pub fn set_from(&self, viewers: &LiveViewers, now: i64) {
        self.0.set(i64::try_from(viewers.total(now)).unwrap_or(i64::MAX));
    }
}

/// Sets the gauge every [`EVERY`] until `shutdown`.
pub async fn export(viewers: LiveViewers, gauge: LiveViewersGauge, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(EVERY);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => gauge.set_from(&viewers, OffsetDateTime::now_utc().unix_timestamp()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gauge_sums_the_viewers_of_every_stream_and_forgets_gone_ones() {
        let m = Metrics::new();
        let g = registered(&m);
        let v = LiveViewers::new(30);
        let now = 1_000_020;
        let w = v.window_of(now);
        v.record("acme", "str_a", w, "viewer-1");
        v.record("acme", "str_a", w, "viewer-2");
        v.record("acme", "str_b", w, "viewer-1");
        v.record("other", "str_a", w - 30, "viewer-9");
        g.set_from(&v, now);
        assert!(m.render().contains("framelog_live_viewers 4"), "{}", m.render());
        // Two windows later nobody beaconed: no viewers.
        g.set_from(&v, now + 60);
        assert!(m.render().contains("framelog_live_viewers 0"), "{}", m.render());
    }
}
