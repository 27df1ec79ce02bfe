//! Queries of `request_logs`, `group_hourly_stats` and `usage_hourly_stats`: the proxy's batched
//! log writes together with the counters they maintain (key usage, hourly requests, hourly token
//! usage), log retention, and the admin API's log, dashboard and usage reads. None of this is
//! configuration, so nothing here bumps the revision.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chrono::{NaiveDateTime, Timelike};
use diesel::QueryResult;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Timestamp};
use diesel_async::{AsyncConnection, AsyncMysqlConnection, AsyncPgConnection, RunQueryDsl};

use super::{Database, InsertRows, now};
use crate::DbError;
use crate::connection::{DbPool, SqliteAsync};
use crate::models::{GroupType, REQUEST_TYPE_FINAL, REQUEST_TYPE_RETRY, RequestLog};
use crate::schema::{api_keys, group_hourly_stats, groups, request_logs, usage_hourly_stats};

/// Rows deleted per statement by retention (short locks on a large table).
const RETENTION_CHUNK: i64 = 5_000;

/// A batch of request logs with the counters it moves, written in one transaction by
/// [`Database::write_request_logs`].
#[derive(Clone, Debug, Default)]
pub struct LogBatch {
    /// Shared with the blocking SQLite call, so the rows are never copied.
    rows: Arc<Vec<RequestLog>>,
    /// `(group_id, key_hash)` → (successful requests, latest success).
    key_usage: BTreeMap<(i64, String), (i64, NaiveDateTime)>,
    /// `(hour, group_id)` → (successes, failures) of final attempts.
    hourly: BTreeMap<(NaiveDateTime, i64), (i64, i64)>,
    /// `(hour, group_id, model)` → tokens.
    usage: BTreeMap<(NaiveDateTime, i64, String), UsageTotals>,
}

/// Requests and tokens summed over some rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UsageTotals {
    /// Successful requests.
    pub requests: i64,
    /// Prompt tokens.
    pub input_tokens: i64,
    /// Completion tokens.
    pub output_tokens: i64,
    /// Total tokens.
    pub total_tokens: i64,
}

impl UsageTotals {
    fn add(&mut self, other: &UsageTotals) {
        self.requests = self.requests.saturating_add(other.requests);
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        self.total_tokens = self.total_tokens.saturating_add(other.total_tokens);
    }
}

impl LogBatch {
    /// A batch of `rows` with the counters they move:
    /// * a successful attempt adds 1 to its key's `request_count` and moves `last_used_at`
    ///   forward (never backwards, unlike GPT-Load);
    /// * a final attempt counts as a success or failure in its group's hour, and in its
    ///   aggregate's hour when it came through one;
    /// * tokens go to the serving group's `(hour, model)`; successful attempts count as requests.
    pub fn new(rows: Vec<RequestLog>) -> Self {
        let mut batch = Self::default();
        for r in &rows {
            if r.is_success && !r.key_hash.is_empty() {
                let e = batch
                    .key_usage
                    .entry((r.group_id, r.key_hash.clone()))
                    .or_insert((0, r.timestamp));
                e.0 += 1;
                e.1 = e.1.max(r.timestamp);
            }
            let hour = hour_of(r.timestamp);
            if r.request_type != REQUEST_TYPE_RETRY {
                let (s, f) = (i64::from(r.is_success), i64::from(!r.is_success));
                for gid in [r.group_id, r.parent_group_id] {
                    if gid > 0 {
                        let e = batch.hourly.entry((hour, gid)).or_insert((0, 0));
                        e.0 += s;
                        e.1 += f;
                    }
                }
            }
            if r.is_success || r.total_tokens > 0 {
                batch
                    .usage
                    .entry((hour, r.group_id, r.model.clone()))
                    .or_default()
                    .add(&UsageTotals {
                        requests: i64::from(r.is_success),
                        input_tokens: r.input_tokens,
                        output_tokens: r.output_tokens,
                        total_tokens: r.total_tokens,
                    });
            }
        }
        batch.rows = Arc::new(rows);
        batch
    }

    /// The records back (after a failed write), without copying them.
    pub fn into_rows(self) -> Vec<RequestLog> {
        Arc::try_unwrap(self.rows).unwrap_or_else(|shared| shared.as_ref().clone())
    }

