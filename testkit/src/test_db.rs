//! Fresh, migrated databases for tests: a SQLite file in a temporary folder, or a uniquely named
//! database on the PostgreSQL / MySQL server named by `TEST_POSTGRES_DSN` / `TEST_MYSQL_DSN`
//! (skipped when unset unless `REQUIRE_SERVICES=1`), dropped again when the handle is dropped.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow, bail};
use diesel_async::{
    AsyncConnection, AsyncMysqlConnection, AsyncPgConnection, SimpleAsyncConnection,
};
use gateway_schema::{Database, DatabaseUrl, run_migrations};
use tempfile::TempDir;

/// Env var naming the PostgreSQL server used by tests.
pub const POSTGRES_ENV: &str = "TEST_POSTGRES_DSN";
/// Env var naming the MySQL server used by tests.
pub const MYSQL_ENV: &str = "TEST_MYSQL_DSN";
/// Env var that turns a missing or unreachable test service into an error instead of a skip.
pub const REQUIRE_SERVICES_ENV: &str = "REQUIRE_SERVICES";

/// How long connecting to a test server, or dropping a test database, may take.
const SERVER_TIMEOUT: Duration = Duration::from_secs(15);

static COUNTER: AtomicU64 = AtomicU64::new(0);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Server {
    Postgres,
    Mysql,
}

/// The server-side database to drop on `Drop`.
#[derive(Debug)]
struct ServerDb {
    server: Server,
    server_dsn: String,
    name: String,
}

/// A fresh migrated database, removed when dropped.
#[derive(Debug)]
pub struct TestDb {
    url: DatabaseUrl,
    dsn: String,
    _dir: Option<TempDir>,
    server_db: Option<ServerDb>,
}

/// True when `REQUIRE_SERVICES` is `1` or `true`.
pub fn services_required() -> bool {
    std::env::var(REQUIRE_SERVICES_ENV).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

impl TestDb {
    /// A new SQLite database `gateway.db` in its own temporary folder, migrated.
    pub async fn sqlite() -> anyhow::Result<Self> {
        Self::sqlite_with(true).await
    }

    /// A new, empty database (no migrations) on `backend` (`sqlite`, `postgres`, `mysql`), for a
    /// test that builds another schema in it (a GPT-Load database, say) with
    /// [`TestDb::execute`]. `Ok(None)` as for [`TestDb::postgres`].
    pub async fn empty(backend: &str) -> anyhow::Result<Option<Self>> {
        match backend {
            "sqlite" => Self::sqlite_with(false).await.map(Some),
            "postgres" => Self::on_server(Server::Postgres, false).await,
            "mysql" => Self::on_server(Server::Mysql, false).await,
            other => bail!("no test database backend {other:?}"),
        }
    }

    /// Runs `sql` (statements separated by `;`) on this database.
    pub async fn execute(&self, sql: &str) -> anyhow::Result<()> {
        let run = match &self.url {
            DatabaseUrl::Sqlite(_) => {
                exec_with::<
                    diesel_async::sync_connection_wrapper::SyncConnectionWrapper<
                        diesel::SqliteConnection,
                    >,
                >(&self.dsn, sql)
                .await
            }
            DatabaseUrl::Postgres(dsn) => exec_with::<AsyncPgConnection>(dsn, sql).await,
            DatabaseUrl::Mysql(dsn) => exec_with::<AsyncMysqlConnection>(dsn, sql).await,
        };
        run.map_err(|e| match e {
            ServerError::Unreachable(e) | ServerError::Statement(e) => e,
        })
    }

    async fn sqlite_with(migrate: bool) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("gw-test-db-").tempdir()?;
        let path: PathBuf = dir.path().join("gateway.db");
        let url = DatabaseUrl::Sqlite(path.clone());
        if migrate {
            run_migrations(&url)
                .await
                .context("migrating the SQLite test database")?;
        }
        Ok(Self {
            url,
            dsn: path.to_string_lossy().into_owned(),
            _dir: Some(dir),
            server_db: None,
        })
    }

    /// A new database on the server of `TEST_POSTGRES_DSN`, migrated. `Ok(None)`: no server
    /// configured or reachable and `REQUIRE_SERVICES` is not set, so the test should skip.
    pub async fn postgres() -> anyhow::Result<Option<Self>> {
        Self::on_server(Server::Postgres, true).await
    }

    /// A new database on the server of `TEST_MYSQL_DSN`, migrated. `Ok(None)` as for
    /// [`TestDb::postgres`].
    pub async fn mysql() -> anyhow::Result<Option<Self>> {
        Self::on_server(Server::Mysql, true).await
    }

    /// The DSN as `DATABASE_DSN` would carry it (a file path for SQLite).
    pub fn dsn(&self) -> String {
        self.dsn.clone()
    }

    /// The parsed URL.
    pub fn url(&self) -> DatabaseUrl {
        self.url.clone()
    }

    /// `sqlite`, `postgres` or `mysql`.
    pub fn backend(&self) -> &'static str {
        self.url.backend_name()
    }

    /// A pool of up to 4 connections to this database.
    pub fn database(&self) -> anyhow::Result<Database> {
        Ok(Database::connect(&self.url, 4)?)
    }

    /// Simulates the database going away and coming back (PostgreSQL only): with `false`, new
    /// connections are refused (`ALLOW_CONNECTIONS false`, which binds superusers too) and the
    /// open ones are terminated; with `true`, connections are allowed again.
    pub async fn set_reachable(&self, reachable: bool) -> anyhow::Result<()> {
        let Some(db) = self
            .server_db
            .as_ref()
            .filter(|d| d.server == Server::Postgres)
        else {
            bail!("set_reachable needs a PostgreSQL test database");
        };
        let name = &db.name;
        let mut sql = format!("ALTER DATABASE {name} ALLOW_CONNECTIONS {reachable};");
        if !reachable {
            sql.push_str(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}';"
            ));
        }
        exec_on_server(db.server, &db.server_dsn, &sql)
            .await
            .map_err(|e| match e {
                ServerError::Unreachable(e) | ServerError::Statement(e) => e,
            })
    }

    async fn on_server(server: Server, migrate: bool) -> anyhow::Result<Option<Self>> {
        let var = match server {
            Server::Postgres => POSTGRES_ENV,
            Server::Mysql => MYSQL_ENV,
        };
        let Some(server_dsn) = std::env::var(var).ok().filter(|v| !v.trim().is_empty()) else {
            if services_required() {
                bail!("{var} is not set and {REQUIRE_SERVICES_ENV}=1");
            }
            return Ok(None);
        };
        let server_dsn = server_dsn.trim().to_owned();

        let name = format!(
            "gw_test_{}_{}_{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        match exec_on_server(server, &server_dsn, &format!("CREATE DATABASE {name}")).await {
            Ok(()) => {}
            Err(ServerError::Unreachable(e)) => {
                if services_required() {
                    return Err(e.context(format!(
                        "{var} server unreachable and {REQUIRE_SERVICES_ENV}=1"
                    )));
                }
                report_skip(var, &e);
                return Ok(None);
            }
            Err(ServerError::Statement(e)) => {
                return Err(e.context(format!("creating test database {name}")));
            }
        }

        let mut db_url =
            url::Url::parse(&server_dsn).with_context(|| format!("{var} is not a URL"))?;
        db_url.set_path(&format!("/{name}"));
        let dsn = db_url.to_string();
        let url = match server {
            Server::Postgres => DatabaseUrl::Postgres(dsn.clone()),
            Server::Mysql => DatabaseUrl::Mysql(dsn.clone()),
        };
        // Built before migrating so a failed migration still drops the database.
        let db = Self {
            url,
            dsn,
            _dir: None,
            server_db: Some(ServerDb {
                server,
                server_dsn,
                name,
            }),
        };
        if migrate {
            run_migrations(&db.url)
                .await
                .with_context(|| format!("migrating test database on {var}"))?;
        }
        Ok(Some(db))
    }
}

