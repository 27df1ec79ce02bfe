//! The client's address behind reverse proxies: `X-Forwarded-For` and `X-Real-IP` are believed
//! only when the connection comes from a configured trusted proxy (`TRUSTED_PROXIES`), so a client
//! cannot pick the address its requests are logged and throttled under.

use std::net::IpAddr;

/// Networks whose forwarding headers are believed (`TRUSTED_PROXIES`: addresses or CIDR blocks).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl TrustedProxies {
    /// Parses a comma-separated list such as `10.0.0.0/8, 127.0.0.1, ::1`. An error names the
    /// entry that is not an address or a network.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (addr, bits) = match entry.split_once('/') {
                Some((a, b)) => (a, Some(b)),
                None => (entry, None),
            };
            let ip: IpAddr = addr
                .parse()
                .map_err(|_| format!("{entry:?} is not an IP address or CIDR network"))?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let prefix = match bits {
                None => max,
                Some(b) => b
                    .parse::<u8>()
                    .ok()
                    .filter(|p| *p <= max)
                    .ok_or_else(|| format!("{entry:?}: the prefix length must be 0..={max}"))?,
            };
            nets.push((ip.to_canonical(), prefix));
        }
        Ok(Self(nets))
    }

    /// Also trusts loopback (the admin process behind our own proxy).
    pub fn with_loopback(mut self) -> Self {
        self.0.push((IpAddr::from([127, 0, 0, 0]), 8));
        self.0
            .push((IpAddr::from(std::net::Ipv6Addr::LOCALHOST), 128));
        self
    }

    /// True when no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True when `ip` is in one of the trusted networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0
            .iter()
            .any(|(net, prefix)| in_network(ip, *net, *prefix))
    }

    /// The client of a connection from `peer`: the peer itself unless it is trusted; then the
    /// right-most `X-Forwarded-For` address that is not a trusted proxy (the left-most when all
    /// are), else `X-Real-IP`, else the peer. Unparsable entries end the walk at the peer.
    pub fn client_ip(
        &self,
        peer: IpAddr,
        forwarded_for: Option<&str>,
        real_ip: Option<&str>,
    ) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.contains(peer) {
            return peer;
        }
        if let Some(list) = forwarded_for.filter(|l| !l.trim().is_empty()) {
            let mut client = peer;
            for hop in list.rsplit(',').map(str::trim) {
                let Ok(ip) = hop.parse::<IpAddr>() else {
                    return client;
                };
                client = ip.to_canonical();
                if !self.contains(client) {
                    return client;
                }
            }
            return client;
        }
        real_ip
            .and_then(|r| r.trim().parse::<IpAddr>().ok())
            .map_or(peer, |ip| ip.to_canonical())
    }
}

fn in_network(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_addresses_and_networks_and_names_bad_entries() {
        let t = TrustedProxies::parse(" 10.0.0.0/8, 192.168.1.7 ,fd00::/8,").unwrap();
        assert!(t.contains(ip("10.200.3.4")));
        assert!(t.contains(ip("192.168.1.7")));
        assert!(!t.contains(ip("192.168.1.8")));
        assert!(t.contains(ip("fd12::1")));
        assert!(
            t.contains(ip("::ffff:10.1.1.1")),
            "IPv4-mapped peers match IPv4 networks"
        );
        assert!(!t.contains(ip("11.0.0.1")));
        assert!(TrustedProxies::parse("").unwrap().is_empty());
        assert!(
            TrustedProxies::parse("0.0.0.0/0")
                .unwrap()
                .contains(ip("8.8.8.8"))
        );
        let e = TrustedProxies::parse("10.0.0.0/33").unwrap_err();
        assert!(e.contains("10.0.0.0/33"), "{e}");
        assert!(TrustedProxies::parse("proxy.local").is_err());
    }

    #[test]
    fn believes_forwarding_headers_only_from_trusted_peers() {
        let t = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let none = TrustedProxies::default();
        // An untrusted peer's headers are ignored: it cannot choose its address.
        assert_eq!(
            none.client_ip(ip("203.0.113.9"), Some("1.2.3.4"), Some("5.6.7.8")),
            ip("203.0.113.9")
        );
        assert_eq!(
            t.client_ip(ip("203.0.113.9"), Some("1.2.3.4"), None),
            ip("203.0.113.9")
        );
        // Through trusted proxies: the right-most address that is not one of them.
        assert_eq!(
            t.client_ip(
                ip("10.0.0.2"),
                Some("1.2.3.4, 198.51.100.7, 10.0.0.1"),
                None
            ),
            ip("198.51.100.7")
        );
        assert_eq!(
            t.client_ip(ip("10.0.0.2"), Some("10.0.0.5, 10.0.0.1"), None),
            ip("10.0.0.5")
        );
        assert_eq!(
            t.client_ip(ip("10.0.0.2"), None, Some(" 198.51.100.7 ")),
            ip("198.51.100.7")
        );
        assert_eq!(
            t.client_ip(ip("10.0.0.2"), Some("garbage"), None),
            ip("10.0.0.2")
        );
        let lo = TrustedProxies::default().with_loopback();
        assert_eq!(
            lo.client_ip(ip("127.0.0.1"), Some("198.51.100.7"), None),
            ip("198.51.100.7")
        );
        assert_eq!(
            lo.client_ip(ip("::1"), Some("2001:db8::1"), None),
            ip("2001:db8::1")
        );
    }
}
