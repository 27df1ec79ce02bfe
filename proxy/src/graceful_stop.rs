//! The end of a proxy process (SIGTERM, or SIGQUIT after handing the listening sockets to a new
//! process): Pingora stops accepting and closes idle connections; `GracefulStop` waits until the
//! requests and streams in flight are done (at most `SERVER_GRACEFUL_SHUTDOWN_TIMEOUT`), then
//! until their request logs and the final key-health and registration writes are in the
//! database, and exits. Pingora alone would always wait out its whole grace period.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::metrics::ProxyMetrics;

/// The longest wait for final database writes once nothing is in flight: long enough for a
/// write to a database that does not answer to fail (5 s) and its records to be spooled.
const FINAL_WRITES_TIMEOUT: Duration = Duration::from_secs(15);
/// How often the in-flight count is looked at while draining.
const DRAIN_POLL: Duration = Duration::from_millis(20);

/// Work that must finish before the process exits (final database writes).
#[derive(Debug, Default)]
pub struct FinalWrites {
    pending: AtomicUsize,
    done: Notify,
}

/// One registered piece of final work; `finish` (or dropping it) marks it done, once.
#[derive(Debug)]
pub struct FinalWrite {
    writes: Arc<FinalWrites>,
    finished: AtomicBool,
}

impl FinalWrites {
    /// Registers one more piece of final work.
    pub fn register(self: &Arc<Self>) -> FinalWrite {
        self.pending.fetch_add(1, Ordering::AcqRel);
        FinalWrite {
            writes: Arc::clone(self),
            finished: AtomicBool::new(false),
        }
    }

    async fn all_done(&self) {
        loop {
            let notified = self.done.notified();
            if self.pending.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for FinalWrite {
    fn drop(&mut self) {
        self.finish();
    }
}

impl FinalWrite {
    /// The work is done (a second call changes nothing).
    pub fn finish(&self) {
        if !self.finished.swap(true, Ordering::AcqRel) {
            self.writes.pending.fetch_sub(1, Ordering::AcqRel);
            self.writes.done.notify_waiters();
        }
    }
}

/// The background service that ends the process once it is drained.
pub struct GracefulStop {
    /// Requests in flight on `/proxy` (their logs are queued when the count drops).
    pub inflight: Arc<AtomicU32>,
    /// Set at SIGTERM or SIGQUIT: from then on answers close their connections.
    pub stopping: Arc<AtomicBool>,
    /// Queued and buffered request logs are counted here.
    pub metrics: Arc<ProxyMetrics>,
    /// Final writes of the other background services.
    pub final_writes: Arc<FinalWrites>,
    /// `SERVER_GRACEFUL_SHUTDOWN_TIMEOUT`.
    pub timeout: Duration,
}

#[async_trait]
impl BackgroundService for GracefulStop {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        use tokio::signal::unix::{SignalKind, signal};
        // Pingora handles these signals too; here they only start closing kept-alive
        // connections (after SIGQUIT Pingora keeps accepting for a few seconds while the new
        // process takes over the sockets).
        let signals = [SignalKind::terminate(), SignalKind::quit()].map(signal);
        let stop_signal = async {
            match signals {
                [Ok(mut term), Ok(mut quit)] => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = quit.recv() => {}
                    }
                }
                _ => std::future::pending().await,
            }
        };
        tokio::select! {
            () = stop_signal => {
                self.stopping.store(true, Ordering::Relaxed);
                if shutdown.changed().await.is_err() {
                    return;
                }
            }
            changed = shutdown.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
        self.stopping.store(true, Ordering::Relaxed);
        let started = Instant::now();
        let deadline = started + self.timeout;
        let inflight = self.inflight.load(Ordering::Acquire);
        tracing::info!(
            inflight,
            "stopping: no new connections; waiting up to {} s for requests in flight",
            self.timeout.as_secs()
        );
        while self.inflight.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            tokio::time::sleep(DRAIN_POLL).await;
        }
        let left = self.inflight.load(Ordering::Acquire);
        if left > 0 {
            tracing::warn!(
                inflight = left,
                "graceful stop timeout reached; ending the requests still in flight"
            );
        }
        let writes = async {
            while self.metrics.log_queue.get() > 0 {
                tokio::time::sleep(DRAIN_POLL).await;
            }
            self.final_writes.all_done().await;
        };
        if tokio::time::timeout(FINAL_WRITES_TIMEOUT, writes)
            .await
            .is_err()
        {
            tracing::warn!(
                unwritten_logs = self.metrics.log_queue.get(),
                "final database writes did not finish in {} s; stopping without them",
                FINAL_WRITES_TIMEOUT.as_secs()
            );
        }
        tracing::info!(
            elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "gateway-proxy stopped"
        );
        std::process::exit(0);
    }
}
