//! The projection service: Framelog's read side. It folds the `VID` and `VID_VIEW` streams into
//! sled views (catalog, live directory, billing usage, view counts) with the pure folds of
//! `framelog_events::fold`, answers the tenant-scoped query API, and serves the live SSE feed.
//!
//! # Layout
//! - [`settings`]: [`ProjectionSettings`] (`--projection-...`, `FRAMELOG_PROJECTION_...`).
//! - [`store`]: the `proj_*` trees, their key layout, the write [`store::Overlay`] committed in
//!   one transaction with the stream sequence, and the digest.
//! - [`apply`]: one event into every view it concerns.
//! - [`projector`]: [`Projector`], an ordered consumer (sled is the cursor) with a
//!   `process_next` step and a thin `run` loop; one per stream.
//! - [`cursor`]: whether a stored sequence still fits its stream (purged, recreated).
//! - [`readiness`]: a projector stopped before an unreadable message says so (`/readyz`, gauge).
//! - [`heartbeat`]: each projector's applied sequence in KV (`framelog status`) and a gauge.
//! - [`read_past`]: after an upgrade, events an older build read past that this one reads.
//! - [`rebuild`]: [`rebuild()`] from sequence 1 into a fresh store.
//! - [`skip`]: [`skip()`], the operator's way past one message no build can read.
//! - [`rollup`]: month-close totals of `VID_VIEW` written to `VID` (`month_closed`), so bills
//!   and view totals survive `VID_VIEW` aging out; [`closer`]: the task that closes months.
//! - [`meters`]: monthly storage, upload and CPU meters as running deltas (bills without scans);
//!   [`live_meters`]: the monthly live-minutes meter.
//! - [`qoe`]: viewer QoE summaries per video, video and day, tenant and day (`proj_qoe`).
//! - [`window`]: the view-id dedup set, windowed by event time and pruned as events advance.
//! - [`api`]: the routes (`/v1/videos`, `/v1/streams`, `/v1/live`, `/v1/billing/usage`,
//!   `/v1/stats`, `/v1/events`, `/v1/admin/projection/digest`) and read-your-writes;
//!   `api::quota`: open live feeds per tenant.
//! - [`pricing`]: the optional price table.
//!
//! Architecture invariants: every view can be rebuilt from the streams and a rebuilt store has
//! the same [`digest`] as one built incrementally; the applied sequence of a stream changes only
//! in the transaction that applies its events; nothing is acked before it is on disk.

pub mod api;
pub mod apply;
pub mod closer;
pub mod cursor;
pub mod error;
pub mod heartbeat;
pub mod live_meters;
pub mod meters;
pub mod pricing;
pub mod projector;
pub mod qoe;
pub mod read_past;
pub mod readiness;
pub mod rebuild;
pub mod rollup;
pub mod settings;
pub mod skip;
pub mod store;
pub mod window;

use std::sync::Arc;

use framelog_core::nats::{STREAM_VID, STREAM_VIEW};
use framelog_core::service::{ServiceContext, ServiceHandle};
use tracing::instrument;

pub use api::{ApiState, openapi, router};
pub use error::ProjectionError;
pub use pricing::PriceTable;
pub use projector::{Outcome, Projector};
pub use rebuild::{RebuildReport, rebuild};
pub use settings::ProjectionSettings;
pub use skip::{SkipError, SkipReport, skip};
pub use store::Store;

/// A projection that is set up but not running: its two projectors and the API state. Tests
/// and benches drive the projectors' `process_next` themselves; [`start`] spawns their loops.
#[derive(Debug)]
pub struct Projection {
    pub store: Store,
    /// Consumer of `VID`.
    pub vid: Projector,
    /// Consumer of `VID_VIEW`.
    pub views: Projector,
    pub api: ApiState,
}

/// Opens the views in the platform's sled database and binds both consumers; refuses a stored
/// sequence that no longer fits its stream ([`ProjectionError::Cursor`]).
#[instrument(skip_all, err)]
pub async fn build(
    ctx: &ServiceContext,
    settings: ProjectionSettings,
) -> Result<Projection, ProjectionError> {
    let p = &ctx.platform;
    let store = Store::open(&p.db)?;
    let prices = settings.price_table.as_deref().map(PriceTable::load).transpose()?.map(Arc::new);
    let gauges = readiness::register(&p.metrics);
    let vid = Projector::bind(&p.js, store.clone(), STREAM_VID, settings.batch)
        .await?
        .with_health(p.readiness.clone(), &gauges);
    let views = Projector::bind(&p.js, store.clone(), STREAM_VIEW, settings.batch)
        .await?
        .with_health(p.readiness.clone(), &gauges);
    vid.check_read_past().await?;
    views.check_read_past().await?;
    let feeds = api::quota::FeedSlots::new(settings.sse_max_per_tenant);
    let api = ApiState {
        store: store.clone(),
        tenants: p.tenants.clone(),
        secret: p.secret.clone(),
        js: p.js.clone(),
        nats: p.nats.clone(),
        settings: Arc::new(settings),
        prices,
        applied: vid.progress(),
        shutdown: ctx.shutdown.clone(),
        feeds,
    };
    Ok(Projection { store, vid, views, api })
}

/// Starts the projection: its routes and the two consumer loops, which stop when
/// `ctx.shutdown` is cancelled.
pub async fn start(
    ctx: &ServiceContext,
    settings: ProjectionSettings,
) -> Result<ServiceHandle, ProjectionError> {
    let grace = settings.month_close_grace_secs;
    let Projection { store, vid, views, api } = build(ctx, settings).await?;
    let views_applied = views.progress();
    let beats = vec![(vid.stream(), vid.progress()), (views.stream(), views.progress())];
    let router = router(api);
    let mut handle = ServiceHandle::new("projection", router)
        .with_openapi(openapi())
        .with_task(tokio::spawn(vid.run(ctx.shutdown.clone())))
        .with_task(tokio::spawn(views.run(ctx.shutdown.clone())));
    // The applied sequences for `framelog status` and the metrics (heartbeat.rs); without the
    // bucket the projection still runs (status then reads its consumers only).
    let gauges = heartbeat::gauges(&ctx.platform.metrics);
    let replica = heartbeat::replica_id(&ctx.platform.db)?;
    match heartbeat::open(&ctx.platform.js, ctx.platform.settings.replicas).await {
        Ok(kv) => {
            let beat = heartbeat::run(kv, replica, gauges, beats, ctx.shutdown.clone());
            handle = handle.with_task(tokio::spawn(beat));
        }
        Err(e) => tracing::warn!(error = %e, "projection heartbeats disabled"),
    }
    if grace > 0 {
        handle = handle.with_task(tokio::spawn(closer::run(
            ctx.platform.js.clone(),
            store,
            views_applied,
            std::time::Duration::from_secs(grace),
            std::time::Duration::from_secs(600),
            ctx.shutdown.clone(),
        )));
    }
    Ok(handle)
}

/// The digest (sha256 hex) of every view in `db`: identical for a rebuilt and an incrementally
/// built store that applied the same events.
pub fn digest(db: &sled::Db) -> Result<String, ProjectionError> {
    Store::open(db)?.digest(None)
}
