//! `Database`: the pool plus every query the binaries use, grouped by table.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{NaiveDateTime, Utc};
use diesel::QueryResult;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncMysqlConnection, AsyncPgConnection, RunQueryDsl};

use crate::DbError;
use crate::connection::{DatabaseUrl, DbPool, SqliteAsync, build_pool};
use crate::models::{
    ApiKey, Group, GroupChangeset, KeyStatus, NewApiKey, NewGroup, NewSystemSetting, RequestLog,
};
use crate::schema::{
    api_keys, config_revision, group_hourly_stats, group_sub_groups, groups, request_logs,
    system_settings,
};

/// Rows inserted per statement and per transaction for bulk writes (keeps every backend under its
/// bound-parameter limit: 500 rows × 7 columns).
const INSERT_CHUNK: usize = 500;

/// Log rows per insert statement on the server databases (25 columns: 2 500 bound parameters,
/// under every backend's limit).
const LOG_CHUNK: usize = 100;

/// Rows written per transaction by bulk inserts (several `INSERT_CHUNK` statements): fewer, larger
/// transactions write each page of the random-order hash index once for many rows.
const TRANSACTION_ROWS: usize = 10_000;

/// Runs `$body` with `$c` bound to a `&mut` connection of whichever backend the pool holds.
/// Inside the body, `is_sqlite!()` tells which arm is running (constant per arm).
macro_rules! with_conn {
    ($db:expr, |$c:ident| $body:expr) => {
        match &$db.pool {
            DbPool::Sqlite(p) => {
                let mut guard = $crate::database::checkout(p).await?;
                let $c = &mut *guard;
                $body
            }
            DbPool::Postgres(p) => {
                let mut guard = $crate::database::checkout(p).await?;
                let $c = &mut *guard;
                $body
            }
            DbPool::Mysql(p) => {
                let mut guard = $crate::database::checkout(p).await?;
                let $c = &mut *guard;
                $body
            }
        }
    };
}

/// A connection of `pool` within `CHECKOUT_DEADLINE`, or `DbError::Pool` saying the database
/// does not answer.
pub(crate) async fn checkout<C>(
    pool: &diesel_async::pooled_connection::deadpool::Pool<C>,
) -> Result<diesel_async::pooled_connection::deadpool::Object<C>, DbError>
where
    C: diesel_async::pooled_connection::PoolableConnection + 'static,
    diesel_async::pooled_connection::AsyncDieselConnectionManager<C>:
        deadpool::managed::Manager<Type = C, Error = diesel_async::pooled_connection::PoolError>,
{
    match tokio::time::timeout(crate::connection::CHECKOUT_DEADLINE, pool.get()).await {
        Ok(conn) => Ok(conn?),
        Err(_) => Err(DbError::Pool(format!(
            "no database connection within {} s (the database does not answer)",
            crate::connection::CHECKOUT_DEADLINE.as_secs()
        ))),
    }
}

/// The statement that bumps the revision; used inside every write transaction.
macro_rules! bump_revision {
    ($c:expr) => {
        diesel::update(config_revision::table.find(1))
            .set((
                config_revision::revision.eq(config_revision::revision + 1),
                config_revision::updated_at.eq(now()),
            ))
            .execute($c)
            .await
    };
}

/// Inserts many rows at once with one multi-row statement. On SQLite the statement runs with
/// diesel's synchronous connection in one blocking call (diesel-async's SQLite wrapper would hop
/// to a blocking thread per row). Callers keep batches at `INSERT_CHUNK` rows.
trait InsertRows {
    /// Inserts the keys a group does not have yet (the unique `(group_id, key_hash)` index
    /// decides); returns how many were inserted.
    async fn insert_api_keys(&mut self, rows: &[NewApiKey]) -> QueryResult<usize>;
    async fn insert_settings(&mut self, rows: &[NewSystemSetting]) -> QueryResult<usize>;
    /// Inserts the rows in statements of `LOG_CHUNK` rows (SQLite: all in one blocking call).
    async fn insert_request_logs(&mut self, rows: &Arc<Vec<RequestLog>>) -> QueryResult<usize>;
}

