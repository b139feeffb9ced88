//! Delivery settings (flags `--webhook-*`, variables `FRAMELOG_WEBHOOK_*`).

/// Settings of the delivery service.
#[derive(Debug, Clone, clap::Args)]
pub struct DeliverySettings {
    /// Multiplies every retry delay and the ~5-day give-up window (1.0: the Standard Webhooks
    /// schedule; tests shrink it).
    #[arg(
        id = "webhook_retry_scale",
        long = "webhook-retry-scale",
        env = "FRAMELOG_WEBHOOK_RETRY_SCALE",
        default_value_t = 1.0
    )]
    pub retry_scale: f64,

    /// Deliveries in flight per process.
    #[arg(
        id = "webhook_concurrency",
        long = "webhook-concurrency",
        env = "FRAMELOG_WEBHOOK_CONCURRENCY",
        default_value_t = 64
    )]
    pub concurrency: usize,

    /// Deliveries unacked across all replicas (in flight or in back-off) before the server
    /// stops handing out more.
    #[arg(
        id = "webhook_max_pending",
        long = "webhook-max-pending",
        env = "FRAMELOG_WEBHOOK_MAX_PENDING",
        default_value_t = 100_000
    )]
    pub max_pending: i64,

    /// How long the previous secret keeps signing after a rotation, seconds (default 24 h).
    #[arg(
        id = "webhook_rotation_overlap",
        long = "webhook-rotation-overlap",
        env = "FRAMELOG_WEBHOOK_ROTATION_OVERLAP",
        default_value_t = 86_400
    )]
    pub rotation_overlap_secs: u64,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            retry_scale: 1.0,
            concurrency: 64,
            max_pending: 100_000,
            rotation_overlap_secs: 86_400,
        }
    }
}
