//! [`DeliveryState`]: what the routes share (cheap to clone).

use std::sync::Arc;

use async_nats::jetstream;
use axum::extract::FromRef;
use framelog_core::outbound::OutboundPolicy;
use framelog_core::tenants::TenantStore;

use crate::endpoints::EndpointStore;
use crate::settings::DeliverySettings;

#[derive(Clone, Debug)]
pub struct DeliveryState {
    pub nats: async_nats::Client,
    pub js: jetstream::Context,
    pub tenants: TenantStore,
    pub endpoints: EndpointStore,
    /// The address policy endpoint URLs are checked against (`--outbound-allow-private`).
    pub policy: OutboundPolicy,
    pub settings: Arc<DeliverySettings>,
}

impl FromRef<DeliveryState> for TenantStore {
    fn from_ref(s: &DeliveryState) -> TenantStore {
        s.tenants.clone()
    }
}
