//! The background service that keeps the snapshot current: it polls the one `config_revision`
//! row and rebuilds when it changed. A failed build keeps the old snapshot and is logged once
//! per distinct error, then once more when the database is back.

use std::time::Duration;

use async_trait::async_trait;
use gateway_core::key_crypto::KeyCipher;
use gateway_schema::Database;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;

use super::{SnapshotHandle, build};

/// Polls `config_revision` and swaps in rebuilt snapshots.
pub struct SnapshotRefresher {
    db: Database,
    cipher: KeyCipher,
    handle: SnapshotHandle,
    interval: Duration,
}

impl SnapshotRefresher {
    /// A refresher writing into `handle`.
    pub fn new(
        db: Database,
        cipher: KeyCipher,
        handle: SnapshotHandle,
        interval: Duration,
    ) -> Self {
        Self {
            db,
            cipher,
            handle,
            interval,
        }
    }

    /// Checks the revision once and rebuilds if it moved. Returns the error text on failure.
    pub async fn refresh_once(&self) -> Result<bool, String> {
        let current = self.handle.load();
        let revision = self.db.revision().await.map_err(|e| e.to_string())?;
        if revision == current.revision {
            return Ok(false);
        }
        let started = std::time::Instant::now();
        let next = build(&self.db, &current, &self.cipher)
            .await
            .map_err(|e| e.to_string())?;
        let (groups, keys) = (
            next.groups.len(),
            next.groups.values().map(|g| g.keys.len()).sum::<usize>(),
        );
        let rev = next.revision;
        self.handle.swap(next);
        tracing::info!(
            revision = rev,
            groups,
            keys,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "routing snapshot loaded"
        );
        Ok(true)
    }
}

#[async_trait]
impl BackgroundService for SnapshotRefresher {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut last_error: Option<String> = None;
        loop {
            match self.refresh_once().await {
                Ok(_) => {
                    if last_error.take().is_some() {
                        tracing::info!("database reachable again; routing snapshot is current");
                    }
                }
                Err(e) => {
                    if last_error.as_deref() != Some(e.as_str()) {
                        tracing::error!(
                            "cannot refresh the routing snapshot (still serving the previous one): {e}"
                        );
                        last_error = Some(e);
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}
