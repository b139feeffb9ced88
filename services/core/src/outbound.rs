//! Outbound HTTP to addresses a tenant chose: webhook endpoints and URL ingest.
//!
//! A tenant can name any URL, so every such request goes through one fence:
//! - only `http` and `https`, no credentials in the URL;
//! - the host's addresses are checked *after* DNS resolution, by the resolver the client
//!   connects with, so a name that resolves to loopback, a private network, link-local (cloud
//!   metadata at 169.254.169.254), CGNAT, multicast or an IPv4-mapped form of those is refused,
//!   and a DNS answer cannot change between the check and the connect (rebinding);
//! - IP literals in the URL are checked before the request (reqwest does not resolve them);
//! - redirects are never followed (a 3xx is the answer), no proxy from the environment;
//! - connect and whole-request timeouts, and [`read_limited`] caps what a response may cost.
//!
//! [`OutboundPolicy::allow_private`] (`--outbound-allow-private`) lifts the address check for
//! operators whose receivers live on their own network, and for tests on loopback.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;

/// Which addresses outbound requests may reach.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboundPolicy {
    /// Allow loopback and private targets (off by default).
    pub allow_private: bool,
}

/// Why an outbound request was refused or failed before an answer.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// The URL is not one we fetch (scheme, credentials, no host).
    #[error("{0}")]
    BadUrl(String),
    /// The host is, or resolves only to, an address the policy refuses.
    #[error("{0} is not a public address (loopback, private and link-local targets are refused)")]
    Forbidden(String),
    /// The response body is larger than allowed.
    #[error("the response is larger than {0} bytes")]
    TooLarge(u64),
    /// Connect, TLS, timeout or read failure.
    #[error("request failed: {0}")]
    Transport(String),
}

/// Whether `ip` is reachable under `policy`.
pub fn ip_allowed(ip: IpAddr, policy: OutboundPolicy) -> bool {
    policy.allow_private || is_public(ip)
}

/// Whether `ip` is a globally routable unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            // ::/128, ::1, IPv4-compatible ::a.b.c.d (deprecated, treated as its IPv4).
            if s[..6] == [0; 6] {
                return is_public_v4(Ipv4Addr::new(
                    (s[6] >> 8) as u8,
                    s[6] as u8,
                    (s[7] >> 8) as u8,
                    s[7] as u8,
                )) && !v6.is_loopback();
            }
            let unique_local = (s[0] & 0xfe00) == 0xfc00;
            let link_local = (s[0] & 0xffc0) == 0xfe80;
            let site_local = (s[0] & 0xffc0) == 0xfec0;
            let documentation = s[0] == 0x2001 && s[1] == 0x0db8;
            let nat64 = s[0] == 0x0064 && s[1] == 0xff9b; // 64:ff9b::/96 reaches IPv4 space
            !(v6.is_multicast()
                || unique_local
                || link_local
                || site_local
                || documentation
                || nat64)
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_unspecified()
        || o[0] == 0
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64.0.0/10 CGNAT
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0.0/24 protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // 198.18.0.0/15 benchmarking
        || o[0] >= 240) // reserved
}

/// Checks a URL before any request: scheme, credentials, and an IP-literal host.
pub fn check_url(url: &str, policy: OutboundPolicy) -> Result<reqwest::Url, OutboundError> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| OutboundError::BadUrl(format!("not a URL ({e})")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(OutboundError::BadUrl("the URL must be http:// or https://".into()));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(OutboundError::BadUrl("the URL must not carry credentials".into()));
    }
    let host =
        parsed.host_str().ok_or_else(|| OutboundError::BadUrl("the URL has no host".into()))?;
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = literal.parse::<IpAddr>() {
        if !ip_allowed(ip, policy) {
            return Err(OutboundError::Forbidden(ip.to_string()));
        }
    } else if !policy.allow_private && is_local_name(host) {
        return Err(OutboundError::Forbidden(host.to_owned()));
    }
    Ok(parsed)
}

fn is_local_name(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    h == "localhost"
        || h.ends_with(".localhost")
        || h.ends_with(".local")
        || h.ends_with(".internal")
}