    /// Records in the batch.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when the batch holds no record.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// The start of the hour `t` falls in.
fn hour_of(t: NaiveDateTime) -> NaiveDateTime {
    t.date().and_hms_opt(t.hour(), 0, 0).unwrap_or(t)
}

/// The latest log of one key, as the key export reads it.
#[derive(Clone, Debug, PartialEq, Eq, Queryable)]
pub struct LoggedKey {
    /// The group whose key it is.
    pub group_id: i64,
    /// The key's lookup hash.
    pub key_hash: String,
    /// The key as the log stores it (masked; an old row may hold it sealed).
    pub key_value: String,
    /// The group's name at the time.
    pub group_name: String,
    /// The status of the key's latest attempt.
    pub status_code: i32,
}

/// Filters of `GET /api/logs` and its export (GPT-Load's).
#[derive(Clone, Debug, Default)]
pub struct LogFilter {
    /// `LIKE %x%` on the aggregate's name.
    pub parent_group_name: Option<String>,
    /// `LIKE %x%` on the group's name.
    pub group_name: Option<String>,
    /// Exact key, by its hash.
    pub key_hash: Option<String>,
    /// `LIKE %x%` on the model.
    pub model: Option<String>,
    /// Success or failure.
    pub is_success: Option<bool>,
    /// `retry` / `final`.
    pub request_type: Option<String>,
    /// Exact status.
    pub status_code: Option<i32>,
    /// Exact client address.
    pub source_ip: Option<String>,
    /// `LIKE %x%` on the error message.
    pub error_contains: Option<String>,
    /// From this moment on (inclusive).
    pub start_time: Option<NaiveDateTime>,
    /// Up to this moment (inclusive).
    pub end_time: Option<NaiveDateTime>,
}

/// A boxed `request_logs` query with `$f`'s filters applied (for whichever backend the arm runs).
macro_rules! filtered_logs {
    ($f:expr) => {{
        let f: &LogFilter = $f;
        let like = |s: &str| format!("%{s}%");
        let mut q = request_logs::table.into_boxed();
        if let Some(v) = &f.parent_group_name {
            q = q.filter(request_logs::parent_group_name.like(like(v)));
        }
        if let Some(v) = &f.group_name {
            q = q.filter(request_logs::group_name.like(like(v)));
        }
        if let Some(v) = &f.key_hash {
            q = q.filter(request_logs::key_hash.eq(v.clone()));
        }
        if let Some(v) = &f.model {
            q = q.filter(request_logs::model.like(like(v)));
        }
        if let Some(v) = f.is_success {
            q = q.filter(request_logs::is_success.eq(v));
        }
        if let Some(v) = &f.request_type {
            q = q.filter(request_logs::request_type.eq(v.clone()));
        }
        if let Some(v) = f.status_code {
            q = q.filter(request_logs::status_code.eq(v));
        }
        if let Some(v) = &f.source_ip {
            q = q.filter(request_logs::source_ip.eq(v.clone()));
        }
        if let Some(v) = &f.error_contains {
            q = q.filter(request_logs::error_message.like(like(v)));
        }
        if let Some(v) = f.start_time {
            q = q.filter(request_logs::timestamp.ge(v));
        }
        if let Some(v) = f.end_time {
            q = q.filter(request_logs::timestamp.le(v));
        }
        q
    }};
}

/// Hours of request counts: `(hour, successes, failures)`.
pub type HourBucket = (NaiveDateTime, i64, i64);

/// Token usage of one group and model over a window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageRow {
    /// The serving (standard) group.
    pub group_id: i64,
    /// The model requested.
    pub model: String,
    /// Requests and tokens.
    pub totals: UsageTotals,
}

/// A window of the usage report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UsageWindow {
    /// First hour included.
    pub from: NaiveDateTime,
    /// Only this group (all groups when `None`).
    pub group_id: Option<i64>,
}

/// The hourly upserts, written once for the three backends: PostgreSQL and SQLite name the
/// unique index's columns (`ON CONFLICT (…)`), MySQL takes `ON DUPLICATE KEY`.
trait UpsertStats {
    async fn add_hourly(
        &mut self,
        hour: NaiveDateTime,
        group_id: i64,
        s: i64,
        f: i64,
    ) -> QueryResult<usize>;
    async fn add_usage(
        &mut self,
        hour: NaiveDateTime,
        group_id: i64,
        model: &str,
        t: &UsageTotals,
    ) -> QueryResult<usize>;
}

