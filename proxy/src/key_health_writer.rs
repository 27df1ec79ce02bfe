//! Persistence of runtime key health (docs/ARCHITECTURE.md "Reload contract"): the request path only notes that a key's
//! health changed (`HealthJournal::note`, one atomic swap and a channel send at most once per
//! key until it is written); the `KeyHealthWriter` background service saves the queued keys in
//! one batch per interval, and returns keys to `active` in the database when their cool-down
//! ends. While the database is down the changes stay queued (one entry per key, so the queue is
//! bounded by the number of keys) and are written when it is back. In a cluster the journal
//! also hands each change to the cluster outbox (`cluster_outbox`), which `cluster_sync`
//! publishes to the other nodes.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime};
use gateway_schema::models::KeyStatus;
use gateway_schema::{Database, KeyHealthUpdate};
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use tokio::sync::{Mutex, mpsc};

use crate::cluster_outbox::ClusterOutbox;
use crate::graceful_stop::FinalWrite;
use crate::key_ring::KeyHealth;

/// A key whose health changed: its id and its health (read when it is written).
pub type Queued = (i64, Arc<KeyHealth>);

/// The request path's side: notes keys whose health changed. Cheap to clone.
#[derive(Clone, Debug)]
pub struct HealthJournal {
    tx: mpsc::UnboundedSender<Queued>,
    /// Set in a cluster: changes to tell the other nodes about.
    cluster: Option<ClusterOutbox>,
}

impl HealthJournal {
    /// A journal and the receiving end for its writer.
    pub fn new(cluster: Option<ClusterOutbox>) -> (Self, mpsc::UnboundedReceiver<Queued>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { tx, cluster }, rx)
    }

    /// Queues key `id` of group `group_id` for saving, and for the other nodes of a cluster.
    pub fn note(&self, group_id: i64, id: i64, health: &Arc<KeyHealth>) {
        if let Some(cluster) = &self.cluster {
            cluster.key_changed(group_id, id, health);
        }
        self.note_local(id, health);
    }

    /// Tells the other nodes of a cluster that this node ejected an upstream.
    pub fn note_ejection(&self, group_id: i64, url: &str, ejected_until_ms: u64) {
        if let Some(cluster) = &self.cluster {
            cluster.upstream_ejected(group_id, url, ejected_until_ms);
        }
    }

    /// Queues key `id` for saving unless it is queued already (a change another node told us
    /// about: saved here too, so a rebuild before that node's write keeps it).
    pub fn note_local(&self, id: i64, health: &Arc<KeyHealth>) {
        if !health.queued.swap(true, Ordering::AcqRel)
            && self.tx.send((id, Arc::clone(health))).is_err()
        {
            // The writer is gone (shutting down): nothing more will be saved.
            health.queued.store(false, Ordering::Release);
        }
    }
}

/// The background service that writes queued key health to the database.
pub struct KeyHealthWriter {
    db: Database,
    interval: Duration,
    rx: Mutex<mpsc::UnboundedReceiver<Queued>>,
    /// Finished after the last write at a stop.
    final_write: FinalWrite,
}

impl KeyHealthWriter {
    /// A writer saving what `journal`'s receiver delivers, every `interval`; at a stop it
    /// writes once more, then finishes `final_write`.
    pub fn new(
        db: Database,
        rx: mpsc::UnboundedReceiver<Queued>,
        interval: Duration,
        final_write: FinalWrite,
    ) -> Self {
        Self {
            db,
            interval,
            rx: Mutex::new(rx),
            final_write,
        }
    }
}

/// What the writer holds between rounds.
#[derive(Default)]
struct WriterState {
    /// Keys waiting to be saved (a failed write keeps them here).
    pending: HashMap<i64, Arc<KeyHealth>>,
    /// Ends of cool-downs written as `cooling`; when one passes, the database is swept.
    cooldown_ends: BinaryHeap<Reverse<u64>>,
    /// Whether the last write failed (logged once per outage).
    failing: bool,
}

impl WriterState {
    /// Saves every pending key; on failure they stay pending.
    async fn flush(&mut self, db: &Database, now_ms: u64) {
        if self.pending.is_empty() {
            return;
        }
        let mut updates = Vec::with_capacity(self.pending.len());
        let mut versions = Vec::with_capacity(self.pending.len());
        for (&id, health) in &self.pending {
            // Cleared before reading: a change made from here on queues the key again.
            health.queued.store(false, Ordering::Release);
            let (version, stored) = health.to_store();
            let cooling = stored.cooling_until_ms > now_ms;
            let status = if stored.invalid {
                KeyStatus::Invalid
            } else if cooling {
                KeyStatus::Cooling
            } else {
                KeyStatus::Active
            };
            if status == KeyStatus::Cooling {
                self.cooldown_ends.push(Reverse(stored.cooling_until_ms));
            }
            updates.push(KeyHealthUpdate {
                id,
                status,
                failure_count: i64::from(stored.failures),
                cooldown_until: cooling.then(|| naive_from_ms(stored.cooling_until_ms)),
            });
            versions.push((Arc::clone(health), version));
        }
        match db.save_key_health(&updates).await {
            Ok(_) => {
                for (health, version) in versions {
                    health.mark_saved(version);
                }
                self.pending.clear();
                if std::mem::take(&mut self.failing) {
                    tracing::info!("database reachable again; key health saved");
                }
            }
            Err(e) => {
                if !std::mem::replace(&mut self.failing, true) {
                    tracing::error!(
                        pending = self.pending.len(),
                        "cannot save key health (kept in memory, retried each round): {e}"
                    );
                }
            }
        }
    }

    /// Returns keys whose cool-down ended to `active` in the database.
    async fn end_cooldowns(&mut self, db: &Database, now_ms: u64, force: bool) {
        let mut due = force;
        while self
            .cooldown_ends
            .peek()
            .is_some_and(|Reverse(t)| *t <= now_ms)
        {
            self.cooldown_ends.pop();
            due = true;
        }
        if due && let Err(e) = db.end_cooldowns(naive_from_ms(now_ms)).await {
            tracing::warn!("cannot return cooled-down keys to active: {e}");
            self.cooldown_ends.push(Reverse(now_ms));
        }
    }
}

#[async_trait]
impl BackgroundService for KeyHealthWriter {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut rx = self.rx.lock().await;
        let mut state = WriterState::default();
        // Cool-downs left over from an earlier run.
        state
            .end_cooldowns(&self.db, crate::clock::now_ms(), true)
            .await;
        loop {
            let stop = tokio::select! {
                _ = tokio::time::sleep(self.interval) => false,
                _ = shutdown.changed() => true,
            };
            while let Ok((id, health)) = rx.try_recv() {
                state.pending.insert(id, health);
            }
            let now = crate::clock::now_ms();
            state.flush(&self.db, now).await;
            state.end_cooldowns(&self.db, now, false).await;
            if stop {
                self.final_write.finish();
                return;
            }
        }
    }
}

fn naive_from_ms(ms: u64) -> NaiveDateTime {
    DateTime::from_timestamp_millis(i64::try_from(ms).unwrap_or(i64::MAX))
        .unwrap_or_default()
        .naive_utc()
}