impl InsertRows for SqliteAsync {
    async fn insert_api_keys(&mut self, rows: &[NewApiKey]) -> QueryResult<usize> {
        let rows = rows.to_vec();
        self.spawn_blocking(move |conn| {
            diesel::RunQueryDsl::execute(
                diesel::insert_or_ignore_into(api_keys::table).values(&rows),
                conn,
            )
        })
        .await
    }

    async fn insert_settings(&mut self, rows: &[NewSystemSetting]) -> QueryResult<usize> {
        let rows = rows.to_vec();
        self.spawn_blocking(move |conn| {
            diesel::RunQueryDsl::execute(
                diesel::insert_into(system_settings::table).values(&rows),
                conn,
            )
        })
        .await
    }

    async fn insert_request_logs(&mut self, rows: &Arc<Vec<RequestLog>>) -> QueryResult<usize> {
        let rows = Arc::clone(rows);
        self.spawn_blocking(move |conn| {
            diesel::RunQueryDsl::execute(
                diesel::insert_into(request_logs::table).values(&rows[..]),
                conn,
            )
        })
        .await
    }
}

/// The multi-row implementation for the server databases; `$skip` makes an existing key a no-op
/// (`ON CONFLICT DO NOTHING` on PostgreSQL, `INSERT IGNORE` on MySQL).
macro_rules! multi_row_insert {
    ($conn:ty, |$rows:ident| $insert_keys:expr) => {
        impl InsertRows for $conn {
            async fn insert_api_keys(&mut self, $rows: &[NewApiKey]) -> QueryResult<usize> {
                $insert_keys.execute(self).await
            }

            async fn insert_settings(&mut self, rows: &[NewSystemSetting]) -> QueryResult<usize> {
                diesel::insert_into(system_settings::table)
                    .values(rows)
                    .execute(self)
                    .await
            }

            async fn insert_request_logs(
                &mut self,
                rows: &Arc<Vec<RequestLog>>,
            ) -> QueryResult<usize> {
                let mut n = 0;
                for chunk in rows.chunks(LOG_CHUNK) {
                    n += diesel::insert_into(request_logs::table)
                        .values(chunk)
                        .execute(&mut *self)
                        .await?;
                }
                Ok(n)
            }
        }
    };
}
multi_row_insert!(AsyncPgConnection, |rows| diesel::insert_into(
    api_keys::table
)
.values(rows)
.on_conflict_do_nothing());
multi_row_insert!(AsyncMysqlConnection, |rows| diesel::insert_or_ignore_into(
    api_keys::table
)
.values(rows));

fn now() -> NaiveDateTime {
    Utc::now().naive_utc()
}

mod admin_tasks;
mod gpt_load_source;
mod log_queries;
mod process_registry;
mod stored_keys;
mod sub_groups;
pub use admin_tasks::NewTask;
pub use gpt_load_source::{SourceGroup, SourceKey, SourceLink, SourceSetting};
pub use log_queries::{
    HourBucket, LogBatch, LogFilter, LoggedKey, UpstreamAttempts, UsageRow, UsageTotals,
    UsageWindow,
};
pub use process_registry::{PROCESS_HEARTBEAT, ProcessRow, stay_registered};
pub use stored_keys::{RewriteCounts, StoredKey};

/// Who announces a bulk write to the proxies (bumps `config_revision`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Announce {
    /// Each chunk's transaction bumps the revision (small, synchronous writes).
    EachChunk,
    /// The caller bumps it with [`Database::bump_revision`] when it sees fit (long tasks, so a
    /// million-key import does not rebuild the proxies' routing 2000 times).
    Caller,
}

/// The shared database handle (cheap to clone).
#[derive(Clone)]
pub struct Database {
    pool: DbPool,
    backend: &'static str,
}

/// What the proxy needs of a key in rotation (`active` or `cooling`).
#[derive(Clone, Debug, PartialEq, Eq, Queryable)]
pub struct KeyRow {
    /// Key id (stable across reloads; carries runtime health).
    pub id: i64,
    /// Owning group.
    pub group_id: i64,
    /// Stored value.
    pub key_value: String,
    /// Lookup hash of the key (carried into request logs).
    pub key_hash: String,
    /// `active` or `cooling`.
    pub status: String,
    /// Consecutive failures charged to the key.
    pub failure_count: i64,
    /// End of a cool-down.
    pub cooldown_until: Option<NaiveDateTime>,
}

