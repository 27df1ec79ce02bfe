//! Throttling of wrong `AUTH_KEY`s per client address: after `MAX_FAILURES` failures within a
//! window, the address gets 429 with `Retry-After` until the window ends, whatever key it sends.
//! A success clears the address. With `REDIS_DSN` the count is shared by every node (a Redis
//! counter per address that expires with the window); while Redis is away each node counts
//! locally.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use gateway_cluster::ClusterLink;

/// The Redis counter of `ip`'s wrong keys.
fn counter_name(ip: IpAddr) -> String {
    format!("login-failures:{ip}")
}

/// Failures allowed per window before the address is locked out.
pub const MAX_FAILURES: u32 = 5;
/// Length of the window (and of the lock-out).
pub const WINDOW: Duration = Duration::from_secs(60);
/// Addresses tracked at most; beyond it, expired entries are dropped, then the oldest.
const MAX_TRACKED: usize = 10_000;

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    since: Instant,
}

/// Failed logins per client address.
#[derive(Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<IpAddr, Failures>>,
    /// The cluster's Redis, when there is one.
    cluster: Option<ClusterLink>,
}

impl LoginThrottle {
    /// A throttle shared through `cluster` (local to this process without it).
    pub fn new(cluster: Option<ClusterLink>) -> Self {
        Self {
            failures: Mutex::default(),
            cluster,
        }
    }

    /// `Some(wait)` while `ip` is locked out.
    pub async fn locked(&self, ip: IpAddr) -> Option<Duration> {
        if let Some(link) = &self.cluster
            && let Ok(counter) = link.counter(&counter_name(ip)).await
        {
            return counter.and_then(|(count, left_ms)| {
                (count >= u64::from(MAX_FAILURES) && left_ms > 0)
                    .then(|| Duration::from_millis(left_ms))
            });
        }
        self.locked_at(ip, Instant::now())
    }

    /// Notes a wrong key from `ip`.
    pub async fn failed(&self, ip: IpAddr) {
        self.failed_at(ip, Instant::now());
        if let Some(link) = &self.cluster {
            let _ = link.count_in_window(&counter_name(ip), WINDOW).await;
        }
    }

    /// Forgets `ip`'s failures (it presented the right key).
    pub async fn succeeded(&self, ip: IpAddr) {
        self.forget(ip);
        if let Some(link) = &self.cluster {
            let _ = link.clear(&counter_name(ip)).await;
        }
    }

    fn forget(&self, ip: IpAddr) {
        let mut map = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.remove(&ip);
    }

    fn locked_at(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let map = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let f = map.get(&ip)?;
        let ends = f.since + WINDOW;
        (f.count >= MAX_FAILURES && now < ends).then(|| ends - now)
    }

    fn failed_at(&self, ip: IpAddr, now: Instant) {
        let mut map = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= MAX_TRACKED && !map.contains_key(&ip) {
            map.retain(|_, f| now < f.since + WINDOW);
            if map.len() >= MAX_TRACKED
                && let Some(oldest) = map.iter().min_by_key(|(_, f)| f.since).map(|(k, _)| *k)
            {
                map.remove(&oldest);
            }
        }
        let f = map.entry(ip).or_insert(Failures {
            count: 0,
            since: now,
        });
        if now >= f.since + WINDOW {
            *f = Failures {
                count: 0,
                since: now,
            };
        }
        f.count += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_out_after_the_failures_of_one_window_and_per_address() {
        let t = LoginThrottle::default();
        let a: IpAddr = "198.51.100.1".parse().unwrap();
        let b: IpAddr = "198.51.100.2".parse().unwrap();
        let start = Instant::now();
        for _ in 0..MAX_FAILURES - 1 {
            t.failed_at(a, start);
        }
        assert_eq!(t.locked_at(a, start), None);
        t.failed_at(a, start);
        let wait = t.locked_at(a, start + Duration::from_secs(10)).unwrap();
        assert_eq!(wait, WINDOW - Duration::from_secs(10));
        assert_eq!(
            t.locked_at(b, start),
            None,
            "other addresses are not affected"
        );
        assert_eq!(
            t.locked_at(a, start + WINDOW),
            None,
            "the lock ends with the window"
        );
        t.failed_at(a, start + WINDOW);
        assert_eq!(
            t.locked_at(a, start + WINDOW),
            None,
            "a new window starts from one"
        );
        t.forget(a);
        assert!(t.failures.lock().unwrap().is_empty());
    }
}