#[expect(clippy::print_stderr, reason = "tests report skipped services")]
fn report_skip(var: &str, e: &anyhow::Error) {
    eprintln!(
        "skipping: {var} server unreachable ({e:#}); set {REQUIRE_SERVICES_ENV}=1 to fail instead"
    );
}

enum ServerError {
    /// Could not connect: the service is missing.
    Unreachable(anyhow::Error),
    /// Connected, but the statement failed.
    Statement(anyhow::Error),
}

/// Runs one statement (simple-query protocol: `CREATE/DROP DATABASE` refuse transactions) on
/// the server DSN.
async fn exec_on_server(server: Server, dsn: &str, sql: &str) -> Result<(), ServerError> {
    match server {
        Server::Postgres => exec_with::<AsyncPgConnection>(dsn, sql).await,
        Server::Mysql => exec_with::<AsyncMysqlConnection>(dsn, sql).await,
    }
}

/// [`exec_on_server`] over one connection type.
async fn exec_with<C: AsyncConnection + SimpleAsyncConnection>(
    dsn: &str,
    sql: &str,
) -> Result<(), ServerError> {
    let timeout = |what: &str| anyhow!("{what} timed out after {SERVER_TIMEOUT:?}");
    let mut conn = tokio::time::timeout(SERVER_TIMEOUT, C::establish(dsn))
        .await
        .map_err(|_| ServerError::Unreachable(timeout("connecting")))?
        .map_err(|e| ServerError::Unreachable(e.into()))?;
    tokio::time::timeout(SERVER_TIMEOUT, conn.batch_execute(sql))
        .await
        .map_err(|_| ServerError::Statement(timeout(sql)))?
        .map_err(|e| ServerError::Statement(e.into()))
}

/// Best effort: drops the database on a thread with its own runtime (`Drop` cannot await, and
/// the test's runtime may be single-threaded).
fn drop_server_db(db: ServerDb) {
    let worker = std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            let name = &db.name;
            if db.server == Server::Postgres {
                // Also ends connections a still-alive pool holds (PostgreSQL 13+).
                let forced = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                if exec_on_server(db.server, &db.server_dsn, &forced)
                    .await
                    .is_ok()
                {
                    return;
                }
            }
            let _ = exec_on_server(
                db.server,
                &db.server_dsn,
                &format!("DROP DATABASE IF EXISTS {name}"),
            )
            .await;
        });
    });
    let _ = worker.join();
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(db) = self.server_db.take() {
            drop_server_db(db);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sqlite_is_migrated_and_removed() {
        let db = TestDb::sqlite().await.unwrap();
        let path = PathBuf::from(db.dsn());
        assert!(path.exists());
        assert_eq!(db.backend(), "sqlite");
        let database = db.database().unwrap();
        database.ping().await.unwrap();
        drop(database);
        drop(db);
        assert!(!path.exists());
    }

    /// Runs against `TEST_POSTGRES_DSN` / `TEST_MYSQL_DSN` when set; the database is gone afterwards.
    #[tokio::test]
    async fn server_databases_when_configured() {
        for db in [
            TestDb::postgres().await.unwrap(),
            TestDb::mysql().await.unwrap(),
        ]
        .into_iter()
        .flatten()
        {
            let database = db.database().unwrap();
            database.ping().await.unwrap();
            // Still holding a pooled connection when the database is dropped.
            drop(db);
            drop(database);
        }
    }
}
