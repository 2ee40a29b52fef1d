//! Who is on the other end, for the buckets and bounds that count per client: the shopper when
//! their cookie is good, else the address. The address is the peer's, unless the peer is a
//! trusted proxy (`FLASH_TRUSTED_PROXIES`): then the nearest address in `X-Forwarded-For` /
//! `Forwarded` that is not itself a trusted proxy. Anyone else's forwarding headers are ignored.

use crate::ids::UserId;
use axum::http::HeaderMap;
use std::net::{IpAddr, Ipv6Addr};

/// Whom a per-client bucket or bound counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Client {
    User(UserId),
    /// Masked to its /64 for IPv6: one subscriber holds a whole /64.
    Address(IpAddr),
    /// No address known (only in-process tests without a socket).
    Unknown,
}

impl Client {
    pub fn of(user: Option<UserId>, address: Option<IpAddr>) -> Self {
        match (user, address) {
            (Some(u), _) => Client::User(u),
            (None, Some(ip)) => Client::Address(network_of(ip)),
            (None, None) => Client::Unknown,
        }
    }
}

/// The client's address as the gate decided it, kept in the request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

fn network_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// One entry of `FLASH_TRUSTED_PROXIES`: an address or a CIDR block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    net: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for Block {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = s.split_once('/').unwrap_or((s, ""));
        let net: IpAddr = addr.trim().parse().map_err(|e| format!("{addr:?}: {e}"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix.trim() {
            "" => max,
            p => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or(format!("{s:?}: the prefix must be 0 to {max}"))?,
        };
        Ok(Block { net, prefix })
    }
}

impl Block {
    fn contains(&self, ip: IpAddr) -> bool {
        let bits = |ip: IpAddr| match ip {
            IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => (u128::from(u32::from(v4)), 32),
                None => (u128::from(v6), 128),
            },
        };
        let ((net, width), (addr, addr_width)) = (bits(self.net), bits(ip));
        if width != addr_width {
            return false;
        }
        let host_bits = u32::from(width - self.prefix.min(width));
        let mask = u128::MAX.checked_shl(host_bits).unwrap_or(0);
        (net ^ addr) & mask & (u128::MAX >> (128 - width)) == 0
    }
}

/// The proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<Block>);

impl TrustedProxies {
    pub fn new(blocks: Vec<Block>) -> Self {
        TrustedProxies(blocks)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|b| b.contains(ip))
    }

    /// The client's address: the peer's, or, from a trusted proxy, the nearest untrusted hop
    /// it names (`Forwarded` first, then `X-Forwarded-For`). A trusted proxy that names no one,
    /// or only trusted hops, is the client itself.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let hops = forwarded_hops(headers);
        hops.into_iter()
            .rev()
            .find(|ip| !self.trusts(*ip))
            .unwrap_or(peer)
    }
}

/// Every address the forwarding headers name, nearest last. An unreadable hop ends the list
/// there: what lies beyond it could be anything a client wrote.
fn forwarded_hops(headers: &HeaderMap) -> Vec<IpAddr> {
    let values = |name: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>()
    };
    let forwarded = values("forwarded");
    let (raw, from_forwarded) = if forwarded.is_empty() {
        (values("x-forwarded-for"), false)
    } else {
        (forwarded, true)
    };
    let parsed: Vec<Option<IpAddr>> = raw
        .iter()
        .map(|hop| {
            if from_forwarded {
                hop.split(';')
                    .filter_map(|pair| pair.trim().split_once('='))
                    .find(|(k, _)| k.eq_ignore_ascii_case("for"))
                    .and_then(|(_, v)| parse_node(v))
            } else {
                parse_node(hop)
            }
        })
        .collect();
    // Only the unbroken run of readable hops nearest to us counts.
    let readable = parsed.iter().rev().take_while(|h| h.is_some()).count();
    parsed[parsed.len() - readable..]
        .iter()
        .flatten()
        .copied()
        .collect()
}

/// `1.2.3.4`, `1.2.3.4:80`, `"[2001:db8::1]:443"`, `2001:db8::1`.
fn parse_node(raw: &str) -> Option<IpAddr> {
    let v = raw.trim().trim_matches('"');
    if let Ok(ip) = v.parse() {
        return Some(ip);
    }
    if let Some(rest) = v.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    let (host, _port) = v.rsplit_once(':')?;
    host.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn blocks_parse_and_contain() {
        let b: Block = "10.0.0.0/8".parse().unwrap();
        assert!(b.contains(ip("10.200.1.2")) && !b.contains(ip("11.0.0.1")));
        let one: Block = "192.168.1.7".parse().unwrap();
        assert!(one.contains(ip("192.168.1.7")) && !one.contains(ip("192.168.1.8")));
        let v6: Block = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:1::5")) && !v6.contains(ip("10.0.0.1")));
        let all: Block = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        assert!(b.contains(ip("::ffff:10.1.2.3")));
        for bad in ["10.0.0.0/33", "nonsense", "10.0.0.0/x", "::/129"] {
            assert!(bad.parse::<Block>().is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_proxies() {
        let proxies = TrustedProxies::new(vec!["10.0.0.0/8".parse().unwrap()]);
        let xff = headers(&[("x-forwarded-for", "6.6.6.6, 1.2.3.4, 10.0.0.9")]);
        // From the proxy: the nearest untrusted hop (what the client wrote before it is ignored).
        assert_eq!(proxies.client(ip("10.0.0.1"), &xff), ip("1.2.3.4"));
        // From anyone else: their own address, whatever they claim.
        assert_eq!(proxies.client(ip("5.5.5.5"), &xff), ip("5.5.5.5"));
        let fwd = headers(&[("forwarded", "for=\"[2001:db8::7]:443\";proto=https")]);
        assert_eq!(proxies.client(ip("10.0.0.1"), &fwd), ip("2001:db8::7"));
        // Nothing forwarded, or garbage nearest: the proxy itself.
        assert_eq!(
            proxies.client(ip("10.0.0.1"), &HeaderMap::new()),
            ip("10.0.0.1")
        );
        let garbage = headers(&[("x-forwarded-for", "1.2.3.4, not-an-ip")]);
        assert_eq!(proxies.client(ip("10.0.0.1"), &garbage), ip("10.0.0.1"));
        assert_eq!(
            TrustedProxies::default().client(ip("10.0.0.1"), &xff),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn an_ipv6_client_is_its_slash_64() {
        let a = Client::of(None, Some(ip("2001:db8:1:2:aaaa::1")));
        let b = Client::of(None, Some(ip("2001:db8:1:2:bbbb::9")));
        assert_eq!(a, b);
        assert_ne!(a, Client::of(None, Some(ip("2001:db8:1:3::1"))));
        assert_eq!(
            Client::of(Some(UserId(4)), Some(ip("1.2.3.4"))),
            Client::User(UserId(4))
        );
    }
}
