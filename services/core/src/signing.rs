//! Signed playback tokens (DESIGN §3): an HMAC-SHA256 over (tenant, video, expiry, key id)
//! with the playback key derived from a master key, placed in the path
//! (`/hls/<token>/<video id>/master.m3u8`) so every relative URI of the playlists inherits it.
//!
//! Token format (URL-safe): `<tenant>.<expiry unix secs>.<key id>.<base64url(hmac[..16])>`.
//! The tenant is in the clear so the server finds the media without a lookup; the MAC covers
//! tenant, video id, expiry and key id, so a token for one video never opens another. The key
//! id names the master ([`crate::keyring`]): after `framelog secret rotate` a token signed with
//! the previous master verifies until that master's `until`, then fails.
//!
//! Parsing is strict, so one token has one spelling: exactly four fields; a valid tenant id;
//! the expiry in canonical decimal (no sign, no leading zero, no space, at most 12 digits); a
//! canonical key id (`k0`, `k12`); the MAC exactly 22 base64url characters without padding.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::keyring::{Purpose, valid_key_id};
use crate::secret::Secret;

/// Bytes of MAC kept in the token (128 bits).
const MAC_LEN: usize = 16;
/// Base64url characters of the MAC (no padding).
const MAC_CHARS: usize = 22;
/// Most digits of an expiry (unix seconds until the year 33658).
const MAX_EXPIRY_DIGITS: usize = 12;

/// Why a token does not open a video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed playback token")]
    Malformed,
    #[error("playback token expired")]
    Expired,
    #[error("playback token does not match this video")]
    BadSignature,
    #[error("playback token signed with a retired key; ask for a new one")]
    KeyRetired,
}

fn mac(key: &[u8; 32], kid: &str, tenant: &str, object: &str, expires: i64) -> [u8; 32] {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key size");
    // Length-prefixed fields: no ambiguity between ("ab","c") and ("a","bc").
    for part in ["playback", kid, tenant, object, &expires.to_string()] {
        m.update(&(part.len() as u32).to_be_bytes());
        m.update(part.as_bytes());
    }
    m.finalize().into_bytes().into()
}

/// A token letting its holder play `video` of `tenant` until `expires` (unix seconds), signed
/// with the active key.
pub fn playback_token(secret: &Secret, tenant: &str, video: &str, expires: i64) -> String {
    let (kid, key) = secret.key(Purpose::PlaybackToken);
    let tag = mac(&key, kid, tenant, video, expires);
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&tag[..MAC_LEN]);
    format!("{tenant}.{expires}.{kid}.{b64}")
}

/// The parts of a well-formed token.
#[derive(Debug, PartialEq, Eq)]
struct Parsed<'t> {
    tenant: &'t str,
    expires: i64,
    kid: &'t str,
    mac: [u8; MAC_LEN],
}

/// Whether `s` is an expiry in canonical decimal: digits only, no leading zero, bounded.
fn canonical_expiry(s: &str) -> Option<i64> {
    let ok = !s.is_empty()
        && s.len() <= MAX_EXPIRY_DIGITS
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s == "0" || !s.starts_with('0'));
    ok.then(|| s.parse().ok()).flatten()
}

fn parse(token: &str) -> Result<Parsed<'_>, TokenError> {
    let fields: Vec<&str> = token.split('.').collect();
    let [tenant, exp, kid, sig] = fields.as_slice() else {
        return Err(TokenError::Malformed);
    };
    framelog_events::id::validate_id(tenant).map_err(|_| TokenError::Malformed)?;
    let expires = canonical_expiry(exp).ok_or(TokenError::Malformed)?;
    if !valid_key_id(kid) {
        return Err(TokenError::Malformed);
    }
    let b64ok = sig.len() == MAC_CHARS
        && sig.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !b64ok {
        return Err(TokenError::Malformed);
    }
    // The decoder refuses non-zero trailing bits, so each MAC has exactly one spelling.
    let given = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| TokenError::Malformed)?;
    let mac: [u8; MAC_LEN] = given.try_into().map_err(|_| TokenError::Malformed)?;
    Ok(Parsed { tenant, expires, kid, mac })
}