/// The columns of a [`KeyRow`].
const KEY_ROW_COLUMNS: (
    api_keys::id,
    api_keys::group_id,
    api_keys::key_value,
    api_keys::key_hash,
    api_keys::status,
    api_keys::failure_count,
    api_keys::cooldown_until,
) = (
    api_keys::id,
    api_keys::group_id,
    api_keys::key_value,
    api_keys::key_hash,
    api_keys::status,
    api_keys::failure_count,
    api_keys::cooldown_until,
);

/// A key's runtime health as the proxy persists it (batched, off the request path: docs/ARCHITECTURE.md "Reload contract").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyHealthUpdate {
    /// Key id.
    pub id: i64,
    /// New state.
    pub status: KeyStatus,
    /// Consecutive failures.
    pub failure_count: i64,
    /// End of the cool-down when `status` is `Cooling`.
    pub cooldown_until: Option<NaiveDateTime>,
}

/// Filter and page of `GET /api/keys`.
#[derive(Clone, Debug, Default)]
pub struct KeyListFilter {
    /// Group to list.
    pub group_id: i64,
    /// `active` / `invalid`.
    pub status: Option<String>,
    /// Exact key lookup by hash.
    pub key_hash: Option<String>,
    /// 1-based page.
    pub page: i64,
    /// Rows per page.
    pub page_size: i64,
}

/// Keys to add to one group: `(stored value, hash)` pairs, already de-duplicated by the caller.
#[derive(Clone, Debug, Default)]
pub struct NewGroupKeys {
    /// Target group.
    pub group_id: i64,
    /// `(key_value, key_hash)`.
    pub keys: Vec<(String, String)>,
}

impl Database {
    /// Opens a pool for `url`.
    pub fn connect(url: &DatabaseUrl, max_size: usize) -> Result<Self, DbError> {
        Ok(Self {
            pool: build_pool(url, max_size)?,
            backend: url.backend_name(),
        })
    }

    /// Opens a pool for `url` whose SQLite connections keep `cache` pages each.
    pub fn connect_with(
        url: &DatabaseUrl,
        max_size: usize,
        cache: crate::connection::SqliteCache,
    ) -> Result<Self, DbError> {
        Ok(Self {
            pool: crate::connection::build_pool_with(url, max_size, cache)?,
            backend: url.backend_name(),
        })
    }

    /// Opens a pool for `url` that can only read (see [`crate::build_read_only_pool`]).
    pub fn connect_read_only(url: &DatabaseUrl, max_size: usize) -> Result<Self, DbError> {
        Ok(Self {
            pool: crate::connection::build_read_only_pool(url, max_size)?,
            backend: url.backend_name(),
        })
    }

    /// `sqlite`, `postgres` or `mysql`.
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// Checks that a connection can be had and the schema is there.
    pub async fn ping(&self) -> Result<i64, DbError> {
        self.revision().await
    }

    // ---- config_revision -------------------------------------------------------------------

    /// The current configuration revision.
    pub async fn revision(&self) -> Result<i64, DbError> {
        with_conn!(self, |c| Ok(config_revision::table
            .find(1)
            .select(config_revision::revision)
            .first::<i64>(c)
            .await?))
    }

    // ---- system_settings -------------------------------------------------------------------

    /// Every stored setting as `(key, value)`.
    pub async fn settings(&self) -> Result<Vec<(String, String)>, DbError> {
        with_conn!(self, |c| Ok(system_settings::table
            .select((system_settings::setting_key, system_settings::setting_value))
            .order(system_settings::id.asc())
            .load::<(String, String)>(c)
            .await?))
    }

    /// Inserts the settings that have no row yet (`(key, value, description)`); returns how many.
    pub async fn seed_settings(
        &self,
        defaults: &[(String, String, String)],
    ) -> Result<usize, DbError> {
        let existing: HashSet<String> =
            self.settings().await?.into_iter().map(|(k, _)| k).collect();
        let ts = now();
        let rows: Vec<NewSystemSetting> = defaults
            .iter()
            .filter(|(k, _, _)| !existing.contains(k))
            .map(|(k, v, d)| NewSystemSetting {
                setting_key: k.clone(),
                setting_value: v.clone(),
                description: d.clone(),
                created_at: ts,
                updated_at: ts,
            })
            .collect();
        if rows.is_empty() {
            return Ok(0);
        }
        with_conn!(self, |c| {
            let rows = &rows;
            c.transaction(async |c| -> Result<_, DbError> {
                let n = c.insert_settings(rows).await?;
                bump_revision!(c)?;
                Ok(n)
            })
            .await
        })
    }

