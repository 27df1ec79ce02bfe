//! Rate limits of groups and keys (`group_rpm_limit`, `group_tpm_limit`, `key_rpm_limit`,
//! `key_tpm_limit`): a bucket that holds one minute's allowance and refills continuously, the way
//! providers enforce theirs. Each bucket is one atomic (GCRA: the "theoretical arrival time"), so
//! admitting a request is a compare-and-swap, never a lock. Usage lives across snapshot rebuilds
//! (carried over by group and key id, like key health) and, in a cluster, reaches the other nodes
//! through `cluster_sync`, which charges it to their buckets.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use gateway_core::settings_catalogue::EffectiveConfig;

/// The period every limit is expressed in: one minute, in nanoseconds.
const PERIOD_NS: u64 = 60_000_000_000;

/// Now on a monotonic clock, in nanoseconds since the process's first call. Buckets are local to
/// the process (other nodes send counts, never times), so wall-clock jumps cannot move them.
pub fn now_ns() -> u64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    let origin = ORIGIN.get_or_init(Instant::now);
    // Offset by one period so that "a minute before the origin" is still a valid time.
    u64::try_from(origin.elapsed().as_nanos())
        .unwrap_or(u64::MAX)
        .saturating_add(PERIOD_NS)
}

/// One limit: an allowance of `limit` units per minute (0 = none).
#[derive(Debug, Default)]
pub struct Bucket {
    /// When the bucket would be empty again if nothing more were taken (GCRA's theoretical
    /// arrival time), on [`now_ns`]'s clock. Room is left while it is less than a period ahead.
    tat: AtomicU64,
}

impl Bucket {
    /// Takes `n` units when they fit at `now`. `Err` holds how long until they would.
    pub fn take(&self, limit: u64, n: u64, now: u64) -> Result<(), Duration> {
        if limit == 0 {
            return Ok(());
        }
        let cost = n.saturating_mul(unit_ns(limit));
        let mut tat = self.tat.load(Ordering::Acquire);
        loop {
            let next = tat.max(now).saturating_add(cost);
            if next > now.saturating_add(PERIOD_NS) {
                return Err(Duration::from_nanos(next - PERIOD_NS - now));
            }
            match self
                .tat
                .compare_exchange_weak(tat, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Ok(()),
                Err(seen) => tat = seen,
            }
        }
    }

    /// Charges `n` units already used (tokens, known only after the answer, or what another
    /// node admitted), even beyond the allowance: the bucket then stays shut until it refills.
    pub fn charge(&self, limit: u64, n: u64, now: u64) {
        if limit == 0 || n == 0 {
            return;
        }
        let cost = n.saturating_mul(unit_ns(limit));
        let _ = self
            .tat
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |tat| {
                // Never more than ten minutes of debt: a wrong limit that was corrected later
                // cannot shut the bucket for long.
                Some(
                    tat.max(now)
                        .saturating_add(cost)
                        .min(now.saturating_add(10 * PERIOD_NS)),
                )
            });
    }

    /// Gives back `n` units taken for a request that was never sent.
    pub fn give_back(&self, limit: u64, n: u64) {
        if limit == 0 {
            return;
        }
        let cost = n.saturating_mul(unit_ns(limit));
        let _ = self
            .tat
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |tat| {
                Some(tat.saturating_sub(cost))
            });
    }

    /// `Ok` when one unit would fit at `now` (nothing is taken); else how long until it would.
    pub fn room(&self, limit: u64, now: u64) -> Result<(), Duration> {
        if limit == 0 {
            return Ok(());
        }
        let next = self
            .tat
            .load(Ordering::Acquire)
            .max(now)
            .saturating_add(unit_ns(limit));
        match next.checked_sub(now.saturating_add(PERIOD_NS)) {
            Some(wait) if wait > 0 => Err(Duration::from_nanos(wait)),
            _ => Ok(()),
        }
    }
}

/// Nanoseconds one unit of a `limit` per minute stands for (at least 1).
fn unit_ns(limit: u64) -> u64 {
    (PERIOD_NS / limit).max(1)
}

/// The requests and tokens a group or a key used, with what the other nodes of a cluster have
/// not heard of yet.
#[derive(Debug, Default)]
pub struct Usage {
    requests: Bucket,
    tokens: Bucket,
    unsent_requests: AtomicU64,
    unsent_tokens: AtomicU64,
    /// Set while waiting in the cluster outbox (so it is queued once per publication).
    pub(crate) queued: AtomicBool,
}

/// The limits of one scope (a group, or each key of a group), per minute; 0 = none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Requests per minute.
    pub rpm: u64,
    /// Tokens per minute.
    pub tpm: u64,
}

impl Limits {
    /// True when neither limit is set.
    pub fn is_off(self) -> bool {
        self.rpm == 0 && self.tpm == 0
    }
}

/// A group's rate limits as the data plane applies them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimits {
    /// The group as a whole.
    pub group: Limits,
    /// Each key of the group.
    pub key: Limits,
    /// Longest a request waits for room before it is answered 429.
    pub max_wait: Duration,
}

impl RateLimits {
    /// The limits in a group's effective configuration.
    pub fn of(config: &EffectiveConfig) -> Self {
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        Self {
            group: Limits {
                rpm: n(config.group_rpm_limit),
                tpm: n(config.group_tpm_limit),
            },
            key: Limits {
                rpm: n(config.key_rpm_limit),
                tpm: n(config.key_tpm_limit),
            },
            max_wait: Duration::from_secs(n(config.rate_limit_max_wait_seconds)),
        }
    }
}