macro_rules! upsert_stats {
    ($conn:ty, $hourly_target:expr, $usage_target:expr) => {
        impl UpsertStats for $conn {
            async fn add_hourly(
                &mut self,
                hour: NaiveDateTime,
                group_id: i64,
                s: i64,
                f: i64,
            ) -> QueryResult<usize> {
                use group_hourly_stats as h;
                let ts = now();
                diesel::insert_into(h::table)
                    .values((
                        h::time.eq(hour),
                        h::group_id.eq(group_id),
                        h::success_count.eq(s),
                        h::failure_count.eq(f),
                        h::created_at.eq(ts),
                        h::updated_at.eq(ts),
                    ))
                    .on_conflict($hourly_target)
                    .do_update()
                    .set((
                        h::success_count.eq(h::success_count + s),
                        h::failure_count.eq(h::failure_count + f),
                        h::updated_at.eq(ts),
                    ))
                    .execute(self)
                    .await
            }

            async fn add_usage(
                &mut self,
                hour: NaiveDateTime,
                group_id: i64,
                model: &str,
                t: &UsageTotals,
            ) -> QueryResult<usize> {
                use usage_hourly_stats as u;
                let ts = now();
                diesel::insert_into(u::table)
                    .values((
                        u::time.eq(hour),
                        u::group_id.eq(group_id),
                        u::model.eq(model),
                        u::request_count.eq(t.requests),
                        u::input_tokens.eq(t.input_tokens),
                        u::output_tokens.eq(t.output_tokens),
                        u::total_tokens.eq(t.total_tokens),
                        u::created_at.eq(ts),
                        u::updated_at.eq(ts),
                    ))
                    .on_conflict($usage_target)
                    .do_update()
                    .set((
                        u::request_count.eq(u::request_count + t.requests),
                        u::input_tokens.eq(u::input_tokens + t.input_tokens),
                        u::output_tokens.eq(u::output_tokens + t.output_tokens),
                        u::total_tokens.eq(u::total_tokens + t.total_tokens),
                        u::updated_at.eq(ts),
                    ))
                    .execute(self)
                    .await
            }
        }
    };
}
upsert_stats!(
    SqliteAsync,
    (group_hourly_stats::time, group_hourly_stats::group_id),
    (
        usage_hourly_stats::time,
        usage_hourly_stats::group_id,
        usage_hourly_stats::model
    )
);
upsert_stats!(
    AsyncPgConnection,
    (group_hourly_stats::time, group_hourly_stats::group_id),
    (
        usage_hourly_stats::time,
        usage_hourly_stats::group_id,
        usage_hourly_stats::model
    )
);
upsert_stats!(
    AsyncMysqlConnection,
    diesel::dsl::DuplicatedKeys,
    diesel::dsl::DuplicatedKeys
);

impl Database {
    /// Writes a batch of request logs and the counters it moves (see [`LogBatch::new`]) in one
    /// transaction: either all of it is stored or none.
    pub async fn write_request_logs(&self, batch: &LogBatch) -> Result<(), DbError> {
        if batch.is_empty() {
            return Ok(());
        }
        with_conn!(self, |c| {
            c.transaction(async |c| -> Result<_, DbError> {
                c.insert_request_logs(&batch.rows).await?;
                let ts = now();
                for ((group_id, hash), (n, last)) in &batch.key_usage {
                    let newer = diesel::dsl::case_when(
                        api_keys::last_used_at
                            .is_null()
                            .or(api_keys::last_used_at.lt(*last).assume_not_null()),
                        last.into_sql::<Nullable<Timestamp>>(),
                    )
                    .otherwise(api_keys::last_used_at);
                    diesel::update(
                        api_keys::table.filter(
                            api_keys::group_id
                                .eq(*group_id)
                                .and(api_keys::key_hash.eq(hash)),
                        ),
                    )
                    .set((
                        api_keys::request_count.eq(api_keys::request_count + *n),
                        api_keys::last_used_at.eq(newer),
                        api_keys::updated_at.eq(ts),
                    ))
                    .execute(&mut *c)
                    .await?;
                }
                for ((hour, group_id), (s, f)) in &batch.hourly {
                    c.add_hourly(*hour, *group_id, *s, *f).await?;
                }
                for ((hour, group_id, model), t) in &batch.usage {
                    c.add_usage(*hour, *group_id, model, t).await?;
                }
                Ok(())
            })
            .await
        })
    }

