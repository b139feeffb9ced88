//! The signing key store: public keys of JWT playback in the KV bucket
//! [`KV_SIGNING_KEYS`], one record per key id (`sk_` + 128 random bits, globally unique), each
//! naming its tenant. Reads are tenant-scoped: another tenant's key is absent (404). Private
//! keys are never stored ([`crate::keygen`]).

use async_nats::jetstream::{self, kv};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures::{StreamExt, TryStreamExt};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

pub use framelog_core::nats::KV_SIGNING_KEYS;

use crate::jwt::{Alg, PublicKey};

/// One stored public key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKeyRecord {
    pub tenant: String,
    pub kid: String,
    pub algorithm: Alg,
    /// SPKI DER, base64 (standard alphabet, padded).
    pub public_key: String,
    /// RFC 3339.
    pub created_at: String,
}

impl SigningKeyRecord {
    /// The SPKI DER of the public key.
    pub fn public_der(&self) -> Option<Vec<u8>> {
        STANDARD.decode(&self.public_key).ok()
    }

    /// The verifier key, if the record holds a valid one for its algorithm.
    pub fn verifier(&self) -> Option<PublicKey> {
        PublicKey::from_spki(self.algorithm, &self.public_der()?)
    }
}

/// A signing key store failure (NATS unreachable, bucket missing, a corrupt record).
#[derive(Debug, thiserror::Error)]
#[error("signing keys unavailable: {0}")]
pub struct SigningKeyError(String);

fn err(e: impl std::fmt::Display) -> SigningKeyError {
    SigningKeyError(e.to_string())
}

/// A new key id: `sk_` and 32 hex digits.
pub fn new_kid() -> Result<String, SigningKeyError> {
    let mut b = [0u8; 16];
    SystemRandom::new().fill(&mut b).map_err(|_| err("system RNG failed"))?;
    Ok(format!("sk_{}", hex::encode(b)))
}

/// Whether `kid` has the shape [`new_kid`] makes (anything else is a 404 without a KV read).
pub fn is_kid(kid: &str) -> bool {
    kid.strip_prefix("sk_").is_some_and(|h| {
        h.len() == 32 && h.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    })
}

/// The store; cheap to clone.
#[derive(Clone)]
pub struct SigningKeys {
    kv: kv::Store,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeys").finish_non_exhaustive()
    }
}

impl SigningKeys {
    /// Opens the bucket (declared by the topology).
    pub async fn open(js: &jetstream::Context) -> Result<SigningKeys, SigningKeyError> {
        Ok(SigningKeys { kv: js.get_key_value(KV_SIGNING_KEYS).await.map_err(err)? })
    }

    /// The bucket (for [`crate::key_cache`]'s watch).
    pub fn kv(&self) -> &kv::Store {
        &self.kv
    }

    /// Stores a new record (its kid must be new).
    #[tracing::instrument(skip_all, fields(tenant = %rec.tenant, kid = %rec.kid), err)]
    pub async fn create(&self, rec: &SigningKeyRecord) -> Result<(), SigningKeyError> {
        let body = serde_json::to_vec(rec).map_err(err)?;
        self.kv.create(&rec.kid, body.into()).await.map_err(err)?;
        Ok(())
    }

    /// `tenant`'s key `kid` (None for another tenant's).
    pub async fn get(
        &self,
        tenant: &str,
        kid: &str,
    ) -> Result<Option<SigningKeyRecord>, SigningKeyError> {
        if !is_kid(kid) {
            return Ok(None);
        }
        let Some(v) = self.kv.get(kid).await.map_err(err)? else { return Ok(None) };
        let rec: SigningKeyRecord = serde_json::from_slice(&v).map_err(err)?;
        Ok((rec.tenant == tenant).then_some(rec))
    }

    /// `tenant`'s keys, oldest first.
    pub async fn list(&self, tenant: &str) -> Result<Vec<SigningKeyRecord>, SigningKeyError> {
        let kids: Vec<String> = match self.kv.keys().await {
            Ok(keys) => keys.try_collect().await.map_err(err)?,
            Err(e) => return Err(err(e)),
        };
        let mut out = Vec::new();
        let mut reads = futures::stream::iter(kids)
            .map(|k| async move { self.get(tenant, &k).await })
            .buffered(8);
        while let Some(rec) = reads.next().await {
            out.extend(rec?);
        }
        out.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.kid.cmp(&b.kid)));
        Ok(out)
    }

    /// Deletes `tenant`'s key `kid`; false if it has none by that id.
    #[tracing::instrument(skip(self), err)]
    pub async fn delete(&self, tenant: &str, kid: &str) -> Result<bool, SigningKeyError> {
        if self.get(tenant, kid).await?.is_none() {
            return Ok(false);
        }
        self.kv.delete(kid).await.map_err(err)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_kids_are_unique_and_only_that_shape_is_looked_up() {
        let (a, b) = (new_kid().unwrap(), new_kid().unwrap());
        assert_ne!(a, b);
        assert!(is_kid(&a) && is_kid(&b), "{a}");
        for bad in ["sk_", "sk_XYZ", "pk_0123456789abcdef0123456789abcdef", "sk_../..", ""] {
            assert!(!is_kid(bad), "{bad}");
        }
    }
}
