//! The key ring of a group: its active upstream keys in rotation, each with runtime health that
//! survives snapshot rebuilds (carried over by key id). Picking is lock-free: one atomic cursor.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use gateway_core::Secret;

use crate::rate_limit::Usage;

/// Runtime health of one key. Not configuration: it lives across snapshot rebuilds, and its
/// changes reach the database through the health writer (`key_health_writer`), never on the
/// request path. Every change bumps `version`; the writer records the version it saved, so a
/// rebuild knows whether the stored row or this memory is newer.
#[derive(Debug, Default)]
pub struct KeyHealth {
    consecutive_failures: AtomicU32,
    cooling_until_ms: AtomicU64,
    invalid: AtomicBool,
    version: AtomicU32,
    saved_version: AtomicU32,
    /// Set while the key waits in the writer's queue (so it is queued once).
    pub(crate) queued: AtomicBool,
}

/// What a failure charged to a key did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyFailure {
    /// Counted; the key stays in rotation. Holds the consecutive count.
    Counted(u32),
    /// The count reached the threshold: the key left rotation as `invalid`.
    Blacklisted(u32),
    /// The key was already invalid.
    AlreadyInvalid,
}

/// A key's health as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredHealth {
    /// Marked invalid.
    pub invalid: bool,
    /// Consecutive failures.
    pub failures: u32,
    /// End of a cool-down (0 = none), Unix milliseconds.
    pub cooling_until_ms: u64,
}

impl StoredHealth {
    /// The health of a key row (`failure_count`, `cooldown_until`), `invalid` when its status
    /// says so.
    pub fn from_row(
        invalid: bool,
        failure_count: i64,
        cooldown_until: Option<chrono::NaiveDateTime>,
    ) -> Self {
        Self {
            invalid,
            failures: u32::try_from(failure_count.max(0)).unwrap_or(u32::MAX),
            cooling_until_ms: cooldown_until
                .and_then(|t| u64::try_from(t.and_utc().timestamp_millis()).ok())
                .unwrap_or(0),
        }
    }
}

impl KeyHealth {
    /// Health as read from the database (`failure_count`, `cooldown_until`).
    pub fn from_stored(stored: StoredHealth) -> Self {
        let h = Self::default();
        h.restore(stored);
        h
    }

    /// True when the key may be used at `now_ms`.
    pub fn is_usable(&self, now_ms: u64) -> bool {
        !self.invalid.load(Ordering::Relaxed)
            && self.cooling_until_ms.load(Ordering::Relaxed) <= now_ms
    }

    /// End of the current cool-down (0 or past = not cooling), Unix milliseconds.
    pub fn cooling_until_ms(&self) -> u64 {
        self.cooling_until_ms.load(Ordering::Relaxed)
    }

    /// True once the key was blacklisted.
    pub fn is_invalid(&self) -> bool {
        self.invalid.load(Ordering::Relaxed)
    }

    /// A success resets the consecutive failures. True when that changed anything (the common
    /// case, a healthy key, costs one load and writes nothing).
    pub fn record_success(&self) -> bool {
        if self.consecutive_failures.load(Ordering::Relaxed) == 0 {
            return false;
        }
        self.consecutive_failures.store(0, Ordering::Relaxed);
        self.changed();
        true
    }

    /// A failure charged to the key; at `threshold` consecutive failures (0 = never) the key is
    /// blacklisted and leaves rotation at once.
    pub fn record_failure(&self, threshold: u32) -> KeyFailure {
        if self.is_invalid() {
            return KeyFailure::AlreadyInvalid;
        }
        let n = self
            .consecutive_failures
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        let outcome =
            if threshold > 0 && n >= threshold && !self.invalid.swap(true, Ordering::AcqRel) {
                KeyFailure::Blacklisted(n)
            } else {
                KeyFailure::Counted(n)
            };
        self.changed();
        outcome
    }

    /// Takes the key out of rotation until a validation or a person restores it. True when it
    /// was not invalid before.
    pub fn mark_invalid(&self) -> bool {
        let first = !self.invalid.swap(true, Ordering::AcqRel);
        if first {
            self.changed();
        }
        first
    }

    /// Rests the key until `until_ms`. True when that extended the cool-down.
    pub fn cool_until(&self, until_ms: u64) -> bool {
        let before = self.cooling_until_ms.fetch_max(until_ms, Ordering::AcqRel);
        let extended = until_ms > before;
        if extended {
            self.changed();
        }
        extended
    }

    /// Adopts the stored state, unless this memory holds a change not saved yet (then memory is
    /// newer). Used when a snapshot is rebuilt: a person may have restored the key meanwhile.
    pub fn adopt_stored(&self, stored: StoredHealth) {
        if self.version.load(Ordering::Acquire) == self.saved_version.load(Ordering::Acquire) {
            self.restore(stored);
        }
    }

