//! `DATABASE_DSN` parsing (GPT-Load's rules), connection pools for the three backends, and the
//! embedded migrations run by the master at start.

use std::path::{Path, PathBuf};
use std::time::Duration;

use diesel::{Connection, ConnectionError, SqliteConnection};
use diesel_async::pooled_connection::deadpool::{Pool, PoolBuilder};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{
    AsyncConnection, AsyncMysqlConnection, AsyncPgConnection, SimpleAsyncConnection,
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::DbError;
use crate::sqlite_threads::SqliteThreads;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const MYSQL_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/mysql");

/// SQLite pragmas set on every connection: wait for locks instead of failing, WAL so the proxy
/// reads while the admin process writes, and the admin's page cache (below).
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
     PRAGMA cache_size = -32000;";

/// The proxy's SQLite pragmas: the same, with a 2 MB page cache. Its connections append request
/// logs and read the routing tables once per reload; a bigger cache only grows the process (4
/// connections × 32 MB filled under steady logging). The admin's 32 MB serve bulk key writes
/// (a random-order hash index), which would otherwise re-read their pages from the file.
const SQLITE_SMALL_CACHE_PRAGMAS: &str = "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
     PRAGMA synchronous = NORMAL; PRAGMA cache_size = -2000;";

/// How much page cache each SQLite connection of a pool keeps (other backends ignore it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SqliteCache {
    /// 32 MB per connection: the admin (bulk key imports and deletes).
    Bulk,
    /// 2 MB per connection: the proxy (log appends, snapshot reads).
    Small,
}

/// The longest a new connection may take (TCP, TLS, authentication) and the longest the check of
/// a pooled one (`SELECT 1` before it is handed out) may take. A database that accepts
/// connections and then says nothing (a partition, a stuck server) fails these instead of
/// holding the caller forever.
const CONNECT_DEADLINE: Duration = Duration::from_secs(3);

/// The longest wait for a free connection of a full pool.
const POOL_WAIT_DEADLINE: Duration = Duration::from_secs(10);

/// The longest `Database` waits for a usable connection in all (free slot, checks of idle
/// connections, a new connection), so an unreachable or silent database is an error within it.
pub const CHECKOUT_DEADLINE: Duration = Duration::from_secs(5);

/// A pool of `max_size` connections to `url` set up by `config`, with the deadlines above.
fn pool<C>(
    url: impl Into<String>,
    config: ManagerConfig<C>,
    max_size: usize,
) -> Result<Pool<C>, DbError>
where
    C: AsyncConnection + 'static,
    AsyncDieselConnectionManager<C>: deadpool::managed::Manager,
{
    let manager = AsyncDieselConnectionManager::<C>::new_with_config(url, config);
    with_deadlines(Pool::builder(manager), max_size)
        .build()
        .map_err(|e| DbError::Pool(e.to_string()))
}

/// A pool configuration whose new connections first run `statements` (settings of the
/// session: pragmas, read-only transactions).
fn running<C>(statements: &'static str) -> ManagerConfig<C>
where
    C: AsyncConnection + SimpleAsyncConnection + Send + 'static,
{
    let mut config = ManagerConfig::<C>::default();
    config.custom_setup = Box::new(move |url| {
        let url = url.to_owned();
        Box::pin(async move {
            let mut conn = C::establish(&url).await?;
            conn.batch_execute(statements)
                .await
                .map_err(ConnectionError::CouldntSetupConfiguration)?;
            Ok(conn)
        })
    });
    config
}

/// A pool of `max_size` connections with the deadlines above.
fn with_deadlines<C>(builder: PoolBuilder<C>, max_size: usize) -> PoolBuilder<C>
where
    AsyncDieselConnectionManager<C>: deadpool::managed::Manager,
{
    builder
        .max_size(max_size)
        .wait_timeout(Some(POOL_WAIT_DEADLINE))
        .create_timeout(Some(CONNECT_DEADLINE))
        .recycle_timeout(Some(CONNECT_DEADLINE))
        .runtime(deadpool::Runtime::Tokio1)
}

/// The async SQLite connection type (diesel's sync connection, its statements run on
/// [`SqliteThreads`]).
pub type SqliteAsync = SyncConnectionWrapper<SqliteConnection, SqliteThreads>;

/// Which database a DSN names, in the form the drivers take.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// `postgres://…`.
    Postgres(String),
    /// `mysql://…` (converted from Go's `user:pass@tcp(host:port)/db` when needed).
    Mysql(String),
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.backend_name())
    }
}