    /// Writes settings (`(key, value)`), inserting missing rows, in one transaction.
    pub async fn update_settings(&self, values: &[(String, String)]) -> Result<(), DbError> {
        with_conn!(self, |c| {
            c.transaction(async |c| -> Result<_, DbError> {
                let ts = now();
                for (key, value) in values {
                    let n = diesel::update(
                        system_settings::table.filter(system_settings::setting_key.eq(key)),
                    )
                    .set((
                        system_settings::setting_value.eq(value),
                        system_settings::updated_at.eq(ts),
                    ))
                    .execute(c)
                    .await?;
                    if n == 0 {
                        diesel::insert_into(system_settings::table)
                            .values(NewSystemSetting {
                                setting_key: key.clone(),
                                setting_value: value.clone(),
                                description: String::new(),
                                created_at: ts,
                                updated_at: ts,
                            })
                            .execute(c)
                            .await?;
                    }
                }
                bump_revision!(c)?;
                Ok(())
            })
            .await
        })
    }

    // ---- groups ----------------------------------------------------------------------------

    /// Every group, ordered `sort ASC, id DESC` as GPT-Load lists them.
    pub async fn groups(&self) -> Result<Vec<Group>, DbError> {
        with_conn!(self, |c| Ok(groups::table
            .select(Group::as_select())
            .order((groups::sort.asc(), groups::id.desc()))
            .load(c)
            .await?))
    }

    /// One group by id.
    pub async fn group(&self, id: i64) -> Result<Option<Group>, DbError> {
        with_conn!(self, |c| Ok(groups::table
            .find(id)
            .select(Group::as_select())
            .first(c)
            .await
            .optional()?))
    }

    /// Inserts a group and returns it.
    pub async fn create_group(&self, new: &NewGroup) -> Result<Group, DbError> {
        with_conn!(self, |c| {
            c.transaction(async |c| -> Result<_, DbError> {
                diesel::insert_into(groups::table)
                    .values(new)
                    .execute(c)
                    .await?;
                bump_revision!(c)?;
                Ok(groups::table
                    .filter(groups::name.eq(&new.name))
                    .select(Group::as_select())
                    .first(c)
                    .await?)
            })
            .await
        })
    }

    /// Applies a partial update; `None` when the group does not exist.
    pub async fn update_group(
        &self,
        id: i64,
        changes: &GroupChangeset,
    ) -> Result<Option<Group>, DbError> {
        with_conn!(self, |c| {
            c.transaction(async |c| -> Result<_, DbError> {
                let n = diesel::update(groups::table.find(id))
                    .set(changes)
                    .execute(c)
                    .await?;
                if n == 0 {
                    return Ok(None);
                }
                bump_revision!(c)?;
                Ok(Some(
                    groups::table
                        .find(id)
                        .select(Group::as_select())
                        .first(c)
                        .await?,
                ))
            })
            .await
        })
    }

    /// Sets the `sort` of several groups in one transaction. Returns the ids that do not exist
    /// (then nothing is changed).
    pub async fn reorder_groups(&self, items: &[(i64, i32)]) -> Result<Vec<i64>, DbError> {
        let ids: Vec<i64> = items.iter().map(|(id, _)| *id).collect();
        let ids = &ids;
        let ts = now();
        with_conn!(self, |c| {
            c.transaction(async |c| -> Result<_, DbError> {
                let found: HashSet<i64> = groups::table
                    .filter(groups::id.eq_any(ids))
                    .select(groups::id)
                    .load::<i64>(c)
                    .await?
                    .into_iter()
                    .collect();
                let missing: Vec<i64> = ids
                    .iter()
                    .copied()
                    .filter(|id| !found.contains(id))
                    .collect();
                if !missing.is_empty() {
                    return Ok(missing);
                }
                for (id, sort) in items {
                    diesel::update(groups::table.find(*id))
                        .set((groups::sort.eq(*sort), groups::updated_at.eq(ts)))
                        .execute(c)
                        .await?;
                }
                bump_revision!(c)?;
                Ok(Vec::new())
            })
            .await
        })
    }