    /// Takes on what another node of the cluster saw of this key: its blacklisting, its
    /// cool-down (the later one wins) and its consecutive failures (the latest report wins, so
    /// failures on different nodes add up toward the threshold). True when anything changed.
    pub fn adopt_remote(&self, remote: StoredHealth) -> bool {
        let mut changed = remote.invalid && !self.invalid.swap(true, Ordering::AcqRel);
        changed |= self
            .cooling_until_ms
            .fetch_max(remote.cooling_until_ms, Ordering::AcqRel)
            < remote.cooling_until_ms;
        changed |= self
            .consecutive_failures
            .swap(remote.failures, Ordering::AcqRel)
            != remote.failures;
        if changed {
            self.changed();
        }
        changed
    }

    /// The state to save and the version it belongs to (for [`KeyHealth::mark_saved`]).
    pub fn to_store(&self) -> (u32, StoredHealth) {
        let version = self.version.load(Ordering::Acquire);
        (
            version,
            StoredHealth {
                invalid: self.invalid.load(Ordering::Relaxed),
                failures: self.consecutive_failures.load(Ordering::Relaxed),
                cooling_until_ms: self.cooling_until_ms.load(Ordering::Relaxed),
            },
        )
    }

    /// Records that `version` reached the database.
    pub fn mark_saved(&self, version: u32) {
        self.saved_version.store(version, Ordering::Release);
    }

    fn restore(&self, stored: StoredHealth) {
        self.invalid.store(stored.invalid, Ordering::Relaxed);
        self.consecutive_failures
            .store(stored.failures, Ordering::Relaxed);
        self.cooling_until_ms
            .store(stored.cooling_until_ms, Ordering::Relaxed);
    }

    fn changed(&self) {
        self.version.fetch_add(1, Ordering::AcqRel);
    }
}

/// One upstream key of a group.
#[derive(Debug)]
pub struct PoolKey {
    /// Database id (stable identity for health and logs).
    pub id: i64,
    /// The plaintext key, exposed only when it is injected into the upstream request.
    pub value: Secret<String>,
    /// The key's lookup hash (as stored; names the key in request logs).
    pub hash: String,
    /// The key as stored when it is encrypted at rest (a reload re-opens only keys whose stored
    /// value changed); `None` when keys are stored in plaintext.
    pub sealed: Option<Box<str>>,
    /// Shared runtime health.
    pub health: Arc<KeyHealth>,
    /// Use against the group's per-key rate limits (`None` while the group sets none).
    pub usage: Option<Arc<Usage>>,
}

/// A group's keys in rotation order (by key id).
#[derive(Debug, Default)]
pub struct KeyRing {
    keys: Vec<Arc<PoolKey>>,
    cursor: AtomicUsize,
}

impl KeyRing {
    /// A ring over `keys`, rotated in id order (the order the database hands them out).
    pub fn new(mut keys: Vec<Arc<PoolKey>>) -> Self {
        if !keys.is_sorted_by_key(|k| k.id) {
            keys.sort_unstable_by_key(|k| k.id);
        }
        Self {
            keys,
            cursor: AtomicUsize::new(0),
        }
    }

    /// Number of keys in the ring.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when the ring has no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The keys, for carrying health over to the next snapshot.
    pub fn keys(&self) -> &[Arc<PoolKey>] {
        &self.keys
    }

    /// The key with database id `id`.
    pub fn by_id(&self, id: i64) -> Option<&Arc<PoolKey>> {
        self.keys
            .binary_search_by_key(&id, |k| k.id)
            .ok()
            .and_then(|i| self.keys.get(i))
    }

    /// The next usable key in rotation that is not in `tried`; when every usable key was tried
    /// already, the next usable key regardless (a retry may reuse a key only when no other is
    /// left). `None` when no key is usable.
    pub fn pick(&self, tried: &[i64], now_ms: u64) -> Option<Arc<PoolKey>> {
        self.pick_admitted(tried, now_ms, |_| true)
    }

    /// Like [`KeyRing::pick`], among the keys `admit` accepts. `admit` is asked about candidates
    /// in rotation order until one is accepted (a rate limit counts the request there); a key
    /// already tried is asked only when no untried usable key was accepted.
    pub fn pick_admitted(
        &self,
        tried: &[i64],
        now_ms: u64,
        mut admit: impl FnMut(&PoolKey) -> bool,
    ) -> Option<Arc<PoolKey>> {
        let n = self.keys.len();
        if n == 0 {
            return None;
        }
        let start = self.cursor.fetch_add(1, Ordering::Relaxed);
        let in_rotation = (0..n)
            .map(|i| &self.keys[(start + i) % n])
            .filter(|k| k.health.is_usable(now_ms));
        let mut any_tried = false;
        for key in in_rotation.clone() {
            if tried.contains(&key.id) {
                any_tried = true;
            } else if admit(key) {
                return Some(Arc::clone(key));
            }
        }
        if !any_tried {
            return None;
        }
        in_rotation
            .filter(|k| tried.contains(&k.id))
            .find(|k| admit(k))
            .map(Arc::clone)
    }
}

