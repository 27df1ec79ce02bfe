//! The master's request-log retention (as GPT-Load's): at start and then every 2 hours, request
//! logs older than `request_log_retention_days` (0 keeps them forever) are deleted in chunks.
//! The hourly request and usage statistics are kept.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use gateway_core::settings_catalogue::SystemSettings;
use gateway_schema::{Database, DbError};

use crate::metrics::AdminMetrics;

/// How often retention runs.
pub const TICK: Duration = Duration::from_secs(2 * 3600);

/// Deletes the logs past the retention period once; returns how many were deleted.
pub async fn run_once(db: &Database) -> Result<usize, DbError> {
    let (settings, _) = SystemSettings::from_stored(&db.settings().await?);
    let days = settings.int("request_log_retention_days");
    if days <= 0 {
        return Ok(0);
    }
    db.delete_logs_before(Utc::now().naive_utc() - chrono::Duration::days(days))
        .await
}

/// Runs retention at start and every [`TICK`] until the process ends.
pub async fn run_forever(db: Database, metrics: Arc<AdminMetrics>) {
    let mut tick = tokio::time::interval(TICK);
    loop {
        tick.tick().await;
        match run_once(&db).await {
            Ok(0) => {}
            Ok(n) => {
                metrics.retention_deleted.inc_by(n as u64);
                tracing::info!(
                    deleted = n,
                    "request logs past the retention period deleted"
                );
            }
            Err(e) => tracing::warn!("request log retention failed (retried in 2 h): {e}"),
        }
    }
}
