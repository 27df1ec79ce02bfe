//! A proxy's side of the cluster link (`REDIS_DSN`): tells the other nodes about key health
//! changes and upstream ejections made here, and applies theirs to this node's snapshot, so a
//! key blacklisted or cooled through one node leaves rotation on every node at once. Revision
//! messages wake the snapshot refresher; a link that comes back after an outage makes it
//! rebuild, so keys take on what other nodes saved meanwhile.
//!
//! Rate-limit usage travels the same way: what this node admitted under a limit is reported
//! about every 100 ms and charged to the other nodes' buckets, so a limit holds for the cluster
//! (overshooting by at most what other nodes admitted within one report interval).
//!
//! The request path only does a `try_send` when health changed (never for a healthy request)
//! or, under a rate limit, when a scope's first use since the last report was counted;
//! publishing and applying happen in this background service.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use gateway_cluster::{ClusterLink, ClusterMessage, KeyHealthNote, LinkEvent, UsageNote};
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use tokio::sync::{Mutex, mpsc};

use crate::cluster_outbox::{Outgoing, UsageScope};
use crate::key_health_writer::HealthJournal;
use crate::key_ring::{KeyHealth, StoredHealth};
use crate::metrics::ProxyMetrics;
use crate::rate_limit::{self, Usage};
use crate::routing_snapshot::{RefreshTrigger, RoutingSnapshot, SnapshotHandle};

/// How often rate-limit usage is reported to the other nodes.
const USAGE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

/// The background service that publishes this node's changes and applies the others'.
pub struct ClusterSync {
    link: ClusterLink,
    snapshot: SnapshotHandle,
    trigger: Arc<RefreshTrigger>,
    journal: HealthJournal,
    outbox: Mutex<mpsc::Receiver<Outgoing>>,
    metrics: Arc<ProxyMetrics>,
}

impl ClusterSync {
    /// Publishes what `outbox` receives and applies messages to `snapshot`; adopted key health
    /// is saved through `journal`; the link's state is shown in `metrics`.
    pub fn new(
        link: ClusterLink,
        snapshot: SnapshotHandle,
        trigger: Arc<RefreshTrigger>,
        journal: HealthJournal,
        outbox: mpsc::Receiver<Outgoing>,
        metrics: Arc<ProxyMetrics>,
    ) -> Self {
        Self {
            link,
            snapshot,
            trigger,
            journal,
            outbox: Mutex::new(outbox),
            metrics,
        }
    }

    fn on_event(&self, event: LinkEvent) {
        match &event {
            LinkEvent::Subscribed { .. } => self.metrics.cluster_linked.set(1),
            LinkEvent::Lost => self.metrics.cluster_linked.set(0),
            LinkEvent::Message(_) => self.metrics.cluster_received.inc(),
        }
        match event {
            LinkEvent::Subscribed { again: false } => {
                tracing::info!(node = self.link.node(), "cluster link up (Redis pub/sub)");
                self.trigger.check();
            }
            LinkEvent::Subscribed { again: true } => self.trigger.rebuild(),
            LinkEvent::Lost => self.trigger.check(),
            LinkEvent::Message(ClusterMessage::Revision { revision }) => {
                if revision > self.snapshot.load().revision {
                    self.trigger.check();
                }
            }
            LinkEvent::Message(ClusterMessage::KeyHealth { keys }) => {
                self.adopt_keys(&self.snapshot.load(), &keys);
            }
            LinkEvent::Message(ClusterMessage::RateUsage { usage }) => {
                charge_remote_usage(&self.snapshot.load(), &usage);
                let (requests, tokens) = usage
                    .iter()
                    .fold((0, 0), |(r, t), n| (r + n.requests, t + n.tokens));
                let counted = &self.metrics.remote_usage;
                counted.with_label_values(&["requests"]).inc_by(requests);
                counted.with_label_values(&["tokens"]).inc_by(tokens);
            }
            LinkEvent::Message(ClusterMessage::UpstreamEjected { upstreams }) => {
                let snapshot = self.snapshot.load();
                for e in &upstreams {
                    let Some(group) = snapshot.group_by_id(e.group_id) else {
                        continue;
                    };
                    if let Some(u) = group.upstreams.upstreams().iter().find(|u| u.url == e.url)
                        && u.health.adopt_ejection(e.ejected_until_ms)
                    {
                        tracing::info!(group = %group.name, upstream = %u.url, "upstream ejected by another node");
                    }
                }
            }
        }
    }