    /// Deletes request logs older than `cutoff`, a chunk per statement. Returns how many.
    pub async fn delete_logs_before(&self, cutoff: NaiveDateTime) -> Result<usize, DbError> {
        let mut deleted = 0;
        loop {
            let ids: Vec<String> = with_conn!(self, |c| request_logs::table
                .filter(request_logs::timestamp.lt(cutoff))
                .select(request_logs::id)
                .limit(RETENTION_CHUNK)
                .load(c)
                .await)?;
            if ids.is_empty() {
                return Ok(deleted);
            }
            let ids = &ids;
            deleted += with_conn!(self, |c| diesel::delete(
                request_logs::table.filter(request_logs::id.eq_any(ids))
            )
            .execute(c)
            .await)?;
        }
    }

    /// `api_keys.key_value` (as stored) of each `(group_id, key_hash)` among `keys` whose key
    /// still exists: log rows name their key by hash, and the admin shows the key from here.
    pub async fn stored_keys_by_hash(
        &self,
        keys: &[(i64, &str)],
    ) -> Result<HashMap<(i64, String), String>, DbError> {
        const CHUNK: usize = 500;
        let mut out = HashMap::with_capacity(keys.len());
        let wanted: HashSet<(i64, &str)> = keys.iter().copied().collect();
        let mut hashes: Vec<&str> = wanted.iter().map(|(_, h)| *h).collect();
        hashes.sort_unstable();
        hashes.dedup();
        let mut groups: Vec<i64> = wanted.iter().map(|(g, _)| *g).collect();
        groups.sort_unstable();
        groups.dedup();
        let groups = &groups;
        for chunk in hashes.chunks(CHUNK) {
            let rows: Vec<(i64, String, String)> = with_conn!(self, |c| api_keys::table
                .filter(
                    api_keys::group_id
                        .eq_any(groups)
                        .and(api_keys::key_hash.eq_any(chunk)),
                )
                .select((api_keys::group_id, api_keys::key_hash, api_keys::key_value))
                .load(c)
                .await)?;
            for (group, hash, value) in rows {
                if wanted.contains(&(group, hash.as_str())) {
                    out.insert((group, hash), value);
                }
            }
        }
        Ok(out)
    }

    /// One page of request logs matching `f`, newest first, and the number matching.
    pub async fn list_logs(
        &self,
        f: &LogFilter,
        page: i64,
        page_size: i64,
    ) -> Result<(Vec<RequestLog>, i64), DbError> {
        let offset = (page.max(1) - 1) * page_size;
        with_conn!(self, |c| {
            let total = filtered_logs!(f).count().get_result::<i64>(c).await?;
            let rows = filtered_logs!(f)
                .select(RequestLog::as_select())
                .order((request_logs::timestamp.desc(), request_logs::id.desc()))
                .limit(page_size)
                .offset(offset)
                .load(c)
                .await?;
            Ok((rows, total))
        })
    }

    /// For each key hash among the logs matching `f`, its latest log, ordered by key hash
    /// (GPT-Load's key export). The distinct hashes are read in pages of 1,000 (keyset, so rows
    /// written meanwhile move nothing); for each page, the matching logs of those keys are read
    /// newest first until every key has its latest one.
    pub async fn latest_log_per_key(&self, f: &LogFilter) -> Result<Vec<LoggedKey>, DbError> {
        const KEYS: i64 = 1_000;
        let mut out = Vec::new();
        let mut after = String::new();
        loop {
            let after_hash = after.clone();
            let hashes: Vec<String> = with_conn!(self, |c| filtered_logs!(f)
                .filter(request_logs::key_hash.gt(after_hash))
                .select(request_logs::key_hash)
                .distinct()
                .order(request_logs::key_hash.asc())
                .limit(KEYS)
                .load(c)
                .await)?;
            let Some(last) = hashes.last().cloned() else {
                return Ok(out);
            };
            let page = &hashes;
            let rows: Vec<LoggedKey> = with_conn!(self, |c| filtered_logs!(f)
                .filter(request_logs::key_hash.eq_any(page))
                .select((
                    request_logs::group_id,
                    request_logs::key_hash,
                    request_logs::key_value,
                    request_logs::group_name,
                    request_logs::status_code,
                ))
                .order((
                    request_logs::key_hash.asc(),
                    request_logs::timestamp.desc(),
                    request_logs::id.desc(),
                ))
                .load(c)
                .await)?;
            for row in rows {
                if out
                    .last()
                    .is_none_or(|p: &LoggedKey| p.key_hash != row.key_hash)
                {
                    out.push(row);
                }
            }
            if hashes.len() < usize::try_from(KEYS).unwrap_or(usize::MAX) {
                return Ok(out);
            }
            after = last;
        }
    }

