//! Keys issued before the per-tenant index ([`crate::api_keys`]) existed: found by one scan of
//! the key bucket and given an id and an index entry, so `GET /v1/api-keys` lists them and
//! `DELETE /v1/api-keys/{id}` (or `framelog key revoke`) can revoke them.
//!
//! Runs at every start (`Platform::start`), cheap once done: a record that already has an id is
//! skipped. Concurrent starts of several replicas are safe: the record is rewritten by
//! compare-and-set on its revision (the loser skips it), and the index change is a CAS too. A
//! key is indexed before its record names the id, so a crash between the two leaves an index
//! entry the next start finds again by hash and does not duplicate.

use async_nats::jetstream::kv;
use futures::StreamExt as _;

use crate::api_keys::{ApiKeyInfo, IndexEntry, KEY_ID_PREFIX, KeyRecord};
use crate::tenants::{TenantError, TenantStore, store_err};

/// The name given to a key that had none.
pub const LEGACY_KEY_NAME: &str = "admin (issued before named keys)";

/// Whether a bucket key is a key hash (64 hex digits), not an index (`t.<tenant>`).
fn is_hash(k: &str) -> bool {
    k.len() == 64 && k.bytes().all(|b| b.is_ascii_hexdigit())
}

impl TenantStore {
    /// Indexes every key that has no id yet; returns how many it indexed.
    pub async fn index_legacy_keys(&self) -> Result<usize, TenantError> {
        let mut names = self.keys.keys().await.map_err(store_err)?;
        let mut hashes = Vec::new();
        while let Some(k) = names.next().await {
            let k = k.map_err(store_err)?;
            if is_hash(&k) {
                hashes.push(k);
            }
        }
        let mut indexed = 0;
        for hash in hashes {
            let Some(entry) = self.keys.entry(&hash).await.map_err(store_err)? else { continue };
            if entry.operation != kv::Operation::Put {
                continue;
            }
            let Ok(mut rec) = serde_json::from_slice::<KeyRecord>(&entry.value) else { continue };
            if rec.id.is_some() {
                continue;
            }
            let tenant = rec.tenant.clone();
            let existing = self.list_index_entries(&tenant).await?;
            let info = match existing.iter().find(|e| e.hash == hash) {
                Some(e) => e.info.clone(),
                None => {
                    let info = ApiKeyInfo {
                        id: crate::new_id(KEY_ID_PREFIX).to_string(),
                        name: LEGACY_KEY_NAME.to_owned(),
                        scopes: rec.scopes(),
                        created_at: rec.created_at,
                    };
                    let e = IndexEntry { info: info.clone(), hash: hash.clone() };
                    self.change_index(&tenant, |ix| {
                        if !ix.keys.iter().any(|k| k.hash == e.hash) {
                            ix.keys.push(e.clone());
                        }
                        Ok(())
                    })
                    .await?;
                    info
                }
            };
            rec.id = Some(info.id);
            rec.name = Some(info.name);
            rec.scopes = Some(info.scopes);
            let body = serde_json::to_vec(&rec).map_err(store_err)?;
            match self.keys.update(&hash, body.into(), entry.revision).await {
                Ok(_) => indexed += 1,
                // Another replica did it, or the key was revoked meanwhile.
                Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {}
                Err(e) => return Err(store_err(e)),
            }
        }
        Ok(indexed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hashes_are_scanned() {
        assert!(is_hash(&crate::tenants::hash_key("flk_x")));
        assert!(!is_hash("t.acme"));
        assert!(!is_hash(&"g".repeat(64)));
    }
}