    fn adopt_keys(&self, snapshot: &RoutingSnapshot, keys: &[KeyHealthNote]) {
        for note in keys {
            let Some(group) = snapshot.group_by_id(note.group_id) else {
                continue;
            };
            let Some(key) = group.keys.by_id(note.key_id) else {
                continue;
            };
            let was_invalid = key.health.is_invalid();
            let remote = StoredHealth {
                invalid: note.invalid,
                failures: note.failures,
                cooling_until_ms: note.cooling_until_ms,
            };
            if key.health.adopt_remote(remote) {
                if note.invalid && !was_invalid {
                    tracing::info!(group = %group.name, key_id = key.id, "key blacklisted by another node; out of rotation here too");
                }
                self.journal.note_local(key.id, &key.health);
            }
        }
    }

    /// Publishes `first` and whatever else is waiting, as one message per kind; rate-limit
    /// usage is gathered in `usage` for the next report instead.
    async fn publish(
        &self,
        first: Outgoing,
        outbox: &mut mpsc::Receiver<Outgoing>,
        usage: &mut HashMap<UsageScope, Arc<Usage>>,
    ) {
        let mut keys: HashMap<i64, (i64, Arc<KeyHealth>)> = HashMap::new();
        let mut upstreams = Vec::new();
        let mut next = Some(first);
        while let Some(item) = next {
            match item {
                Outgoing::Key {
                    group_id,
                    id,
                    health,
                } => {
                    keys.insert(id, (group_id, health));
                }
                Outgoing::Ejection(e) => upstreams.push(e),
                Outgoing::Usage { scope, usage: u } => {
                    usage.insert(scope, u);
                }
            }
            next = outbox.try_recv().ok();
        }
        if !keys.is_empty() {
            let keys = keys
                .into_iter()
                .map(|(key_id, (group_id, health))| {
                    let (_, now) = health.to_store();
                    KeyHealthNote {
                        group_id,
                        key_id,
                        invalid: now.invalid,
                        failures: now.failures,
                        cooling_until_ms: now.cooling_until_ms,
                    }
                })
                .collect();
            // A failure is logged by the link (once per outage); the others catch up later.
            let _ = self.link.publish(&ClusterMessage::KeyHealth { keys }).await;
        }
        if !upstreams.is_empty() {
            let _ = self
                .link
                .publish(&ClusterMessage::UpstreamEjected { upstreams })
                .await;
        }
    }

    /// Reports the usage gathered since the last report.
    async fn report_usage(&self, usage: &mut HashMap<UsageScope, Arc<Usage>>) {
        let notes: Vec<UsageNote> = usage
            .drain()
            .filter_map(|((group_id, key_id), u)| {
                // Unqueued first: use counted from here on queues it again.
                u.queued.store(false, Ordering::Release);
                let (requests, tokens) = u.take_unsent();
                (requests > 0 || tokens > 0).then_some(UsageNote {
                    group_id,
                    key_id,
                    requests,
                    tokens,
                })
            })
            .collect();
        if !notes.is_empty() {
            let _ = self
                .link
                .publish(&ClusterMessage::RateUsage { usage: notes })
                .await;
        }
    }
}

/// Charges what other nodes admitted to this node's buckets (under this node's limits).
fn charge_remote_usage(snapshot: &RoutingSnapshot, notes: &[UsageNote]) {
    let now = rate_limit::now_ns();
    for note in notes {
        let Some(group) = snapshot.group_by_id(note.group_id) else {
            continue;
        };
        let used = (note.requests, note.tokens);
        match note.key_id {
            None => group.usage.charge_remote(group.limits.group, used, now),
            Some(id) => {
                if let Some(usage) = group.keys.by_id(id).and_then(|k| k.usage.as_ref()) {
                    usage.charge_remote(group.limits.key, used, now);
                }
            }
        }
    }
}

#[async_trait]
impl BackgroundService for ClusterSync {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let (tx, mut events) = mpsc::channel(1024);
        let link = self.link.clone();
        let subscription = tokio::spawn(async move { link.run_subscription(tx).await });
        let mut outbox = self.outbox.lock().await;
        let mut usage = HashMap::new();
        let mut report = tokio::time::interval(USAGE_INTERVAL);
        report.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Some(event) => self.on_event(event),
                    None => break,
                },
                Some(first) = outbox.recv() => self.publish(first, &mut outbox, &mut usage).await,
                _ = report.tick(), if !usage.is_empty() => self.report_usage(&mut usage).await,
                _ = shutdown.changed() => break,
            }
        }
        subscription.abort();
    }
}