impl DatabaseUrl {
    /// Parses `DATABASE_DSN` as GPT-Load does: `postgres://` / `postgresql://` → PostgreSQL; a DSN
    /// containing `@tcp(` or starting with `mysql://` → MySQL; anything else is a SQLite path
    /// (an optional `sqlite://` prefix is accepted).
    pub fn parse(dsn: &str) -> Result<Self, DbError> {
        let dsn = dsn.trim();
        if dsn.starts_with("postgres://") || dsn.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(dsn.to_owned()));
        }
        if dsn.starts_with("mysql://") {
            return Ok(DatabaseUrl::Mysql(dsn.to_owned()));
        }
        if dsn.contains("@tcp(") {
            return go_mysql_to_url(dsn).map(DatabaseUrl::Mysql);
        }
        let path = dsn.strip_prefix("sqlite://").unwrap_or(dsn);
        if path.is_empty() {
            return Err(DbError::InvalidDsn("empty SQLite path".to_owned()));
        }
        Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
    }

    /// `sqlite`, `postgres` or `mysql`.
    pub fn backend_name(&self) -> &'static str {
        match self {
            DatabaseUrl::Sqlite(_) => "sqlite",
            DatabaseUrl::Postgres(_) => "postgres",
            DatabaseUrl::Mysql(_) => "mysql",
        }
    }
}

/// `user:pass@tcp(host:port)/db?params` → `mysql://user:pass@host:port/db`. Go-driver parameters
/// (`parseTime`, `charset`, `loc`) have no meaning for our driver and are dropped.
fn go_mysql_to_url(dsn: &str) -> Result<String, DbError> {
    let bad =
        |why: &str| DbError::InvalidDsn(format!("MySQL DSN (user:pass@tcp(host:port)/db): {why}"));
    let (creds, rest) = dsn
        .rsplit_once("@tcp(")
        .ok_or_else(|| bad("missing @tcp("))?;
    let (addr, rest) = rest
        .split_once(')')
        .ok_or_else(|| bad("missing ) after the address"))?;
    let db = rest
        .strip_prefix('/')
        .ok_or_else(|| bad("missing /database"))?;
    let db = db.split('?').next().unwrap_or("");
    let (user, pass) = creds.split_once(':').unwrap_or((creds, ""));
    let mut url = url::Url::parse(&format!("mysql://{addr}/")).map_err(|e| bad(&e.to_string()))?;
    url.set_username(user).map_err(|()| bad("bad user name"))?;
    if !pass.is_empty() {
        url.set_password(Some(pass))
            .map_err(|()| bad("bad password"))?;
    }
    url.set_path(db);
    Ok(url.to_string())
}

/// A pool of connections to one of the three backends.
#[derive(Clone)]
pub enum DbPool {
    /// SQLite.
    Sqlite(Pool<SqliteAsync>),
    /// PostgreSQL.
    Postgres(Pool<AsyncPgConnection>),
    /// MySQL / MariaDB.
    Mysql(Pool<AsyncMysqlConnection>),
}

/// Builds a pool. Connections open lazily; SQLite's parent folder is created here.
pub fn build_pool(url: &DatabaseUrl, max_size: usize) -> Result<DbPool, DbError> {
    build_pool_with(url, max_size, SqliteCache::Bulk)
}

/// [`build_pool`] with the SQLite page cache given.
pub fn build_pool_with(
    url: &DatabaseUrl,
    max_size: usize,
    cache: SqliteCache,
) -> Result<DbPool, DbError> {
    Ok(match url {
        DatabaseUrl::Sqlite(path) => {
            create_parent(path)?;
            let config = running::<SqliteAsync>(match cache {
                SqliteCache::Bulk => SQLITE_PRAGMAS,
                SqliteCache::Small => SQLITE_SMALL_CACHE_PRAGMAS,
            });
            DbPool::Sqlite(pool(path.to_string_lossy(), config, max_size)?)
        }
        DatabaseUrl::Postgres(u) => {
            DbPool::Postgres(pool(u.as_str(), ManagerConfig::default(), max_size)?)
        }
        DatabaseUrl::Mysql(u) => {
            DbPool::Mysql(pool(u.as_str(), ManagerConfig::default(), max_size)?)
        }
    })
}

/// SQLite settings of a read-only connection: wait for the writer's locks, and refuse writes.
/// Neither changes the file (`journal_mode` would).
const SQLITE_READ_ONLY_PRAGMAS: &str = "PRAGMA busy_timeout = 5000; PRAGMA query_only = 1;";

/// A pool that can only read another program's database (GPT-Load's, for the import): SQLite is
/// opened with `mode=ro` and no pragma that writes (its journal mode, WAL or not, is left as it
/// is; the file need not be writable by us); PostgreSQL and MySQL sessions make every
/// transaction read-only. Nothing is created: a missing SQLite file is an error.
pub fn build_read_only_pool(url: &DatabaseUrl, max_size: usize) -> Result<DbPool, DbError> {
    Ok(match url {
        DatabaseUrl::Sqlite(path) => {
            if !path.is_file() {
                return Err(DbError::Connect(format!(
                    "no SQLite database at {}",
                    path.display()
                )));
            }
            let config = running::<SqliteAsync>(SQLITE_READ_ONLY_PRAGMAS);
            DbPool::Sqlite(pool(read_only_uri(path), config, max_size)?)
        }
        DatabaseUrl::Postgres(u) => {
            let config = running::<AsyncPgConnection>(
                "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
            );
            DbPool::Postgres(pool(u, config, max_size)?)
        }
        DatabaseUrl::Mysql(u) => {
            let config = running::<AsyncMysqlConnection>("SET SESSION TRANSACTION READ ONLY");
            DbPool::Mysql(pool(u, config, max_size)?)
        }
    })
}

