//! Redirects of immutable media to the store or a CDN (`--playback-redirect presigned|cdn`).
//!
//! Only files that name no other file are redirected ([`FileKind::redirectable`]: segments, init
//! segments, posters, sprite sheets): playlists and storyboards hold URIs relative to the token
//! path, so they are always served here. The token and the tombstone are checked before
//! ([`crate::hls`]), at every request: the `302` is marked `private` and cached for at most a
//! minute, so a deleted video or an expired token stops being followed within that delay (a
//! presigned URL itself stays valid for `--playback-redirect-ttl`).
//!
//! Egress: a redirected response counts as a request of its tenant but as zero bytes served;
//! the bytes leave the store or the CDN, whose own logs meter them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use framelog_core::media::SharedMediaStore;
use http::header::{CACHE_CONTROL, LOCATION};
use http::{HeaderValue, StatusCode};

use crate::mime::FileKind;
use crate::serve::ServeError;
use crate::settings::RedirectMode;

/// Longest a client may reuse a redirect, seconds.
const MAX_AGE: u64 = 60;

/// Whether a presigning failure was already logged (once per process).
static NO_PRESIGN_LOGGED: AtomicBool = AtomicBool::new(false);

/// Where a redirect points.
#[derive(Debug, Clone)]
pub struct Redirects {
    mode: RedirectMode,
    /// The CDN's base URL, without a trailing `/` (mode `cdn`).
    cdn: String,
    ttl: Duration,
}

impl Redirects {
    /// The redirect policy; `cdn` is required for [`RedirectMode::Cdn`] (checked by the caller).
    pub fn new(mode: RedirectMode, cdn: Option<&str>, ttl: Duration) -> Redirects {
        let cdn = cdn.unwrap_or_default().trim_end_matches('/').to_owned();
        Redirects { mode, cdn, ttl: ttl.max(Duration::from_secs(2 * MAX_AGE)) }
    }

    /// The URL to redirect a request for `key` of `kind` to, `None` to serve it here (mode off,
    /// a kind that is never redirected, or a store that cannot presign).
    pub async fn target(
        &self,
        media: &SharedMediaStore,
        key: &str,
        kind: FileKind,
    ) -> Result<Option<String>, ServeError> {
        if !kind.redirectable() {
            return Ok(None);
        }
        match self.mode {
            RedirectMode::Off => Ok(None),
            RedirectMode::Cdn => Ok(Some(cdn_url(&self.cdn, key))),
            RedirectMode::Presigned => {
                let url = media.presigned_get(key, self.ttl).await?;
                if url.is_none() && !NO_PRESIGN_LOGGED.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "--playback-redirect presigned: the media store cannot presign; serving directly"
                    );
                }
                Ok(url)
            }
        }
    }
}

/// `<cdn>/<key>`: keys are `[A-Za-z0-9._-]` components joined by `/`, so they need no escaping.
pub fn cdn_url(cdn: &str, key: &str) -> String {
    format!("{cdn}/{key}")
}

/// The `302` to `url`; `None` if the URL cannot be a header value.
pub fn response(url: &str) -> Option<Response> {
    let location = HeaderValue::try_from(url).ok()?;
    let cache = HeaderValue::try_from(format!("private, max-age={MAX_AGE}")).ok()?;
    Some((StatusCode::FOUND, [(LOCATION, location), (CACHE_CONTROL, cache)]).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cdn_redirect_names_the_key_under_the_cdn_base() {
        let r = Redirects::new(
            RedirectMode::Cdn,
            Some("https://cdn.example.com/media/"),
            Duration::ZERO,
        );
        assert_eq!(
            cdn_url(&r.cdn, "hls/acme/vid_1/v/01/360p/seg_000.m4s"),
            "https://cdn.example.com/media/hls/acme/vid_1/v/01/360p/seg_000.m4s"
        );
        assert_eq!(r.ttl, Duration::from_secs(120), "a presigned URL outlives the cached redirect");
    }

    #[test]
    fn a_redirect_is_private_and_short_lived() {
        let res = response("https://s3.example.com/b/k?X-Amz-Signature=1").unwrap();
        assert_eq!(res.status(), StatusCode::FOUND);
        assert_eq!(res.headers()[LOCATION], "https://s3.example.com/b/k?X-Amz-Signature=1");
        assert_eq!(res.headers()[CACHE_CONTROL], "private, max-age=60");
        assert!(response("bad\nurl").is_none());
    }
}
