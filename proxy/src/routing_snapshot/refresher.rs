//! The background service that keeps the snapshot current: it checks the one `config_revision`
//! row and rebuilds when it changed. In a cluster a revision message from Redis (or the link
//! coming back) wakes it at once and the database poll slows down to a fallback; without Redis,
//! or while Redis is away, it polls at `RELOAD_POLL_INTERVAL_MS`. A failed build keeps the old
//! snapshot and is logged once per distinct error, then once more when the database is back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use gateway_cluster::ClusterLink;
use gateway_schema::Database;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use tokio::sync::Notify;

use super::{BuildContext, SnapshotHandle, build};

/// The database poll while cluster messages announce every change.
const SUBSCRIBED_POLL_INTERVAL: Duration = Duration::from_secs(5);

/// Asks the refresher to look at the database now.
#[derive(Debug, Default)]
pub struct RefreshTrigger {
    wake: Notify,
    /// Rebuild even if the revision did not move (health may have changed unseen).
    full: AtomicBool,
}

impl RefreshTrigger {
    /// Check the revision now.
    pub fn check(&self) {
        self.wake.notify_one();
    }

    /// Rebuild now, revision moved or not: keys adopt their stored health (what other nodes
    /// wrote while this node could not hear them).
    pub fn rebuild(&self) {
        self.full.store(true, Ordering::Release);
        self.wake.notify_one();
    }
}

/// Checks `config_revision` and swaps in rebuilt snapshots.
pub struct SnapshotRefresher {
    db: Database,
    context: BuildContext,
    handle: SnapshotHandle,
    interval: Duration,
    trigger: Arc<RefreshTrigger>,
    cluster: Option<ClusterLink>,
}

impl SnapshotRefresher {
    /// A refresher writing into `handle`, polling every `interval` (slower while `cluster` is
    /// subscribed) or when `trigger` fires.
    pub fn new(
        db: Database,
        context: BuildContext,
        handle: SnapshotHandle,
        interval: Duration,
        trigger: Arc<RefreshTrigger>,
        cluster: Option<ClusterLink>,
    ) -> Self {
        Self {
            db,
            context,
            handle,
            interval,
            trigger,
            cluster,
        }
    }

    fn poll_interval(&self) -> Duration {
        match &self.cluster {
            Some(link) if link.is_subscribed() => self.interval.max(SUBSCRIBED_POLL_INTERVAL),
            _ => self.interval,
        }
    }
}

/// Checks the revision once and rebuilds if it moved (or always, with `full`). Returns the error
/// text on failure.
pub async fn refresh(
    db: &Database,
    context: &BuildContext,
    handle: &SnapshotHandle,
    full: bool,
) -> Result<bool, String> {
    let current = handle.load();
    let revision = db.revision().await.map_err(|e| e.to_string())?;
    if revision == current.revision && !full {
        return Ok(false);
    }
    let started = std::time::Instant::now();
    let next = build(db, &current, context)
        .await
        .map_err(|e| e.to_string())?;
    let (groups, keys) = (
        next.groups.len(),
        next.groups.values().map(|g| g.keys.len()).sum::<usize>(),
    );
    let rev = next.revision;
    handle.swap(next);
    tracing::info!(
        revision = rev,
        groups,
        keys,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "routing snapshot loaded"
    );
    Ok(true)
}

#[async_trait]
impl BackgroundService for SnapshotRefresher {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut last_error: Option<String> = None;
        loop {
            let full = self.trigger.full.swap(false, Ordering::AcqRel);
            match refresh(&self.db, &self.context, &self.handle, full).await {
                Ok(_) => {
                    if last_error.take().is_some() {
                        tracing::info!("database reachable again; routing snapshot is current");
                    }
                }
                Err(e) => {
                    if full {
                        self.trigger.full.store(true, Ordering::Release);
                    }
                    if last_error.as_deref() != Some(e.as_str()) {
                        tracing::error!(
                            "cannot refresh the routing snapshot (still serving the previous one): {e}"
                        );
                        last_error = Some(e);
                    }
                }
            }
            let pause = if last_error.is_some() {
                self.interval
            } else {
                self.poll_interval()
            };
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = self.trigger.wake.notified() => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}
