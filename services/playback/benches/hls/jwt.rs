//! The JWT side of `just bench hls`: an ES256 signing key stored the way the API stores it
//! (so the playback key cache loads it through its watch), a token minted here with ring (the
//! integration test mints with PyJWT), and the cost of one signature check without the
//! verified-token cache.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use framelog_playback::PlaybackState;
use framelog_playback::jwt::{self, Alg, PublicKey};
use framelog_playback::keygen::{self, pem_der};
use framelog_playback::signing_keys::{SigningKeyRecord, new_kid};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, RsaKeyPair};

/// A key of `tenant` stored in KV, and its private PEM.
pub struct BenchKey {
    pub kid: String,
    pub alg: Alg,
    pub pem: String,
    pub public: PublicKey,
}

/// Stores a new `alg` key of `tenant` and waits until `st`'s key cache has it.
pub async fn create_key(st: &PlaybackState, tenant: &str, alg: Alg) -> BenchKey {
    let pair = keygen::generate(alg).unwrap();
    let rec = SigningKeyRecord {
        tenant: tenant.into(),
        kid: new_kid().unwrap(),
        algorithm: alg,
        public_key: STANDARD.encode(&pair.public_der),
        created_at: "2026-01-01T00:00:00Z".into(),
    };
    st.signing_keys.create(&rec).await.unwrap();
    let t0 = Instant::now();
    while st.keys.get(&rec.kid).is_none() {
        assert!(t0.elapsed() < Duration::from_secs(10), "key never reached the cache");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let public = rec.verifier().unwrap();
    BenchKey { kid: rec.kid, alg, pem: pair.private_pem, public }
}

/// A compact JWS of `claims` signed with `key`.
pub fn mint(key: &BenchKey, claims: &serde_json::Value) -> String {
    let header = serde_json::json!({"alg": format!("{:?}", key.alg), "typ": "JWT", "kid": key.kid});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let (rng, der) = (SystemRandom::new(), pem_der(&key.pem));
    let sig = match key.alg {
        Alg::ES256 => {
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &der, &rng)
                .unwrap()
                .sign(&rng, input.as_bytes())
                .unwrap()
                .as_ref()
                .to_vec()
        }
        Alg::RS256 => {
            let k = RsaKeyPair::from_pkcs8(&der).unwrap();
            let mut sig = vec![0; k.public().modulus_len()];
            k.sign(&signature::RSA_PKCS1_SHA256, &rng, input.as_bytes(), &mut sig).unwrap();
            sig
        }
    };
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// Microseconds of one uncached check (parse, signature, claims) of `token`.
pub fn verify_micros(key: &BenchKey, token: &str, sub: &str, now: i64) -> f64 {
    let n = 2000;
    let t0 = Instant::now();
    for _ in 0..n {
        let p = jwt::parse(token).unwrap();
        let c = jwt::verify(&p, &key.public).unwrap();
        jwt::check_claims(&c, sub, "360p/seg_000.ts", now, None).unwrap();
    }
    t0.elapsed().as_secs_f64() * 1e6 / f64::from(n)
}