    /// Final attempts logged in `[from, to)`.
    pub async fn count_final_logs(
        &self,
        from: NaiveDateTime,
        to: NaiveDateTime,
    ) -> Result<i64, DbError> {
        with_conn!(self, |c| Ok(request_logs::table
            .filter(
                request_logs::request_type
                    .eq(REQUEST_TYPE_FINAL)
                    .and(request_logs::timestamp.ge(from))
                    .and(request_logs::timestamp.lt(to)),
            )
            .count()
            .get_result::<i64>(c)
            .await?))
    }

    /// Hourly request counts in `[from, to)`, summed per hour over one group or over every
    /// standard group (aggregates' own rows repeat their members' traffic and are left out).
    pub async fn hourly_requests(
        &self,
        from: NaiveDateTime,
        to: NaiveDateTime,
        group_id: Option<i64>,
    ) -> Result<Vec<HourBucket>, DbError> {
        let rows: Vec<HourBucket> = with_conn!(self, |c| {
            let mut q = group_hourly_stats::table
                .filter(
                    group_hourly_stats::time
                        .ge(from)
                        .and(group_hourly_stats::time.lt(to)),
                )
                .select((
                    group_hourly_stats::time,
                    group_hourly_stats::success_count,
                    group_hourly_stats::failure_count,
                ))
                .into_boxed();
            q = match group_id {
                Some(id) => q.filter(group_hourly_stats::group_id.eq(id)),
                None => q.filter(
                    group_hourly_stats::group_id.ne_all(
                        groups::table
                            .filter(groups::group_type.eq(GroupType::Aggregate.as_str()))
                            .select(groups::id),
                    ),
                ),
            };
            q.load(c).await
        })?;
        let mut by_hour: BTreeMap<NaiveDateTime, (i64, i64)> = BTreeMap::new();
        for (t, s, f) in rows {
            let e = by_hour.entry(t).or_default();
            e.0 += s;
            e.1 += f;
        }
        Ok(by_hour.into_iter().map(|(t, (s, f))| (t, s, f)).collect())
    }

    /// Token usage per group and model since `window.from`, largest total first.
    pub async fn usage(&self, window: UsageWindow) -> Result<Vec<UsageRow>, DbError> {
        use usage_hourly_stats as u;
        let rows: Vec<(i64, String, i64, i64, i64, i64)> = with_conn!(self, |c| {
            let mut q = u::table
                .filter(u::time.ge(window.from))
                .select((
                    u::group_id,
                    u::model,
                    u::request_count,
                    u::input_tokens,
                    u::output_tokens,
                    u::total_tokens,
                ))
                .into_boxed();
            if let Some(id) = window.group_id {
                q = q.filter(u::group_id.eq(id));
            }
            q.load(c).await
        })?;
        let mut sums: BTreeMap<(i64, String), UsageTotals> = BTreeMap::new();
        for (group_id, model, requests, input_tokens, output_tokens, total_tokens) in rows {
            sums.entry((group_id, model))
                .or_default()
                .add(&UsageTotals {
                    requests,
                    input_tokens,
                    output_tokens,
                    total_tokens,
                });
        }
        let mut out: Vec<UsageRow> = sums
            .into_iter()
            .map(|((group_id, model), totals)| UsageRow {
                group_id,
                model,
                totals,
            })
            .collect();
        out.sort_by(|a, b| {
            b.totals
                .total_tokens
                .cmp(&a.totals.total_tokens)
                .then(b.totals.requests.cmp(&a.totals.requests))
        });
        Ok(out)
    }

    /// Keys by group and status: `(group_id, status, count)`.
    pub async fn key_status_by_group(&self) -> Result<Vec<(i64, String, i64)>, DbError> {
        with_conn!(self, |c| Ok(api_keys::table
            .group_by((api_keys::group_id, api_keys::status))
            .select((
                api_keys::group_id,
                api_keys::status,
                diesel::dsl::count_star(),
            ))
            .load(c)
            .await?))
    }

