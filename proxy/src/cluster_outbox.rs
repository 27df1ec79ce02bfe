//! The request path's way to the other nodes of a cluster: a bounded queue of the changes made
//! here (key health, upstream ejections, rate-limit usage) that `cluster_sync` publishes. The
//! request path only does a `try_send`; when the queue is full a change is dropped (the other
//! nodes catch up from the database at their next rebuild).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use gateway_cluster::UpstreamEjection;
use tokio::sync::mpsc;

use crate::key_ring::KeyHealth;
use crate::rate_limit::Usage;

/// Changes waiting to be published; beyond it they are dropped (the other nodes catch up from
/// the database at their next rebuild).
const OUTBOX_CAPACITY: usize = 4096;

/// A scope of rate-limit usage: a group (`key: None`) or one of its keys.
pub type UsageScope = (i64, Option<i64>);

/// A change made on this node, for the other nodes.
#[derive(Debug)]
pub enum Outgoing {
    /// A key's health changed (its current state is read when it is published).
    Key {
        /// The key's group.
        group_id: i64,
        /// The key.
        id: i64,
        /// Its health.
        health: Arc<KeyHealth>,
    },
    /// An upstream was ejected.
    Ejection(UpstreamEjection),
    /// A group or key has rate-limit usage the other nodes did not hear of yet.
    Usage {
        /// Group, and key when it is a key's.
        scope: UsageScope,
        /// Its usage (the unreported part is taken when it is published).
        usage: Arc<Usage>,
    },
}

/// The request path's way to the other nodes. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ClusterOutbox {
    tx: mpsc::Sender<Outgoing>,
}

impl ClusterOutbox {
    /// An outbox and the receiving end for `cluster_sync::ClusterSync`.
    pub fn new() -> (Self, mpsc::Receiver<Outgoing>) {
        let (tx, rx) = mpsc::channel(OUTBOX_CAPACITY);
        (Self { tx }, rx)
    }

    pub(crate) fn key_changed(&self, group_id: i64, id: i64, health: &Arc<KeyHealth>) {
        let _ = self.tx.try_send(Outgoing::Key {
            group_id,
            id,
            health: Arc::clone(health),
        });
    }

    /// Queues `usage` of group `group_id` (or of its key `key_id`) for the next report, unless
    /// it is queued already.
    pub(crate) fn usage_counted(&self, group_id: i64, key_id: Option<i64>, usage: &Arc<Usage>) {
        if usage.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        let sent = self.tx.try_send(Outgoing::Usage {
            scope: (group_id, key_id),
            usage: Arc::clone(usage),
        });
        if sent.is_err() {
            usage.queued.store(false, Ordering::Release);
        }
    }

    pub(crate) fn upstream_ejected(&self, group_id: i64, url: &str, ejected_until_ms: u64) {
        let _ = self.tx.try_send(Outgoing::Ejection(UpstreamEjection {
            group_id,
            url: url.to_owned(),
            ejected_until_ms,
        }));
    }
}
