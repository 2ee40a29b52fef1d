//! Who is on the other end, for the buckets and bounds that count per client: the shopper when
//! their cookie is good, else the address. The address is the peer's, unless the peer is a
//! trusted proxy (`FLASH_TRUSTED_PROXIES`): then the nearest address that is not itself a trusted
//! proxy in the one header those proxies write (`FLASH_FORWARDED_HEADER`, `X-Forwarded-For` by
//! default; a client's own `Forwarded` passes through most proxies untouched, so only one header
//! may count). Anyone else's forwarding headers are ignored.

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

/// The client's address as the gate decided it, kept in the request's extensions; `direct`
/// when it is the socket's peer itself (no proxy stood between).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr {
    pub ip: IpAddr,
    pub direct: bool,
}

impl ClientAddr {
    /// A client on this machine that came straight to the socket (not through a proxy).
    pub fn is_local(&self) -> bool {
        self.direct && self.ip.to_canonical().is_loopback()
    }
}

fn network_of(ip: IpAddr) -> IpAddr {
    masked(ip, 64)
}

/// The address with only its first `v6_prefix` bits kept if it is IPv6 (IPv4 stays whole).
pub fn masked(ip: IpAddr, v6_prefix: u32) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let keep = u128::MAX.checked_shl(128 - v6_prefix.min(128)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & keep))
        }
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
        let bits = |ip: IpAddr| match ip.to_canonical() {
            IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32u8),
            IpAddr::V6(v6) => (u128::from(v6), 128u8),
        };
        let ((net, width), (addr, addr_width)) = (bits(self.net), bits(ip));
        if width != addr_width {
            return false;
        }
        // `::ffff:10.0.0.0/104` is `10.0.0.0/8`.
        let prefix = match self.net {
            IpAddr::V6(_) if width == 32 => self.prefix.saturating_sub(96),
            _ => self.prefix,
        };
        let host_bits = u32::from(width - prefix.min(width));
        let mask = u128::MAX.checked_shl(host_bits).unwrap_or(0);
        (net ^ addr) & mask & (u128::MAX >> (128 - width)) == 0
    }
}

