//! The master's background key recovery (as GPT-Load's): at start and then every 5 minutes,
//! each standard group whose `key_validation_interval_minutes` has passed since its
//! `last_validated_at` gets its `invalid` keys validated (`key_validation`); a key that answers
//! 2xx returns to rotation (the revision is bumped, so every proxy serves it within a second).
//! Active keys are not tested by this job.

use gateway_core::key_crypto::KeyCipher;
use std::time::Duration;

use chrono::Utc;
use gateway_core::settings_catalogue::{GroupConfig, SystemSettings};
use gateway_schema::Database;
use gateway_schema::models::KeyStatus;

use crate::key_tasks;
use crate::key_validation::GroupValidation;
use crate::upstream_client::UpstreamClient;

/// How often the job looks for due groups.
pub const TICK: Duration = Duration::from_secs(300);

/// Invalid keys read per round.
const PAGE: i64 = 1000;

/// What one run did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Groups whose interval had passed.
    pub groups: usize,
    /// Invalid keys checked.
    pub checked: usize,
    /// Keys back in rotation.
    pub restored: usize,
}

/// Validates the invalid keys of every due group once.
pub async fn run_once(
    db: &Database,
    cipher: &KeyCipher,
    http: &UpstreamClient,
) -> Result<RunSummary, String> {
    let rows = db.settings().await.map_err(|e| e.to_string())?;
    let (settings, _) = SystemSettings::from_stored(&rows);
    let now = Utc::now().naive_utc();
    let mut summary = RunSummary::default();
    for group in db.groups().await.map_err(|e| e.to_string())? {
        if group.is_aggregate() {
            continue;
        }
        let overrides = GroupConfig::from_stored(&group.config).unwrap_or_default();
        let interval = overrides
            .key_validation_interval_minutes
            .unwrap_or_else(|| settings.int("key_validation_interval_minutes"))
            .max(1);
        if group
            .last_validated_at
            .is_some_and(|t| now - t < chrono::Duration::minutes(interval))
        {
            continue;
        }
        summary.groups += 1;
        let validation =
            match GroupValidation::with_overrides(&group, &overrides, &settings, cipher) {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(group = %group.name, "cannot validate the group's keys: {e}");
                    continue;
                }
            };
        let mut after = 0;
        loop {
            let page = db
                .key_rows_page(group.id, Some(KeyStatus::Invalid), after, PAGE)
                .await
                .map_err(|e| e.to_string())?;
            let Some(last) = page.last() else { break };
            after = last.id;
            let checked = key_tasks::check_all(&validation, http, &page).await;
            summary.checked += checked.len();
            summary.restored += checked.iter().filter(|c| c.valid).count();
            let updates: Vec<_> = checked.iter().filter_map(|c| c.update.clone()).collect();
            key_tasks::save(db, &page, &updates)
                .await
                .map_err(|e| e.to_string())?;
        }
        db.set_last_validated(group.id, now)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(summary)
}

/// Runs the job at start and every `TICK` until the process ends.
pub async fn run_forever(
    db: Database,
    cipher: KeyCipher,
    outbound: gateway_core::outbound_proxy::EnvProxies,
    metrics: std::sync::Arc<crate::metrics::AdminMetrics>,
) {
    let http = match UpstreamClient::new(outbound) {
        Ok(h) => h,
        Err(e) => {
            tracing::error!("background key validation disabled: {e}");
            return;
        }
    };
    let mut tick = tokio::time::interval(TICK);
    loop {
        tick.tick().await;
        let result = run_once(&db, &cipher, &http).await;
        if let Ok(s) = &result {
            metrics.validation_checked.inc_by(s.checked as u64);
            metrics.validation_restored.inc_by(s.restored as u64);
        }
        match result {
            Ok(s) if s.checked > 0 => tracing::info!(
                groups = s.groups,
                checked = s.checked,
                restored = s.restored,
                "background key validation done"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!("background key validation failed: {e}"),
        }
    }
}