impl KeyRing {
    /// True when some key may be used at `now_ms`.
    pub fn has_usable(&self, now_ms: u64) -> bool {
        self.keys.iter().any(|k| k.health.is_usable(now_ms))
    }

    /// When every key not blacklisted is cooling: the earliest end of those cool-downs (the
    /// moment a client may come back). `None` when some key is usable or every key is invalid.
    pub fn all_cooling_until(&self, now_ms: u64) -> Option<u64> {
        let mut soonest: Option<u64> = None;
        for key in &self.keys {
            if key.health.is_invalid() {
                continue;
            }
            let until = key.health.cooling_until_ms();
            if until <= now_ms {
                return None;
            }
            soonest = Some(soonest.map_or(until, |s| s.min(until)));
        }
        soonest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(n: i64) -> KeyRing {
        KeyRing::new(
            (1..=n)
                .map(|id| {
                    Arc::new(PoolKey {
                        id,
                        value: Secret::new(format!("k{id}")),
                        hash: String::new(),
                        sealed: None,
                        health: Arc::default(),
                        usage: None,
                    })
                })
                .collect(),
        )
    }

    #[test]
    fn rotates_evenly() {
        let r = ring(3);
        let mut counts = [0; 3];
        for _ in 0..300 {
            counts[(r.pick(&[], 0).unwrap().id - 1) as usize] += 1;
        }
        assert_eq!(counts, [100, 100, 100]);
    }

    #[test]
    fn skips_tried_and_cooling_keys() {
        let r = ring(3);
        r.keys()[1].health.cool_until(1_000);
        for _ in 0..10 {
            let k = r.pick(&[1], 500).unwrap();
            assert_eq!(k.id, 3);
        }
        // every usable key tried: reuse one rather than fail
        assert!(matches!(r.pick(&[1, 3], 500), Some(k) if k.id == 1 || k.id == 3));
        // cooling is over
        assert!((0..3).any(|_| r.pick(&[1, 3], 2_000).unwrap().id == 2));
        assert!(KeyRing::default().pick(&[], 0).is_none());
    }

    #[test]
    fn admission_skips_keys_without_room_and_finds_keys_by_id() {
        let r = ring(3);
        let mut asked = Vec::new();
        let k = r.pick_admitted(&[], 0, |k| {
            asked.push(k.id);
            k.id == 3
        });
        assert_eq!(k.map(|k| k.id), Some(3));
        assert_eq!(asked.last(), Some(&3));
        assert!(r.pick_admitted(&[], 0, |_| false).is_none());
        // untried keys refuse: a tried one with room is used again
        assert_eq!(
            r.pick_admitted(&[2], 0, |k| k.id == 2).map(|k| k.id),
            Some(2)
        );
        assert_eq!(r.by_id(2).map(|k| k.id), Some(2));
        assert!(r.by_id(7).is_none());
    }

    #[test]
    fn consecutive_failures_blacklist_and_success_resets() {
        let h = KeyHealth::default();
        assert_eq!(h.record_failure(3), KeyFailure::Counted(1));
        assert_eq!(h.record_failure(3), KeyFailure::Counted(2));
        assert!(h.record_success());
        assert!(!h.record_success(), "nothing to reset");
        assert_eq!(h.record_failure(3), KeyFailure::Counted(1));
        assert_eq!(h.record_failure(3), KeyFailure::Counted(2));
        assert_eq!(h.record_failure(3), KeyFailure::Blacklisted(3));
        assert!(!h.is_usable(0));
        assert_eq!(h.record_failure(3), KeyFailure::AlreadyInvalid);
        // threshold 0 never blacklists
        let h = KeyHealth::default();
        for _ in 0..100 {
            assert!(matches!(h.record_failure(0), KeyFailure::Counted(_)));
        }
        assert!(h.is_usable(0));
    }

    #[test]
    fn stored_state_is_adopted_only_without_unsaved_changes() {
        let h = KeyHealth::default();
        assert_eq!(h.record_failure(1), KeyFailure::Blacklisted(1));
        let restored = StoredHealth {
            invalid: false,
            failures: 0,
            cooling_until_ms: 0,
        };
        h.adopt_stored(restored);
        assert!(
            h.is_invalid(),
            "the blacklisting is not saved yet: memory wins"
        );
        let (version, stored) = h.to_store();
        assert!(stored.invalid);
        h.mark_saved(version);
        h.adopt_stored(restored);
        assert!(
            h.is_usable(0),
            "saved, then restored by a person: the store wins"
        );
    }

    #[test]
    fn all_cooling_reports_the_earliest_end() {
        let r = ring(3);
        assert_eq!(r.all_cooling_until(0), None);
        r.keys()[0].health.cool_until(5_000);
        r.keys()[1].health.cool_until(3_000);
        assert_eq!(r.all_cooling_until(0), None, "key 3 is usable");
        r.keys()[2].health.mark_invalid();
        assert_eq!(r.all_cooling_until(0), Some(3_000));
        assert_eq!(r.all_cooling_until(4_000), None);
        assert!(r.pick(&[], 4_000).is_some_and(|k| k.id == 2));
    }
}
