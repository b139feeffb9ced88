//! Redacting secrets from URIs before they are logged or put in a span. Secrets travel in
//! URLs where clients can only call fixed URLs: the webhook secret (`?secret=`), stream keys
//! (`?key=`), viewer tokens (`?token=`, and the token path segment of `/hls/<token>/...` and
//! `/live/<token>/...`), direct-upload tokens (`/v1/direct/<token>/...`). Pure: no IO.

/// What replaces a secret.
pub const REDACTED: &str = "REDACTED";

/// Query parameters whose values are secrets.
const SECRET_PARAMS: [&str; 6] = ["secret", "token", "key", "password", "pass", "access_token"];

/// Path prefixes whose next segment is a viewer token (`public` is not a secret) or a
/// direct-upload token (`/v1/direct/<token>/...`).
const TOKEN_PREFIXES: [&str; 3] = ["/hls/", "/live/", "/v1/direct/"];

/// `uri` (a path with an optional query, or an absolute URL) with every secret replaced by
/// [`REDACTED`].
pub fn uri_for_log(uri: &str) -> String {
    let (before_query, query) = match uri.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (uri, None),
    };
    // An absolute URL: keep scheme and authority, redact its path.
    let (origin, path) = match before_query.find("://") {
        Some(i) => {
            let rest = &before_query[i + 3..];
            let cut = rest.find('/').map_or(before_query.len(), |j| i + 3 + j);
            before_query.split_at(cut)
        }
        None => ("", before_query),
    };
    let mut out = String::with_capacity(uri.len());
    out.push_str(origin);
    out.push_str(&redact_path(path));
    if let Some(q) = query {
        out.push('?');
        out.push_str(&redact_query(q));
    }
    out
}

fn redact_path(path: &str) -> String {
    for prefix in TOKEN_PREFIXES {
        if let Some(rest) = path.strip_prefix(prefix) {
            let (token, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            if token.is_empty() || token == "public" {
                return path.to_owned();
            }
            return format!("{prefix}{REDACTED}{tail}");
        }
    }
    path.to_owned()
}

fn redact_query(q: &str) -> String {
    q.split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if SECRET_PARAMS.iter().any(|s| k.eq_ignore_ascii_case(s)) => {
                format!("{k}={REDACTED}")
            }
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_query_values_are_redacted_and_the_rest_kept() {
        assert_eq!(
            uri_for_log("/v1/hooks/nginx-rtmp/publish?secret=abc123"),
            "/v1/hooks/nginx-rtmp/publish?secret=REDACTED"
        );
        assert_eq!(
            uri_for_log("/x?a=1&token=t.1.sig&key=str_1.mac&b=2&Secret=s"),
            "/x?a=1&token=REDACTED&key=REDACTED&b=2&Secret=REDACTED"
        );
        assert_eq!(uri_for_log("/v1/videos?limit=5"), "/v1/videos?limit=5");
        assert_eq!(uri_for_log("/v1/videos?secretive=1"), "/v1/videos?secretive=1");
        assert_eq!(uri_for_log("/x?secret"), "/x?secret", "no value, nothing to hide");
        assert_eq!(uri_for_log("/x?"), "/x?");
    }

    #[test]
    fn the_token_segment_of_playback_paths_is_redacted() {
        assert_eq!(
            uri_for_log("/hls/acme.1767225600.c2lnbmF0dXJl/vid_1/master.m3u8"),
            "/hls/REDACTED/vid_1/master.m3u8"
        );
        assert_eq!(
            uri_for_log("/live/acme.1767225600.sig/str_1/index.m3u8?token=x"),
            "/live/REDACTED/str_1/index.m3u8?token=REDACTED"
        );
        assert_eq!(uri_for_log("/hls/tok"), "/hls/REDACTED");
        assert_eq!(uri_for_log("/hls/public/vid_1/master.m3u8"), "/hls/public/vid_1/master.m3u8");
        // Only at the start: the projection's /v1/live/<stream id> carries no token.
        assert_eq!(uri_for_log("/v1/live/str_1/viewers"), "/v1/live/str_1/viewers");
        assert_eq!(uri_for_log("/v1/direct/fdu_x/up_1"), "/v1/direct/REDACTED/up_1");
        assert_eq!(uri_for_log("/hls/"), "/hls/");
    }

    #[test]
    fn absolute_urls_keep_their_origin() {
        assert_eq!(
            uri_for_log("http://127.0.0.1:8145/live/tok/str_1/index.m3u8?secret=s"),
            "http://127.0.0.1:8145/live/REDACTED/str_1/index.m3u8?secret=REDACTED"
        );
        assert_eq!(uri_for_log("rtmp://host/live?key=k"), "rtmp://host/live?key=REDACTED");
        assert_eq!(uri_for_log("http://h"), "http://h");
    }
}