    /// Requests of a group since `since` from the hourly statistics: `(successes, failures)`.
    pub async fn request_totals(
        &self,
        group_id: i64,
        since: NaiveDateTime,
    ) -> Result<(i64, i64), DbError> {
        let rows: Vec<(i64, i64)> = with_conn!(self, |c| group_hourly_stats::table
            .filter(
                group_hourly_stats::group_id
                    .eq(group_id)
                    .and(group_hourly_stats::time.ge(since)),
            )
            .select((
                group_hourly_stats::success_count,
                group_hourly_stats::failure_count,
            ))
            .load(c)
            .await)?;
        Ok(rows
            .iter()
            .fold((0, 0), |(s, f), (rs, rf)| (s + rs, f + rf)))
    }

    /// Records when a group's keys were last validated (not configuration: no revision bump).
    pub async fn set_last_validated(&self, id: i64, at: NaiveDateTime) -> Result<(), DbError> {
        with_conn!(self, |c| {
            diesel::update(groups::table.find(id))
                .set(groups::last_validated_at.eq(Some(at)))
                .execute(c)
                .await?;
            Ok(())
        })
    }

    /// Deletes a group, its keys and its sub-group memberships. False when it did not exist.
    pub async fn delete_group(&self, id: i64) -> Result<bool, DbError> {
        with_conn!(self, |c| {
            c.transaction(async |c| -> Result<_, DbError> {
                diesel::delete(
                    group_sub_groups::table.filter(
                        group_sub_groups::group_id
                            .eq(id)
                            .or(group_sub_groups::sub_group_id.eq(id)),
                    ),
                )
                .execute(c)
                .await?;
                diesel::delete(api_keys::table.filter(api_keys::group_id.eq(id)))
                    .execute(c)
                    .await?;
                let n = diesel::delete(groups::table.find(id)).execute(c).await?;
                if n > 0 {
                    bump_revision!(c)?;
                }
                Ok(n > 0)
            })
            .await
        })
    }

    // ---- api_keys --------------------------------------------------------------------------

    /// Bumps `config_revision`: the proxies reload their routing.
    pub async fn bump_revision(&self) -> Result<(), DbError> {
        with_conn!(self, |c| {
            bump_revision!(c)?;
            Ok(())
        })
    }

    /// Inserts the keys the group does not have yet, 500 per statement, 10 000 per transaction
    /// (each bumps the revision). Returns how many were inserted.
    pub async fn insert_keys(&self, batch: &NewGroupKeys) -> Result<usize, DbError> {
        self.insert_keys_announced(batch, Announce::EachChunk).await
    }

    /// [`Database::insert_keys`] with the revision bump chosen by the caller.
    pub async fn insert_keys_announced(
        &self,
        batch: &NewGroupKeys,
        announce: Announce,
    ) -> Result<usize, DbError> {
        let mut written = 0;
        for txn_rows in batch.keys.chunks(TRANSACTION_ROWS) {
            let ts = now();
            let rows: Vec<NewApiKey> = txn_rows
                .iter()
                .map(|(value, hash)| NewApiKey {
                    key_value: value.clone(),
                    key_hash: hash.clone(),
                    group_id: batch.group_id,
                    status: "active".to_owned(),
                    notes: String::new(),
                    created_at: ts,
                    updated_at: ts,
                })
                .collect();
            let rows = &rows;
            written += with_conn!(self, |c| {
                c.transaction(async |c| -> Result<_, DbError> {
                    let mut n = 0;
                    for chunk in rows.chunks(INSERT_CHUNK) {
                        n += c.insert_api_keys(chunk).await?;
                    }
                    if announce == Announce::EachChunk {
                        bump_revision!(c)?;
                    }
                    Ok(n)
                })
                .await
            })?;
        }
        Ok(written)
    }

