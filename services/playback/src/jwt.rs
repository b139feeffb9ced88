//! JWT playback tokens (pure): a tenant's backend mints a compact JWS with a signing key of
//! its own (`/v1/signing-keys`), and the token goes in the same `{token}` path slot as the
//! HMAC tokens of [`framelog_core::signing`] (which have four dot-separated fields; a JWT has
//! three).
//!
//! [`parse`] splits the token and reads the header (`alg` ∈ {RS256, ES256}, `kid` required);
//! [`PublicKey::verify`] checks the signature with ring; [`check_claims`] checks `sub`, `aud`
//! (short or long names, see [`Aud`]), `exp` (required, [`LEEWAY_SECS`]), `nbf`, and the
//! `referrers` restriction against the request's `Referer`. No IO here: the key comes from
//! [`crate::key_cache`].

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{self, UnparsedPublicKey};
use serde::Deserialize;

/// Clock skew tolerated on `exp` and `nbf`, seconds.
pub const LEEWAY_SECS: i64 = 5;

/// Why a JWT is refused (every one is a 403 `invalid_token`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("malformed JWT")]
    Malformed,
    #[error("unsupported JWT alg (RS256 or ES256)")]
    Alg,
    #[error("unknown signing key")]
    UnknownKey,
    #[error("the JWT alg is not the signing key's")]
    AlgMismatch,
    #[error("bad JWT signature")]
    BadSignature,
    #[error("JWT expired")]
    Expired,
    #[error("JWT not valid yet")]
    NotYetValid,
    #[error("JWT for another video or stream")]
    WrongSubject,
    #[error("JWT audience does not cover this file")]
    WrongAudience,
    #[error("referrer not allowed")]
    Referrer,
}

/// A signing algorithm.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub enum Alg {
    RS256,
    ES256,
}

impl Alg {
    pub fn parse(s: &str) -> Option<Alg> {
        match s {
            "RS256" => Some(Alg::RS256),
            "ES256" => Some(Alg::ES256),
            _ => None,
        }
    }
}

/// What a token may fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aud {
    /// Playlists, init segments and segments.
    Video,
    /// `poster.jpg` and thumbnails.
    Thumbnail,
    /// `storyboard.vtt` and `sprites.jpg`.
    Storyboard,
    /// `*.gif`.
    Gif,
}

impl Aud {
    /// `v`/`video`, `t`/`thumbnail`, `s`/`storyboard`, `g`/`gif`.
    pub fn parse(s: &str) -> Option<Aud> {
        match s {
            "v" | "video" => Some(Aud::Video),
            "t" | "thumbnail" => Some(Aud::Thumbnail),
            "s" | "storyboard" => Some(Aud::Storyboard),
            "g" | "gif" => Some(Aud::Gif),
            _ => None,
        }
    }

    /// The audience a request path (under the video or stream) needs.
    pub fn for_path(path: &str) -> Aud {
        let name = path.rsplit('/').next().unwrap_or(path);
        if name.ends_with(".gif") {
            Aud::Gif
        } else if name == "storyboard.vtt" || name.starts_with("sprites") {
            Aud::Storyboard
        } else if name.ends_with(".jpg") || name.ends_with(".jpeg") || name.ends_with(".webp") {
            Aud::Thumbnail
        } else {
            Aud::Video
        }
    }
}

/// Whether `token` has the shape of a compact JWS (three non-empty base64url parts).
pub fn looks_like_jwt(token: &str) -> bool {
    let mut n = 0;
    for part in token.split('.') {
        n += 1;
        if part.is_empty() && n < 3 {
            return false;
        }
    }
    n == 3
}

#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    kid: Option<String>,
}

/// A split token: header read, payload and signature decoded, not yet verified.
#[derive(Debug)]
pub struct Parsed<'t> {
    pub alg: Alg,
    pub kid: String,
    /// `header.payload`, the signed bytes.
    pub signing_input: &'t str,
    pub payload: Vec<u8>,
    pub signature: Vec<u8>,
}

fn b64(s: &str) -> Result<Vec<u8>, JwtError> {
    URL_SAFE_NO_PAD.decode(s).map_err(|_| JwtError::Malformed)
}

/// Splits and decodes `token`; refuses `alg`s other than RS256/ES256 (`none` included) and a
/// missing `kid`.
pub fn parse(token: &str) -> Result<Parsed<'_>, JwtError> {
    if !looks_like_jwt(token) {
        return Err(JwtError::Malformed);
    }
    let (signing_input, sig) = token.rsplit_once('.').ok_or(JwtError::Malformed)?;
    let (header, payload) = signing_input.split_once('.').ok_or(JwtError::Malformed)?;
    let h: RawHeader = serde_json::from_slice(&b64(header)?).map_err(|_| JwtError::Malformed)?;
    let alg = Alg::parse(&h.alg).ok_or(JwtError::Alg)?;
    let kid = h.kid.filter(|k| !k.is_empty()).ok_or(JwtError::Malformed)?;
    Ok(Parsed { alg, kid, signing_input, payload: b64(payload)?, signature: b64(sig)? })
}

