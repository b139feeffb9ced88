//! [`ProjectionSettings`]: flags `--projection-...` with `FRAMELOG_PROJECTION_...` fallbacks.

use std::path::PathBuf;
use std::time::Duration;

/// Settings of the projection service.
#[derive(Clone, clap::Args)]
pub struct ProjectionSettings {
    /// Longest a query with `after_seq` waits for the projection to catch up, milliseconds;
    /// past it the query answers 504 `projection_lagging`.
    #[arg(
        long = "projection-read-wait-ms",
        env = "FRAMELOG_PROJECTION_READ_WAIT_MS",
        default_value_t = 5000
    )]
    pub read_wait_ms: u64,

    /// JSON price table turning billing meters into amounts (see `pricing::PriceTable`).
    #[arg(long = "projection-price-table", env = "FRAMELOG_PROJECTION_PRICE_TABLE")]
    pub price_table: Option<PathBuf>,

    /// Lifetime of the signed playback, poster and storyboard URLs, seconds.
    #[arg(long = "projection-url-ttl-secs", env = "FRAMELOG_PROJECTION_URL_TTL_SECS", default_value_t = 6 * 3600)]
    pub url_ttl_secs: u64,

    /// Most events applied per sled transaction.
    #[arg(long = "projection-batch", env = "FRAMELOG_PROJECTION_BATCH", default_value_t = 500)]
    pub batch: usize,

    /// Interval of SSE keep-alive comments, seconds.
    #[arg(
        long = "projection-sse-keepalive-secs",
        env = "FRAMELOG_PROJECTION_SSE_KEEPALIVE_SECS",
        default_value_t = 15
    )]
    pub sse_keepalive_secs: u64,

    /// Live feeds (`GET /v1/events`) one tenant may hold open on this replica; one more is
    /// answered 429 with `Retry-After` (0: no limit).
    #[arg(
        long = "projection-sse-max-per-tenant",
        env = "FRAMELOG_PROJECTION_SSE_MAX_PER_TENANT",
        default_value_t = 32
    )]
    pub sse_max_per_tenant: usize,

    /// Operator token for `GET /v1/admin/projection/digest` over every tenant. Without it (or
    /// with a tenant API key) the endpoint answers the caller's own tenant digest.
    #[arg(
        long = "projection-admin-token",
        env = "FRAMELOG_PROJECTION_ADMIN_TOKEN",
        hide_env_values = true
    )]
    pub admin_token: Option<String>,

    /// How long after a month ends its `VID_VIEW` totals are closed into `VID`
    /// (`month_closed`), seconds; late egress reports of the month must arrive before. 0: this
    /// replica never closes months (another one does).
    #[arg(
        long = "projection-month-close-grace-secs",
        env = "FRAMELOG_PROJECTION_MONTH_CLOSE_GRACE_SECS",
        default_value_t = 6 * 3600
    )]
    pub month_close_grace_secs: u64,
}

impl std::fmt::Debug for ProjectionSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProjectionSettings")
            .field("read_wait_ms", &self.read_wait_ms)
            .field("price_table", &self.price_table)
            .field("url_ttl_secs", &self.url_ttl_secs)
            .field("batch", &self.batch)
            .field("sse_keepalive_secs", &self.sse_keepalive_secs)
            .field("sse_max_per_tenant", &self.sse_max_per_tenant)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "<redacted>"))
            .field("month_close_grace_secs", &self.month_close_grace_secs)
            .finish()
    }
}

impl Default for ProjectionSettings {
    fn default() -> Self {
        ProjectionSettings {
            read_wait_ms: 5000,
            price_table: None,
            url_ttl_secs: 6 * 3600,
            batch: 500,
            sse_keepalive_secs: 15,
            sse_max_per_tenant: 32,
            admin_token: None,
            month_close_grace_secs: 6 * 3600,
        }
    }
}

impl ProjectionSettings {
    /// The defaults, for tests and tools.
    pub fn for_test() -> Self {
        Self::default()
    }

    /// The read-your-writes bound.
    pub fn read_wait(&self) -> Duration {
        Duration::from_millis(self.read_wait_ms)
    }
}
