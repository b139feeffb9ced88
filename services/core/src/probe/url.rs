//! ffprobe over a URL the media store presigned (an S3 source), so no local copy is needed.
//!
//! The fence is the file fence with the network protocols in place of `file,pipe`
//! ([`URL_PROTOCOLS`], for this one input): the demuxer list is the same, so a source that is an
//! HLS playlist, a concat list or any other format that opens further URLs is still refused
//! before it opens anything, and `file:` is never allowed, so nothing the source names can read
//! a local file. Errors never show the URL (its query string is a credential).

use std::time::Duration;

use super::{ALLOWED_DEMUXERS, FENCE_REFUSED, Input, Inspection, ProbeError, inspect_input};

/// Protocols a presigned source URL may be opened with: HTTP(S) and what HTTPS is made of.
pub const URL_PROTOCOLS: &str = "http,https,tcp,tls,crypto";

/// Input options that fence an ffmpeg or ffprobe input read from a presigned URL (before `-i`).
pub fn url_fence_args() -> [&'static str; 4] {
    ["-protocol_whitelist", URL_PROTOCOLS, "-format_whitelist", ALLOWED_DEMUXERS]
}

/// Checks that `url` is an absolute `http(s)` URL ffmpeg will take as one argument.
pub fn check_url(url: &str) -> Result<(), ProbeError> {
    let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
    if !scheme_ok || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ProbeError::Tool("the source URL is not an http(s) URL".into()));
    }
    Ok(())
}

/// Runs ffprobe on the presigned `url` (at most `timeout`, behind [`url_fence_args`]).
/// A store that cannot be reached (refused, timed out, 5xx) is a [`ProbeError::Tool`] failure,
/// not a verdict on the file.
pub async fn inspect_url(url: &str, timeout: Duration) -> Result<Inspection, ProbeError> {
    check_url(url)?;
    let input = Input { url: url.to_owned(), fence: url_fence_args(), failure: &url_failure };
    inspect_input(&input, timeout).await
}

/// What a failed ffprobe over a URL means, told without the URL.
fn url_failure(stderr: &str) -> ProbeError {
    if stderr.contains("not on whitelist") {
        return ProbeError::Unreadable(FENCE_REFUSED.into());
    }
    let last = redact_urls(stderr.lines().last().unwrap_or("unknown error").trim());
    let unreachable =
        ["Connection refused", "timed out", "Server returned 5", "Server returned 403"]
            .iter()
            .any(|m| stderr.contains(m));
    if unreachable || stderr.contains("Server returned 404") {
        return ProbeError::Tool(format!("reading the source from the media store: {last}"));
    }
    ProbeError::Unreadable(last.chars().take(300).collect())
}

/// `text` with every `http://` or `https://` word replaced by "the file".
fn redact_urls(text: &str) -> String {
    text.split(' ')
        .map(|w| {
            if w.contains("http://") || w.contains("https://") {
                let end = if w.ends_with(':') { ":" } else { "" };
                format!("the file{end}")
            } else {
                w.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_input_allows_the_network_but_keeps_the_demuxer_list() {
        let args = url_fence_args();
        assert_eq!(args[0], "-protocol_whitelist");
        let protocols: Vec<&str> = args[1].split(',').collect();
        assert_eq!(protocols, ["http", "https", "tcp", "tls", "crypto"]);
        assert!(!protocols.contains(&"file") && !protocols.contains(&"pipe"));
        assert_eq!(args[2], "-format_whitelist");
        assert_eq!(args[3], super::super::input_fence_args()[3], "the same demuxers as files");
        for refused in ["hls", "concat", "dash", "image2"] {
            assert!(!args[3].split(',').any(|d| d == refused), "{refused}");
        }
    }

    #[test]
    fn only_http_urls_in_one_argument_are_accepted() {
        assert!(check_url("https://s3.example.com/b/k?X-Amz-Signature=ab").is_ok());
        assert!(check_url("http://127.0.0.1:8333/b/k").is_ok());
        for bad in ["file:/etc/passwd", "concat:a|b", "/tmp/x", "https://a b", "http://x\n"] {
            assert!(check_url(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn failures_never_show_the_signed_url_and_an_unreachable_store_is_not_the_files_fault() {
        let url = "http://127.0.0.1:1/b/sources/t/v/source?X-Amz-Signature=secret";
        let e = url_failure(&format!("{url}: Connection refused"));
        assert!(matches!(&e, ProbeError::Tool(m) if !m.contains("secret")), "{e:?}");
        let e = url_failure(&format!("{url}: Invalid data found when processing input"));
        assert_eq!(
            e,
            ProbeError::Unreadable("the file: Invalid data found when processing input".into())
        );
        let e = url_failure("[hls @ 0x1] Format not on whitelist 'mov,...'");
        assert!(matches!(e, ProbeError::Unreadable(m) if m.contains("playlists")));
    }
}
