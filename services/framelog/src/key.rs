//! `framelog key create|list|revoke`: a tenant's named, scoped API keys, through NATS only
//! (no sled), so it runs beside a live server. The same store as `/v1/api-keys`.

use anyhow::{Context, bail};
use clap::Subcommand;
use framelog_core::CommonSettings;
use framelog_core::api_keys_api::parse_scopes;
use framelog_events::TenantId;

/// `framelog key ...`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create a scoped API key; the key (shown once) is the last line.
    Create {
        /// The tenant.
        tenant: String,
        /// A label for people.
        #[arg(long)]
        name: String,
        /// A scope (repeat): videos:read, videos:write, uploads:write, live:read, live:write,
        /// webhooks:read, webhooks:write, signing_keys:write, billing:read, admin.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// Print {"tenant","id","name","scopes","created_at","key"} instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: CommonSettings,
    },
    /// List a tenant's keys (ids, names, scopes; never the secrets).
    List {
        tenant: String,
        /// Print {"api_keys": [...]} instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: CommonSettings,
    },
    /// Revoke a key by id: every replica refuses it from the next request on.
    Revoke {
        tenant: String,
        /// The key's id (`key_...`, from `framelog key list`).
        id: String,
        #[command(flatten)]
        common: CommonSettings,
    },
}

fn tenant_id(id: &str) -> anyhow::Result<TenantId> {
    TenantId::new(id).with_context(|| format!("invalid tenant id {id:?}"))
}

/// Runs one `framelog key` command.
pub async fn run(cmd: KeyCommand) -> anyhow::Result<()> {
    match cmd {
        KeyCommand::Create { tenant, name, scopes, json, common } => {
            let tenant = tenant_id(&tenant)?;
            let scopes = parse_scopes(&scopes).map_err(|e| anyhow::anyhow!(e.message))?;
            let store = crate::tenant::store(&common).await?;
            let new = store.create_key(&tenant, &name, scopes).await?;
            let list: Vec<&str> = new.info.scopes.iter().map(|s| s.as_str()).collect();
            if json {
                let mut v = serde_json::to_value(&new.info)?;
                v["tenant"] = tenant.as_str().into();
                v["key"] = new.key.clone().into();
                println!("{v}");
            } else {
                println!(
                    "Created API key {} ({}) for {tenant} with scopes {}.",
                    new.info.id,
                    new.info.name,
                    list.join(", ")
                );
                println!("The key (shown once; store it now, only its hash is kept):");
                println!("{}", new.key);
            }
        }
        KeyCommand::List { tenant, json, common } => {
            let tenant = tenant_id(&tenant)?;
            let keys = crate::tenant::store(&common).await?.list_keys(&tenant).await?;
            if json {
                println!("{}", serde_json::json!({ "api_keys": keys }));
            } else {
                for k in keys {
                    let scopes: Vec<&str> = k.scopes.iter().map(|s| s.as_str()).collect();
                    let v = serde_json::to_value(&k)?;
                    let at = v["created_at"].as_str().unwrap_or_default();
                    println!("{}\t{}\t{}\t{at}", k.id, k.name, scopes.join(","));
                }
            }
        }
        KeyCommand::Revoke { tenant, id, common } => {
            let tenant = tenant_id(&tenant)?;
            if !crate::tenant::store(&common).await?.revoke_key(&tenant, &id).await? {
                bail!("tenant {tenant} has no API key {id}");
            }
            println!("Revoked API key {id} of {tenant}.");
        }
    }
    Ok(())
}
