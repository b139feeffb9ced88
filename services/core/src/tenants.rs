//! Tenants and their API keys, in JetStream KV so every replica sees a new or revoked key at
//! once. Keys are random 256-bit tokens; only their sha256 is stored. The [`Tenant`] and
//! [`Principal`] extractors resolve the key and enforce the scope the route needs
//! ([`crate::scopes::required_scope`]): the one place scopes are checked. Key records, the
//! per-tenant index and create/list/revoke are in [`crate::api_keys`].

use async_nats::jetstream::{self, kv};
use axum::extract::{FromRef, FromRequestParts, MatchedPath};
use axum::http::StatusCode;
use axum::http::request::Parts;
use framelog_events::TenantId;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::api_keys::KeyRecord;
use crate::error::ApiError;
use crate::nats::{KV_API_KEYS, KV_TENANTS};
use crate::scopes::{ScopeSet, required_scope};

/// Prefix of every API key, so a leaked key is recognisable (secret scanners).
pub const API_KEY_PREFIX: &str = "flk_";

/// A stored tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TenantRecord {
    pub id: TenantId,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Tenant store errors.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error("tenant {0} already exists")]
    Exists(TenantId),
    #[error("tenant {0} does not exist")]
    Missing(TenantId),
    /// A refused request (bad name, no scopes, too many keys).
    #[error("{0}")]
    Invalid(String),
    #[error("tenant store unavailable: {0}")]
    Store(String),
}

pub(crate) fn store_err(e: impl std::fmt::Display) -> TenantError {
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
    pub(crate) keys: kv::Store,
    client: Option<async_nats::Client>,
    recent: std::sync::Arc<
        std::sync::Mutex<std::collections::HashMap<String, (Principal, std::time::Instant)>>,
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

    fn cached(&self, hash: &str) -> Option<Principal> {
        let m = self.recent.lock().ok()?;
        m.get(hash).filter(|(_, at)| at.elapsed() < STALE_KEY_GRACE).map(|(t, _)| t.clone())
    }

    /// Drops a key from the local cache (revoked).
    pub(crate) fn forget(&self, hash: &str) {
        if let Ok(mut m) = self.recent.lock() {
            m.remove(hash);
        }
    }

    /// Creates a tenant and its first API key (`admin`, named `admin`), returned once and never
    /// stored in clear.
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
        Ok(self.create_key(id, "admin", ScopeSet::admin()).await?.key)
    }

    /// Issues another `admin` API key for an existing tenant.
    pub async fn issue_key(&self, id: &TenantId) -> Result<String, TenantError> {
        Ok(self.create_key(id, "admin", ScopeSet::admin()).await?.key)
    }

    /// Whether a tenant exists.
    pub async fn exists(&self, id: &TenantId) -> Result<bool, TenantError> {
        Ok(self.tenants.entry(id.as_str()).await.map_err(store_err)?.is_some())
    }

    /// The tenant an API key belongs to, if any.
    pub async fn resolve(&self, key: &str) -> Result<Option<TenantId>, TenantError> {
        Ok(self.resolve_principal(key).await?.map(|p| p.tenant))
    }

    /// Who an API key is: its tenant, id and scopes, if the key exists.
    pub async fn resolve_principal(&self, key: &str) -> Result<Option<Principal>, TenantError> {
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
            self.forget(&hash);
            return Ok(None);
        };
        let rec: KeyRecord = serde_json::from_slice(&entry).map_err(store_err)?;
        let who = Principal { scopes: rec.scopes(), key_id: rec.id, tenant: rec.tenant };
        if let Ok(mut m) = self.recent.lock() {
            if m.len() > 100_000 {
                m.retain(|_, (_, at)| at.elapsed() < STALE_KEY_GRACE);
            }
            m.insert(hash, (who.clone(), std::time::Instant::now()));
        }
        Ok(Some(who))
    }
}

/// Who called: the key's tenant, its id (`None` for keys from before ids) and its scopes.
/// Extracting it enforces the route's scope exactly like [`Tenant`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub tenant: TenantId,
    pub key_id: Option<String>,
    pub scopes: ScopeSet,
}

/// The tenant of an authenticated request: `Authorization: Bearer <api key>`, and an optional
/// `X-Tenant-ID` that must name the same tenant. The key must hold the scope the matched route
/// needs, else 403 `insufficient_scope`.
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
        Ok(Tenant(Principal::from_request_parts(parts, state).await?.tenant))
    }
}

impl<S> FromRequestParts<S> for Principal
where
    TenantStore: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        // One resolve per request even when a handler takes both extractors.
        if let Some(p) = parts.extensions.get::<Principal>() {
            return Ok(p.clone());
        }
        let who = authenticate(parts, &TenantStore::from_ref(state)).await?;
        let path = parts.extensions.get::<MatchedPath>().map(MatchedPath::as_str).unwrap_or("");
        let needed = required_scope(parts.method.as_str(), path);
        if !who.scopes.allows(needed) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                format!("this API key lacks the scope {needed} that {} {path} needs", parts.method),
            ));
        }
        parts.extensions.insert(who.clone());
        Ok(who)
    }
}

/// The key of `Authorization: Bearer`, resolved, and `X-Tenant-ID` checked against it.
async fn authenticate(parts: &Parts, store: &TenantStore) -> Result<Principal, ApiError> {
    let header = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer <api key>"))?;
    let value =
        header.to_str().map_err(|_| ApiError::unauthorized("Authorization header is not ASCII"))?;
    let key = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .ok_or_else(|| ApiError::unauthorized("Authorization must be 'Bearer <api key>'"))?;
    let who = store
        .resolve_principal(key)
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?
        .ok_or_else(|| ApiError::unauthorized("unknown API key"))?;
    if let Some(claimed) = parts.headers.get(TENANT_HEADER)
        && claimed.as_bytes() != who.tenant.as_str().as_bytes()
    {
        return Err(ApiError::forbidden("X-Tenant-ID does not match the API key's tenant"));
    }
    Ok(who)
}