    /// Deletes the keys of a group whose hash is in `hashes`, in chunks of 500, one transaction
    /// (and revision bump) per chunk. Returns how many were deleted.
    pub async fn delete_keys_by_hash(
        &self,
        group_id: i64,
        hashes: &[String],
        announce: Announce,
    ) -> Result<usize, DbError> {
        let mut deleted = 0;
        for chunk in hashes.chunks(INSERT_CHUNK) {
            deleted += with_conn!(self, |c| {
                c.transaction(async |c| -> Result<_, DbError> {
                    let n = diesel::delete(
                        api_keys::table.filter(
                            api_keys::group_id
                                .eq(group_id)
                                .and(api_keys::key_hash.eq_any(chunk)),
                        ),
                    )
                    .execute(c)
                    .await?;
                    if n > 0 && announce == Announce::EachChunk {
                        bump_revision!(c)?;
                    }
                    Ok(n)
                })
                .await
            })?;
        }
        Ok(deleted)
    }

    /// Returns invalid keys of a group to `active` with no failures: those whose hash is in
    /// `hashes` (in chunks of 500), or all of them when `hashes` is `None`. Returns how many.
    pub async fn restore_invalid_keys(
        &self,
        group_id: i64,
        hashes: Option<&[String]>,
    ) -> Result<usize, DbError> {
        self.move_keys(group_id, hashes, &[KeyStatus::Invalid], KeyStatus::Active)
            .await
    }

    /// Switches keys of a group off (`disabled`: out of rotation and validation) or back on
    /// (`active`, no failures). Returns how many changed.
    pub async fn set_keys_enabled(
        &self,
        group_id: i64,
        hashes: &[String],
        enabled: bool,
    ) -> Result<usize, DbError> {
        if enabled {
            self.move_keys(
                group_id,
                Some(hashes),
                &[KeyStatus::Disabled],
                KeyStatus::Active,
            )
            .await
        } else {
            self.move_keys(
                group_id,
                Some(hashes),
                &[KeyStatus::Active, KeyStatus::Cooling, KeyStatus::Invalid],
                KeyStatus::Disabled,
            )
            .await
        }
    }

    /// Marks active keys of a group `invalid` (blacklisted), e.g. keys imported in that state.
    /// Returns how many changed.
    pub async fn mark_keys_invalid(
        &self,
        group_id: i64,
        hashes: &[String],
    ) -> Result<usize, DbError> {
        self.move_keys(
            group_id,
            Some(hashes),
            &[KeyStatus::Active],
            KeyStatus::Invalid,
        )
        .await
    }

    /// Moves keys of a group in one of the states `from` to `to`, with no failures and no
    /// cool-down: those whose hash is in `hashes` (in chunks of 500), or all of them when
    /// `hashes` is `None`. Bumps the revision when any changed. Returns how many.
    async fn move_keys(
        &self,
        group_id: i64,
        hashes: Option<&[String]>,
        from: &[KeyStatus],
        to: KeyStatus,
    ) -> Result<usize, DbError> {
        let ts = now();
        let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
        let from = &from;
        let chunks: Vec<Option<&[String]>> = match hashes {
            Some(h) => h.chunks(INSERT_CHUNK).map(Some).collect(),
            None => vec![None],
        };
        let mut moved = 0;
        for chunk in chunks {
            moved += with_conn!(self, |c| {
                c.transaction(async |c| -> Result<_, DbError> {
                    let mut target = diesel::update(api_keys::table)
                        .filter(
                            api_keys::group_id
                                .eq(group_id)
                                .and(api_keys::status.eq_any(from)),
                        )
                        .into_boxed();
                    if let Some(chunk) = chunk {
                        target = target.filter(api_keys::key_hash.eq_any(chunk));
                    }
                    let n = target
                        .set((
                            api_keys::status.eq(to.as_str()),
                            api_keys::failure_count.eq(0_i64),
                            api_keys::cooldown_until.eq(None::<NaiveDateTime>),
                            api_keys::updated_at.eq(ts),
                        ))
                        .execute(c)
                        .await?;
                    if n > 0 {
                        bump_revision!(c)?;
                    }
                    Ok(n)
                })
                .await
            })?;
        }
        Ok(moved)
    }

    /// Deletes every key of a group, or only those in `status`, in one statement. Returns how
    /// many.
    pub async fn clear_keys(
        &self,
        group_id: i64,
        status: Option<KeyStatus>,
    ) -> Result<usize, DbError> {
        with_conn!(self, |c| {
            c.transaction(async |c| -> Result<_, DbError> {
                let mut target = diesel::delete(api_keys::table)
                    .filter(api_keys::group_id.eq(group_id))
                    .into_boxed();
                if let Some(s) = status {
                    target = target.filter(api_keys::status.eq(s.as_str()));
                }
                let n = target.execute(c).await?;
                if n > 0 {
                    bump_revision!(c)?;
                }
                Ok(n)
            })
            .await
        })
    }

