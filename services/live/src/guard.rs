//! Webhook guard. The media-server webhooks take no tenant key, so a call must prove it comes
//! from our media server:
//! 1. it carries the webhook secret ([`crate::hook_secret`]), as `?secret=` (nginx-rtmp and
//!    MediaMTX can only call fixed URLs), `X-Framelog-Hook-Secret` or `Authorization: Bearer`;
//! 2. it carries no `Forwarded`, `X-Forwarded-For` or `X-Real-IP` header: a proxied call came
//!    from outside, whatever its source address says;
//! 3. its source address is in the allow list (a second fence, never the only one: behind a
//!    reverse proxy on the same host every caller is 127.0.0.1).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use framelog_core::ApiError;

use crate::state::LiveState;

/// Header `framelog hook` sends the secret in.
pub const SECRET_HEADER: &str = "x-framelog-hook-secret";

/// Headers a reverse proxy adds: a webhook call carrying one came through a proxy.
const PROXY_HEADERS: [&str; 3] = ["forwarded", "x-forwarded-for", "x-real-ip"];

fn allowed(list: &[String], ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    list.iter().any(|a| a == "any" || a.parse::<IpAddr>().is_ok_and(|x| x == ip))
}

/// The secret a call presents: header first, then `Authorization: Bearer`, then `?secret=`.
fn presented(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    if let Some(v) = headers.get(SECRET_HEADER).and_then(|v| v.to_str().ok()) {
        return Some(v.trim().to_owned());
    }
    if let Some(v) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some(v.trim().to_owned());
    }
    query?.split('&').find_map(|kv| kv.strip_prefix("secret=").map(str::to_owned))
}

fn proxied(headers: &HeaderMap) -> bool {
    PROXY_HEADERS.iter().any(|h| headers.contains_key(*h))
}

/// Middleware on the webhook routes.
pub async fn webhook_guard(State(st): State<LiveState>, req: Request, next: Next) -> Response {
    if proxied(req.headers()) {
        return ApiError::forbidden("the media-server webhooks are not reachable through a proxy")
            .into_response();
    }
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    if !peer.is_some_and(|ip| allowed(&st.settings.hook_allow, ip)) {
        return ApiError::forbidden("this address may not call the media-server webhooks")
            .into_response();
    }
    let got = presented(req.headers(), req.uri().query()).unwrap_or_default();
    if !st.hook_secret.matches(&got) {
        return ApiError::forbidden("missing or wrong webhook secret").into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_addresses_pass_and_mapped_v4_counts_as_v4() {
        let list = vec!["127.0.0.1".to_owned(), "::1".to_owned()];
        assert!(allowed(&list, "127.0.0.1".parse().unwrap()));
        assert!(allowed(&list, "::ffff:127.0.0.1".parse().unwrap()));
        assert!(allowed(&list, "::1".parse().unwrap()));
        assert!(!allowed(&list, "10.0.0.1".parse().unwrap()));
        assert!(allowed(&["any".to_owned()], "10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn the_secret_is_read_from_header_bearer_or_query() {
        let mut h = HeaderMap::new();
        assert_eq!(presented(&h, Some("a=1&secret=q")), Some("q".into()));
        assert_eq!(presented(&h, Some("a=1")), None);
        h.insert("authorization", "Bearer b".parse().unwrap());
        assert_eq!(presented(&h, Some("secret=q")), Some("b".into()));
        h.insert(SECRET_HEADER, "x".parse().unwrap());
        assert_eq!(presented(&h, Some("secret=q")), Some("x".into()));
    }

    #[test]
    fn any_proxy_header_marks_a_call_as_proxied() {
        for name in PROXY_HEADERS {
            let mut h = HeaderMap::new();
            h.insert(name, "203.0.113.1".parse().unwrap());
            assert!(proxied(&h), "{name}");
        }
        assert!(!proxied(&HeaderMap::new()));
    }
}
