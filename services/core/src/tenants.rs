//! Tenants and their API keys, in JetStream KV so every replica sees a new or revoked key at
//! once. Keys are random 256-bit tokens; only their sha256 is stored.

use async_nats::jetstream::{self, kv};
use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use base64::Engine as _;
use framelog_events::TenantId;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::error::ApiError;
use crate::nats::{KV_API_KEYS, KV_TENANTS};

/// Prefix of every API key, so a leaked key is recognisable (secret scanners).
pub const API_KEY_PREFIX: &str = "flk_";

/// A stored tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TenantRecord {
    pub id: TenantId,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// What the key bucket stores under sha256(key).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct KeyRecord {
    tenant: TenantId,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

/// Tenant store errors.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error("tenant {0} already exists")]
    Exists(TenantId),
    #[error("tenant {0} does not exist")]
    Missing(TenantId),
    #[error("tenant store unavailable: {0}")]
    Store(String),
}

fn store_err(e: impl std::fmt::Display) -> TenantError {
    TenantError::Store(e.to_string())
}

/// How long a resolved key may be used from the local cache while NATS is unreachable.
pub const STALE_KEY_GRACE: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Tenants and API keys.
///
/// Keys resolve through KV on every request (so a revoked key stops working everywhere at
/// once); a key resolved in the last [`STALE_KEY_GRACE`] is also remembered locally and used
/// only while NATS is unreachable, so uploads keep flowing through an outage ("stale if error").
/// One `Arc`: every authenticated request clones the store (axum's `FromRef`), so a clone must
/// cost an atomic increment, not two KV handles with their stream info.
#[derive(Clone)]
pub struct TenantStore(std::sync::Arc<TenantInner>);

impl std::ops::Deref for TenantStore {
    type Target = TenantInner;
    fn deref(&self) -> &TenantInner {
        &self.0
    }
}

/// What the tenant store holds.
pub struct TenantInner {
    tenants: kv::Store,
    keys: kv::Store,
    client: Option<async_nats::Client>,
    recent: std::sync::Arc<
        std::sync::Mutex<std::collections::HashMap<String, (TenantId, std::time::Instant)>>,
    >,
}

impl std::fmt::Debug for TenantStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TenantStore")
    }
}

/// sha256 of a key, hex: the only form a key is stored in.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

impl TenantStore {
    /// Opens the buckets (created by `ensure_topology`).
    pub async fn open(js: &jetstream::Context) -> Result<TenantStore, TenantError> {
        Ok(TenantStore(std::sync::Arc::new(TenantInner {
            tenants: js.get_key_value(KV_TENANTS).await.map_err(store_err)?,
            keys: js.get_key_value(KV_API_KEYS).await.map_err(store_err)?,
            client: None,
            recent: Default::default(),
        })))
    }

    /// Lets the store notice an outage at once (instead of waiting for a KV timeout). Call it
    /// before cloning the store.
    pub fn with_client(mut self, client: async_nats::Client) -> TenantStore {
        if let Some(inner) = std::sync::Arc::get_mut(&mut self.0) {
            inner.client = Some(client);
        }
        self
    }

    fn cached(&self, hash: &str) -> Option<TenantId> {
        let m = self.recent.lock().ok()?;
        m.get(hash).filter(|(_, at)| at.elapsed() < STALE_KEY_GRACE).map(|(t, _)| t.clone())
    }

    /// Creates a tenant and its first API key, returned once and never stored in clear.
    pub async fn create(&self, id: &TenantId) -> Result<String, TenantError> {
        let rec = TenantRecord { id: id.clone(), created_at: OffsetDateTime::now_utc() };
        let body = serde_json::to_vec(&rec).map_err(store_err)?;
        match self.tenants.create(id.as_str(), body.into()).await {
            Ok(_) => {}
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                return Err(TenantError::Exists(id.clone()));
            }
            Err(e) => return Err(store_err(e)),
        }
        self.issue_key(id).await
    }

    /// Issues another API key for an existing tenant.
    pub async fn issue_key(&self, id: &TenantId) -> Result<String, TenantError> {
        if self.tenants.entry(id.as_str()).await.map_err(store_err)?.is_none() {
            return Err(TenantError::Missing(id.clone()));
        }
        let mut raw = [0u8; 32];
        rand::rng().fill_bytes(&mut raw);
        let key = format!(
            "{API_KEY_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
        );
        let rec = KeyRecord { tenant: id.clone(), created_at: OffsetDateTime::now_utc() };
        let body = serde_json::to_vec(&rec).map_err(store_err)?;
        self.keys.create(hash_key(&key), body.into()).await.map_err(store_err)?;
        Ok(key)
    }

    /// Whether a tenant exists.
    pub async fn exists(&self, id: &TenantId) -> Result<bool, TenantError> {
        Ok(self.tenants.entry(id.as_str()).await.map_err(store_err)?.is_some())
    }

    /// The tenant an API key belongs to, if any.
    pub async fn resolve(&self, key: &str) -> Result<Option<TenantId>, TenantError> {
        if !key.starts_with(API_KEY_PREFIX) || key.len() > 128 {
            return Ok(None);
        }
        let hash = hash_key(key);
        let down = self
            .client
            .as_ref()
            .is_some_and(|c| c.connection_state() != async_nats::connection::State::Connected);
        if down && let Some(t) = self.cached(&hash) {
            return Ok(Some(t));
        }
        let entry = match self.keys.get(&hash).await {
            Ok(e) => e,
            Err(e) => return self.cached(&hash).map(Some).ok_or_else(|| store_err(e)),
        };
        let Some(entry) = entry else {
            if let Ok(mut m) = self.recent.lock() {
                m.remove(&hash);
            }
            return Ok(None);
        };
        let rec: KeyRecord = serde_json::from_slice(&entry).map_err(store_err)?;
        if let Ok(mut m) = self.recent.lock() {
            if m.len() > 100_000 {
                m.retain(|_, (_, at)| at.elapsed() < STALE_KEY_GRACE);
            }
            m.insert(hash, (rec.tenant.clone(), std::time::Instant::now()));
        }
        Ok(Some(rec.tenant))
    }
}

/// The tenant of an authenticated request: `Authorization: Bearer <api key>`, and an optional
/// `X-Tenant-ID` that must name the same tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant(pub TenantId);

/// Header that may name the tenant explicitly (must match the key's tenant).
pub const TENANT_HEADER: &str = "x-tenant-id";

impl<S> FromRequestParts<S> for Tenant
where
    TenantStore: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer <api key>"))?;
        let value = header
            .to_str()
            .map_err(|_| ApiError::unauthorized("Authorization header is not ASCII"))?;
        let key = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .ok_or_else(|| ApiError::unauthorized("Authorization must be 'Bearer <api key>'"))?;
        let store = TenantStore::from_ref(state);
        let tenant = store
            .resolve(key)
            .await
            .map_err(|e| ApiError::unavailable(e.to_string()))?
            .ok_or_else(|| ApiError::unauthorized("unknown API key"))?;
        if let Some(claimed) = parts.headers.get(TENANT_HEADER)
            && claimed.as_bytes() != tenant.as_str().as_bytes()
        {
            return Err(ApiError::forbidden("X-Tenant-ID does not match the API key's tenant"));
        }
        Ok(Tenant(tenant))
    }
}