/// `file:PATH?mode=ro`, with the characters a URI gives a meaning to escaped.
fn read_only_uri(path: &Path) -> String {
    let mut uri = String::from("file:");
    for c in path.to_string_lossy().chars() {
        match c {
            '%' | '?' | '#' => uri.push_str(&format!("%{:02X}", u32::from(c))),
            c => uri.push(c),
        }
    }
    uri.push_str("?mode=ro");
    uri
}

fn create_parent(path: &Path) -> Result<(), DbError> {
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) => std::fs::create_dir_all(dir).map_err(|e| {
            DbError::Connect(format!(
                "cannot create the database folder {}: {e}",
                dir.display()
            ))
        }),
        None => Ok(()),
    }
}

/// A new connection within `CONNECT_DEADLINE`.
async fn connect_within<C>(
    connecting: impl std::future::Future<Output = Result<C, ConnectionError>>,
) -> Result<C, DbError> {
    match tokio::time::timeout(CONNECT_DEADLINE, connecting).await {
        Ok(conn) => conn.map_err(|e| DbError::Connect(e.to_string())),
        Err(_) => Err(DbError::Connect(format!(
            "the database did not answer within {} s",
            CONNECT_DEADLINE.as_secs()
        ))),
    }
}

/// Runs every pending migration of the backend on a dedicated connection. Returns how many ran.
pub async fn run_migrations(url: &DatabaseUrl) -> Result<usize, DbError> {
    let url = url.clone();
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || -> Result<usize, DbError> {
        let mig = |e: Box<dyn std::error::Error + Send + Sync>| DbError::Migration(e.to_string());
        let conn_err = |e: ConnectionError| DbError::Connect(e.to_string());
        match &url {
            DatabaseUrl::Sqlite(path) => {
                create_parent(path)?;
                let mut conn =
                    SqliteConnection::establish(&path.to_string_lossy()).map_err(conn_err)?;
                diesel::connection::SimpleConnection::batch_execute(&mut conn, SQLITE_PRAGMAS)
                    .map_err(|e| DbError::Migration(e.to_string()))?;
                Ok(conn
                    .run_pending_migrations(SQLITE_MIGRATIONS)
                    .map_err(mig)?
                    .len())
            }
            DatabaseUrl::Postgres(u) => {
                let conn = handle.block_on(connect_within(AsyncPgConnection::establish(u)))?;
                let mut harness = diesel_async::AsyncMigrationHarness::new(conn);
                Ok(harness
                    .run_pending_migrations(POSTGRES_MIGRATIONS)
                    .map_err(mig)?
                    .len())
            }
            DatabaseUrl::Mysql(u) => {
                let conn = handle.block_on(connect_within(AsyncMysqlConnection::establish(u)))?;
                let mut harness = diesel_async::AsyncMigrationHarness::new(conn);
                Ok(harness
                    .run_pending_migrations(MYSQL_MIGRATIONS)
                    .map_err(mig)?
                    .len())
            }
        }
    })
    .await
    .map_err(|e| DbError::Migration(format!("migration task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_uris_escape_what_uris_mean() {
        assert_eq!(
            read_only_uri(Path::new("/data/gpt-load.db")),
            "file:/data/gpt-load.db?mode=ro"
        );
        assert_eq!(
            read_only_uri(Path::new("a?b#c%d.db")),
            "file:a%3Fb%23c%25d.db?mode=ro"
        );
    }

    #[test]
    fn parses_dsns_like_gpt_load() {
        assert_eq!(
            DatabaseUrl::parse("postgres://u@h/db").unwrap(),
            DatabaseUrl::Postgres("postgres://u@h/db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("root:p@ss@tcp(127.0.0.1:3306)/gpt?charset=utf8mb4&parseTime=true")
                .unwrap(),
            DatabaseUrl::Mysql("mysql://root:p%40ss@127.0.0.1:3306/gpt".into())
        );
        assert_eq!(
            DatabaseUrl::parse("root@tcp(h:3306)/db").unwrap(),
            DatabaseUrl::Mysql("mysql://root@h:3306/db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("./data/gateway.db").unwrap(),
            DatabaseUrl::Sqlite("./data/gateway.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///tmp/x.db").unwrap(),
            DatabaseUrl::Sqlite("/tmp/x.db".into())
        );
        assert!(DatabaseUrl::parse("root@tcp(h:3306)").is_err());
    }
}