/// Resolves with the system resolver and keeps only the addresses the policy allows.
struct PolicyResolver(OutboundPolicy);

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?
                .collect();
            let allowed: Vec<SocketAddr> =
                addrs.iter().copied().filter(|a| ip_allowed(a.ip(), policy)).collect();
            if allowed.is_empty() {
                return Err(Box::new(OutboundError::Forbidden(host))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Timeouts of one kind of outbound request.
#[derive(Debug, Clone, Copy)]
pub struct OutboundTimeouts {
    pub connect: Duration,
    /// The whole request, body included (`None` for long downloads, which set their own).
    pub total: Option<Duration>,
    /// Longest silence while reading.
    pub read: Duration,
}

/// A client that only reaches what `policy` allows, follows no redirect and uses no proxy.
/// Call [`crate::tls::install_crypto_provider`] first (done by `Platform::start`).
pub fn client(policy: OutboundPolicy, timeouts: OutboundTimeouts) -> reqwest::Client {
    crate::tls::install_crypto_provider();
    let mut b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(timeouts.connect)
        .read_timeout(timeouts.read)
        .user_agent(concat!("Framelog/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(Arc::new(PolicyResolver(policy)));
    if let Some(total) = timeouts.total {
        b = b.timeout(total);
    }
    b.build().expect("a reqwest client with static settings builds")
}

/// Reads at most `max` bytes of a response body; more is [`OutboundError::TooLarge`].
pub async fn read_limited(
    resp: reqwest::Response,
    max: u64,
) -> Result<bytes::Bytes, OutboundError> {
    if resp.content_length().is_some_and(|n| n > max) {
        return Err(OutboundError::TooLarge(max));
    }
    let mut out = bytes::BytesMut::new();
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| transport(&e))?;
        if out.len() as u64 + chunk.len() as u64 > max {
            return Err(OutboundError::TooLarge(max));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}

/// A reqwest error as an [`OutboundError`], keeping a policy refusal from the resolver.
pub fn transport(e: &reqwest::Error) -> OutboundError {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = src {
        if let Some(OutboundError::Forbidden(h)) = s.downcast_ref::<OutboundError>() {
            return OutboundError::Forbidden(h.clone());
        }
        src = s.source();
    }
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    OutboundError::Transport(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(s: &str) -> bool {
        is_public(s.parse().unwrap())
    }

    #[test]
    fn loopback_private_link_local_and_mapped_forms_are_not_public() {
        for s in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "2001:db8::1",
        ] {
            assert!(!public(s), "{s} must not be public");
        }
        for s in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(public(s), "{s} is public");
        }
    }

    #[test]
    fn urls_are_checked_for_scheme_credentials_and_literal_hosts() {
        let deny = OutboundPolicy::default();
        let allow = OutboundPolicy { allow_private: true };
        assert!(matches!(check_url("ftp://example.com/x", deny), Err(OutboundError::BadUrl(_))));
        assert!(matches!(
            check_url("http://u:p@example.com/", deny),
            Err(OutboundError::BadUrl(_))
        ));
        assert!(matches!(
            check_url("http://127.0.0.1:80/", deny),
            Err(OutboundError::Forbidden(_))
        ));
        assert!(matches!(check_url("http://[::1]/", deny), Err(OutboundError::Forbidden(_))));
        assert!(matches!(check_url("http://localhost/", deny), Err(OutboundError::Forbidden(_))));
        assert!(check_url("https://example.com/hook", deny).is_ok());
        assert!(check_url("http://127.0.0.1:9/", allow).is_ok());
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_refused_at_connect() {
        let c = client(
            OutboundPolicy::default(),
            OutboundTimeouts {
                connect: Duration::from_secs(2),
                total: Some(Duration::from_secs(5)),
                read: Duration::from_secs(5),
            },
        );
        // Straight to the client, past check_url: the resolver is the fence.
        let err = c.get("http://localhost:9/").send().await.unwrap_err();
        assert!(matches!(transport(&err), OutboundError::Forbidden(_)), "{err:?}");
    }
}
