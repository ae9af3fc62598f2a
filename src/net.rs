//! Who the client is when load balancers stand in front: forwarded addresses are believed only
//! when the connection comes from a configured proxy network, else anyone could forge them.
//!
//! Only the header the proxies write is read (`X-Forwarded-For` by default, or RFC 7239's
//! `Forwarded`): a proxy appends to one of them and passes the other through untouched, so
//! reading both would let a client write the one the proxy does not.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

/// The request header the trusted proxies append the client address to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1` (haproxy's `option forwardfor`, AWS load balancers).
    #[default]
    XForwardedFor,
    /// `Forwarded: for=client;proto=https, for="[2001:db8::1]:4711"` (RFC 7239).
    Forwarded,
}

impl ForwardedHeader {
    /// `x-forwarded-for` or `forwarded`, any letter case.
    pub fn parse(value: &str) -> Result<Self, String> {
        match value.to_ascii_lowercase().as_str() {
            "x-forwarded-for" => Ok(Self::XForwardedFor),
            "forwarded" => Ok(Self::Forwarded),
            other => Err(format!("unknown value {other:?} (expected \"X-Forwarded-For\" or \"Forwarded\")")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::XForwardedFor => "X-Forwarded-For",
            Self::Forwarded => "Forwarded",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    networks: Vec<IpNet>,
    header: ForwardedHeader,
}

impl TrustedProxies {
    /// CIDR networks (`10.0.0.0/8`) or single addresses; the error names the bad entry.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        entries
            .iter()
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{entry:?} is not a network (10.0.0.0/8) or an address"))
            })
            .collect::<Result<_, _>>()
            .map(|networks| Self { networks, header: ForwardedHeader::default() })
    }

    /// The same proxies, read through `header`.
    pub fn reading(self, header: ForwardedHeader) -> Self {
        Self { header, ..self }
    }

    /// The header the client address is read from.
    pub fn header(&self) -> ForwardedHeader {
        self.header
    }

    /// Whether a request came through a trusted proxy: the peer is one, and it said whom it
    /// forwarded for. Comparing addresses instead would miss a proxy on the client's own host.
    pub fn forwarded_by_proxy<'a>(&self, peer: IpAddr, mut header_lines: impl Iterator<Item = &'a str>) -> bool {
        self.trusts(peer.to_canonical()) && header_lines.any(|line| !line.trim().is_empty())
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.networks.iter().any(|net| net.contains(&ip))
    }

    /// The client address: the peer, unless the peer is a trusted proxy; then, walking the
    /// forwarded hops from the right (every line of the header, in order, as one list), the
    /// first address that is not itself a trusted proxy. A hop that is not an address ends the
    /// walk at the last good one: whoever wrote it is beyond what we can vouch for.
    pub fn client_ip<'a>(&self, peer: IpAddr, header_lines: impl IntoIterator<Item = &'a str>) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<&str> = header_lines.into_iter().flat_map(split_list).collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            let address = match self.header {
                ForwardedHeader::XForwardedFor => parse_address(hop),
                ForwardedHeader::Forwarded => forwarded_for(hop).as_deref().and_then(parse_address),
            };
            let Some(ip) = address else { break };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        client
    }
}

/// The members of a comma-separated header list, trimmed, empty members dropped (RFC 9110
/// §5.6.1), commas inside quoted strings kept.
fn split_list(line: &str) -> Vec<&str> {
    let mut members = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                members.push(line[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    members.push(line[start..].trim());
    members.retain(|m| !m.is_empty());
    members
}

/// The `for=` value of one `Forwarded` element, unquoted; `None` when it has none.
fn forwarded_for(element: &str) -> Option<String> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("for") {
            return None;
        }
        let value = value.trim();
        match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            Some(quoted) => Some(quoted.replace('\\', "")),
            None => Some(value.to_owned()),
        }
    })
}

