//! Signed playback tokens (DESIGN §3): an HMAC-SHA256 over (tenant, video, expiry) with the
//! server secret, placed in the path (`/hls/<token>/<video id>/master.m3u8`) so every relative
//! URI of the playlists inherits it.
//!
//! Token format (URL-safe, no padding): `<tenant>.<expiry unix secs>.<base64url(hmac)[..22]>`.
//! The tenant is in the clear so the server finds the media without a lookup; the MAC covers
//! tenant, video id and expiry, so a token for one video never opens another.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::secret::Secret;

/// Bytes of MAC kept in the token (128 bits).
const MAC_LEN: usize = 16;

/// Why a token does not open a video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed playback token")]
    Malformed,
    #[error("playback token expired")]
    Expired,
    #[error("playback token does not match this video")]
    BadSignature,
}

fn mac(secret: &Secret, purpose: &str, tenant: &str, object: &str, expires: i64) -> [u8; 32] {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key size");
    // Length-prefixed fields: no ambiguity between ("ab","c") and ("a","bc").
    for part in [purpose, tenant, object, &expires.to_string()] {
        m.update(&(part.len() as u32).to_be_bytes());
        m.update(part.as_bytes());
    }
    m.finalize().into_bytes().into()
}

/// A token letting its holder play `video` of `tenant` until `expires` (unix seconds).
pub fn playback_token(secret: &Secret, tenant: &str, video: &str, expires: i64) -> String {
    let tag = mac(secret, "playback", tenant, video, expires);
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&tag[..MAC_LEN]);
    format!("{tenant}.{expires}.{b64}")
}

/// Checks a token for `video` at time `now` (unix seconds); returns the tenant it names.
pub fn verify_playback_token<'t>(
    secret: &Secret,
    token: &'t str,
    video: &str,
    now: i64,
) -> Result<&'t str, TokenError> {
    let mut parts = token.splitn(3, '.');
    let (Some(tenant), Some(exp), Some(sig)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(TokenError::Malformed);
    };
    framelog_events::id::validate_id(tenant).map_err(|_| TokenError::Malformed)?;
    let expires: i64 = exp.parse().map_err(|_| TokenError::Malformed)?;
    let given = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| TokenError::Malformed)?;
    if given.len() != MAC_LEN {
        return Err(TokenError::Malformed);
    }
    let want = mac(secret, "playback", tenant, video, expires);
    if !bool::from(want[..MAC_LEN].ct_eq(&given)) {
        return Err(TokenError::BadSignature);
    }
    if now > expires {
        return Err(TokenError::Expired);
    }
    Ok(tenant)
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
        let later = t.replacen("1000", "9999", 1);
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
            "ACME.1.AAAAAAAAAAAAAAAAAAAAAA",
            "acme.1.!!",
        ] {
            assert_eq!(
                verify_playback_token(&secret(), bad, "v", 0),
                Err(TokenError::Malformed),
                "{bad}"
            );
        }
    }

    #[test]
    fn tokens_are_url_path_safe() {
        let t = playback_token(&secret(), "acme", "vid_1", 1_900_000_000);
        assert!(t.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)), "{t}");
    }
}
