//! Queries over every stored upstream key at once (`api_keys`, and the `request_logs` rows written
//! before logs stored only a mask): samples for the encryption check, pages for `migrate-keys` to
//! verify, and its one-transaction rewrite.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::{Database, now};
use crate::DbError;
use crate::connection::DbPool;
use crate::schema::{api_keys, config_revision, request_logs};

/// Rows read per query while verifying or rewriting.
const PAGE: i64 = 1000;
/// Keys sampled from each end of `api_keys`, and newest log rows, for the encryption check.
const SAMPLE: i64 = 20;
/// `LIKE` pattern of a sealed value (`enc1:` + base64, the key cipher's format). Log rows store a
/// masked key; only rows written before that, with `ENCRYPTION_KEY` set, still hold a sealed one.
const SEALED: &str = "enc1:%";

/// A stored key: its table, row id, stored value and lookup hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// `api_keys` or `request_logs`.
    pub table: &'static str,
    /// Row id (`api_keys.id` as text, or the log's id).
    pub id: String,
    /// `key_value` as stored.
    pub value: String,
    /// `key_hash` as stored.
    pub hash: String,
}

/// How many rows a rewrite changed in each table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RewriteCounts {
    /// `api_keys` rows.
    pub keys: usize,
    /// `request_logs` rows (sealed keys masked, and masked rows given their key's new hash).
    pub logs: usize,
}

/// `(id, key_value, key_hash)` of the `api_keys` rows after `$after`, a page, on connection `$c`.
macro_rules! key_page {
    ($c:expr, $after:expr) => {
        api_keys::table
            .filter(api_keys::id.gt($after))
            .order(api_keys::id.asc())
            .select((api_keys::id, api_keys::key_value, api_keys::key_hash))
            .limit(PAGE)
            .load::<(i64, String, String)>($c)
            .await
    };
}

/// `(id, key_value, key_hash)` of the `request_logs` rows holding a sealed key after `$after`, a
/// page.
macro_rules! log_key_page {
    ($c:expr, $after:expr) => {
        request_logs::table
            .filter(
                request_logs::id
                    .gt($after)
                    .and(request_logs::key_value.like(SEALED)),
            )
            .order(request_logs::id.asc())
            .select((
                request_logs::id,
                request_logs::key_value,
                request_logs::key_hash,
            ))
            .limit(PAGE)
            .load::<(String, String, String)>($c)
            .await
    };
}

impl StoredKey {
    fn key((id, value, hash): (i64, String, String)) -> Self {
        Self {
            table: "api_keys",
            id: id.to_string(),
            value,
            hash,
        }
    }

    fn log((id, value, hash): (String, String, String)) -> Self {
        Self {
            table: "request_logs",
            id,
            value,
            hash,
        }
    }
}

impl Database {
    /// `(key_value, key_hash)` of the first and last keys by id and of the newest logs that hold
    /// a sealed key: what the encryption check looks at.
    pub async fn encryption_samples(&self) -> Result<Vec<(String, String)>, DbError> {
        let cols = (api_keys::key_value, api_keys::key_hash);
        let mut rows: Vec<(String, String)> = with_conn!(self, |c| api_keys::table
            .filter(api_keys::key_hash.ne(""))
            .order(api_keys::id.asc())
            .select(cols)
            .limit(SAMPLE)
            .load(c)
            .await)?;
        let last: Vec<(String, String)> = with_conn!(self, |c| api_keys::table
            .filter(api_keys::key_hash.ne(""))
            .order(api_keys::id.desc())
            .select(cols)
            .limit(SAMPLE)
            .load(c)
            .await)?;
        rows.extend(last);
        let logs: Vec<(String, String)> = with_conn!(self, |c| request_logs::table
            .filter(request_logs::key_value.like(SEALED))
            .order(request_logs::timestamp.desc())
            .select((request_logs::key_value, request_logs::key_hash))
            .limit(SAMPLE)
            .load(c)
            .await)?;
        rows.extend(logs);
        Ok(rows)
    }