/// An address as proxies write it: `203.0.113.7`, `203.0.113.7:4711`, `2001:db8::1`,
/// `[2001:db8::1]`, `[2001:db8::1]:4711`; IPv4-mapped IPv6 as the IPv4 address. `None` for
/// anything else (`unknown`, obfuscated identifiers, garbage).
fn parse_address(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    let ip = text
        .parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| text.strip_prefix('[')?.strip_suffix(']')?.parse::<IpAddr>().ok())?;
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(nets: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(&nets.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("nets")
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let none = proxies(&[]);
        assert_eq!(none.client_ip(ip("10.0.0.5"), ["203.0.113.7"]), ip("10.0.0.5"));
        let lb = proxies(&["10.0.0.0/8", "127.0.0.1"]);
        assert_eq!(lb.client_ip(ip("10.0.0.5"), ["203.0.113.7"]), ip("203.0.113.7"));
        // A forged leftmost entry is ignored: the nearest untrusted hop is the client.
        assert_eq!(lb.client_ip(ip("10.0.0.5"), ["1.2.3.4, 203.0.113.7, 10.0.0.9"]), ip("203.0.113.7"));
        assert_eq!(lb.client_ip(ip("198.51.100.1"), ["203.0.113.7"]), ip("198.51.100.1"), "untrusted peer");
        assert_eq!(lb.client_ip(ip("127.0.0.1"), []), ip("127.0.0.1"));
        assert_eq!(lb.client_ip(ip("127.0.0.1"), ["10.1.1.1"]), ip("10.1.1.1"), "all trusted: the farthest");
        assert!(TrustedProxies::parse(&["10.0.0.0/33".into()]).is_err());
    }

    #[test]
    fn a_request_came_through_a_proxy_only_when_a_trusted_peer_forwarded_it() {
        let lb = proxies(&["127.0.0.1"]);
        // A proxy on the client's own host forwards for the same address it connects from.
        assert!(lb.forwarded_by_proxy(ip("127.0.0.1"), ["127.0.0.1"].into_iter()));
        assert!(lb.forwarded_by_proxy(ip("::ffff:127.0.0.1"), ["203.0.113.9"].into_iter()));
        assert!(!lb.forwarded_by_proxy(ip("127.0.0.1"), std::iter::empty()));
        assert!(!lb.forwarded_by_proxy(ip("127.0.0.1"), [" "].into_iter()));
        assert!(!lb.forwarded_by_proxy(ip("203.0.113.9"), ["198.51.100.1"].into_iter()));
    }

    #[test]
    fn every_header_line_is_one_list_walked_from_the_right() {
        let lb = proxies(&["127.0.0.1"]);
        // haproxy's `option forwardfor` adds its own line after the one the client wrote.
        assert_eq!(lb.client_ip(ip("127.0.0.1"), ["6.6.6.6", "203.0.113.7"]), ip("203.0.113.7"));
        assert_eq!(lb.client_ip(ip("127.0.0.1"), ["6.6.6.6, 7.7.7.7", "203.0.113.7"]), ip("203.0.113.7"));
        let two_proxies = proxies(&["127.0.0.1", "10.0.0.0/8"]);
        assert_eq!(two_proxies.client_ip(ip("127.0.0.1"), ["6.6.6.6", "203.0.113.7", "10.0.0.2"]), ip("203.0.113.7"));
        assert_eq!(lb.client_ip(ip("127.0.0.1"), ["", " , 203.0.113.7 ,"]), ip("203.0.113.7"), "empty members");
    }

    #[test]
    fn ports_mapped_addresses_and_garbage() {
        let lb = proxies(&["127.0.0.1", "10.0.0.0/8"]);
        assert_eq!(lb.client_ip(ip("127.0.0.1"), ["203.0.113.7:51234"]), ip("203.0.113.7"));
        assert_eq!(lb.client_ip(ip("127.0.0.1"), ["[2001:db8::1]:443"]), ip("2001:db8::1"));
        assert_eq!(lb.client_ip(ip("127.0.0.1"), ["[2001:db8::1]"]), ip("2001:db8::1"));
        assert_eq!(lb.client_ip(ip("127.0.0.1"), ["::ffff:203.0.113.7"]), ip("203.0.113.7"));
        // The peer itself as an IPv4-mapped address (a dual-stack listener) is still trusted.
        assert_eq!(lb.client_ip(ip("::ffff:127.0.0.1"), ["203.0.113.7"]), ip("203.0.113.7"));
        // Garbage right of the client: stop at the last good hop, a trusted proxy.
        assert_eq!(lb.client_ip(ip("127.0.0.1"), ["203.0.113.7, garbage, 10.0.0.3"]), ip("10.0.0.3"));
        assert_eq!(lb.client_ip(ip("127.0.0.1"), ["garbage, 203.0.113.9"]), ip("203.0.113.9"));
        assert_eq!(lb.client_ip(ip("127.0.0.1"), ["<script>"]), ip("127.0.0.1"));
    }

    #[test]
    fn the_forwarded_header_is_read_the_same_way() {
        let lb = proxies(&["127.0.0.1", "10.0.0.0/8"]).reading(ForwardedHeader::Forwarded);
        assert_eq!(lb.client_ip(ip("127.0.0.1"), ["for=203.0.113.7;proto=https"]), ip("203.0.113.7"));
        assert_eq!(
            lb.client_ip(ip("127.0.0.1"), [r#"for=6.6.6.6, for="[2001:db8::1]:4711";by=10.0.0.1"#, "for=10.0.0.4"]),
            ip("2001:db8::1")
        );
        assert_eq!(lb.client_ip(ip("127.0.0.1"), [r#"For="203.0.113.7:80""#]), ip("203.0.113.7"));
        // `unknown` and obfuscated identifiers are not addresses: stop at the last good hop.
        assert_eq!(lb.client_ip(ip("127.0.0.1"), ["for=203.0.113.7, for=unknown, for=10.0.0.4"]), ip("10.0.0.4"));
        assert_eq!(lb.client_ip(ip("127.0.0.1"), ["for=_hidden"]), ip("127.0.0.1"));
        assert_eq!(lb.client_ip(ip("127.0.0.1"), [r#"proto=https;host="a,b""#]), ip("127.0.0.1"));
        assert_eq!(ForwardedHeader::parse("Forwarded"), Ok(ForwardedHeader::Forwarded));
        assert!(ForwardedHeader::parse("X-Real-IP").is_err());
    }
}
