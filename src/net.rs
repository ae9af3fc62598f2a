//! Who the client is when load balancers stand in front: `X-Forwarded-For` is believed only
//! when the connection comes from a configured proxy network, else anyone could forge it.

use std::net::IpAddr;

use ipnet::IpNet;

#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

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
            .map(Self)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client address: the peer, unless the peer is a trusted proxy; then the nearest
    /// address in `X-Forwarded-For` (read right to left) that is not itself a trusted proxy.
    pub fn client_ip(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let Some(header) = forwarded_for else {
            return peer;
        };
        let mut client = peer;
        for hop in header.rsplit(',').map(str::trim) {
            match hop.parse::<IpAddr>() {
                Ok(ip) => {
                    client = ip;
                    if !self.trusts(ip) {
                        break;
                    }
                }
                // A hop that is not an address was written by someone we cannot vouch for.
                Err(_) => break,
            }
        }
        client
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(nets: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(&nets.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("nets")
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        let none = proxies(&[]);
        assert_eq!(none.client_ip(ip("10.0.0.5"), Some("203.0.113.7")), ip("10.0.0.5"));
        let lb = proxies(&["10.0.0.0/8", "127.0.0.1"]);
        assert_eq!(lb.client_ip(ip("10.0.0.5"), Some("203.0.113.7")), ip("203.0.113.7"));
        // A forged leftmost entry is ignored: the nearest untrusted hop is the client.
        assert_eq!(lb.client_ip(ip("10.0.0.5"), Some("1.2.3.4, 203.0.113.7, 10.0.0.9")), ip("203.0.113.7"));
        assert_eq!(lb.client_ip(ip("198.51.100.1"), Some("203.0.113.7")), ip("198.51.100.1"), "untrusted peer");
        assert_eq!(lb.client_ip(ip("127.0.0.1"), None), ip("127.0.0.1"));
        assert_eq!(lb.client_ip(ip("127.0.0.1"), Some("garbage, 203.0.113.9")), ip("203.0.113.9"));
        assert_eq!(lb.client_ip(ip("127.0.0.1"), Some("10.1.1.1")), ip("10.1.1.1"), "all trusted: the farthest");
        assert!(TrustedProxies::parse(&["10.0.0.0/33".into()]).is_err());
    }
}
