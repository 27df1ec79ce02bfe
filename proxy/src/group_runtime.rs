//! `GroupRuntime`: everything the data plane knows about one standard group in a routing
//! snapshot (its keys, upstreams, proxy keys, effective settings, rewrite rules and rate
//! limits). Aggregates (`aggregate_routing`) pick among these; `routing_snapshot` builds them.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use gateway_core::ChannelType;
use gateway_core::settings_catalogue::EffectiveConfig;

use crate::client_auth::ProxyKeySet;
use crate::key_ring::KeyRing;
use crate::rate_limit::{RateLimits, Usage};
use crate::request_rewrite::RewriteRules;
use crate::upstream_selection::{EjectionPolicy, UpstreamTable};

/// Everything the data plane knows about one group.
#[derive(Debug)]
pub struct GroupRuntime {
    /// Database id.
    pub id: i64,
    /// Name used in `/proxy/{name}`.
    pub name: String,
    /// Provider API.
    pub channel: ChannelType,
    /// Weighted upstreams.
    pub upstreams: UpstreamTable,
    /// Active keys in rotation.
    pub keys: KeyRing,
    /// Proxy keys that may call the group (its own and the global ones).
    pub proxy_keys: ProxyKeySet,
    /// System settings with the group's overrides.
    pub config: EffectiveConfig,
    /// The settings the attempts use, as durations and counts.
    pub attempts: AttemptSettings,
    /// Body, model and header rewriting of forwarded requests.
    pub rewrite: RewriteRules,
    /// False when a person switched the group off: its requests get 503, aggregates skip it.
    pub enabled: bool,
    /// Rate limits of the group and of each of its keys (from `config`).
    pub limits: RateLimits,
    /// What the group used against its own limits (carried across rebuilds by group id).
    pub usage: Arc<Usage>,
}

impl GroupRuntime {
    /// True unless the group's own rate limit has no room at `now_ns` (`rate_limit::now_ns`).
    pub fn has_rate_room(&self, now_ns: u64) -> bool {
        self.limits.group.is_off() || self.usage.room(self.limits.group, now_ns).is_ok()
    }
}

/// A group's settings as its attempts use them, decided once when the snapshot is built.
///
/// Every timeout setting is validated to be at least 1 s; a smaller stored value (only possible
/// in a database edited by hand) counts as 1 s, never as "no timeout". A negative count counts
/// as 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttemptSettings {
    /// `request_timeout`: the total time of a non-streaming request.
    pub request_timeout: Duration,
    /// `connect_timeout`: connecting to an upstream (TCP, TLS, an outbound proxy).
    pub connect_timeout: Duration,
    /// `idle_conn_timeout`: how long an idle pooled upstream connection is kept.
    pub idle_conn_timeout: Duration,
    /// `response_header_timeout`: the wait for an upstream's response header.
    pub response_header_timeout: Duration,
    /// `stream_idle_timeout`: the longest silence between stream chunks.
    pub stream_idle_timeout: Duration,
    /// `key_cooldown_seconds`: how long a key rests after a 429 without `Retry-After`.
    pub key_cooldown: Duration,
    /// The first attempt and `max_retries` more.
    pub max_attempts: NonZeroU32,
    /// `blacklist_threshold`: consecutive key failures before blacklisting (0 = never).
    pub blacklist_threshold: u32,
    /// `upstream_failure_threshold` and `upstream_ejection_seconds`.
    pub ejection: EjectionPolicy,
}

impl AttemptSettings {
    /// The attempt settings of an effective configuration.
    pub fn of(cfg: &EffectiveConfig) -> Self {
        Self {
            request_timeout: seconds(cfg.request_timeout),
            connect_timeout: seconds(cfg.connect_timeout),
            idle_conn_timeout: seconds(cfg.idle_conn_timeout),
            response_header_timeout: seconds(cfg.response_header_timeout),
            stream_idle_timeout: seconds(cfg.stream_idle_timeout),
            key_cooldown: seconds(cfg.key_cooldown_seconds),
            max_attempts: NonZeroU32::MIN.saturating_add(count(cfg.max_retries)),
            blacklist_threshold: count(cfg.blacklist_threshold),
            ejection: EjectionPolicy {
                threshold: count(cfg.upstream_failure_threshold),
                base_ms: seconds(cfg.upstream_ejection_seconds)
                    .as_millis()
                    .try_into()
                    .unwrap_or(u64::MAX),
            },
        }
    }
}

/// A setting in seconds as a duration: at least 1 s (see [`AttemptSettings`]).
fn seconds(s: i64) -> Duration {
    Duration::from_secs(u64::try_from(s.max(1)).unwrap_or(1))
}

/// A count setting: 0 for a negative value, `u32::MAX` at most.
fn count(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_core::settings_catalogue::{GroupConfig, SystemSettings};

    fn defaults() -> EffectiveConfig {
        SystemSettings::default().effective(&GroupConfig::default())
    }

    #[test]
    fn settings_become_durations_and_counts_once() {
        let s = AttemptSettings::of(&defaults());
        assert_eq!(s.request_timeout, Duration::from_secs(600));
        assert_eq!(
            s.max_attempts.get(),
            4,
            "max_retries 3: the first attempt and 3 more"
        );
        let mut cfg = defaults();
        cfg.max_retries = 0;
        cfg.upstream_ejection_seconds = 30;
        cfg.upstream_failure_threshold = 5;
        let s = AttemptSettings::of(&cfg);
        assert_eq!(s.max_attempts.get(), 1);
        assert_eq!(
            s.ejection,
            EjectionPolicy {
                threshold: 5,
                base_ms: 30_000
            }
        );
    }

    #[test]
    fn out_of_range_values_have_one_documented_meaning() {
        let mut cfg = defaults();
        cfg.request_timeout = 0;
        cfg.stream_idle_timeout = -3;
        cfg.max_retries = -1;
        cfg.blacklist_threshold = -1;
        cfg.max_retries = i64::MAX;
        let s = AttemptSettings::of(&cfg);
        assert_eq!(
            s.request_timeout,
            Duration::from_secs(1),
            "0 s is 1 s, not no timeout"
        );
        assert_eq!(s.stream_idle_timeout, Duration::from_secs(1));
        assert_eq!(s.blacklist_threshold, 0, "negative is never");
        assert_eq!(s.max_attempts.get(), u32::MAX);
        cfg.max_retries = -1;
        assert_eq!(AttemptSettings::of(&cfg).max_attempts.get(), 1);
    }
}