/// A verifier key: the key bytes ring takes (PKCS#1 `RSAPublicKey` for RSA, the uncompressed
/// point for P-256), read from an SPKI DER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub alg: Alg,
    raw: Vec<u8>,
}

const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// One DER element: (tag, content, rest).
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&len0, rest) = rest.split_first()?;
    let (len, rest) = if len0 < 0x80 {
        (len0 as usize, rest)
    } else {
        let n = (len0 & 0x7f) as usize;
        if n == 0 || n > 3 || rest.len() < n {
            return None;
        }
        (rest[..n].iter().fold(0usize, |a, &b| (a << 8) | b as usize), &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

impl PublicKey {
    /// Reads an SPKI DER of an RSA key (RS256) or a P-256 key (ES256).
    pub fn from_spki(alg: Alg, spki: &[u8]) -> Option<PublicKey> {
        let (0x30, body, []) = der(spki)? else { return None };
        let (0x30, algid, rest) = der(body)? else { return None };
        let (0x03, bits, []) = der(rest)? else { return None };
        let (0x00, raw) = bits.split_first()? else { return None };
        let (0x06, oid, params) = der(algid)? else { return None };
        let ok = match alg {
            Alg::RS256 => oid == OID_RSA,
            Alg::ES256 => {
                oid == OID_EC
                    && matches!(der(params), Some((0x06, OID_P256, [])))
                    && raw.first() == Some(&0x04)
            }
        };
        ok.then(|| PublicKey { alg, raw: raw.to_vec() })
    }

    /// Verifies `sig` over `msg` (ES256: the JWS `r || s` form).
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), JwtError> {
        let alg: &dyn signature::VerificationAlgorithm = match self.alg {
            Alg::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Alg::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
        };
        UnparsedPublicKey::new(alg, &self.raw).verify(msg, sig).map_err(|_| JwtError::BadSignature)
    }
}

/// `aud`: one string or a list.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum AudClaim {
    One(String),
    Many(Vec<String>),
}

/// The claims playback reads.
#[derive(Debug, Clone, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub aud: AudClaim,
    pub exp: i64,
    #[serde(default)]
    pub nbf: Option<i64>,
    /// Allowed `Referer` hosts (`example.com`, `*.example.com`); absent = any.
    #[serde(default)]
    pub referrers: Option<Vec<String>>,
    /// With `referrers`, whether a request without `Referer` passes.
    #[serde(default)]
    pub allow_no_referrer: bool,
}

/// Parses and verifies `token` with `key` (the key its `kid` names), returning its claims.
pub fn verify(parsed: &Parsed<'_>, key: &PublicKey) -> Result<Claims, JwtError> {
    if parsed.alg != key.alg {
        return Err(JwtError::AlgMismatch);
    }
    key.verify(parsed.signing_input.as_bytes(), &parsed.signature)?;
    serde_json::from_slice(&parsed.payload).map_err(|_| JwtError::Malformed)
}

/// The host of a `Referer` URL, lower-cased, without port or credentials.
pub fn referer_host(referer: &str) -> Option<String> {
    let (_, rest) = referer.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit('@').next()?;
    let host = if host.starts_with('[') {
        host.split_inclusive(']').next()?
    } else {
        host.split(':').next()?
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// Whether `host` matches a `referrers` entry: exact, or `*.example.com` for any subdomain
/// (not `example.com` itself).
pub fn host_allowed(host: &str, pattern: &str) -> bool {
    let pattern = pattern.to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(base) => host.strip_suffix(base).is_some_and(|p| p.len() > 1 && p.ends_with('.')),
        None => host == pattern,
    }
}

/// Checks verified `claims` for a request of `path` under `id` (video or stream) at `now`
/// with `referer`.
pub fn check_claims(
    claims: &Claims,
    id: &str,
    path: &str,
    now: i64,
    referer: Option<&str>,
) -> Result<(), JwtError> {
    if now > claims.exp.saturating_add(LEEWAY_SECS) {
        return Err(JwtError::Expired);
    }
    if claims.nbf.is_some_and(|nbf| now < nbf.saturating_sub(LEEWAY_SECS)) {
        return Err(JwtError::NotYetValid);
    }
    if claims.sub != id {
        return Err(JwtError::WrongSubject);
    }
    let need = Aud::for_path(path);
    let covers = |a: &String| Aud::parse(a) == Some(need);
    let aud_ok = match &claims.aud {
        AudClaim::One(a) => covers(a),
        AudClaim::Many(v) => v.iter().any(covers),
    };
    if !aud_ok {
        return Err(JwtError::WrongAudience);
    }
    if let Some(allowed) = &claims.referrers {
        match referer.and_then(referer_host) {
            Some(host) if allowed.iter().any(|p| host_allowed(&host, p)) => {}
            None if referer.is_none() && claims.allow_no_referrer => {}
            _ => return Err(JwtError::Referrer),
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "jwt_tests.rs"]
mod tests;
