//! The key ring of a group: its active upstream keys in rotation, each with runtime health that
//! survives snapshot rebuilds (carried over by key id). Picking is lock-free: one atomic cursor.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

use gateway_core::Secret;

/// Runtime health of one key. Not configuration: it lives across snapshot rebuilds.
#[derive(Debug, Default)]
pub struct KeyHealth {
    /// Consecutive failures charged to the key (reset by a success).
    pub consecutive_failures: AtomicU32,
    /// Unix milliseconds until which the key is cooling down (0 = not cooling).
    pub cooling_until_ms: AtomicU64,
}

impl KeyHealth {
    /// True when the key may be used at `now_ms`.
    pub fn is_usable(&self, now_ms: u64) -> bool {
        self.cooling_until_ms.load(Ordering::Relaxed) <= now_ms
    }
}

/// One upstream key of a group.
#[derive(Debug)]
pub struct PoolKey {
    /// Database id (stable identity for health and logs).
    pub id: i64,
    /// The plaintext key, exposed only when it is injected into the upstream request.
    pub value: Secret<String>,
    /// Shared runtime health.
    pub health: Arc<KeyHealth>,
}

/// A group's keys in rotation order.
#[derive(Debug, Default)]
pub struct KeyRing {
    keys: Vec<Arc<PoolKey>>,
    cursor: AtomicUsize,
}

impl KeyRing {
    /// A ring over `keys` (in the order given).
    pub fn new(keys: Vec<Arc<PoolKey>>) -> Self {
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

    /// The next usable key in rotation that is not in `tried`; when every usable key was tried
    /// already, the next usable key regardless (a retry may reuse a key only when no other is
    /// left). `None` when no key is usable.
    pub fn pick(&self, tried: &[i64], now_ms: u64) -> Option<Arc<PoolKey>> {
        let n = self.keys.len();
        if n == 0 {
            return None;
        }
        let start = self.cursor.fetch_add(1, Ordering::Relaxed);
        let mut fallback = None;
        for i in 0..n {
            let key = &self.keys[(start + i) % n];
            if !key.health.is_usable(now_ms) {
                continue;
            }
            if !tried.contains(&key.id) {
                return Some(Arc::clone(key));
            }
            if fallback.is_none() {
                fallback = Some(key);
            }
        }
        fallback.map(Arc::clone)
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
                        health: Arc::default(),
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
        r.keys()[1]
            .health
            .cooling_until_ms
            .store(1_000, Ordering::Relaxed);
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
}
