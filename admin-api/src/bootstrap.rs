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
/// itself when the database is back. A SQLite file locked by another process starting at the
/// same moment (the proxy opening a new file, say) is waited for too, within `LOCKED_PATIENCE`.
/// Any other failure ends the start.
async fn migrate_when_reachable(url: &DatabaseUrl) -> anyhow::Result<usize> {
    let mut logged = false;
    let mut locked_since: Option<std::time::Instant> = None;
    loop {
        match run_migrations(url).await {
            Ok(ran) => return Ok(ran),
            Err(e @ (DbError::Connect(_) | DbError::Pool(_))) => {
                if !std::mem::replace(&mut logged, true) {
                    tracing::warn!("{e}; trying again every {} s", DB_RETRY.as_secs());
                }
                tokio::time::sleep(DB_RETRY).await;
            }
            Err(DbError::Migration(why)) if is_locked(&why) => {
                let since = *locked_since.get_or_insert_with(std::time::Instant::now);
                if since.elapsed() >= LOCKED_PATIENCE {
                    anyhow::bail!(
                        "cannot migrate the database: it stayed locked for {} s ({why}); is another \
                         program holding a write lock on it?",
                        LOCKED_PATIENCE.as_secs()
                    );
                }
                tracing::debug!("database locked while migrating ({why}); trying again");
                tokio::time::sleep(LOCKED_RETRY).await;
            }
            Err(e) => return Err(e).context("cannot migrate the database"),
        }
    }
}

/// True for SQLite's "database is locked" / "database table is locked" (`SQLITE_BUSY`,
/// `SQLITE_LOCKED`), which another connection's lock causes and time cures.
fn is_locked(why: &str) -> bool {
    why.contains("database is locked")
        || why.contains("database table is locked")
        || why.contains("database is busy")
}

/// Pause between two tries to reach the database at start.
const DB_RETRY: std::time::Duration = std::time::Duration::from_secs(2);

/// How long a migration waits out a locked SQLite file before the start fails.
const LOCKED_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// Pause between two tries of a migration that met a lock.
const LOCKED_RETRY: std::time::Duration = std::time::Duration::from_millis(200);

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

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::Connection;
    use diesel::connection::SimpleConnection;

    #[test]
    fn lock_errors_are_recognised() {
        assert!(is_locked("database is locked"));
        assert!(is_locked("Failed with: database table is locked"));
        assert!(!is_locked("no such table: groups"));
    }

    /// A fresh file another process holds an exclusive lock on for longer than the busy timeout
    /// (as a proxy opening the same new file can): the migration waits, then runs.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_file_locked_at_start_is_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.db");
        let (locked_tx, locked_rx) = std::sync::mpsc::channel();
        let locker = std::thread::spawn({
            let path = path.clone();
            move || {
                let mut c = diesel::SqliteConnection::establish(&path.to_string_lossy()).unwrap();
                c.batch_execute("BEGIN EXCLUSIVE; CREATE TABLE held (x);")
                    .unwrap();
                locked_tx.send(()).unwrap();
                std::thread::sleep(std::time::Duration::from_secs(6));
                c.batch_execute("COMMIT").unwrap();
            }
        });
        locked_rx.recv().unwrap();
        let ran = migrate_when_reachable(&DatabaseUrl::Sqlite(path))
            .await
            .unwrap();
        assert!(ran > 0);
        locker.join().unwrap();
    }
}
