//! The download half of URL ingest: one GET through the outbound fence
//! ([`framelog_core::outbound`]), redirects followed by hand (at most [`MAX_REDIRECTS`], each
//! `Location` checked like the input URL, because the outbound client follows none), a
//! `Content-Length` over the limit refused before a byte is read, and the body streamed into
//! the upload's bytes (part file, or the store's multipart upload on S3) with its sha256 taken
//! on the way. A body that passes the limit mid-stream is stopped there.
//!
//! Failures are [`FetchFailure`]s, each with the code the rejected upload carries.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use framelog_core::outbound::{self, OutboundError, OutboundPolicy};
use framelog_core::sha256_state::Sha256State;
use futures::StreamExt as _;
use reqwest::Url;
use tokio_util::sync::CancellationToken;

use crate::files::{self, BodyEnd, PartFile, part_path};
use crate::session::UploadSession;
use crate::state::IngestState;
use crate::store_upload::{self, StoreUpload, TusTarget};

/// Most redirects one import follows.
pub const MAX_REDIRECTS: usize = 5;

/// Why a fetch did not produce the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchFailure {
    /// Connect, TLS, DNS or a connection cut (`input_unreachable`).
    Unreachable(String),
    /// The origin answered a non-2xx, non-redirect status (`input_http_<status>`).
    Http(u16),
    /// Larger than the limit (`input_too_large`).
    TooLarge(u64),
    /// Too slow: connect, silence or the whole download (`input_timeout`).
    Timeout(String),
    /// The URL or a redirect leads to an address the policy refuses (`input_forbidden`).
    Forbidden(String),
    /// The fetch is no longer ours (another process took it over, or the upload was aborted).
    Lost,
    /// Our side failed (store, disk): not the input's fault; the lease retries it.
    Internal(String),
}

impl FetchFailure {
    /// The code of the rejected upload.
    pub fn code(&self) -> String {
        match self {
            FetchFailure::Unreachable(_) => "input_unreachable".into(),
            FetchFailure::Http(s) => format!("input_http_{s}"),
            FetchFailure::TooLarge(_) => "input_too_large".into(),
            FetchFailure::Timeout(_) => "input_timeout".into(),
            FetchFailure::Forbidden(_) => "input_forbidden".into(),
            FetchFailure::Lost => "fetch_lost".into(),
            FetchFailure::Internal(_) => "internal".into(),
        }
    }

    /// A sentence for the rejected upload.
    pub fn reason(&self) -> String {
        match self {
            FetchFailure::Unreachable(m) => format!("the input URL could not be fetched: {m}"),
            FetchFailure::Http(s) => format!("the input URL answered HTTP {s}"),
            FetchFailure::TooLarge(n) => format!("the input is larger than {n} bytes"),
            FetchFailure::Timeout(m) => format!("fetching the input URL timed out: {m}"),
            FetchFailure::Forbidden(h) => {
                format!("{h} is not a public address (loopback and private targets are refused)")
            }
            FetchFailure::Lost => "the fetch was taken over".into(),
            FetchFailure::Internal(m) => m.clone(),
        }
    }

    /// Whether this refuses the input (the upload is rejected) rather than our side failing.
    pub fn refuses_input(&self) -> bool {
        !matches!(self, FetchFailure::Lost | FetchFailure::Internal(_))
    }
}

impl From<OutboundError> for FetchFailure {
    fn from(e: OutboundError) -> Self {
        match e {
            OutboundError::Forbidden(h) => FetchFailure::Forbidden(h),
            OutboundError::TooLarge(n) => FetchFailure::TooLarge(n),
            OutboundError::BadUrl(m) | OutboundError::Transport(m) => FetchFailure::Unreachable(m),
        }
    }
}

/// A reqwest error as a failure: a policy refusal from the resolver, a timeout, or unreachable.
pub fn classify(e: &reqwest::Error) -> FetchFailure {
    match outbound::transport(e) {
        OutboundError::Forbidden(h) => FetchFailure::Forbidden(h),
        OutboundError::Transport(m) if e.is_timeout() || m.contains("timed out") => {
            FetchFailure::Timeout(m)
        }
        other => other.into(),
    }
}

/// The URL a redirect from `current` leads to, after `hops` redirects already followed: its
/// `Location` resolved against `current` and checked by the same rule as the input URL.
pub fn next_hop(
    current: &Url,
    location: Option<&str>,
    hops: usize,
    policy: OutboundPolicy,
) -> Result<Url, FetchFailure> {
    if hops >= MAX_REDIRECTS {
        return Err(FetchFailure::Unreachable(format!("more than {MAX_REDIRECTS} redirects")));
    }
    let loc = location
        .ok_or_else(|| FetchFailure::Unreachable("a redirect without a Location".into()))?;
    let next = current
        .join(loc)
        .map_err(|e| FetchFailure::Unreachable(format!("a redirect to a bad Location ({e})")))?;
    Ok(outbound::check_url(next.as_str(), policy)?)
}

/// Sends the GET, following redirects; answers the 2xx response whose length (when it says
/// one) is within `max`.
pub async fn open(
    client: &reqwest::Client,
    url: Url,
    policy: OutboundPolicy,
    max: u64,
) -> Result<reqwest::Response, FetchFailure> {
    let mut url = url;
    for hops in 0.. {
        let resp = client.get(url.clone()).send().await.map_err(|e| classify(&e))?;
        let status = resp.status();
        if status.is_redirection() && status != reqwest::StatusCode::NOT_MODIFIED {
            let loc = resp.headers().get(http::header::LOCATION).and_then(|v| v.to_str().ok());
            url = next_hop(&url, loc, hops, policy)?;
            continue;
        }
        if !status.is_success() {
            return Err(FetchFailure::Http(status.as_u16()));
        }
        if resp.content_length().is_some_and(|n| n > max) {
            return Err(FetchFailure::TooLarge(max));
        }
        return Ok(resp);
    }
    unreachable!("the loop returns")
}

