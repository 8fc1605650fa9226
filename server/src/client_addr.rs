//! Who the client is, as rate limits and connection caps count it.
//!
//! A client is its address masked to a prefix: IPv4 /32 and IPv6 /64 by default, since one host is
//! usually given a whole IPv6 /64 and counting exact addresses would let it rotate through them.
//! Behind a reverse proxy the TCP peer is the proxy: only when the peer is one of the configured
//! trusted proxies is the forwarding header read, and then the client is the right-most hop that is
//! not itself a trusted proxy (hops to its left were written by the client and prove nothing).

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The header a trusted proxy writes the client's address into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2`
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`
    Forwarded,
}

/// How client addresses are found and grouped.
#[derive(Debug, Clone)]
pub struct ClientAddressing {
    pub ipv4_prefix: u8,
    pub ipv6_prefix: u8,
    pub trusted_proxies: Vec<IpNet>,
    pub forwarded_header: ForwardedHeader,
}

impl Default for ClientAddressing {
    fn default() -> Self {
        ClientAddressing {
            ipv4_prefix: 32,
            ipv6_prefix: 64,
            trusted_proxies: Vec::new(),
            forwarded_header: ForwardedHeader::XForwardedFor,
        }
    }
}

/// A client as counted: its address masked to the configured prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey(IpNet);

impl std::fmt::Display for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl ClientAddressing {
    /// The key `ip` is counted under (an IPv4-mapped IPv6 address counts as its IPv4 address).
    pub fn key(&self, ip: IpAddr) -> ClientKey {
        let ip = canonical(ip);
        let prefix = match ip {
            IpAddr::V4(_) => self.ipv4_prefix,
            IpAddr::V6(_) => self.ipv6_prefix,
        };
        let net = IpNet::new(ip, prefix).unwrap_or_else(|_| IpNet::from(ip));
        ClientKey(net.trunc())
    }

    fn trusted(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }

    /// The client's address: `peer` itself, unless `peer` is a trusted proxy; then the right-most hop
    /// of the forwarding header that is not a trusted proxy. A missing or unparsable header leaves the
    /// peer as the client (all its clients then share the proxy's bucket, which fails safe).
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusted(peer) {
            return peer;
        }
        let mut hops: Vec<IpAddr> = Vec::new();
        let name = match self.forwarded_header {
            ForwardedHeader::XForwardedFor => "x-forwarded-for",
            ForwardedHeader::Forwarded => "forwarded",
        };
        for value in headers.get_all(name) {
            let Ok(value) = value.to_str() else {
                return peer;
            };
            for element in value.split(',') {
                let hop = match self.forwarded_header {
                    ForwardedHeader::XForwardedFor => parse_hop(element.trim()),
                    ForwardedHeader::Forwarded => forwarded_for(element),
                };
                match hop {
                    Some(ip) => hops.push(ip),
                    None => return peer,
                }
            }
        }
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            client = hop;
            if !self.trusted(hop) {
                break;
            }
        }
        client
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// The `for=` parameter of one RFC 7239 element.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("for")
            .then(|| parse_hop(value.trim().trim_matches('"')))
            .flatten()
    })
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:8080`, `2001:db8::1`, `[2001:db8::1]:8080`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse() {
        return Some(ip);
    }
    if let Some(rest) = hop.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    let (host, port) = hop.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse().ok()
}

/// Parses `--trusted-proxy` values: a CIDR (`10.0.0.0/8`) or a single address.
pub fn parse_trusted_proxy(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{s:?} is not an IP address or CIDR prefix"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers(name: &'static str, values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(name, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    fn behind(proxies: &[&str], header: ForwardedHeader) -> ClientAddressing {
        ClientAddressing {
            trusted_proxies: proxies
                .iter()
                .map(|p| parse_trusted_proxy(p).unwrap())
                .collect(),
            forwarded_header: header,
            ..ClientAddressing::default()
        }
    }

    #[test]
    fn clients_are_grouped_by_prefix() {
        let a = ClientAddressing::default();
        assert_eq!(
            a.key(ip("2001:db8:1:2::1")),
            a.key(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(a.key(ip("2001:db8:1:2::1")), a.key(ip("2001:db8:1:3::1")));
        assert_ne!(a.key(ip("192.0.2.1")), a.key(ip("192.0.2.2")));
        assert_eq!(a.key(ip("::ffff:192.0.2.1")), a.key(ip("192.0.2.1")));
        let wide = ClientAddressing {
            ipv4_prefix: 24,
            ipv6_prefix: 48,
            ..ClientAddressing::default()
        };
        assert_eq!(wide.key(ip("192.0.2.1")), wide.key(ip("192.0.2.200")));
        assert_eq!(
            wide.key(ip("2001:db8:1:2::1")),
            wide.key(ip("2001:db8:1:3::1"))
        );
    }

    #[test]
    fn forwarding_headers_count_only_from_a_trusted_proxy() {
        let spoofed = headers("x-forwarded-for", &["203.0.113.9"]);
        let direct = ClientAddressing::default();
        assert_eq!(
            direct.client_ip(ip("198.51.100.7"), &spoofed),
            ip("198.51.100.7")
        );
        let proxied = behind(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        assert_eq!(
            proxied.client_ip(ip("198.51.100.7"), &spoofed),
            ip("198.51.100.7")
        );
        assert_eq!(
            proxied.client_ip(ip("10.1.2.3"), &spoofed),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let a = behind(
            &["10.0.0.0/8", "192.168.1.1"],
            ForwardedHeader::XForwardedFor,
        );
        // The client wrote "1.1.1.1" itself; the proxies appended the real hops after it.
        let h = headers("x-forwarded-for", &["1.1.1.1, 203.0.113.9", "192.168.1.1"]);
        assert_eq!(a.client_ip(ip("10.0.0.1"), &h), ip("203.0.113.9"));
        let only_proxies = headers("x-forwarded-for", &["10.0.0.2, 192.168.1.1"]);
        assert_eq!(a.client_ip(ip("10.0.0.1"), &only_proxies), ip("10.0.0.2"));
        let garbage = headers("x-forwarded-for", &["203.0.113.9, not-an-ip"]);
        assert_eq!(a.client_ip(ip("10.0.0.1"), &garbage), ip("10.0.0.1"));
        assert_eq!(
            a.client_ip(ip("10.0.0.1"), &HeaderMap::new()),
            ip("10.0.0.1")
        );
        let ported = headers("x-forwarded-for", &["[2001:db8::7]:443, 203.0.113.9:51000"]);
        assert_eq!(a.client_ip(ip("10.0.0.1"), &ported), ip("203.0.113.9"));
    }

    #[test]
    fn rfc_7239_forwarded_is_read_when_chosen() {
        let a = behind(&["10.0.0.1"], ForwardedHeader::Forwarded);
        let h = headers(
            "forwarded",
            &[r#"for=198.51.100.1;proto=https, for="[2001:db8:cafe::17]:4711";by=10.0.0.1"#],
        );
        assert_eq!(a.client_ip(ip("10.0.0.1"), &h), ip("2001:db8:cafe::17"));
        // With Forwarded chosen, an X-Forwarded-For the client sent is ignored.
        let xff = headers("x-forwarded-for", &["203.0.113.9"]);
        assert_eq!(a.client_ip(ip("10.0.0.1"), &xff), ip("10.0.0.1"));
    }
}