/// Which limit stopped a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateScope {
    /// The group's own (`group_rpm_limit`, `group_tpm_limit`).
    Group,
    /// Every usable key's (`key_rpm_limit`, `key_tpm_limit`).
    Key,
}

impl RateScope {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            RateScope::Group => "group",
            RateScope::Key => "key",
        }
    }
}

/// What a node reports of a scope's use since its last report: `(requests, tokens)`.
pub type Unsent = (u64, u64);

impl Usage {
    /// Admits one request under `limits` at `now`: the request is counted when there is room
    /// for it and some of the token allowance is left. `Err` holds how long until there is.
    pub fn admit(&self, limits: Limits, now: u64) -> Result<(), Duration> {
        self.tokens.room(limits.tpm, now)?;
        self.requests.take(limits.rpm, 1, now)?;
        if limits.rpm > 0 {
            self.unsent_requests.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// `Ok` when a request could be admitted at `now` (nothing is counted); else how long until
    /// one could.
    pub fn room(&self, limits: Limits, now: u64) -> Result<(), Duration> {
        let tokens = self.tokens.room(limits.tpm, now);
        let requests = self.requests.room(limits.rpm, now);
        match (tokens, requests) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(a), Err(b)) => Err(a.max(b)),
            (Err(a), Ok(())) | (Ok(()), Err(a)) => Err(a),
        }
    }

    /// Gives back a request admitted but never sent.
    pub fn give_back(&self, limits: Limits) {
        if limits.rpm > 0 {
            self.requests.give_back(limits.rpm, 1);
            let _ = self
                .unsent_requests
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    Some(n.saturating_sub(1))
                });
        }
    }

    /// Charges the tokens an answer reported.
    pub fn charge_tokens(&self, limits: Limits, tokens: u64, now: u64) {
        if limits.tpm > 0 && tokens > 0 {
            self.tokens.charge(limits.tpm, tokens, now);
            self.unsent_tokens.fetch_add(tokens, Ordering::Relaxed);
        }
    }

    /// Charges what another node of the cluster used.
    pub fn charge_remote(&self, limits: Limits, (requests, tokens): Unsent, now: u64) {
        self.requests.charge(limits.rpm, requests, now);
        self.tokens.charge(limits.tpm, tokens, now);
    }

    /// True when some use was not reported to the other nodes yet.
    pub fn has_unsent(&self) -> bool {
        self.unsent_requests.load(Ordering::Relaxed) > 0
            || self.unsent_tokens.load(Ordering::Relaxed) > 0
    }

    /// The use not reported yet, which then counts as reported.
    pub fn take_unsent(&self) -> Unsent {
        (
            self.unsent_requests.swap(0, Ordering::AcqRel),
            self.unsent_tokens.swap(0, Ordering::AcqRel),
        )
    }
}

/// The usage of a scope carried over from the previous snapshot, or a fresh one.
pub fn carried(previous: Option<&Arc<Usage>>) -> Arc<Usage> {
    previous.map_or_else(Arc::default, Arc::clone)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn a_minute_of_requests_at_once_then_one_per_interval() {
        let b = Bucket::default();
        let now = 100 * S;
        for _ in 0..6 {
            assert_eq!(b.take(6, 1, now), Ok(()));
        }
        // the seventh must wait 10 s (60 s / 6)
        assert_eq!(b.take(6, 1, now), Err(Duration::from_secs(10)));
        assert_eq!(b.take(6, 1, now + 4 * S), Err(Duration::from_secs(6)));
        assert_eq!(b.take(6, 1, now + 10 * S), Ok(()));
        assert!(b.take(6, 1, now + 10 * S).is_err());
        // a quiet minute fills it up again, but never beyond a minute's allowance
        let later = now + 200 * S;
        assert_eq!((0..10).filter(|_| b.take(6, 1, later).is_ok()).count(), 6);
        // no limit admits everything
        assert!((0..1000).all(|_| b.take(0, 1, later).is_ok()));
    }

    #[test]
    fn charged_tokens_shut_the_bucket_until_they_refill() {
        let u = Usage::default();
        let limits = Limits { rpm: 0, tpm: 600 };
        let now = 100 * S;
        assert_eq!(u.admit(limits, now), Ok(()));
        u.charge_tokens(limits, 300, now);
        assert_eq!(u.admit(limits, now), Ok(()), "half the allowance left");
        u.charge_tokens(limits, 400, now);
        // 700 tokens used of 600 a minute: room again once 101 refilled (10.1 s)
        let wait = u.admit(limits, now).unwrap_err();
        assert_eq!(wait, Duration::from_millis(10_100));
        assert!(u.admit(limits, now + 10 * S).is_err());
        assert!(u.admit(limits, now + 11 * S).is_ok());
        assert_eq!(
            u.take_unsent(),
            (0, 700),
            "token use is reported, requests are not limited"
        );
        assert_eq!(u.take_unsent(), (0, 0));
    }

    #[test]
    fn remote_use_and_given_back_requests() {
        let u = Usage::default();
        let limits = Limits { rpm: 4, tpm: 0 };
        let now = 100 * S;
        u.charge_remote(limits, (3, 0), now);
        assert!(u.room(limits, now).is_ok());
        assert_eq!(u.admit(limits, now), Ok(()));
        assert_eq!(u.room(limits, now), Err(Duration::from_secs(15)));
        assert!(u.admit(limits, now).is_err());
        u.give_back(limits);
        assert!(!u.has_unsent(), "the given-back request is not reported");
        assert_eq!(u.admit(limits, now), Ok(()));
        assert_eq!(
            u.take_unsent(),
            (1, 0),
            "only this node's admission is reported"
        );
    }
}
