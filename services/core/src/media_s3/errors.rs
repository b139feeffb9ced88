//! object_store's errors as [`MediaError`]s. S3 404 is `NotFound`; the store being down,
//! overloaded or slow is `Unavailable` (callers answer 503): a connect, request or timeout
//! error of the HTTP client anywhere in the cause chain, or a 5xx / 429 / 408 answer (which
//! object_store reports as `Generic` with the status only in the text of its cause).

use object_store::client::{HttpError, HttpErrorKind};

use crate::media::MediaError;

/// Maps an object_store error on `key`.
pub fn map_err(key: &str, e: object_store::Error) -> MediaError {
    match e {
        object_store::Error::NotFound { .. } => MediaError::NotFound(key.to_owned()),
        object_store::Error::InvalidPath { .. } => MediaError::InvalidKey(key.to_owned()),
        e if is_unavailable(&e) => {
            MediaError::Unavailable { key: key.to_owned(), reason: chain_text(&e) }
        }
        e => MediaError::Io { key: key.to_owned(), source: std::io::Error::other(chain_text(&e)) },
    }
}

/// Whether `e` says the store is unreachable, timed out or answered that it is unavailable.
pub fn is_unavailable(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(h) = err.downcast_ref::<HttpError>()
            && matches!(
                h.kind(),
                HttpErrorKind::Connect
                    | HttpErrorKind::Request
                    | HttpErrorKind::Timeout
                    | HttpErrorKind::Interrupted
            )
        {
            return true;
        }
        if let Some(r) = err.downcast_ref::<reqwest::Error>()
            && (r.is_connect() || r.is_timeout())
        {
            return true;
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::TimedOut
            )
        {
            return true;
        }
        if status_unavailable(&err.to_string()) {
            return true;
        }
        cur = err.source();
    }
    false
}

/// Whether an object_store status message names a 5xx, 429 or 408 answer
/// (`Server returned non-2xx status code: 503 Service Unavailable: ...`).
fn status_unavailable(text: &str) -> bool {
    const MARK: &str = "status code: ";
    let Some(i) = text.find(MARK) else { return false };
    let code: String = text[i + MARK.len()..].chars().take_while(char::is_ascii_digit).collect();
    matches!(code.parse::<u16>(), Ok(500..=599 | 429 | 408))
}

/// The error and its causes on one line.
pub fn chain_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let s = c.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generic(source: Box<dyn std::error::Error + Send + Sync>) -> object_store::Error {
        object_store::Error::Generic { store: "S3", source }
    }

    #[test]
    fn server_errors_and_throttling_are_unavailable_client_errors_are_not() {
        let text = |s: &str| generic(s.to_owned().into());
        let unavailable = [
            "Server returned non-2xx status code: 503 Service Unavailable: slow down",
            "Server returned non-2xx status code: 500 Internal Server Error: ",
            "Server returned non-2xx status code: 429 Too Many Requests: ",
        ];
        for s in unavailable {
            assert!(map_err("k", text(s)).is_unavailable(), "{s}");
        }
        for s in ["Server returned non-2xx status code: 403 Forbidden: no", "bad xml"] {
            assert!(matches!(map_err("k", text(s)), MediaError::Io { .. }), "{s}");
        }
    }

    #[test]
    fn connect_and_timeout_errors_anywhere_in_the_chain_are_unavailable() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let http = HttpError::new(HttpErrorKind::Connect, refused);
        assert!(map_err("k", generic(Box::new(http))).is_unavailable());
        let decode = HttpError::new(HttpErrorKind::Decode, std::io::Error::other("junk"));
        assert!(!map_err("k", generic(Box::new(decode))).is_unavailable());
        let nf = object_store::Error::NotFound { path: "k".into(), source: "404".into() };
        assert!(matches!(map_err("k", nf), MediaError::NotFound(k) if k == "k"));
    }
}