/// Checks a token for `video` at time `now` (unix seconds); returns the tenant it names.
pub fn verify_playback_token<'t>(
    secret: &Secret,
    token: &'t str,
    video: &str,
    now: i64,
) -> Result<&'t str, TokenError> {
    let p = parse(token)?;
    framelog_events::id::validate_id(video).map_err(|_| TokenError::Malformed)?;
    let master = match secret.keyring().verifying(p.kid, now) {
        Ok(k) => k,
        Err(true) => return Err(TokenError::KeyRetired),
        Err(false) => return Err(TokenError::BadSignature),
    };
    let want = mac(&master.derive(Purpose::PlaybackToken), p.kid, p.tenant, video, p.expires);
    if !bool::from(want[..MAC_LEN].ct_eq(&p.mac)) {
        return Err(TokenError::BadSignature);
    }
    if now > p.expires {
        return Err(TokenError::Expired);
    }
    Ok(p.tenant)
}

/// The signed URL path of a video's master playlist.
pub fn master_path(secret: &Secret, tenant: &str, video: &str, expires: i64) -> String {
    format!("/hls/{}/{video}/master.m3u8", playback_token(secret, tenant, video, expires))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Secret {
        Secret::from_bytes(b"0123456789abcdef0123456789abcdef")
    }

    #[test]
    fn a_token_opens_its_video_until_it_expires() {
        let t = playback_token(&secret(), "acme", "vid_1", 1000);
        assert_eq!(verify_playback_token(&secret(), &t, "vid_1", 999), Ok("acme"));
        assert_eq!(verify_playback_token(&secret(), &t, "vid_1", 1000), Ok("acme"));
        assert_eq!(verify_playback_token(&secret(), &t, "vid_1", 1001), Err(TokenError::Expired));
    }

    #[test]
    fn a_token_never_opens_another_video_tenant_or_expiry() {
        let t = playback_token(&secret(), "acme", "vid_1", 1000);
        assert_eq!(verify_playback_token(&secret(), &t, "vid_2", 0), Err(TokenError::BadSignature));
        let other_tenant = t.replacen("acme", "evil", 1);
        assert_eq!(
            verify_playback_token(&secret(), &other_tenant, "vid_1", 0),
            Err(TokenError::BadSignature)
        );
        let later = t.replacen(".1000.", ".9999.", 1);
        assert_eq!(
            verify_playback_token(&secret(), &later, "vid_1", 0),
            Err(TokenError::BadSignature)
        );
        let other_secret = Secret::from_bytes(b"another secret, 32 bytes long!!!");
        assert_eq!(
            verify_playback_token(&other_secret, &t, "vid_1", 0),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn malformed_tokens_are_refused_without_panicking() {
        for bad in [
            "",
            "acme",
            "acme.1",
            "acme.x.AAAA",
            "a.b.c.d",
            "acme.1.AAAAAAAAAAAAAAAAAAAAAA",
            "ACME.1.k0.AAAAAAAAAAAAAAAAAAAAAA",
            "acme.1.k0.!!",
            "acme.1.k0.AAAAAAAAAAAAAAAAAAAAAA.x",
        ] {
            assert_eq!(
                verify_playback_token(&secret(), bad, "v", 0),
                Err(TokenError::Malformed),
                "{bad}"
            );
        }
    }

    /// Replaces field `i` of a valid token.
    fn with_field(i: usize, value: &str) -> String {
        let t = playback_token(&secret(), "acme", "vid_1", 1000);
        let mut f: Vec<&str> = t.split('.').collect();
        f[i] = value;
        f.join(".")
    }

    #[test]
    fn an_expiry_that_is_not_canonical_decimal_is_malformed() {
        assert_eq!(
            verify_playback_token(&secret(), &with_field(1, "1000"), "vid_1", 0),
            Ok("acme")
        );
        for exp in
            ["+1000", "01000", " 1000", "1000 ", "-1000", "1e3", "1_000", "0x3e8", "", "١٠٠٠"]
        {
            assert_eq!(
                verify_playback_token(&secret(), &with_field(1, exp), "vid_1", 0),
                Err(TokenError::Malformed),
                "{exp:?}"
            );
        }
        let long = "1".repeat(MAX_EXPIRY_DIGITS + 1);
        assert_eq!(
            verify_playback_token(&secret(), &with_field(1, &long), "vid_1", 0),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn a_tenant_key_id_or_video_that_is_not_canonical_is_malformed() {
        for tenant in ["", "Acme", "ac me", "acme/..", &"a".repeat(65)] {
            assert_eq!(
                verify_playback_token(&secret(), &with_field(0, tenant), "vid_1", 0),
                Err(TokenError::Malformed),
                "{tenant:?}"
            );
        }
        for kid in ["", "k", "k00", "K0", "0", "k+0", "k 0", "k1234567"] {
            assert_eq!(
                verify_playback_token(&secret(), &with_field(2, kid), "vid_1", 0),
                Err(TokenError::Malformed),
                "{kid:?}"
            );
        }
        let t = playback_token(&secret(), "acme", "vid_1", 1000);
        assert_eq!(verify_playback_token(&secret(), &t, "VID 1", 0), Err(TokenError::Malformed));
        // A well-formed id of a key this server never had.
        assert_eq!(
            verify_playback_token(&secret(), &with_field(2, "k7"), "vid_1", 0),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn a_mac_that_is_not_exactly_22_canonical_base64url_characters_is_malformed() {
        let t = playback_token(&secret(), "acme", "vid_1", 1000);
        let sig = t.rsplit('.').next().unwrap().to_owned();
        let last = sig.chars().last().unwrap();
        // The 22nd character carries 2 bits: flipping a trailing (unused) bit is another
        // spelling of the same MAC, refused.
        let idx = base64_index(last);
        let alt = base64_char(idx ^ 1);
        for bad in [
            format!("{sig}="),
            format!("{sig}=="),
            sig[..21].to_owned(),
            format!("{sig}A"),
            format!("{}{}", &sig[..21], alt),
            format!("{}+", &sig[..21]),
            format!("{}/", &sig[..21]),
        ] {
            if bad == sig {
                continue;
            }
            assert_eq!(
                verify_playback_token(&secret(), &with_field(3, &bad), "vid_1", 0),
                Err(TokenError::Malformed),
                "{bad:?}"
            );
        }
    }

    fn base64_index(c: char) -> u8 {
        const A: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        A.find(c).unwrap() as u8
    }

    fn base64_char(i: u8) -> char {
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".as_bytes()[i as usize]
            as char
    }

    #[test]
    fn a_token_signed_before_a_rotation_verifies_in_the_grace_period_then_fails() {
        let before = secret();
        let t = playback_token(&before, "acme", "vid_1", 10_000);
        let rotated_at = 1_000;
        let grace = 7 * 24 * 3600;
        let after = Secret::from_keyring(before.keyring().rotated(&[9; 32], rotated_at, grace));
        let fresh = playback_token(&after, "acme", "vid_1", 10_000_000);
        assert!(fresh.contains(".k1."), "{fresh}");
        assert_ne!(fresh.split('.').nth(3), t.split('.').nth(3));
        let last_second = rotated_at + grace;
        let t2 = playback_token(&before, "acme", "vid_1", last_second + 10);
        assert_eq!(verify_playback_token(&after, &t, "vid_1", 5_000), Ok("acme"));
        assert_eq!(verify_playback_token(&after, &t2, "vid_1", last_second), Ok("acme"));
        assert_eq!(
            verify_playback_token(&after, &t2, "vid_1", last_second + 1),
            Err(TokenError::KeyRetired)
        );
        assert_eq!(verify_playback_token(&after, &fresh, "vid_1", last_second + 1), Ok("acme"));
        // The old keyring does not know k1: a replica not restarted after the rotation.
        assert_eq!(
            verify_playback_token(&before, &fresh, "vid_1", 0),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn tokens_are_url_path_safe() {
        let t = playback_token(&secret(), "acme", "vid_1", 1_900_000_000);
        assert!(t.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)), "{t}");
    }
}