    /// One page of a group's key values in id order after `after_id` (for streaming exports),
    /// optionally only those in `status`. Returns `(id, key_value)` pairs.
    pub async fn key_values_page(
        &self,
        group_id: i64,
        status: Option<KeyStatus>,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<(i64, String)>, DbError> {
        with_conn!(self, |c| {
            let mut q = api_keys::table
                .filter(
                    api_keys::group_id
                        .eq(group_id)
                        .and(api_keys::id.gt(after_id)),
                )
                .select((api_keys::id, api_keys::key_value))
                .order(api_keys::id.asc())
                .limit(limit)
                .into_boxed();
            if let Some(s) = status {
                q = q.filter(api_keys::status.eq(s.as_str()));
            }
            Ok(q.load(c).await?)
        })
    }

    /// The keys of a group whose hash is in `hashes` (keep `hashes` to a chunk).
    pub async fn keys_by_hash(
        &self,
        group_id: i64,
        hashes: &[String],
    ) -> Result<Vec<KeyRow>, DbError> {
        with_conn!(self, |c| Ok(api_keys::table
            .filter(
                api_keys::group_id
                    .eq(group_id)
                    .and(api_keys::key_hash.eq_any(hashes))
            )
            .select(KEY_ROW_COLUMNS)
            .load(c)
            .await?))
    }

    /// One page of a group's keys in id order after `after_id`, optionally only those in
    /// `status`.
    pub async fn key_rows_page(
        &self,
        group_id: i64,
        status: Option<KeyStatus>,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<KeyRow>, DbError> {
        with_conn!(self, |c| {
            let mut q = api_keys::table
                .filter(
                    api_keys::group_id
                        .eq(group_id)
                        .and(api_keys::id.gt(after_id)),
                )
                .select(KEY_ROW_COLUMNS)
                .order(api_keys::id.asc())
                .limit(limit)
                .into_boxed();
            if let Some(s) = status {
                q = q.filter(api_keys::status.eq(s.as_str()));
            }
            Ok(q.load(c).await?)
        })
    }

    /// Sets a key's notes (not configuration: no revision bump). False when the key does not
    /// exist.
    pub async fn set_key_notes(&self, id: i64, notes: &str) -> Result<bool, DbError> {
        with_conn!(self, |c| {
            let n = diesel::update(api_keys::table.find(id))
                .set((api_keys::notes.eq(notes), api_keys::updated_at.eq(now())))
                .execute(c)
                .await?;
            Ok(n > 0)
        })
    }

    /// Keys of a group by status: `(status, count)` pairs.
    pub async fn key_counts(&self, group_id: i64) -> Result<Vec<(String, i64)>, DbError> {
        with_conn!(self, |c| Ok(api_keys::table
            .filter(api_keys::group_id.eq(group_id))
            .group_by(api_keys::status)
            .select((api_keys::status, diesel::dsl::count_star()))
            .load(c)
            .await?))
    }

    /// Number of keys of a group.
    pub async fn count_keys(&self, group_id: i64) -> Result<i64, DbError> {
        with_conn!(self, |c| Ok(api_keys::table
            .filter(api_keys::group_id.eq(group_id))
            .count()
            .get_result::<i64>(c)
            .await?))
    }

    /// One page of a group's keys, ordered `last_used_at DESC (nulls last), id DESC`, and the total.
    pub async fn list_keys(&self, f: &KeyListFilter) -> Result<(Vec<ApiKey>, i64), DbError> {
        let offset = (f.page.max(1) - 1) * f.page_size;
        // Never-used keys last. SQLite and MySQL sort NULL lowest, so plain DESC does it and the
        // (group_id, last_used_at, id) index is read backwards; PostgreSQL needs NULLS LAST (and
        // has a matching index).
        let order = if self.backend == "postgres" {
            "last_used_at DESC NULLS LAST, id DESC"
        } else {
            "last_used_at DESC, id DESC"
        };
        with_conn!(self, |c| {
            let mut count = api_keys::table
                .filter(api_keys::group_id.eq(f.group_id))
                .into_boxed();
            let mut page = api_keys::table
                .filter(api_keys::group_id.eq(f.group_id))
                .into_boxed();
            if let Some(status) = &f.status {
                count = count.filter(api_keys::status.eq(status));
                page = page.filter(api_keys::status.eq(status));
            }
            if let Some(hash) = &f.key_hash {
                count = count.filter(api_keys::key_hash.eq(hash));
                page = page.filter(api_keys::key_hash.eq(hash));
            }
            let total = count.count().get_result::<i64>(c).await?;
            let rows = page
                .select(ApiKey::as_select())
                .order(diesel::dsl::sql::<diesel::sql_types::BigInt>(order))
                .limit(f.page_size)
                .offset(offset)
                .load(c)
                .await?;
            Ok((rows, total))
        })
    }

    /// Every key in rotation (`active` or `cooling`) of every group, read in id order in pages of
    /// 10 000 so a large table never needs one huge result set.
    pub async fn routable_keys(&self) -> Result<Vec<KeyRow>, DbError> {
        const PAGE: i64 = 10_000;
        let mut out = Vec::new();
        let mut after = 0_i64;
        loop {
            // Paged over the primary key alone (a status filter in SQL would let the planner
            // pick the status index and sort the whole table for every page).
            let page: Vec<KeyRow> = with_conn!(self, |c| api_keys::table
                .filter(api_keys::id.gt(after))
                .select(KEY_ROW_COLUMNS)
                .order(api_keys::id.asc())
                .limit(PAGE)
                .load(c)
                .await)?;
            let Some(last) = page.last() else { break };
            after = last.id;
            let full = page.len() as i64 == PAGE;
            out.extend(page.into_iter().filter(|k| {
                k.status == KeyStatus::Active.as_str() || k.status == KeyStatus::Cooling.as_str()
            }));
            if !full {
                break;
            }
        }
        Ok(out)
    }

    /// Writes runtime key health in one transaction: keys with the same new state share one
    /// `UPDATE … WHERE id IN (…)` (in chunks). Not configuration: the revision is not bumped.
    /// Returns the rows changed (deleted keys are simply not found).
    pub async fn save_key_health(&self, updates: &[KeyHealthUpdate]) -> Result<usize, DbError> {
        if updates.is_empty() {
            return Ok(0);
        }
        let mut by_state: std::collections::BTreeMap<_, Vec<i64>> = Default::default();
        for u in updates {
            by_state
                .entry((u.status.as_str(), u.failure_count, u.cooldown_until))
                .or_default()
                .push(u.id);
        }
        let ts = now();
        let by_state = &by_state;
        with_conn!(self, |c| {
            c.transaction(async |c| -> Result<_, DbError> {
                let mut changed = 0;
                for ((status, failures, until), ids) in by_state {
                    for chunk in ids.chunks(INSERT_CHUNK) {
                        changed +=
                            // A key a person disabled meanwhile stays disabled.
                            diesel::update(api_keys::table.filter(
                                api_keys::id
                                    .eq_any(chunk)
                                    .and(api_keys::status.ne(KeyStatus::Disabled.as_str())),
                            ))
                                .set((
                                    api_keys::status.eq(*status),
                                    api_keys::failure_count.eq(*failures),
                                    api_keys::cooldown_until.eq(*until),
                                    api_keys::updated_at.eq(ts),
                                ))
                                .execute(&mut *c)
                                .await?;
                    }
                }
                Ok(changed)
            })
            .await
        })
    }

    /// Returns keys whose cool-down ended by `at` to `active`. Returns how many.
    pub async fn end_cooldowns(&self, at: NaiveDateTime) -> Result<usize, DbError> {
        with_conn!(self, |c| Ok(diesel::update(
            api_keys::table.filter(
                api_keys::status
                    .eq(KeyStatus::Cooling.as_str())
                    .and(api_keys::cooldown_until.le(at))
            )
        )
        .set((
            api_keys::status.eq(KeyStatus::Active.as_str()),
            api_keys::cooldown_until.eq(None::<NaiveDateTime>),
            api_keys::updated_at.eq(now()),
        ))
        .execute(c)
        .await?))
    }
}
