//! Blame: what one answer means for the key that made it and the upstream that gave it. The
//! key policy (`gateway_core::key_policy`) names the fault; here it becomes key health (counted
//! failure, blacklisting, cool-down; changes queued for saving) and upstream health (ejection
//! after consecutive failures), with the metrics and log lines that say so.

use std::sync::Arc;

use gateway_core::key_policy::Fault;

use super::path::ProxyPath;
use crate::group_runtime::{AttemptSettings, GroupRuntime};
use crate::key_ring::{KeyFailure, PoolKey};
use crate::metrics::KeyEvent;
use crate::upstream_selection::Upstream;

/// What a fault does to the key's health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyAction {
    /// The key served: its failure count starts over.
    Success,
    /// Not the key's doing (the client, the upstream, or nobody to blame).
    Nothing,
    /// One more consecutive failure; blacklisted at `threshold` (0 = never).
    CountFailure { threshold: u32 },
    /// Out of quota with blacklisting on: out of rotation until validated or restored.
    MarkInvalid,
    /// Resting until `until_ms`: out of quota with blacklisting off, or rate limited.
    CoolUntil { until_ms: u64, rate_limited: bool },
}

/// The key's side of `fault`, under the group's settings, at `now` (ms).
fn key_action(fault: Fault, settings: &AttemptSettings, now: u64) -> KeyAction {
    match fault {
        Fault::None => KeyAction::Success,
        Fault::Client | Fault::Unattributed | Fault::Upstream => KeyAction::Nothing,
        Fault::Key => KeyAction::CountFailure {
            threshold: settings.blacklist_threshold,
        },
        Fault::KeyExhausted if settings.blacklist_threshold > 0 => KeyAction::MarkInvalid,
        Fault::KeyExhausted => KeyAction::CoolUntil {
            until_ms: now.saturating_add(
                u64::try_from(settings.key_cooldown.as_millis()).unwrap_or(u64::MAX),
            ),
            rate_limited: false,
        },
        Fault::KeyCooling { until_ms } => KeyAction::CoolUntil {
            until_ms,
            rate_limited: true,
        },
    }
}

impl ProxyPath {
    /// Records who was at fault for one answer: key health (queued for saving when it changed)
    /// and upstream health. `Fault::None` is a success for both.
    pub(super) fn blame(
        &self,
        group: &GroupRuntime,
        key: &Arc<PoolKey>,
        upstream: &Upstream,
        fault: Fault,
        now: u64,
    ) {
        let changed = self.apply_to_key(group, key, key_action(fault, &group.attempts, now), now);
        if fault == Fault::Upstream {
            self.upstream_failed(group, upstream, now);
        } else {
            upstream.health.record_success();
        }
        if changed {
            self.journal.note(group.id, key.id, &key.health);
        }
    }

    /// Applies `action` to the key's health; true when the health changed (to be saved).
    fn apply_to_key(
        &self,
        group: &GroupRuntime,
        key: &PoolKey,
        action: KeyAction,
        now: u64,
    ) -> bool {
        let metrics = &self.observe.metrics;
        match action {
            KeyAction::Success => key.health.record_success(),
            KeyAction::Nothing => false,
            KeyAction::CountFailure { threshold } => match key.health.record_failure(threshold) {
                KeyFailure::Blacklisted(n) => {
                    tracing::warn!(group = %group.name, key_id = key.id, "key marked invalid after {n} consecutive failures; out of rotation until validated or restored");
                    metrics.key_event(&group.name, KeyEvent::Blacklisted);
                    true
                }
                KeyFailure::Counted(_) => true,
                KeyFailure::AlreadyInvalid => false,
            },
            KeyAction::MarkInvalid => {
                let first = key.health.mark_invalid();
                if first {
                    tracing::warn!(group = %group.name, key_id = key.id, "key has no quota or credit left; out of rotation until validated or restored");
                    metrics.key_event(&group.name, KeyEvent::Blacklisted);
                }
                first
            }
            KeyAction::CoolUntil {
                until_ms,
                rate_limited,
            } => {
                let cooled = key.health.cool_until(until_ms);
                if cooled {
                    if rate_limited {
                        tracing::info!(group = %group.name, key_id = key.id, "key rate limited; cooling for {} s", until_ms.saturating_sub(now).div_ceil(1000));
                    }
                    metrics.key_event(&group.name, KeyEvent::Cooling);
                }
                cooled
            }
        }
    }

    /// Counts an upstream failure; at the group's threshold the upstream is ejected (the
    /// period doubling with each further ejection), and the ejection is shared.
    fn upstream_failed(&self, group: &GroupRuntime, upstream: &Upstream, now: u64) {
        let policy = group.attempts.ejection;
        if let Some(period) = upstream.health.record_failure(policy, now) {
            tracing::warn!(group = %group.name, upstream = %upstream.url, "upstream ejected for {} s after consecutive failures", period / 1000);
            self.observe.metrics.ejection(&group.name);
            self.journal
                .note_ejection(group.id, &upstream.url, now.saturating_add(period));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(blacklist_threshold: i64, key_cooldown_seconds: i64) -> AttemptSettings {
        let mut cfg = gateway_core::settings_catalogue::SystemSettings::default()
            .effective(&gateway_core::settings_catalogue::GroupConfig::default());
        cfg.blacklist_threshold = blacklist_threshold;
        cfg.key_cooldown_seconds = key_cooldown_seconds;
        AttemptSettings::of(&cfg)
    }

    #[test]
    fn each_fault_has_its_effect_on_the_key() {
        let cfg = config(3, 60);
        assert_eq!(key_action(Fault::None, &cfg, 0), KeyAction::Success);
        for fault in [Fault::Client, Fault::Unattributed, Fault::Upstream] {
            assert_eq!(key_action(fault, &cfg, 0), KeyAction::Nothing, "{fault:?}");
        }
        assert_eq!(
            key_action(Fault::Key, &cfg, 0),
            KeyAction::CountFailure { threshold: 3 }
        );
        assert_eq!(
            key_action(Fault::KeyCooling { until_ms: 9_000 }, &cfg, 1_000),
            KeyAction::CoolUntil {
                until_ms: 9_000,
                rate_limited: true
            }
        );
    }

    #[test]
    fn an_exhausted_key_is_blacklisted_only_when_blacklisting_is_on() {
        assert_eq!(
            key_action(Fault::KeyExhausted, &config(3, 60), 0),
            KeyAction::MarkInvalid
        );
        assert_eq!(
            key_action(Fault::KeyExhausted, &config(0, 60), 1_000),
            KeyAction::CoolUntil {
                until_ms: 61_000,
                rate_limited: false
            }
        );
        // Blacklisting off counts failures without ever blacklisting; a negative threshold is 0.
        assert_eq!(
            key_action(Fault::Key, &config(-1, 60), 0),
            KeyAction::CountFailure { threshold: 0 }
        );
    }
}
