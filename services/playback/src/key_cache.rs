//! Every signing key's verifier in memory (`kid -> (tenant, parsed public key)`), so checking
//! a JWT never waits on NATS.
//!
//! [`KeyCache::follow`] watches [`crate::signing_keys::KV_SIGNING_KEYS`] with history: it
//! replays the bucket, then applies puts and deletes as they arrive, so a deleted key stops
//! verifying on every replica as soon as its delete reaches it. Until the first replay is done
//! the cache is not ready and JWT requests answer 503 (not 403: the key may well exist).
//! After a watch error (a NATS outage) it starts a new watch, which replays the bucket again;
//! keys that the new replay no longer holds are dropped when it completes.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_nats::jetstream::kv;
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::jwt::PublicKey;
use crate::signing_keys::SigningKeyRecord;

/// A key as verification needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedKey {
    pub tenant: String,
    pub key: PublicKey,
}

/// The in-memory keys of one process; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct KeyCache {
    keys: Arc<RwLock<HashMap<String, Arc<CachedKey>>>>,
    ready: Arc<AtomicBool>,
}

impl KeyCache {
    /// Whether the bucket has been replayed once (before that, JWTs answer 503).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// The key `kid` (no IO).
    pub fn get(&self, kid: &str) -> Option<Arc<CachedKey>> {
        self.keys.read().expect("key cache poisoned").get(kid).cloned()
    }

    /// Applies one KV entry: a put of a valid record adds the key, anything else removes it.
    pub fn apply(&self, kid: &str, op: kv::Operation, value: &[u8]) {
        let parsed = (op == kv::Operation::Put)
            .then(|| serde_json::from_slice::<SigningKeyRecord>(value).ok())
            .flatten()
            .filter(|r| r.kid == kid)
            .and_then(|r| Some(CachedKey { key: r.verifier()?, tenant: r.tenant }));
        let mut keys = self.keys.write().expect("key cache poisoned");
        match parsed {
            Some(k) => {
                keys.insert(kid.to_owned(), Arc::new(k));
            }
            None => {
                if op == kv::Operation::Put {
                    tracing::warn!(kid, "unreadable signing key record ignored");
                }
                keys.remove(kid);
            }
        }
    }

    /// Drops every key not in `seen` (after a replay).
    fn retain(&self, seen: &HashSet<String>) {
        self.keys.write().expect("key cache poisoned").retain(|k, _| seen.contains(k));
    }

    fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    /// Follows the bucket until `shutdown`, restarting the watch a second after an error.
    pub async fn follow(self, kv: kv::Store, shutdown: CancellationToken) {
        loop {
            match kv.watch_with_history(">").await {
                Ok(mut w) => {
                    // Keys of this replay (None once it is complete).
                    let mut replay: Option<HashSet<String>> = Some(HashSet::new());
                    if kv.status().await.is_ok_and(|s| s.values() == 0) {
                        self.retain(&HashSet::new());
                        replay = None;
                        self.set_ready();
                    }
                    loop {
                        let entry = tokio::select! {
                            _ = shutdown.cancelled() => return,
                            e = w.next() => e,
                        };
                        match entry {
                            Some(Ok(e)) => {
                                self.apply(&e.key, e.operation, &e.value);
                                if let Some(seen) = &mut replay {
                                    if e.operation == kv::Operation::Put {
                                        seen.insert(e.key.clone());
                                    }
                                    if e.delta == 0 {
                                        self.retain(seen);
                                        replay = None;
                                        self.set_ready();
                                    }
                                }
                            }
                            Some(Err(e)) => {
                                tracing::warn!(error = %e, "signing key watch failed");
                                break;
                            }
                            None => break,
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "signing key watch not started"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::Alg;
    use base64::Engine;

    fn record(kid: &str) -> Vec<u8> {
        let pair = crate::keygen::generate(Alg::ES256).unwrap();
        let rec = SigningKeyRecord {
            tenant: "acme".into(),
            kid: kid.into(),
            algorithm: Alg::ES256,
            public_key: base64::engine::general_purpose::STANDARD.encode(pair.public_der),
            created_at: "2026-01-01T00:00:00Z".into(),
        };
        serde_json::to_vec(&rec).unwrap()
    }

    #[test]
    fn puts_add_keys_and_deletes_purges_and_bad_records_remove_them() {
        let c = KeyCache::default();
        c.apply("sk_1", kv::Operation::Put, &record("sk_1"));
        assert_eq!(c.get("sk_1").unwrap().tenant, "acme");
        c.apply("sk_1", kv::Operation::Delete, b"");
        assert!(c.get("sk_1").is_none());
        c.apply("sk_2", kv::Operation::Put, &record("sk_2"));
        c.apply("sk_2", kv::Operation::Purge, b"");
        assert!(c.get("sk_2").is_none());
        c.apply("sk_3", kv::Operation::Put, &record("sk_other"));
        assert!(c.get("sk_3").is_none(), "a record must name its own kid");
        c.apply("sk_4", kv::Operation::Put, &record("sk_4"));
        c.apply("sk_4", kv::Operation::Put, b"not json");
        assert!(c.get("sk_4").is_none());
    }
}