    /// One page of stored keys after `after` (`None` = from the start): `api_keys` in id order,
    /// then the `request_logs` rows that hold a sealed key, in id order. Empty at the end.
    pub async fn stored_keys_page(
        &self,
        after: Option<&StoredKey>,
    ) -> Result<Vec<StoredKey>, DbError> {
        let in_logs = after.is_some_and(|a| a.table == "request_logs");
        if !in_logs {
            let after_id = after.and_then(|a| a.id.parse::<i64>().ok()).unwrap_or(0);
            let rows = with_conn!(self, |c| key_page!(c, after_id))?;
            if !rows.is_empty() {
                return Ok(rows.into_iter().map(StoredKey::key).collect());
            }
        }
        let after_id = after.filter(|_| in_logs).map_or("", |a| a.id.as_str());
        let rows = with_conn!(self, |c| log_key_page!(c, after_id))?;
        Ok(rows.into_iter().map(StoredKey::log).collect())
    }

    /// Replaces every stored key with what `rewrite` makes of it (new `key_value`, new
    /// `key_hash`), in one transaction: all rows change or none. `rewrite` returning an error
    /// aborts the transaction with that text. Log rows that store a masked key get the new hash
    /// of their key; those of a key deleted since keep the old one (they no longer match a key
    /// filter, and still show masked).
    pub async fn rewrite_stored_keys<F>(&self, rewrite: F) -> Result<RewriteCounts, DbError>
    where
        F: Fn(&StoredKey) -> Result<(String, String), String> + Send + Sync,
    {
        let rewrite = &rewrite;
        with_conn!(self, |c| {
            c.transaction(async |c| -> Result<_, DbError> {
                let mut counts = RewriteCounts::default();
                // Old hash → new hash of every key whose hash changes (the masked log rows
                // follow their key by it).
                let mut rehashed = HashMap::new();
                let mut after_key = 0_i64;
                loop {
                    let rows = key_page!(&mut *c, after_key)?;
                    let Some(last) = rows.last() else { break };
                    after_key = last.0;
                    let ts = now();
                    for row in rows {
                        let id = row.0;
                        let stored = StoredKey::key(row);
                        let (value, hash) = rewrite(&stored).map_err(DbError::Aborted)?;
                        if hash != stored.hash {
                            rehashed.insert(stored.hash, hash.clone());
                        }
                        diesel::update(api_keys::table.find(id))
                            .set((
                                api_keys::key_value.eq(value),
                                api_keys::key_hash.eq(hash),
                                api_keys::updated_at.eq(ts),
                            ))
                            .execute(&mut *c)
                            .await?;
                        counts.keys += 1;
                    }
                }
                for (old, new) in &rehashed {
                    counts.logs += diesel::update(
                        request_logs::table.filter(
                            request_logs::key_hash
                                .eq(old)
                                .and(request_logs::key_value.not_like(SEALED)),
                        ),
                    )
                    .set(request_logs::key_hash.eq(new))
                    .execute(&mut *c)
                    .await?;
                }
                let mut after_log = String::new();
                loop {
                    let rows = log_key_page!(&mut *c, &after_log)?;
                    let Some(last) = rows.last() else { break };
                    after_log.clone_from(&last.0);
                    for row in rows {
                        let stored = StoredKey::log(row);
                        let (value, hash) = rewrite(&stored).map_err(DbError::Aborted)?;
                        diesel::update(request_logs::table.find(&stored.id))
                            .set((
                                request_logs::key_value.eq(value),
                                request_logs::key_hash.eq(hash),
                            ))
                            .execute(&mut *c)
                            .await?;
                        counts.logs += 1;
                    }
                }
                bump_revision!(&mut *c)?;
                Ok(counts)
            })
            .await
        })
    }
}
