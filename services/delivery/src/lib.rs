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
//! - [`api`]: the `/v1/webhooks` routes ([`api_types`]: their bodies and schemas);
//!   [`replay`]: re-queueing past events.
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
pub mod api_types;
pub mod attempts;
pub mod cache;
pub mod deliver;
pub mod endpoints;
pub mod fanout;
pub mod metrics;
pub mod queue;
pub mod replay;
pub mod schedule;
pub mod settings;
pub mod sign;
pub mod state;
pub mod worker;

use std::sync::Arc;

use axum::Router;
use framelog_core::service::{ServiceContext, ServiceHandle};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use settings::DeliverySettings;
pub use state::DeliveryState;

/// The one list of the webhook routes: the router and the OpenAPI part both come from it.
fn routes() -> OpenApiRouter<DeliveryState> {
    OpenApiRouter::new()
        .routes(routes!(api::list, api::create))
        .routes(routes!(api::get, api::update, api::delete))
        .routes(routes!(api::attempts))
        .routes(routes!(api::rotate))
        .routes(routes!(api::replay))
        .routes(routes!(api::test))
}

/// The webhook routes.
pub fn router(state: DeliveryState) -> Router {
    routes().split_for_parts().0.with_state(state)
}

/// The webhook routes' part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().split_for_parts().1
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
        metrics: metrics::DeliveryMetrics::registered(&ctx.platform.metrics),
    };
    let fan = tokio::spawn(fanout::run(st.js.clone(), st.endpoints.clone(), ctx.shutdown.clone()));
    let work = tokio::spawn(worker::run(
        worker_ctx,
        st.settings.concurrency,
        st.settings.max_pending,
        ctx.shutdown.clone(),
    ));
    Ok(ServiceHandle::new("delivery", router(st))
        .with_openapi(openapi())
        .with_task(fan)
        .with_task(work))
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_webhook_route_is_documented_once_with_its_tag_key_and_typed_bodies() {
        let v = serde_json::to_value(super::openapi()).unwrap();
        let mut ops = Vec::new();
        for (path, item) in v["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                assert_eq!(op["tags"][0], "webhooks", "{method} {path}");
                assert!(op["security"][0].get("bearer").is_some(), "{method} {path}");
                assert!(op["responses"]["401"].is_object(), "{method} {path}");
                ops.push(op["operationId"].as_str().unwrap().to_owned());
            }
        }
        ops.sort();
        let before = ops.len();
        ops.dedup();
        assert_eq!((before, ops.len()), (9, 9), "{ops:?}");
        let query = |path: &str, name: &str| {
            let params = v["paths"][path]["post"]["parameters"].as_array().unwrap().clone();
            params.into_iter().find(|p| p["name"] == name && p["in"] == "query").unwrap()
        };
        assert_eq!(query("/v1/webhooks/{id}/replay", "since")["required"], true);
        assert_eq!(query("/v1/webhooks/{id}/secret/rotate", "overlap_secs")["required"], false);
        let created = &v["paths"]["/v1/webhooks"]["post"]["responses"];
        assert!(created["201"].is_object() && created["422"].is_object(), "{created}");
        let s = &v["components"]["schemas"];
        assert_eq!(s["EndpointView"]["properties"]["created_at"]["format"], "date-time");
        assert!(s["DisabledReason"]["enum"].as_array().unwrap().contains(&"gone".into()));
        assert!(s["Attempt"]["properties"]["status"].is_object(), "{}", s["Attempt"]);
    }
}
