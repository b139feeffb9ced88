//! HKDF-SHA256 (RFC 5869), on the workspace's `hmac` + `sha2` rather than another crate: it is
//! two HMAC loops, checked below against the RFC's test vectors.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

const HASH_LEN: usize = 32;

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; HASH_LEN] {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key size");
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// HKDF-Extract: the pseudo-random key of `ikm` under `salt` (an empty salt means 32 zeros).
pub fn extract(salt: &[u8], ikm: &[u8]) -> [u8; HASH_LEN] {
    let zeros = [0u8; HASH_LEN];
    hmac(if salt.is_empty() { &zeros } else { salt }, &[ikm])
}

/// HKDF-Expand: fills `out` (at most 255 × 32 bytes) from `prk` and the context `info`.
pub fn expand(prk: &[u8; HASH_LEN], info: &[u8], out: &mut [u8]) {
    assert!(out.len() <= 255 * HASH_LEN, "HKDF-SHA256 output is at most 8160 bytes");
    let mut previous: Vec<u8> = Vec::new();
    for (i, chunk) in out.chunks_mut(HASH_LEN).enumerate() {
        let t = hmac(prk, &[&previous, info, &[(i + 1) as u8]]);
        chunk.copy_from_slice(&t[..chunk.len()]);
        previous = t.to_vec();
    }
}

/// Extract then expand: a 32-byte key for `info` from the input keying material.
pub fn derive(salt: &[u8], ikm: &[u8], info: &[u8]) -> [u8; HASH_LEN] {
    let mut out = [0u8; HASH_LEN];
    expand(&extract(salt, ikm), info, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn rfc_5869_test_case_1() {
        let ikm = [0x0b; 22];
        let salt = unhex("000102030405060708090a0b0c");
        let info = unhex("f0f1f2f3f4f5f6f7f8f9");
        let prk = extract(&salt, &ikm);
        assert_eq!(
            hex::encode(prk),
            "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5"
        );
        let mut okm = [0u8; 42];
        expand(&prk, &info, &mut okm);
        assert_eq!(
            hex::encode(okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
    }

    #[test]
    fn rfc_5869_test_case_3_empty_salt_and_info() {
        let ikm = [0x0b; 22];
        let prk = extract(&[], &ikm);
        assert_eq!(
            hex::encode(prk),
            "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04"
        );
        let mut okm = [0u8; 42];
        expand(&prk, &[], &mut okm);
        assert_eq!(
            hex::encode(okm),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"
        );
    }
}
