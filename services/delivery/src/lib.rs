//! Delivery: outbound webhooks per the Standard Webhooks specification.
//!
//! A tenant registers endpoints (URL, event-type filter, a `whsec_` secret); every event of
//! the tenant in `VID` that an endpoint wants is POSTed to it, signed (`webhook-id`,
//! `webhook-timestamp`, `webhook-signature`), at least once, retried on the spec's schedule
//! with jitter; an endpoint answering 410, or failing for ~5 days, is disabled. The service
//! consumes the log like the projection does and never calls another service.
//!
//! # Layout
//! - [`settings`]: `--webhook-*` flags. [`state`]: [`DeliveryState`].
//! - [`endpoints`]: endpoint records in KV (CAS), filters, secrets and their rotation.
//! - [`api`]: the `/v1/webhooks` routes; [`replay`]: re-queueing past events.
//! - [`sign`] (pure): `whsec_` secrets and signatures. [`schedule`] (pure): retry delays,
//!   jitter and the give-up rule.
//! - [`fanout`]: the durable `VID` consumer that queues one delivery per event and endpoint;
//!   [`cache`]: its watch-fed copy of the endpoints, never behind the bucket.
//! - [`queue`]: the `WEBHOOK` work stream and the `webhook-id`.
//! - [`worker`]: the competing consumers that attempt deliveries ([`deliver`]: one HTTP
//!   attempt) and NAK failures with the schedule's delay.
//! - [`attempts`]: the delivery log, bounded per endpoint.
//!
//! Architecture invariant: no state of a delivery lives in a process (it is the `WEBHOOK`
//! message: delivery count, stored time, body); a killed worker loses nothing.

pub mod api;
pub mod attempts;
pub mod cache;
pub mod deliver;
pub mod endpoints;
pub mod fanout;
pub mod queue;
pub mod replay;
pub mod schedule;
pub mod settings;
pub mod sign;
pub mod state;
pub mod worker;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use framelog_core::service::{ServiceContext, ServiceHandle};

pub use settings::DeliverySettings;
pub use state::DeliveryState;

/// The webhook routes.
pub fn router(state: DeliveryState) -> Router {
    Router::new()
        .route("/v1/webhooks", get(api::list).post(api::create))
        .route("/v1/webhooks/{id}", get(api::get).patch(api::update).delete(api::delete))
        .route("/v1/webhooks/{id}/attempts", get(api::attempts))
        .route("/v1/webhooks/{id}/secret/rotate", post(api::rotate))
        .route("/v1/webhooks/{id}/replay", post(api::replay))
        .route("/v1/webhooks/{id}/test", post(api::test))
        .with_state(state)
}

/// Why delivery could not start.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error(transparent)]
    Topology(#[from] framelog_core::nats::NatsSetupError),
    #[error(transparent)]
    Store(#[from] endpoints::StoreError),
}

/// The streams of this service, declared through `framelog_core::topology` (a start never
/// lowers replicas or reverts an operator's limits).
pub fn stream_configs(replicas: usize) -> Vec<async_nats::jetstream::stream::Config> {
    vec![queue::stream_config(replicas), attempts::stream_config(replicas)]
}

/// Declares the streams and builds the state.
pub async fn state(
    ctx: &ServiceContext,
    settings: DeliverySettings,
) -> Result<DeliveryState, DeliveryError> {
    let p = &ctx.platform;
    framelog_core::topology::ensure(&p.js, stream_configs(p.settings.replicas), Vec::new(), true)
        .await?;
    Ok(DeliveryState {
        nats: p.nats.clone(),
        js: p.js.clone(),
        tenants: p.tenants.clone(),
        endpoints: endpoints::EndpointStore::open(p.nats.clone(), &p.js).await?,
        policy: p.settings.outbound_policy(),
        settings: Arc::new(settings),
    })
}

/// Starts delivery: the routes, the fan-out and the workers.
pub async fn start(
    ctx: &ServiceContext,
    settings: DeliverySettings,
) -> Result<ServiceHandle, DeliveryError> {
    let st = state(ctx, settings).await?;
    let worker_ctx = worker::WorkerCtx {
        nats: st.nats.clone(),
        js: st.js.clone(),
        endpoints: st.endpoints.clone(),
        http: deliver::client(st.policy),
        policy: st.policy,
        schedule: schedule::Schedule { scale: st.settings.retry_scale },
    };
    let fan = tokio::spawn(fanout::run(st.js.clone(), st.endpoints.clone(), ctx.shutdown.clone()));
    let work = tokio::spawn(worker::run(
        worker_ctx,
        st.settings.concurrency,
        st.settings.max_pending,
        ctx.shutdown.clone(),
    ));
    Ok(ServiceHandle::new("delivery", router(st)).with_task(fan).with_task(work))
}
