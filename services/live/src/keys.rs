//! Stream keys: `<stream id>.<base64url HMAC-SHA256(secret; tenant, stream id, generation)>`.
//!
//! The key embeds its stream id so a publish finds its stream without an index, and the MAC
//! binds tenant, stream and generation: rotating bumps the generation, so every older key fails
//! at once. Keys can be re-derived from the secret (the reveal call), so none is stored; the
//! stream record keeps only a sha256 of the current key, compared in constant time.

use base64::Engine as _;
use framelog_core::secret::Secret;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Derives the key of (tenant, stream, generation).
pub fn derive(secret: &Secret, tenant: &str, stream: &str, generation: u32) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key size");
    for part in ["stream-key", tenant, stream, &generation.to_string()] {
        m.update(&(part.len() as u32).to_be_bytes());
        m.update(part.as_bytes());
    }
    let mac = m.finalize().into_bytes();
    format!("{stream}.{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac))
}

/// The stream id a key claims to open, if the key is well-formed. Says nothing about validity.
pub fn stream_of(key: &str) -> Option<&str> {
    let (stream, mac) = key.split_once('.')?;
    framelog_events::id::validate_id(stream).ok()?;
    (mac.len() == 43 && mac.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        .then_some(stream)
}

/// The only form in which a key is stored.
pub fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Whether `key` hashes to `stored` (constant time).
pub fn matches(key: &str, stored: &str) -> bool {
    bool::from(hash(key).as_bytes().ct_eq(stored.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Secret {
        Secret::from_bytes(b"0123456789abcdef0123456789abcdef")
    }

    #[test]
    fn a_key_names_its_stream_and_is_url_safe() {
        let k = derive(&secret(), "acme", "str_1", 0);
        assert_eq!(stream_of(&k), Some("str_1"));
        assert!(k.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)), "{k}");
        assert!(matches(&k, &hash(&k)));
    }

    #[test]
    fn rotation_tenant_and_secret_all_change_the_key() {
        let k0 = derive(&secret(), "acme", "str_1", 0);
        assert_ne!(k0, derive(&secret(), "acme", "str_1", 1));
        assert_ne!(k0, derive(&secret(), "evil", "str_1", 0));
        assert_ne!(
            k0,
            derive(&Secret::from_bytes(b"another secret of 32 bytes long!"), "acme", "str_1", 0)
        );
        assert!(!matches(&derive(&secret(), "acme", "str_1", 1), &hash(&k0)));
    }

    #[test]
    fn malformed_keys_name_no_stream() {
        for bad in [
            "",
            "str_1",
            "str_1.",
            "str_1.short",
            "a.b.c",
            "STR.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "../x.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert_eq!(stream_of(bad), None, "{bad}");
        }
    }
}
