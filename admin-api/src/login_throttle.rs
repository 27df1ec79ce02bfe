//! Throttling of wrong `AUTH_KEY`s per client address: after `MAX_FAILURES` failures within a
//! window, the address gets 429 with `Retry-After` until the window ends, whatever key it sends.
//! A success clears the address. Local to the process (cluster-wide with Redis: the cluster issue).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
}

impl LoginThrottle {
    /// `Some(wait)` while `ip` is locked out.
    pub fn locked(&self, ip: IpAddr) -> Option<Duration> {
        self.locked_at(ip, Instant::now())
    }

    /// Notes a wrong key from `ip`.
    pub fn failed(&self, ip: IpAddr) {
        self.failed_at(ip, Instant::now());
    }

    /// Forgets `ip`'s failures (it presented the right key).
    pub fn succeeded(&self, ip: IpAddr) {
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
        t.succeeded(a);
        assert!(t.failures.lock().unwrap().is_empty());
    }
}