/// The one header the trusted proxies write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ForwardedHeader {
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=…`.
    Forwarded,
}

impl std::str::FromStr for ForwardedHeader {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "x-forwarded-for" => Ok(ForwardedHeader::XForwardedFor),
            "forwarded" => Ok(ForwardedHeader::Forwarded),
            _ => Err("x-forwarded-for or forwarded".into()),
        }
    }
}

/// The proxies whose forwarding header is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    blocks: Vec<Block>,
    header: ForwardedHeader,
}

impl TrustedProxies {
    pub fn new(blocks: Vec<Block>, header: ForwardedHeader) -> Self {
        TrustedProxies { blocks, header }
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.blocks.iter().any(|b| b.contains(ip))
    }

    /// The client's address: the peer's, or, from a trusted proxy, the nearest untrusted hop
    /// its header names. A trusted proxy that names no one, or only trusted hops, is the
    /// client itself (then `direct` is false all the same: it is not a local client).
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> ClientAddr {
        if !self.trusts(peer) {
            return ClientAddr {
                ip: peer,
                direct: true,
            };
        }
        let ip = forwarded_hops(headers, self.header)
            .into_iter()
            .rev()
            .find(|ip| !self.trusts(*ip))
            .unwrap_or(peer);
        ClientAddr { ip, direct: false }
    }
}

/// Every address the header names, nearest last. An unreadable hop ends the list there: what
/// lies beyond it could be anything a client wrote. Values are split as bytes: one hop that is
/// not text spoils only itself.
fn forwarded_hops(headers: &HeaderMap, header: ForwardedHeader) -> Vec<IpAddr> {
    let name = match header {
        ForwardedHeader::XForwardedFor => "x-forwarded-for",
        ForwardedHeader::Forwarded => "forwarded",
    };
    let raw: Vec<Option<&str>> = headers
        .get_all(name)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .map(|hop| std::str::from_utf8(hop).ok().map(str::trim))
        .collect();
    let parsed: Vec<Option<IpAddr>> = raw
        .iter()
        .map(|hop| match (header, *hop) {
            (_, None) => None,
            (ForwardedHeader::Forwarded, Some(hop)) => hop
                .split(';')
                .filter_map(|pair| pair.trim().split_once('='))
                .find(|(k, _)| k.eq_ignore_ascii_case("for"))
                .and_then(|(_, v)| parse_node(v)),
            (ForwardedHeader::XForwardedFor, Some(hop)) => parse_node(hop),
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
        let mapped: Block = "::ffff:10.0.0.0/104".parse().unwrap();
        assert!(mapped.contains(ip("10.9.8.7")) && !mapped.contains(ip("11.0.0.1")));
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
        let ten = vec!["10.0.0.0/8".parse().unwrap()];
        let proxies = TrustedProxies::new(ten.clone(), ForwardedHeader::XForwardedFor);
        let from = |p: &TrustedProxies, peer: &str, h: &HeaderMap| p.client(ip(peer), h).ip;
        let xff = headers(&[("x-forwarded-for", "6.6.6.6, 1.2.3.4, 10.0.0.9")]);
        // From the proxy: the nearest untrusted hop (what the client wrote before it is ignored).
        assert_eq!(from(&proxies, "10.0.0.1", &xff), ip("1.2.3.4"));
        assert!(!proxies.client(ip("10.0.0.1"), &xff).direct);
        // From anyone else: their own address, whatever they claim.
        assert_eq!(from(&proxies, "5.5.5.5", &xff), ip("5.5.5.5"));
        // Only the configured header counts: a client's own `Forwarded` is ignored.
        let both = headers(&[
            ("forwarded", "for=127.0.0.1"),
            ("x-forwarded-for", "1.2.3.4"),
        ]);
        assert_eq!(from(&proxies, "10.0.0.1", &both), ip("1.2.3.4"));
        let rfc = TrustedProxies::new(ten, ForwardedHeader::Forwarded);
        let fwd = headers(&[("forwarded", "for=\"[2001:db8::7]:443\";proto=https")]);
        assert_eq!(from(&rfc, "10.0.0.1", &fwd), ip("2001:db8::7"));
        // Nothing forwarded, or garbage nearest: the proxy itself, and never a local client.
        assert_eq!(
            from(&proxies, "10.0.0.1", &HeaderMap::new()),
            ip("10.0.0.1")
        );
        let garbage = headers(&[("x-forwarded-for", "1.2.3.4, not-an-ip")]);
        assert_eq!(from(&proxies, "10.0.0.1", &garbage), ip("10.0.0.1"));
        let local = TrustedProxies::new(vec!["127.0.0.1".parse().unwrap()], Default::default());
        assert!(!local.client(ip("127.0.0.1"), &HeaderMap::new()).is_local());
        assert!(TrustedProxies::default()
            .client(ip("127.0.0.1"), &xff)
            .is_local());
        // A hop that is not text spoils itself only.
        let mut bytes = HeaderMap::new();
        let raw = axum::http::HeaderValue::from_bytes(b"\xff\xfe, 1.2.3.4").unwrap();
        bytes.insert("x-forwarded-for", raw);
        assert_eq!(from(&proxies, "10.0.0.1", &bytes), ip("1.2.3.4"));
    }

    #[test]
    fn an_ipv6_client_is_its_slash_64() {
        let a = Client::of(None, Some(ip("2001:db8:1:2:aaaa::1")));
        let b = Client::of(None, Some(ip("2001:db8:1:2:bbbb::9")));
        assert_eq!(a, b);
        assert_ne!(a, Client::of(None, Some(ip("2001:db8:1:3::1"))));
        assert_eq!(masked(ip("2001:db8:1:2::1"), 48), ip("2001:db8:1::"));
        assert_eq!(masked(ip("::ffff:1.2.3.4"), 48), ip("1.2.3.4"));
        assert_eq!(
            Client::of(Some(UserId(4)), Some(ip("1.2.3.4"))),
            Client::User(UserId(4))
        );
    }
}
