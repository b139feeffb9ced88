//! Standard Webhooks signing (pure): `whsec_` secrets and the `webhook-signature` header.
//!
//! The signed content is `<webhook-id>.<webhook-timestamp>.<body>`, HMAC-SHA256 with the
//! secret's bytes (the base64 after `whsec_`), sent as `v1,<base64 signature>`. During a
//! rotation overlap every live secret signs, and the signatures are space-separated, so a
//! receiver holding either secret verifies.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore;
use sha2::Sha256;

/// Prefix of a secret's text form.
pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a new secret (the spec asks for 24 to 64).
pub const SECRET_BYTES: usize = 32;

/// A new random secret, `whsec_<base64 of 32 bytes>`.
pub fn new_secret() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

/// The key bytes of a `whsec_` secret; `None` if it is not one.
pub fn secret_bytes(secret: &str) -> Option<Vec<u8>> {
    let b64 = secret.strip_prefix(SECRET_PREFIX)?;
    STANDARD.decode(b64).ok().filter(|b| !b.is_empty())
}

/// One `v1,<base64>` signature of `id.timestamp.body` with `secret`.
pub fn signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = secret_bytes(secret)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())))
}

/// The `webhook-signature` header: one signature per secret, space-separated (unreadable
/// secrets are skipped; they are never stored).
pub fn header(secrets: &[&str], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets.iter().filter_map(|s| signature(s, id, timestamp, body)).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example of the Standard Webhooks spec's reference libraries.
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TS: i64 = 1614265330;
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SPEC_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn the_spec_example_signs_to_its_published_signature() {
        assert_eq!(signature(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY).unwrap(), SPEC_SIG);
    }

    #[test]
    fn a_changed_id_timestamp_or_body_changes_the_signature() {
        assert_ne!(signature(SPEC_SECRET, "msg_x", SPEC_TS, SPEC_BODY).unwrap(), SPEC_SIG);
        assert_ne!(signature(SPEC_SECRET, SPEC_ID, SPEC_TS + 1, SPEC_BODY).unwrap(), SPEC_SIG);
        assert_ne!(signature(SPEC_SECRET, SPEC_ID, SPEC_TS, b"{}").unwrap(), SPEC_SIG);
    }

    #[test]
    fn every_live_secret_signs_space_separated() {
        let other = new_secret();
        let h = header(&[SPEC_SECRET, &other], SPEC_ID, SPEC_TS, SPEC_BODY);
        let parts: Vec<&str> = h.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], SPEC_SIG);
        assert!(parts[1].starts_with("v1,"));
    }

    #[test]
    fn new_secrets_are_whsec_base64_of_32_random_bytes() {
        let a = new_secret();
        assert!(a.starts_with(SECRET_PREFIX));
        assert_eq!(secret_bytes(&a).unwrap().len(), SECRET_BYTES);
        assert_ne!(a, new_secret());
        assert!(secret_bytes("nope").is_none());
        assert!(secret_bytes("whsec_").is_none());
    }
}
