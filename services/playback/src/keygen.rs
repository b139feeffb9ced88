//! Signing key pairs for JWT playback (`POST /v1/signing-keys`): the private key goes to the
//! tenant once as PKCS#8 PEM and is never stored; the public key is kept as SPKI DER.
//!
//! ES256 keys come from ring (already built for rustls); ring cannot generate RSA keys, so
//! RS256 keys (2048-bit) come from the `rsa` crate, used for nothing else.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};

use crate::jwt::Alg;

/// RSA modulus size of generated RS256 keys.
pub const RSA_BITS: usize = 2048;

/// SPKI DER header of a P-256 public key (algorithm ecPublicKey, curve prime256v1, then the
/// BIT STRING holding the 65-byte uncompressed point).
const P256_SPKI_PREFIX: &[u8] = &[
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// A fresh key pair.
pub struct KeyPairOut {
    /// PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), for the tenant only.
    pub private_pem: String,
    /// SPKI DER of the public key.
    pub public_der: Vec<u8>,
}

impl std::fmt::Debug for KeyPairOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPairOut").field("public_der", &self.public_der.len()).finish()
    }
}

/// Why a key pair could not be made (the system RNG failed).
#[derive(Debug, thiserror::Error)]
#[error("key generation failed: {0}")]
pub struct KeygenError(String);

/// PEM of `der` with the `label` (64-character lines).
pub fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Generates a key pair for `alg` (CPU-bound: RSA takes up to a second; run it off the
/// async workers).
pub fn generate(alg: Alg) -> Result<KeyPairOut, KeygenError> {
    match alg {
        Alg::ES256 => {
            let rng = SystemRandom::new();
            let sign = &ECDSA_P256_SHA256_FIXED_SIGNING;
            let doc =
                EcdsaKeyPair::generate_pkcs8(sign, &rng).map_err(|e| KeygenError(e.to_string()))?;
            let pair = EcdsaKeyPair::from_pkcs8(sign, doc.as_ref(), &rng)
                .map_err(|e| KeygenError(e.to_string()))?;
            let mut public_der = P256_SPKI_PREFIX.to_vec();
            public_der.extend_from_slice(pair.public_key().as_ref());
            Ok(KeyPairOut { private_pem: pem("PRIVATE KEY", doc.as_ref()), public_der })
        }
        Alg::RS256 => {
            use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
            let key = rsa::RsaPrivateKey::new(&mut rand_core_06::OsRng, RSA_BITS)
                .map_err(|e| KeygenError(e.to_string()))?;
            let private_pem = key
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(|e| KeygenError(e.to_string()))?
                .to_string();
            let public_der = key
                .to_public_key()
                .to_public_key_der()
                .map_err(|e| KeygenError(e.to_string()))?
                .into_vec();
            Ok(KeyPairOut { private_pem, public_der })
        }
    }
}

/// The PKCS#8 DER inside a PEM made by [`generate`] (tests sign with it).
pub fn pem_der(pem: &str) -> Vec<u8> {
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(b64).unwrap_or_default()
}
