//! Stream keys: `<stream id>.<base64url HMAC-SHA256(stream-key key; tenant, stream id, generation)>`.
//!
//! The key embeds its stream id so a publish finds its stream without an index, and the MAC
//! binds tenant, stream and generation: rotating bumps the generation, so every older key fails
//! at once. Keys can be re-derived from the secret (the reveal call), so none is stored; the
//! stream record keeps only a sha256 of the current key, compared in constant time.
//!
//! The MAC key is the stream-key purpose key derived from the active master (HKDF, see
//! `framelog_core::keyring`). Rotating the master (`framelog secret rotate`) must not cut every
//! publisher, so a publish is checked against the stored hash only, never re-derived: keys made
//! before a master rotation keep working. [`reveal`] re-derives with each master still in the
//! keyring (and the pre-HKDF derivation from the raw master) and returns the one that matches
//! the stored hash, so reveal keeps working too. Rotating a stream's key moves it to the active
//! master.

use base64::Engine as _;
use framelog_core::secret::{Purpose, Secret};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

fn derive_with(key: &[u8], tenant: &str, stream: &str, generation: u32) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key size");
    for part in ["stream-key", tenant, stream, &generation.to_string()] {
        m.update(&(part.len() as u32).to_be_bytes());
        m.update(part.as_bytes());
    }
    let mac = m.finalize().into_bytes();
    format!("{stream}.{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac))
}

/// Derives the key of (tenant, stream, generation) with the active master.
pub fn derive(secret: &Secret, tenant: &str, stream: &str, generation: u32) -> String {
    derive_with(&secret.key(Purpose::StreamKey).1, tenant, stream, generation)
}

/// Re-derives the key of (tenant, stream, generation) whose hash is `stored`: with the active
/// master, an older one still in the keyring, or the raw master (keys made before per-purpose
/// keys). `None` if no master in the keyring made it.
pub fn reveal(
    secret: &Secret,
    tenant: &str,
    stream: &str,
    generation: u32,
    stored: &str,
) -> Option<String> {
    secret
        .keyring()
        .keys()
        .iter()
        .flat_map(|m| {
            [
                derive_with(&m.derive(Purpose::StreamKey), tenant, stream, generation),
                derive_with(&m.bytes, tenant, stream, generation),
            ]
        })
        .find(|k| matches(k, stored))
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
    fn a_master_rotation_keeps_old_keys_revealable_and_new_keys_use_the_new_master() {
        let before = secret();
        let old = derive(&before, "acme", "str_1", 3);
        let after = Secret::from_keyring(before.keyring().rotated(&[5; 32], 1000, 60));
        // Long past the grace period of tokens: stream keys are checked by their stored hash.
        assert_eq!(reveal(&after, "acme", "str_1", 3, &hash(&old)), Some(old.clone()));
        let new = derive(&after, "acme", "str_1", 4);
        assert_ne!(new, derive(&before, "acme", "str_1", 4));
        assert_eq!(reveal(&after, "acme", "str_1", 4, &hash(&new)), Some(new));
        assert_eq!(reveal(&after, "acme", "str_1", 4, &hash(&old)), None);
        // A key made before per-purpose keys (HMAC with the raw master) is still revealed.
        let legacy = derive_with(before.as_bytes(), "acme", "str_2", 0);
        assert_ne!(legacy, derive(&before, "acme", "str_2", 0), "keys are HKDF-derived now");
        assert_eq!(reveal(&after, "acme", "str_2", 0, &hash(&legacy)), Some(legacy));
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
