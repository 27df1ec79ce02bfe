//! Asynchronous host name resolution with a small TTL cache. Pingora's `HttpPeer::new` with a
//! host name would resolve with blocking `getaddrinfo` on the worker thread and panic on failure.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

/// How long a resolved address is used before it is looked up again.
const TTL: Duration = Duration::from_secs(60);

/// Resolved addresses by `(host, port)`; copy-on-write so readers never lock.
#[derive(Default)]
pub struct DnsCache {
    entries: ArcSwap<HashMap<(String, u16), (SocketAddr, Instant)>>,
}

impl DnsCache {
    /// One address for `host:port`. IP literals are returned as they are; names come from the
    /// cache while fresh, otherwise from the resolver (a stale entry is used when the lookup fails).
    pub async fn resolve(&self, host: &str, port: u16) -> std::io::Result<SocketAddr> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, port));
        }
        let now = Instant::now();
        let cached = self.entries.load().get(&(host.to_owned(), port)).copied();
        if let Some((addr, at)) = cached
            && now.duration_since(at) < TTL
        {
            return Ok(addr);
        }
        match tokio::net::lookup_host((host, port))
            .await
            .map(|mut it| it.next())
        {
            Ok(Some(addr)) => {
                let key = (host.to_owned(), port);
                self.entries.rcu(|old| {
                    let mut map = HashMap::clone(old);
                    map.retain(|_, (_, at)| now.duration_since(*at) < TTL * 10);
                    map.insert(key.clone(), (addr, now));
                    Arc::new(map)
                });
                Ok(addr)
            }
            Ok(None) => cached.map(|(a, _)| a).ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("no address found for {host}"),
                )
            }),
            Err(e) => cached.map(|(a, _)| a).ok_or(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn literals_and_localhost() {
        let c = DnsCache::default();
        assert_eq!(
            c.resolve("127.0.0.1", 80).await.unwrap(),
            "127.0.0.1:80".parse().unwrap()
        );
        assert_eq!(
            c.resolve("::1", 81).await.unwrap(),
            "[::1]:81".parse().unwrap()
        );
        let a = c.resolve("localhost", 82).await.unwrap();
        assert!(a.ip().is_loopback());
        assert!(c.entries.load().contains_key(&("localhost".to_owned(), 82)));
        assert!(c.resolve("no-such-host.invalid", 80).await.is_err());
    }
}