/// The downloaded source.
#[derive(Debug)]
pub struct Fetched {
    pub size: u64,
    /// The sha256 over every byte (the session's running hash, so completion reads nothing).
    pub hash: Sha256State,
    /// The store's multipart upload with the parts written (S3).
    pub store: Option<StoreUpload>,
}

/// Streams `resp`'s body (at most `max` bytes) into the upload's bytes from offset zero,
/// counting into `progress`; stops when `cancel` fires.
pub async fn download(
    st: &IngestState,
    s: &UploadSession,
    resp: reqwest::Response,
    max: u64,
    progress: &AtomicU64,
    cancel: &CancellationToken,
) -> Result<Fetched, FetchFailure> {
    let failed: Arc<Mutex<Option<FetchFailure>>> = Arc::default();
    let cell = failed.clone();
    let stream = resp
        .bytes_stream()
        .map(move |r| {
            r.map_err(|e| {
                *cell.lock().expect("failure cell") = Some(classify(&e));
                std::io::Error::other("the download failed")
            })
        })
        .take_until(cancel.clone().cancelled_owned());
    let body = Body::from_stream(stream);
    let mut hash = Sha256State::new();
    let observe = |b: &[u8]| {
        hash.update(b);
        progress.fetch_add(b.len() as u64, Ordering::Relaxed);
    };
    let internal = |e: &dyn std::fmt::Display| FetchFailure::Internal(e.to_string());
    let (written, end, store) = match &s.store_upload {
        Some(su) => {
            // From zero: earlier attempts' parts are overwritten, their tail left to assembly.
            let fresh = StoreUpload { etags: Vec::new(), tail: None, ..su.clone() };
            let target =
                TusTarget { upload_id: &s.upload_id, su: &fresh, offset: 0, hash: None, room: max };
            let out = store_upload::stream_tus(st.media.as_ref(), target, body, observe)
                .await
                .map_err(|e| internal(&e.message))?;
            (out.written, out.end, Some(out.store))
        }
        None => {
            let path = part_path(&st.uploads_dir, &s.upload_id);
            files::remove_quietly(&path).await;
            let file = PartFile::open(path).await.map_err(|e| internal(&e))?;
            let (written, end) =
                files::stream_body(&file, 0, max, body, observe).await.map_err(|e| internal(&e))?;
            file.sync().await.map_err(|e| internal(&e))?;
            (written, end, None)
        }
    };
    crate::metrics::IngestMetrics::of(&st.platform.metrics).received(s.protocol, written);
    if cancel.is_cancelled() {
        return Err(FetchFailure::Lost);
    }
    match end {
        BodyEnd::TooLong => Err(FetchFailure::TooLarge(max)),
        BodyEnd::Cut => Err(failed.lock().expect("failure cell").take().unwrap_or_else(|| {
            FetchFailure::Unreachable("the connection closed before the end".into())
        })),
        BodyEnd::Complete => Ok(Fetched { size: written, hash, store }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DENY: OutboundPolicy = OutboundPolicy { allow_private: false };

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn a_relative_location_resolves_against_the_current_url() {
        let next = next_hop(&url("https://example.com/a/b.mp4"), Some("../c.mp4"), 0, DENY);
        assert_eq!(next.unwrap().as_str(), "https://example.com/c.mp4");
        let next =
            next_hop(&url("https://example.com/a"), Some("https://cdn.example.net/x"), 4, DENY);
        assert_eq!(next.unwrap().as_str(), "https://cdn.example.net/x");
    }

    #[test]
    fn a_redirect_to_a_private_address_is_forbidden_unless_the_policy_allows_it() {
        let from = url("https://example.com/v.mp4");
        for loc in [
            "http://127.0.0.1:8080/x",
            "http://169.254.169.254/latest",
            "http://[::1]/",
            "http://localhost/x",
        ] {
            let e = next_hop(&from, Some(loc), 0, DENY).unwrap_err();
            assert_eq!(e.code(), "input_forbidden", "{loc}");
        }
        let allow = OutboundPolicy { allow_private: true };
        assert!(next_hop(&from, Some("http://127.0.0.1:8080/x"), 0, allow).is_ok());
    }

    #[test]
    fn the_sixth_redirect_a_missing_location_and_a_bad_scheme_are_unreachable() {
        let from = url("https://example.com/v.mp4");
        assert_eq!(next_hop(&from, Some("/w"), 5, DENY).unwrap_err().code(), "input_unreachable");
        assert_eq!(next_hop(&from, None, 0, DENY).unwrap_err().code(), "input_unreachable");
        let e = next_hop(&from, Some("ftp://example.com/v"), 0, DENY).unwrap_err();
        assert_eq!(e.code(), "input_unreachable");
    }

    #[test]
    fn failure_codes_name_the_http_status() {
        assert_eq!(FetchFailure::Http(404).code(), "input_http_404");
        assert_eq!(FetchFailure::TooLarge(10).code(), "input_too_large");
        assert!(!FetchFailure::Lost.refuses_input());
        assert!(FetchFailure::Timeout("x".into()).refuses_input());
    }
}
