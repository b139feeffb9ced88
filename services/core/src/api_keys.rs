//! API keys of a tenant: named, scoped, listed and revoked without scanning every key.
//!
//! # Key layout in the `framelog_api_keys` KV bucket
//! - `<sha256 hex of the key>` → [`KeyRecord`]: what a request resolves, one read per request
//!   (tenant, key id, name, scopes). Keys from before scopes have only `tenant` and
//!   `created_at` and read as `admin`.
//! - `t.<tenant id>` → the tenant's index: every key's id, name, scopes, created_at and hash,
//!   changed by compare-and-set on the revision so concurrent creates and revokes never lose
//!   each other. Listing is one read; revoking finds the hash there. (A hash is 64 hex digits,
//!   never containing a `.`, so the two kinds of keys cannot collide.)
//!
//! Revoking deletes the hash record first, then the index entry: from the delete on, every
//! replica's next resolve sees no record and answers 401 (the local cache is used only while
//! NATS is disconnected). Revoking the last admin key is allowed; `framelog tenant key` issues
//! a new one. Keys issued before the index existed are indexed at start
//! ([`crate::api_keys_legacy`]).

use async_nats::jetstream::kv;
use base64::Engine as _;
use framelog_events::TenantId;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::scopes::ScopeSet;
use crate::tenants::{API_KEY_PREFIX, TenantError, TenantStore, hash_key, store_err};

