//! Unit tests of [`super`]: tokens signed here with ring from keys made by
//! [`crate::keygen`] (the Python integration test signs with PyJWT).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, RsaKeyPair};

use super::*;
use crate::keygen::{self, pem_der};

fn sign(alg: Alg, pem: &str, kid: &str, claims: serde_json::Value) -> String {
    let header = serde_json::json!({"alg": format!("{alg:?}"), "typ": "JWT", "kid": kid});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let rng = SystemRandom::new();
    let der = pem_der(pem);
    let sig = match alg {
        Alg::ES256 => {
            let k =
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &der, &rng)
                    .unwrap();
            k.sign(&rng, input.as_bytes()).unwrap().as_ref().to_vec()
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

fn claims() -> serde_json::Value {
    serde_json::json!({"sub": "vid_1", "aud": "v", "exp": 1000})
}

fn check(
    token: &str,
    key: &PublicKey,
    path: &str,
    now: i64,
    referer: Option<&str>,
) -> Result<(), JwtError> {
    let p = parse(token)?;
    let c = verify(&p, key)?;
    check_claims(&c, "vid_1", path, now, referer)
}

#[test]
fn tokens_of_both_algorithms_verify_with_the_generated_public_key() {
    for alg in [Alg::ES256, Alg::RS256] {
        let pair = keygen::generate(alg).unwrap();
        let key = PublicKey::from_spki(alg, &pair.public_der).unwrap();
        let t = sign(alg, &pair.private_pem, "sk_1", claims());
        assert!(looks_like_jwt(&t));
        assert_eq!(parse(&t).unwrap().kid, "sk_1");
        assert_eq!(check(&t, &key, "master.m3u8", 900, None), Ok(()), "{alg:?}");
        let other = keygen::generate(alg).unwrap();
        let other = PublicKey::from_spki(alg, &other.public_der).unwrap();
        assert_eq!(check(&t, &other, "master.m3u8", 900, None), Err(JwtError::BadSignature));
    }
}

#[test]
fn a_key_is_read_only_for_its_own_algorithm() {
    let es = keygen::generate(Alg::ES256).unwrap();
    assert!(PublicKey::from_spki(Alg::RS256, &es.public_der).is_none());
    assert!(PublicKey::from_spki(Alg::ES256, &es.public_der[..40]).is_none());
    assert!(PublicKey::from_spki(Alg::ES256, b"garbage").is_none());
}

#[test]
fn tampered_alg_none_and_mismatched_tokens_are_refused() {
    let pair = keygen::generate(Alg::ES256).unwrap();
    let key = PublicKey::from_spki(Alg::ES256, &pair.public_der).unwrap();
    let t = sign(Alg::ES256, &pair.private_pem, "sk_1", claims());
    let parts: Vec<&str> = t.split('.').collect();
    let forged = URL_SAFE_NO_PAD.encode(r#"{"sub":"vid_1","aud":"v","exp":99999}"#);
    let tampered = format!("{}.{forged}.{}", parts[0], parts[2]);
    assert_eq!(check(&tampered, &key, "master.m3u8", 900, None), Err(JwtError::BadSignature));
    let none = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"sk_1"}"#);
    assert_eq!(parse(&format!("{none}.{}.", parts[1])).unwrap_err(), JwtError::Alg);
    let hs = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","kid":"sk_1"}"#);
    assert_eq!(parse(&format!("{hs}.{}.{}", parts[1], parts[2])).unwrap_err(), JwtError::Alg);
    let rs = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","kid":"sk_1"}"#);
    let mismatched = format!("{rs}.{}.{}", parts[1], parts[2]);
    let p = parse(&mismatched).unwrap();
    assert_eq!(verify(&p, &key).unwrap_err(), JwtError::AlgMismatch);
    let no_kid = URL_SAFE_NO_PAD.encode(r#"{"alg":"ES256"}"#);
    assert_eq!(
        parse(&format!("{no_kid}.{}.{}", parts[1], parts[2])).unwrap_err(),
        JwtError::Malformed
    );
}

#[test]
fn hmac_tokens_and_garbage_are_not_taken_for_jwts() {
    assert!(!looks_like_jwt("acme.1700000000.k1.c2lnbmF0dXJl"));
    assert!(!looks_like_jwt("garbage"));
    assert!(!looks_like_jwt(".a.b"));
    assert!(looks_like_jwt("a.b.c"));
    assert_eq!(parse("a.b.c").unwrap_err(), JwtError::Malformed);
}

fn claims_of(v: serde_json::Value) -> Claims {
    serde_json::from_value(v).unwrap()
}

#[test]
fn expiry_and_not_before_allow_a_few_seconds_of_skew() {
    let c = claims_of(serde_json::json!({"sub": "vid_1", "aud": "v", "exp": 1000, "nbf": 500}));
    let at = |now| check_claims(&c, "vid_1", "master.m3u8", now, None);
    assert_eq!(at(1000 + LEEWAY_SECS), Ok(()));
    assert_eq!(at(1001 + LEEWAY_SECS), Err(JwtError::Expired));
    assert_eq!(at(500 - LEEWAY_SECS), Ok(()));
    assert_eq!(at(499 - LEEWAY_SECS), Err(JwtError::NotYetValid));
    let no_exp: Result<Claims, _> =
        serde_json::from_value(serde_json::json!({"sub": "vid_1", "aud": "v"}));
    assert!(no_exp.is_err(), "exp is required");
}

#[test]
fn the_audience_decides_which_files_a_token_opens() {
    let c = |aud: serde_json::Value| {
        claims_of(serde_json::json!({"sub": "vid_1", "aud": aud, "exp": 9}))
    };
    let ok = |c: &Claims, path| check_claims(c, "vid_1", path, 0, None).is_ok();
    for path in ["master.m3u8", "v/01/360p/index.m3u8", "360p/init.mp4", "360p/seg_001.m4s"] {
        assert!(ok(&c("v".into()), path), "{path}");
        assert!(ok(&c("video".into()), path), "{path}");
        assert!(!ok(&c("t".into()), path), "{path}");
    }
    assert!(ok(&c("thumbnail".into()), "poster.jpg"));
    assert!(!ok(&c("v".into()), "poster.jpg"));
    assert!(ok(&c("s".into()), "storyboard.vtt") && ok(&c("storyboard".into()), "sprites.jpg"));
    assert!(!ok(&c("t".into()), "sprites.jpg"));
    assert!(ok(&c("g".into()), "animated.gif") && !ok(&c("v".into()), "animated.gif"));
    assert!(ok(&c(serde_json::json!(["t", "video"])), "master.m3u8"));
    assert!(!ok(&c("x".into()), "master.m3u8"));
    let other = c("v".into());
    assert_eq!(check_claims(&other, "vid_2", "master.m3u8", 0, None), Err(JwtError::WrongSubject));
}

#[test]
fn referrers_match_exact_hosts_and_wildcard_subdomains() {
    let c = |allow_none: bool| {
        claims_of(serde_json::json!({"sub": "vid_1", "aud": "v", "exp": 9,
            "referrers": ["example.com", "*.cdn.example.org"], "allow_no_referrer": allow_none}))
    };
    let at = |c: &Claims, r: Option<&str>| check_claims(c, "vid_1", "master.m3u8", 0, r);
    let strict = c(false);
    assert_eq!(at(&strict, Some("https://example.com/x")), Ok(()));
    assert_eq!(at(&strict, Some("https://EXAMPLE.com:8443/x?y")), Ok(()));
    assert_eq!(at(&strict, Some("https://a.cdn.example.org/")), Ok(()));
    assert_eq!(at(&strict, Some("https://cdn.example.org/")), Err(JwtError::Referrer));
    assert_eq!(at(&strict, Some("https://evil.com/")), Err(JwtError::Referrer));
    assert_eq!(at(&strict, Some("https://example.com.evil.com/")), Err(JwtError::Referrer));
    assert_eq!(at(&strict, Some("https://badcdn.example.org/")), Err(JwtError::Referrer));
    assert_eq!(at(&strict, Some("https://user@evil.com/example.com")), Err(JwtError::Referrer));
    assert_eq!(at(&strict, None), Err(JwtError::Referrer));
    assert_eq!(at(&c(true), None), Ok(()));
    assert_eq!(at(&c(true), Some("not a url")), Err(JwtError::Referrer));
}
