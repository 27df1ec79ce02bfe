//! A group's upstreams, the smooth weighted round robin over them (nginx's algorithm,
//! precomputed into a sequence at snapshot build so a pick is one atomic increment), and each
//! upstream's health: consecutive failures eject it for a back-off that doubles per ejection.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// The longest ejection is the first one times 2^5.
const MAX_EJECTION_DOUBLINGS: u32 = 5;

/// Longest precomputed sequence; larger weight sums are scaled down proportionally.
const MAX_SEQUENCE: u64 = 4096;

/// Runtime health of one upstream, carried across snapshot rebuilds by group and URL.
#[derive(Debug, Default)]
pub struct UpstreamHealth {
    consecutive_failures: AtomicU32,
    ejected_until_ms: AtomicU64,
    ejections: AtomicU32,
}

/// The ejection policy of a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EjectionPolicy {
    /// Consecutive failures that eject (0 = never).
    pub threshold: u32,
    /// The first ejection period, milliseconds.
    pub base_ms: u64,
}

impl UpstreamHealth {
    /// True when the upstream is not ejected at `now_ms`.
    pub fn is_available(&self, now_ms: u64) -> bool {
        self.ejected_until_ms.load(Ordering::Relaxed) <= now_ms
    }

    /// Another node of the cluster ejected this upstream until `until_ms` (the later deadline
    /// wins). True when that ejected it for longer.
    pub fn adopt_ejection(&self, until_ms: u64) -> bool {
        self.ejected_until_ms.fetch_max(until_ms, Ordering::AcqRel) < until_ms
    }

    /// A response came back: the upstream works; its failure count and back-off start over.
    pub fn record_success(&self) {
        if self.consecutive_failures.load(Ordering::Relaxed) != 0 {
            self.consecutive_failures.store(0, Ordering::Relaxed);
        }
        if self.ejections.load(Ordering::Relaxed) != 0 {
            self.ejections.store(0, Ordering::Relaxed);
        }
    }

    /// A failure charged to the upstream. Returns the ejection period in milliseconds when this
    /// failure ejected it. After an ejection one more failure ejects it again, for twice as long.
    pub fn record_failure(&self, policy: EjectionPolicy, now_ms: u64) -> Option<u64> {
        let n = self
            .consecutive_failures
            .fetch_add(1, Ordering::AcqRel)
            .saturating_add(1);
        if policy.threshold == 0 || n < policy.threshold || !self.is_available(now_ms) {
            return None;
        }
        let doublings = self
            .ejections
            .fetch_add(1, Ordering::AcqRel)
            .min(MAX_EJECTION_DOUBLINGS);
        let period = policy.base_ms.saturating_mul(1 << doublings);
        self.ejected_until_ms
            .store(now_ms.saturating_add(period), Ordering::Relaxed);
        self.consecutive_failures
            .store(policy.threshold - 1, Ordering::Relaxed);
        Some(period)
    }
}

/// One upstream base URL of a group, parsed.
#[derive(Debug, Clone)]
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
    /// Shared runtime health.
    pub health: Arc<UpstreamHealth>,
    /// The outbound proxy it is reached through (`None`: directly).
    pub route: Option<Arc<crate::outbound_route::ProxyRoute>>,
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
            health: Arc::default(),
            route: None,
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

    /// The next upstream in weighted order that is not ejected at `now_ms`; when every one is
    /// ejected, the next in order regardless (trying is better than failing for sure). `None`
    /// when the group has none enabled.
    pub fn pick(&self, now_ms: u64) -> Option<&Arc<Upstream>> {
        let n = self.sequence.len();
        if n == 0 {
            return None;
        }
        let start = self.cursor.fetch_add(1, Ordering::Relaxed);
        let at = |i: usize| self.upstreams.get(usize::from(self.sequence[i % n]));
        if self.upstreams.len() > 1 {
            for i in 0..n {
                if let Some(u) = at(start + i)
                    && u.health.is_available(now_ms)
                {
                    if i > 0 {
                        // keep the rotation moving past the ejected ones
                        self.cursor.fetch_add(i, Ordering::Relaxed);
                    }
                    return Some(u);
                }
            }
        }
        at(start)
    }

    /// The upstreams, for carrying health over to the next snapshot.
    pub fn upstreams(&self) -> &[Arc<Upstream>] {
        &self.upstreams
    }
}

/// nginx's smooth weighted round robin, run once over a full cycle: each index appears in
/// proportion to its weight and heavy upstreams are interleaved, not bunched.
pub(crate) fn smooth_sequence(weights: &[u32]) -> Vec<u16> {
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
            if t.pick(0).unwrap().host == "a" {
                a += 1;
            }
        }
        assert_eq!(a, 750);
        assert!(
            UpstreamTable::new(vec![up("http://a", 0)])
                .pick(0)
                .is_none()
        );
    }

    #[test]
    fn huge_weights_are_scaled() {
        let s = smooth_sequence(&[100_000, 1]);
        assert!(s.len() as u64 <= MAX_SEQUENCE + 1);
        assert!(s.contains(&1));
    }

    #[test]
    fn failing_upstream_is_ejected_with_doubling_backoff_and_skipped() {
        let policy = EjectionPolicy {
            threshold: 3,
            base_ms: 1_000,
        };
        let h = UpstreamHealth::default();
        assert_eq!(h.record_failure(policy, 0), None);
        assert_eq!(h.record_failure(policy, 0), None);
        assert_eq!(h.record_failure(policy, 0), Some(1_000));
        assert!(!h.is_available(500));
        // back after the period; one more failure ejects again, twice as long
        assert!(h.is_available(1_000));
        assert_eq!(h.record_failure(policy, 1_000), Some(2_000));
        assert_eq!(h.record_failure(policy, 3_000), Some(4_000));
        h.record_success();
        assert_eq!(
            h.record_failure(policy, 10_000),
            None,
            "a success starts over"
        );
        let never = EjectionPolicy {
            threshold: 0,
            base_ms: 1_000,
        };
        assert!((0..50).all(|_| h.record_failure(never, 20_000).is_none()));

        let t = UpstreamTable::new(vec![up("http://a", 1), up("http://b", 1)]);
        let a = &t.upstreams()[0];
        for _ in 0..3 {
            a.health.record_failure(policy, 0);
        }
        assert!((0..10).all(|_| t.pick(10).unwrap().host == "b"));
        assert!((0..10).any(|_| t.pick(5_000).unwrap().host == "a"));
        // every upstream ejected: still one to try
        let single = UpstreamTable::new(vec![up("http://a", 1)]);
        for _ in 0..3 {
            single.upstreams()[0].health.record_failure(policy, 0);
        }
        assert!(single.pick(10).is_some());
    }
}
