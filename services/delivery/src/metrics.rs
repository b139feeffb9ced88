//! `framelog_webhook_deliveries_total{outcome}`: one count per delivery attempt by what came of
//! it, so the "webhook deliveries failing" alert and the dashboard can read a failure ratio.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

/// What came of one attempt: `succeeded`, `failed` (will be retried), `gave_up` (the schedule
/// ran out; the endpoint is disabled), `gone` (410; the endpoint is disabled).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: &'static str,
}

/// The delivery counters; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct DeliveryMetrics {
    deliveries: Family<OutcomeLabel, Counter>,
}

impl DeliveryMetrics {
    /// Counters registered in `metrics`, every outcome present from the start at 0 (so a rate
    /// over them exists before the first failure).
    pub fn registered(metrics: &framelog_core::metrics::Metrics) -> DeliveryMetrics {
        let m = DeliveryMetrics::default();
        for outcome in ["succeeded", "failed", "gave_up", "gone"] {
            let _ = m.deliveries.get_or_create(&OutcomeLabel { outcome });
        }
        metrics.register(
            "webhook_deliveries",
            "Webhook delivery attempts by outcome",
            m.deliveries.clone(),
        );
        m
    }

    /// Counts one attempt.
    pub fn attempt(&self, outcome: &'static str) {
        self.deliveries.get_or_create(&OutcomeLabel { outcome }).inc();
    }
}
