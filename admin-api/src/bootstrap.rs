//! Start-up duties: open the database, run migrations and seed missing settings on the master,
//! check the stored keys against `ENCRYPTION_KEY`.

use anyhow::Context;
use gateway_core::GatewayConfig;
use gateway_core::key_crypto::KeyCipher;
use gateway_core::settings_catalogue::CATALOGUE;
use gateway_schema::{Database, DatabaseUrl, DbError, run_migrations};

/// Opens the database; on the master, migrates it and inserts missing settings rows (`app_url`
/// from `HOST`/`PORT`, `proxy_keys` from `AUTH_KEY`, the rest from the catalogue's defaults).
pub async fn prepare_database(config: &GatewayConfig) -> anyhow::Result<Database> {
    let url = DatabaseUrl::parse(config.database_dsn.expose()).context("DATABASE_DSN")?;
    let db = Database::connect(&url, 8).context("database pool")?;
    if config.is_slave {
        tracing::info!("IS_SLAVE=true: not running migrations");
        return Ok(db);
    }
    let ran = migrate_when_reachable(&url).await?;
    if ran > 0 {
        tracing::info!(
            migrations = ran,
            backend = url.backend_name(),
            "database migrated"
        );
    }
    let defaults: Vec<(String, String, String)> = CATALOGUE
        .iter()
        .map(|d| {
            let value = match d.key {
                "app_url" => config.default_app_url(),
                "proxy_keys" => config.auth_key.expose().clone(),
                _ => d.default.to_owned(),
            };
            (d.key.to_owned(), value, d.description.to_owned())
        })
        .collect();
    let seeded = db
        .seed_settings(&defaults)
        .await
        .context("cannot seed settings")?;
    if seeded > 0 {
        tracing::info!(settings = seeded, "default settings written");
    }
    Ok(db)
}

/// Runs the migrations; while the database cannot be reached it waits and tries again (logged
/// once), so a node started before its database, or restarted during an outage, comes up by
/// itself when the database is back. Any other failure ends the start.
async fn migrate_when_reachable(url: &DatabaseUrl) -> anyhow::Result<usize> {
    let mut logged = false;
    loop {
        match run_migrations(url).await {
            Ok(ran) => return Ok(ran),
            Err(e @ (DbError::Connect(_) | DbError::Pool(_))) => {
                if !std::mem::replace(&mut logged, true) {
                    tracing::warn!("{e}; trying again every {} s", DB_RETRY.as_secs());
                }
                tokio::time::sleep(DB_RETRY).await;
            }
            Err(e) => return Err(e).context("cannot migrate the database"),
        }
    }
}

/// Pause between two tries to reach the database at start.
const DB_RETRY: std::time::Duration = std::time::Duration::from_secs(2);

/// Refuses to serve when the stored keys do not match `ENCRYPTION_KEY` (encrypted without a key,
/// with another key, or plaintext with a key set), saying which and how to fix it.
pub async fn check_encryption(db: &Database, cipher: &KeyCipher) -> anyhow::Result<()> {
    let samples = db
        .encryption_samples()
        .await
        .context("cannot read stored keys to check ENCRYPTION_KEY")?;
    cipher.verify(samples.iter().map(|(v, h)| (v.as_str(), h.as_str())))?;
    Ok(())
}
