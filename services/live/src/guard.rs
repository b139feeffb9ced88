//! Webhook guard: the media-server webhooks take no tenant key, so they are limited to
//! allowed source addresses and, when configured, a shared secret in the URL (`?secret=`).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use framelog_core::ApiError;
use subtle::ConstantTimeEq;

use crate::state::LiveState;

fn allowed(list: &[String], ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    list.iter().any(|a| a == "any" || a.parse::<IpAddr>().is_ok_and(|x| x == ip))
}

fn query_secret(req: &Request) -> Option<String> {
    let q = req.uri().query()?;
    q.split('&').find_map(|kv| kv.strip_prefix("secret=").map(str::to_owned))
}

/// Middleware on the webhook routes.
pub async fn webhook_guard(State(st): State<LiveState>, req: Request, next: Next) -> Response {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    match peer {
        Some(ip) if allowed(&st.settings.hook_allow, ip) => {}
        _ => {
            return ApiError::forbidden("this address may not call the media-server webhooks")
                .into_response();
        }
    }
    if let Some(want) = &st.settings.hook_secret {
        let got = query_secret(&req).unwrap_or_default();
        if !bool::from(got.as_bytes().ct_eq(want.as_bytes())) {
            return ApiError::forbidden("missing or wrong webhook secret").into_response();
        }
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
}
