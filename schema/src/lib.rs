//! gateway-schema: tables, migrations, rows and queries for SQLite, PostgreSQL and MySQL.
//! No HTTP and no business rules: callers validate, this crate stores.
//!
//! Every query is written once and compiled for each backend through the `with_conn!` macro over
//! [`DbPool`]. Every write that changes what the proxy serves bumps `config_revision` in the same
//! transaction (the reload contract of docs/ARCHITECTURE.md).

pub mod connection;
mod database;
pub mod models;
pub mod schema;
mod sqlite_threads;

pub use connection::{
    DatabaseUrl, DbPool, SqliteCache, build_pool, build_pool_with, build_read_only_pool,
    run_migrations,
};
pub use database::{
    Announce, Database, HourBucket, KeyHealthUpdate, KeyListFilter, KeyRow, LogBatch, LogFilter,
    LoggedKey, NewGroupKeys, NewTask, PROCESS_HEARTBEAT, ProcessRow, RewriteCounts, SourceGroup,
    SourceKey, SourceLink, SourceSetting, StoredKey, UpstreamAttempts, UsageRow, UsageTotals,
    UsageWindow, stay_registered,
};
pub use sqlite_threads::SqliteThreads;

/// Errors of the storage boundary.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// `DATABASE_DSN` could not be understood.
    #[error("invalid DATABASE_DSN: {0}")]
    InvalidDsn(String),
    /// The database could not be reached or opened.
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    /// The pool could not hand out a connection.
    #[error("database unavailable: {0}")]
    Pool(String),
    /// A migration failed.
    #[error("database migration failed: {0}")]
    Migration(String),
    /// A multi-row write was stopped by its caller; nothing of it was kept.
    #[error("{0}")]
    Aborted(String),
    /// A query failed.
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

impl DbError {
    /// True when a unique constraint rejected the write.
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            DbError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }

    /// True when the database could not be reached or the connection broke under the query
    /// (the database is down, not the query wrong).
    pub fn is_unreachable(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        match self {
            DbError::Pool(_) | DbError::Connect(_) => true,
            DbError::Query(Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _)) => true,
            DbError::Query(Error::DatabaseError(DatabaseErrorKind::Unknown, info)) => {
                let m = info.message().to_ascii_lowercase();
                [
                    "connection closed",
                    "connection reset",
                    "broken pipe",
                    "terminating connection",
                ]
                .iter()
                .any(|s| m.contains(s))
            }
            _ => false,
        }
    }

    /// True when the same write may succeed if tried again: the database could not be reached,
    /// or the write lost a race (deadlock, serialization failure, lock wait, busy file), as
    /// opposed to a write the database rejects.
    pub fn is_transient(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        if self.is_unreachable() {
            return true;
        }
        match self {
            DbError::Query(Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _)) => {
                true
            }
            DbError::Query(Error::DatabaseError(DatabaseErrorKind::Unknown, info)) => {
                let m = info.message().to_ascii_lowercase();
                [
                    "connection",
                    "locked",
                    "busy",
                    "deadlock",
                    "lock wait timeout",
                    "could not serialize",
                ]
                .iter()
                .any(|w| m.contains(w))
            }
            _ => false,
        }
    }

    /// True when the row was not found.
    pub fn is_not_found(&self) -> bool {
        matches!(self, DbError::Query(diesel::result::Error::NotFound))
    }
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for DbError {
    fn from(e: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        use deadpool::managed::{PoolError, TimeoutType};
        match e {
            // The pool's own deadlines (`connection.rs`) say the same as `checkout`'s, whichever
            // of them runs out first.
            PoolError::Timeout(kind) => DbError::Pool(format!(
                "no database connection: {} took too long (the database does not answer)",
                match kind {
                    TimeoutType::Wait => "waiting for a free connection",
                    TimeoutType::Create => "opening a connection",
                    TimeoutType::Recycle => "checking a pooled connection",
                }
            )),
            other => DbError::Pool(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use deadpool::managed::{PoolError, TimeoutType};

    use super::DbError;

    #[test]
    fn a_pool_deadline_says_the_database_does_not_answer() {
        for (kind, what) in [
            (TimeoutType::Create, "opening a connection"),
            (TimeoutType::Wait, "waiting for a free connection"),
            (TimeoutType::Recycle, "checking a pooled connection"),
        ] {
            let e: DbError =
                PoolError::<diesel_async::pooled_connection::PoolError>::Timeout(kind).into();
            assert!(e.is_unreachable(), "{e}");
            let text = e.to_string();
            assert!(
                text.contains(what) && text.contains("does not answer"),
                "{text}"
            );
        }
    }
}
