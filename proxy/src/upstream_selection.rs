//! A group's upstreams and the smooth weighted round robin over them (nginx's algorithm),
//! precomputed into a sequence at snapshot build so a pick is one atomic increment.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Longest precomputed sequence; larger weight sums are scaled down proportionally.
const MAX_SEQUENCE: u64 = 4096;

/// One upstream base URL of a group, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// The URL as configured (for logs and errors; never carries a key).
    pub url: String,
    /// `https` → TLS with SNI and certificate verification.
    pub tls: bool,
    /// Host name or IP literal.
    pub host: String,
    /// Port (default 80/443).
    pub port: u16,
    /// Base path without a trailing `/` (may be empty).
    pub base_path: String,
    /// `Host` header value (`host` or `host:port` for a non-default port).
    pub host_header: String,
    /// Relative weight (> 0).
    pub weight: u32,
}

/// Why an upstream URL was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid upstream URL {url:?}: {reason}")]
pub struct UpstreamUrlError {
    url: String,
    reason: &'static str,
}

impl Upstream {
    /// Parses an `http://` or `https://` base URL. Its own query string is ignored, as in GPT-Load.
    pub fn parse(raw: &str, weight: u32) -> Result<Self, UpstreamUrlError> {
        let err = |reason| UpstreamUrlError {
            url: raw.to_owned(),
            reason,
        };
        let url = url::Url::parse(raw.trim()).map_err(|_| err("not a URL"))?;
        let tls = match url.scheme() {
            "https" => true,
            "http" => false,
            _ => return Err(err("scheme must be http or https")),
        };
        let host = match url.host() {
            Some(url::Host::Domain(d)) => d.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => return Err(err("missing host")),
        };
        let port = url
            .port_or_known_default()
            .ok_or_else(|| err("missing port"))?;
        let default_port = if tls { 443 } else { 80 };
        let host_literal = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        let host_header = if port == default_port {
            host_literal
        } else {
            format!("{host_literal}:{port}")
        };
        Ok(Self {
            url: raw.trim().to_owned(),
            tls,
            host,
            port,
            base_path: url.path().trim_end_matches('/').to_owned(),
            host_header,
            weight,
        })
    }
}

/// The upstreams of a group with weight > 0 and their pick order.
#[derive(Debug, Default)]
pub struct UpstreamTable {
    upstreams: Vec<Arc<Upstream>>,
    sequence: Vec<u16>,
    cursor: AtomicUsize,
}

impl UpstreamTable {
    /// Builds the table; upstreams with weight 0 are left out (weight 0 = off).
    pub fn new(upstreams: Vec<Upstream>) -> Self {
        let upstreams: Vec<Arc<Upstream>> = upstreams
            .into_iter()
            .filter(|u| u.weight > 0)
            .map(Arc::new)
            .collect();
        let sequence = smooth_sequence(&upstreams.iter().map(|u| u.weight).collect::<Vec<_>>());
        Self {
            upstreams,
            sequence,
            cursor: AtomicUsize::new(0),
        }
    }

    /// The next upstream in weighted order; `None` when the group has none enabled.
    pub fn pick(&self) -> Option<&Arc<Upstream>> {
        if self.sequence.is_empty() {
            return None;
        }
        let i = self.cursor.fetch_add(1, Ordering::Relaxed) % self.sequence.len();
        self.upstreams.get(usize::from(self.sequence[i]))
    }
}

/// nginx's smooth weighted round robin, run once over a full cycle: each index appears in
/// proportion to its weight and heavy upstreams are interleaved, not bunched.
fn smooth_sequence(weights: &[u32]) -> Vec<u16> {
    let g = weights.iter().copied().fold(0, gcd).max(1);
    let mut w: Vec<u64> = weights.iter().map(|&x| u64::from(x / g)).collect();
    let total: u64 = w.iter().sum();
    if total > MAX_SEQUENCE {
        w = w
            .iter()
            .map(|&x| (x * MAX_SEQUENCE / total).max(1))
            .collect();
    }
    let total: i64 = w.iter().map(|&x| x as i64).sum();
    let mut current = vec![0_i64; w.len()];
    let mut out = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for _ in 0..total {
        let mut best = 0;
        for (i, weight) in w.iter().enumerate() {
            current[i] += *weight as i64;
            if current[i] > current[best] {
                best = i;
            }
        }
        current[best] -= total;
        out.push(u16::try_from(best).unwrap_or(0));
    }
    out
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(url: &str, weight: u32) -> Upstream {
        Upstream::parse(url, weight).unwrap()
    }

    #[test]
    fn parses_base_urls() {
        let u = up("https://api.openai.com/", 1);
        assert!(u.tls);
        assert_eq!(
            (
                u.host.as_str(),
                u.port,
                u.base_path.as_str(),
                u.host_header.as_str()
            ),
            ("api.openai.com", 443, "", "api.openai.com")
        );
        let u = up("http://127.0.0.1:8080/prefix/v1/", 1);
        assert_eq!(
            (u.port, u.base_path.as_str(), u.host_header.as_str()),
            (8080, "/prefix/v1", "127.0.0.1:8080")
        );
        assert!(Upstream::parse("ftp://x", 1).is_err());
        assert!(Upstream::parse("nope", 1).is_err());
    }

    #[test]
    fn smooth_and_proportional() {
        assert_eq!(smooth_sequence(&[5, 1, 1]), [0, 0, 1, 0, 2, 0, 0]);
        assert_eq!(smooth_sequence(&[2, 2]), [0, 1]);
        let t = UpstreamTable::new(vec![
            up("http://a", 3),
            up("http://b", 1),
            up("http://c", 0),
        ]);
        let mut a = 0;
        for _ in 0..1000 {
            if t.pick().unwrap().host == "a" {
                a += 1;
            }
        }
        assert_eq!(a, 750);
        assert!(UpstreamTable::new(vec![up("http://a", 0)]).pick().is_none());
    }

    #[test]
    fn huge_weights_are_scaled() {
        let s = smooth_sequence(&[100_000, 1]);
        assert!(s.len() as u64 <= MAX_SEQUENCE + 1);
        assert!(s.contains(&1));
    }
}