    /// Attempts (retries included) since `from` by group, upstream and outcome:
    /// `(group_id, upstream_addr, is_success, count, latest)`. Attempts without an upstream
    /// (answered by the gateway itself) are left out.
    pub async fn upstream_attempt_counts(
        &self,
        from: NaiveDateTime,
    ) -> Result<Vec<UpstreamAttempts>, DbError> {
        with_conn!(self, |c| Ok(request_logs::table
            .filter(
                request_logs::timestamp
                    .ge(from)
                    .and(request_logs::upstream_addr.ne("")),
            )
            .group_by((
                request_logs::group_id,
                request_logs::upstream_addr,
                request_logs::is_success,
            ))
            .select((
                request_logs::group_id,
                request_logs::upstream_addr,
                request_logs::is_success,
                diesel::dsl::count_star(),
                diesel::dsl::max(request_logs::timestamp),
            ))
            .load(c)
            .await?))
    }

    /// The newest attempts (at most `limit`) of one group's upstream since `from`, newest first:
    /// `(status_code, duration_ms, error_message)`.
    pub async fn recent_upstream_attempts(
        &self,
        group_id: i64,
        upstream: &str,
        from: NaiveDateTime,
        limit: i64,
    ) -> Result<Vec<(i32, i64, String)>, DbError> {
        let upstream = upstream.to_owned();
        with_conn!(self, |c| Ok(request_logs::table
            .filter(
                request_logs::group_id
                    .eq(group_id)
                    .and(request_logs::upstream_addr.eq(&upstream))
                    .and(request_logs::timestamp.ge(from)),
            )
            .order(request_logs::timestamp.desc())
            .limit(limit)
            .select((
                request_logs::status_code,
                request_logs::duration,
                request_logs::error_message,
            ))
            .load(c)
            .await?))
    }
}

/// One row of [`Database::upstream_attempt_counts`].
pub type UpstreamAttempts = (i64, String, bool, i64, Option<NaiveDateTime>);

#[cfg(test)]
mod tests {
    use super::*;

    fn row(ts: &str, group: i64, parent: i64, ok: bool, kind: &str, tokens: i64) -> RequestLog {
        RequestLog {
            id: String::new(),
            timestamp: NaiveDateTime::parse_from_str(ts, "%Y-%m-%d %H:%M:%S").unwrap_or_default(),
            group_id: group,
            group_name: String::new(),
            parent_group_id: parent,
            parent_group_name: String::new(),
            key_value: String::new(),
            key_hash: "h".into(),
            model: "m".into(),
            is_success: ok,
            source_ip: String::new(),
            status_code: if ok { 200 } else { 500 },
            request_path: String::new(),
            duration: 0,
            error_message: String::new(),
            user_agent: String::new(),
            request_type: kind.into(),
            upstream_addr: String::new(),
            is_stream: false,
            request_body: String::new(),
            retry_index: 0,
            ttfb_ms: 0,
            input_tokens: tokens,
            output_tokens: tokens,
            total_tokens: 2 * tokens,
        }
    }

    #[test]
    fn batch_counts_final_attempts_per_hour_and_parent_and_successes_per_key() {
        let batch = LogBatch::new(vec![
            row("2026-11-30 10:05:00", 1, 0, false, REQUEST_TYPE_RETRY, 0),
            row("2026-11-30 10:05:01", 1, 0, true, REQUEST_TYPE_FINAL, 3),
            row("2026-11-30 10:59:59", 1, 9, false, REQUEST_TYPE_FINAL, 0),
            row("2026-11-30 11:00:00", 1, 0, true, REQUEST_TYPE_FINAL, 5),
        ]);
        let h = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap_or_default();
        assert_eq!(batch.hourly[&(h("2026-11-30 10:00:00"), 1)], (1, 1));
        assert_eq!(batch.hourly[&(h("2026-11-30 10:00:00"), 9)], (0, 1));
        assert_eq!(batch.hourly[&(h("2026-11-30 11:00:00"), 1)], (1, 0));
        assert_eq!(
            batch.key_usage[&(1, "h".to_owned())],
            (2, h("2026-11-30 11:00:00"))
        );
        let u = batch.usage[&(h("2026-11-30 10:00:00"), 1, "m".to_owned())];
        assert_eq!((u.requests, u.input_tokens, u.total_tokens), (1, 3, 6));
        assert_eq!(batch.len(), 4);
    }
}