/// Prefix of a key's public id.
pub const KEY_ID_PREFIX: &str = "key";
/// Keys one tenant may hold (the index is one KV value).
pub const MAX_KEYS_PER_TENANT: usize = 500;
/// Longest key name, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// What the key bucket stores under sha256(key).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct KeyRecord {
    pub tenant: TenantId,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Absent on keys from before scopes: `admin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<ScopeSet>,
}

impl KeyRecord {
    pub fn scopes(&self) -> ScopeSet {
        self.scopes.clone().unwrap_or_else(ScopeSet::admin)
    }
}

/// A key as listed: never the secret nor its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiKeyInfo {
    pub id: String,
    pub name: String,
    pub scopes: ScopeSet,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

/// A freshly created key: the secret is in `key`, shown once.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub info: ApiKeyInfo,
    pub key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct IndexEntry {
    #[serde(flatten)]
    pub(crate) info: ApiKeyInfo,
    pub(crate) hash: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct TenantIndex {
    pub(crate) keys: Vec<IndexEntry>,
}

/// The KV key of a tenant's index.
pub fn index_key(tenant: &TenantId) -> String {
    format!("t.{tenant}")
}

/// Checks a key name: 1 to [`MAX_NAME_CHARS`] characters, no control characters.
pub fn check_name(name: &str) -> Result<(), String> {
    let n = name.chars().count();
    if n == 0 || n > MAX_NAME_CHARS {
        return Err(format!("name must be 1 to {MAX_NAME_CHARS} characters"));
    }
    if name.chars().any(char::is_control) {
        return Err("name must not contain control characters".into());
    }
    Ok(())
}

fn new_secret() -> String {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    format!("{API_KEY_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw))
}

impl TenantStore {
    /// Creates a named key with `scopes` for an existing tenant; the secret is returned once.
    pub async fn create_key(
        &self,
        tenant: &TenantId,
        name: &str,
        scopes: ScopeSet,
    ) -> Result<NewApiKey, TenantError> {
        check_name(name).map_err(TenantError::Invalid)?;
        if scopes.is_empty() {
            return Err(TenantError::Invalid("scopes must name at least one scope".into()));
        }
        if !self.exists(tenant).await? {
            return Err(TenantError::Missing(tenant.clone()));
        }
        let key = new_secret();
        let hash = hash_key(&key);
        let info = ApiKeyInfo {
            id: crate::new_id(KEY_ID_PREFIX).to_string(),
            name: name.to_owned(),
            scopes,
            created_at: OffsetDateTime::now_utc()
                .replace_nanosecond(0)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
        };
        let entry = IndexEntry { info: info.clone(), hash: hash.clone() };
        // Index first: a key is never usable without being listed (and so revocable).
        self.change_index(tenant, |ix| {
            if ix.keys.len() >= MAX_KEYS_PER_TENANT {
                return Err(TenantError::Invalid(format!(
                    "a tenant holds at most {MAX_KEYS_PER_TENANT} keys; revoke one first"
                )));
            }
            ix.keys.push(entry.clone());
            Ok(())
        })
        .await?;
        let rec = KeyRecord {
            tenant: tenant.clone(),
            created_at: info.created_at,
            id: Some(info.id.clone()),
            name: Some(info.name.clone()),
            scopes: Some(info.scopes.clone()),
        };
        let body = serde_json::to_vec(&rec).map_err(store_err)?;
        if let Err(e) = self.keys.create(&hash, body.into()).await {
            let id = info.id.clone();
            let _ = self
                .change_index(tenant, |ix| {
                    ix.keys.retain(|k| k.info.id != id);
                    Ok(())
                })
                .await;
            return Err(store_err(e));
        }
        Ok(NewApiKey { info, key })
    }

    /// The tenant's keys, oldest first.
    pub async fn list_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKeyInfo>, TenantError> {
        let (ix, _) = self.read_index(tenant).await?;
        Ok(ix.keys.into_iter().map(|k| k.info).collect())
    }

    /// Revokes the tenant's key `id`; `false` if the tenant has no such key (another tenant's
    /// id included).
    pub async fn revoke_key(&self, tenant: &TenantId, id: &str) -> Result<bool, TenantError> {
        let (ix, _) = self.read_index(tenant).await?;
        let Some(entry) = ix.keys.iter().find(|k| k.info.id == id) else {
            return Ok(false);
        };
        self.keys.delete(&entry.hash).await.map_err(store_err)?;
        self.forget(&entry.hash);
        self.change_index(tenant, |ix| {
            ix.keys.retain(|k| k.info.id != id);
            Ok(())
        })
        .await?;
        Ok(true)
    }

    /// The tenant's index entries (hashes included: crate-internal).
    pub(crate) async fn list_index_entries(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<IndexEntry>, TenantError> {
        Ok(self.read_index(tenant).await?.0.keys)
    }

    async fn read_index(
        &self,
        tenant: &TenantId,
    ) -> Result<(TenantIndex, Option<u64>), TenantError> {
        match self.keys.entry(index_key(tenant)).await.map_err(store_err)? {
            Some(e) if e.operation == kv::Operation::Put => {
                Ok((serde_json::from_slice(&e.value).map_err(store_err)?, Some(e.revision)))
            }
            Some(e) => Ok((TenantIndex::default(), Some(e.revision))),
            None => Ok((TenantIndex::default(), None)),
        }
    }

    /// Read, change, compare-and-set the tenant's index, retried on a concurrent change.
    pub(crate) async fn change_index(
        &self,
        tenant: &TenantId,
        change: impl Fn(&mut TenantIndex) -> Result<(), TenantError>,
    ) -> Result<(), TenantError> {
        let k = index_key(tenant);
        for _ in 0..20 {
            let (mut ix, revision) = self.read_index(tenant).await?;
            change(&mut ix)?;
            let body: bytes::Bytes = serde_json::to_vec(&ix).map_err(store_err)?.into();
            let res =
                match revision {
                    Some(r) => self.keys.update(&k, body, r).await.map(|_| ()).map_err(|e| {
                        (e.kind() == kv::UpdateErrorKind::WrongLastRevision, e.to_string())
                    }),
                    None => self.keys.create(&k, body).await.map(|_| ()).map_err(|e| {
                        (e.kind() == kv::CreateErrorKind::AlreadyExists, e.to_string())
                    }),
                };
            match res {
                Ok(()) => return Ok(()),
                Err((true, _)) => continue,
                Err((false, e)) => return Err(TenantError::Store(e)),
            }
        }
        Err(TenantError::Store(format!("the key index of {tenant} kept changing; try again")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_without_scopes_reads_as_admin() {
        let old = r#"{"tenant":"acme","created_at":"2026-01-01T00:00:00Z"}"#;
        let rec: KeyRecord = serde_json::from_str(old).unwrap();
        assert_eq!(rec.scopes(), ScopeSet::admin());
        assert!(rec.id.is_none());
    }

    #[test]
    fn key_names_are_bounded_and_printable() {
        assert!(check_name("ci uploader").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name(&"x".repeat(MAX_NAME_CHARS + 1)).is_err());
        assert!(check_name("a\nb").is_err());
    }

    #[test]
    fn the_index_key_cannot_collide_with_a_hash() {
        let t = TenantId::new("acme").unwrap();
        assert_eq!(index_key(&t), "t.acme");
        assert!(!hash_key("flk_x").contains('.'));
    }

    #[test]
    fn a_listed_key_shows_neither_the_secret_nor_its_hash() {
        let info = ApiKeyInfo {
            id: "key_1".into(),
            name: "n".into(),
            scopes: ScopeSet::admin(),
            created_at: OffsetDateTime::UNIX_EPOCH,
        };
        let v = serde_json::to_value(&info).unwrap();
        let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["created_at", "id", "name", "scopes"]);
    }
}
