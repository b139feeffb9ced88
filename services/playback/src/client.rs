//! Who a viewer is, without storing who they are: the client address (the peer, or
//! `X-Forwarded-For` behind a trusted proxy) and an HMAC of (address, session) that stands for
//! the viewer in events.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use sha2::Sha256;

use framelog_core::secret::Secret;

/// Hex characters of the viewer hash (64 bits: no collision among one video's viewers of one
/// window in practice, and too short to be worth a dictionary attack on addresses).
pub const VIEWER_HEX_LEN: usize = 16;

/// An IP network, `addr/prefix` or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `10.0.0.0/8`, `::1`, `192.168.1.5`.
    pub fn parse(s: &str) -> Option<Cidr> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (s.parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Cidr { net: addr, prefix })
    }

    /// Whether `ip` is in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        let (a, b, bits) = match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => {
                (u128::from(u32::from(n)), u128::from(u32::from(i)), 32)
            }
            (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), 128),
            _ => return false,
        };
        let shift = bits - u32::from(self.prefix);
        if shift >= 128 {
            return true;
        }
        (a >> shift) == (b >> shift)
    }
}

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    /// Parses the setting; returns the first entry that is not an address or network.
    pub fn parse(entries: &[String]) -> Result<TrustedProxies, String> {
        entries
            .iter()
            .filter(|e| !e.trim().is_empty())
            .map(|e| Cidr::parse(e).ok_or_else(|| e.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }

    /// The client's address: the peer, unless the peer is a trusted proxy, then the rightmost
    /// `X-Forwarded-For` entry that is not itself a trusted proxy (entries further left were
    /// written by the client and prove nothing).
    pub fn client_ip(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer?;
        if !self.trusts(peer) {
            return Some(peer);
        }
        let mut client = peer;
        for value in headers.get_all("x-forwarded-for").iter().rev() {
            let Ok(v) = value.to_str() else { return Some(client) };
            for hop in v.rsplit(',') {
                let Ok(ip) = hop.trim().parse::<IpAddr>() else { return Some(client) };
                client = ip;
                if !self.trusts(ip) {
                    return Some(ip);
                }
            }
        }
        Some(client)
    }
}

/// The TCP peer's address, when the server records it (`into_make_service_with_connect_info`).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())))
    }
}

/// The viewer id of (address, session): a keyed hash, so the address cannot be recovered from
/// events and two replicas sharing the secret derive the same id.
pub fn viewer_id(secret: &Secret, ip: Option<IpAddr>, session: &str) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key size");
    let ip = ip.map(|i| i.to_string()).unwrap_or_default();
    for part in ["framelog/viewer", ip.as_str(), session] {
        m.update(&(part.len() as u32).to_be_bytes());
        m.update(part.as_bytes());
    }
    let tag = m.finalize().into_bytes();
    hex::encode(&tag[..VIEWER_HEX_LEN / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_contain_their_addresses_only() {
        let n = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(n.contains(ip("10.1.200.3")));
        assert!(!n.contains(ip("10.2.0.1")));
        assert!(n.contains(ip("::ffff:10.1.0.9")), "v4-mapped v6 peers are matched");
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(Cidr::parse("::1").unwrap().contains(ip("::1")));
        for bad in ["10.0.0.0/33", "nope", "1.2.3.4/x", ""] {
            assert_eq!(Cidr::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let proxies = TrustedProxies::parse(&["127.0.0.1".into(), "10.0.0.0/8".into()]).unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "6.6.6.6, 1.2.3.4, 10.0.0.7".parse().unwrap());
        assert_eq!(proxies.client_ip(Some(ip("127.0.0.1")), &h), Some(ip("1.2.3.4")));
        assert_eq!(proxies.client_ip(Some(ip("5.5.5.5")), &h), Some(ip("5.5.5.5")));
        let none = TrustedProxies::default();
        assert_eq!(none.client_ip(Some(ip("127.0.0.1")), &h), Some(ip("127.0.0.1")));
        assert_eq!(none.client_ip(None, &h), None);
    }

    #[test]
    fn a_viewer_id_depends_on_address_session_and_secret_only() {
        let s = Secret::from_bytes(b"0123456789abcdef0123456789abcdef");
        let a = viewer_id(&s, Some(ip("1.2.3.4")), "sess");
        assert_eq!(a.len(), VIEWER_HEX_LEN);
        assert_eq!(a, viewer_id(&s, Some(ip("1.2.3.4")), "sess"));
        assert_ne!(a, viewer_id(&s, Some(ip("1.2.3.5")), "sess"));
        assert_ne!(a, viewer_id(&s, Some(ip("1.2.3.4")), "other"));
        assert_ne!(
            a,
            viewer_id(
                &Secret::from_bytes(b"another secret of 32 bytes long!"),
                Some(ip("1.2.3.4")),
                "sess"
            )
        );
        assert!(!a.contains("1.2.3.4"));
    }
}
