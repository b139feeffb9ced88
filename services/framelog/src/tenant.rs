//! `framelog tenant create|key`: talks to NATS only (no sled), so it runs beside a live server.

use std::time::Duration;

use anyhow::{Context, bail};
use framelog_core::tenants::{TenantError, TenantStore};
use framelog_core::{CommonSettings, nats};
use framelog_events::TenantId;

pub(crate) async fn store(common: &CommonSettings) -> anyhow::Result<TenantStore> {
    let credentials = common.nats_credentials()?;
    let client = nats::connect_with(
        &common.nats_urls(),
        credentials.as_ref(),
        "framelog-cli",
        Duration::from_secs(10),
    )
    .await?;
    let js = async_nats::jetstream::new(client);
    nats::ensure_topology(&js, common.replicas).await?;
    Ok(TenantStore::open(&js).await?)
}

fn print_key(id: &TenantId, key: &str, json: bool, created: bool) {
    if json {
        println!("{}", serde_json::json!({"tenant": id.as_str(), "api_key": key}));
    } else {
        if created {
            println!("Created tenant {id}.");
        }
        println!("API key for {id} (shown once; store it now, only its hash is kept):");
        println!("{key}");
    }
}

/// Creates a tenant and prints its first key.
pub async fn create(id: &str, json: bool, common: &CommonSettings) -> anyhow::Result<()> {
    let id = TenantId::new(id).with_context(|| format!("invalid tenant id {id:?}"))?;
    let store = store(common).await?;
    match store.create(&id).await {
        Ok(key) => {
            print_key(&id, &key, json, true);
            Ok(())
        }
        Err(TenantError::Exists(_)) => {
            bail!("tenant {id} already exists; `framelog tenant key {id}` issues another key")
        }
        Err(e) => Err(e.into()),
    }
}

/// Issues another key for an existing tenant.
pub async fn key(id: &str, json: bool, common: &CommonSettings) -> anyhow::Result<()> {
    let id = TenantId::new(id).with_context(|| format!("invalid tenant id {id:?}"))?;
    let key = store(common).await?.issue_key(&id).await?;
    print_key(&id, &key, json, false);
    Ok(())
}
