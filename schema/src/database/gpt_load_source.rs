//! Reading a GPT-Load 1.4 database for `gateway-admin import-gpt-load`: its
//! settings, groups, aggregate links and keys, whatever its backend. GPT-Load's tables are not
//! ours (no `enabled`, `cooldown_until`, …), so these are plain `SELECT`s with every column cast
//! to text or a 64-bit integer in the backend's own syntax (MySQL stores ids unsigned, JSON
//! columns as `json`, booleans as `tinyint`; PostgreSQL booleans do not cast to bigint).

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;

use super::Database;
use crate::DbError;
use crate::connection::DbPool;

/// A `system_settings` row.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct SourceSetting {
    /// The setting's name.
    #[diesel(sql_type = Text)]
    pub setting_key: String,
    /// Its value (text, as GPT-Load stores every value).
    #[diesel(sql_type = Text)]
    pub setting_value: String,
}

/// A `groups` row (JSON columns as their text).
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct SourceGroup {
    /// Its id in the source database.
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    /// Unique name.
    #[diesel(sql_type = Text)]
    pub name: String,
    /// Display name.
    #[diesel(sql_type = Text)]
    pub display_name: String,
    /// Comma-separated proxy keys.
    #[diesel(sql_type = Text)]
    pub proxy_keys: String,
    /// Free text.
    #[diesel(sql_type = Text)]
    pub description: String,
    /// `standard` or `aggregate`.
    #[diesel(sql_type = Text)]
    pub group_type: String,
    /// JSON `[{"url","weight"}]`.
    #[diesel(sql_type = Text)]
    pub upstreams: String,
    /// Key validation path.
    #[diesel(sql_type = Text)]
    pub validation_endpoint: String,
    /// Provider API.
    #[diesel(sql_type = Text)]
    pub channel_type: String,
    /// Display order.
    #[diesel(sql_type = BigInt)]
    pub sort: i64,
    /// Model used for validation.
    #[diesel(sql_type = Text)]
    pub test_model: String,
    /// JSON object.
    #[diesel(sql_type = Text)]
    pub param_overrides: String,
    /// JSON object of setting overrides.
    #[diesel(sql_type = Text)]
    pub config: String,
    /// JSON array.
    #[diesel(sql_type = Text)]
    pub header_rules: String,
    /// JSON object model → model.
    #[diesel(sql_type = Text)]
    pub model_redirect_rules: String,
    /// 1 when strict.
    #[diesel(sql_type = BigInt)]
    pub model_redirect_strict: i64,
}

/// A `group_sub_groups` row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, QueryableByName)]
pub struct SourceLink {
    /// The aggregate.
    #[diesel(sql_type = BigInt)]
    pub group_id: i64,
    /// The member.
    #[diesel(sql_type = BigInt)]
    pub sub_group_id: i64,
    /// Its weight.
    #[diesel(sql_type = BigInt)]
    pub weight: i64,
}

/// An `api_keys` row.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct SourceKey {
    /// Its id in the source database.
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    /// Its group in the source database.
    #[diesel(sql_type = BigInt)]
    pub group_id: i64,
    /// The stored value: plaintext, or GPT-Load's AES-GCM hex when it used `ENCRYPTION_KEY`.
    #[diesel(sql_type = Text)]
    pub key_value: String,
    /// `active` or `invalid`.
    #[diesel(sql_type = Text)]
    pub status: String,
    /// Notes.
    #[diesel(sql_type = Text)]
    pub notes: String,
}

/// How one backend spells the casts and the quoting.
struct Dialect {
    text_type: &'static str,
    int_type: &'static str,
    quote: char,
}

impl Dialect {
    fn of(pool: &DbPool) -> Self {
        match pool {
            DbPool::Sqlite(_) => Self {
                text_type: "TEXT",
                int_type: "INTEGER",
                quote: '"',
            },
            DbPool::Postgres(_) => Self {
                text_type: "TEXT",
                int_type: "BIGINT",
                quote: '"',
            },
            DbPool::Mysql(_) => Self {
                text_type: "CHAR",
                int_type: "SIGNED",
                quote: '`',
            },
        }
    }

    fn text(&self, column: &str) -> String {
        self.text_as(column, column)
    }

    fn text_as(&self, column: &str, alias: &str) -> String {
        format!(
            "COALESCE(CAST({column} AS {}), '') AS {alias}",
            self.text_type
        )
    }

    fn int(&self, column: &str) -> String {
        format!(
            "COALESCE(CAST({column} AS {}), 0) AS {column}",
            self.int_type
        )
    }

    fn flag(&self, column: &str) -> String {
        format!(
            "CAST(CASE WHEN {column} THEN 1 ELSE 0 END AS {}) AS {column}",
            self.int_type
        )
    }

    fn table(&self, name: &str) -> String {
        format!("{q}{name}{q}", q = self.quote)
    }
}

impl Database {
    /// Every `system_settings` row of a GPT-Load database.
    pub async fn gpt_load_settings(&self) -> Result<Vec<SourceSetting>, DbError> {
        let d = Dialect::of(&self.pool);
        let sql = format!(
            "SELECT {}, {} FROM {}",
            d.text_as("setting_key", "setting_key"),
            d.text_as("setting_value", "setting_value"),
            d.table("system_settings")
        );
        with_conn!(self, |c| Ok(diesel::sql_query(&sql).load(c).await?))
    }

    /// Every group of a GPT-Load database, by id.
    pub async fn gpt_load_groups(&self) -> Result<Vec<SourceGroup>, DbError> {
        let d = Dialect::of(&self.pool);
        let text = [
            "name",
            "display_name",
            "proxy_keys",
            "description",
            "group_type",
            "upstreams",
            "validation_endpoint",
            "channel_type",
            "test_model",
            "param_overrides",
            "config",
            "header_rules",
            "model_redirect_rules",
        ]
        .map(|c| d.text(c))
        .join(", ");
        let sql = format!(
            "SELECT {}, {}, {}, {text} FROM {} ORDER BY id",
            d.int("id"),
            d.int("sort"),
            d.flag("model_redirect_strict"),
            d.table("groups")
        );
        with_conn!(self, |c| Ok(diesel::sql_query(&sql).load(c).await?))
    }

    /// Every aggregate link of a GPT-Load database.
    pub async fn gpt_load_links(&self) -> Result<Vec<SourceLink>, DbError> {
        let d = Dialect::of(&self.pool);
        let sql = format!(
            "SELECT {}, {}, {} FROM {} ORDER BY id",
            d.int("group_id"),
            d.int("sub_group_id"),
            d.int("weight"),
            d.table("group_sub_groups")
        );
        with_conn!(self, |c| Ok(diesel::sql_query(&sql).load(c).await?))
    }

    /// Up to `limit` keys of a GPT-Load database with an id above `after`, by id.
    pub async fn gpt_load_keys(&self, after: i64, limit: i64) -> Result<Vec<SourceKey>, DbError> {
        let d = Dialect::of(&self.pool);
        let sql = format!(
            "SELECT {}, {}, {}, {}, {} FROM {} WHERE id > {after} ORDER BY id LIMIT {limit}",
            d.int("id"),
            d.int("group_id"),
            d.text("key_value"),
            d.text("status"),
            d.text("notes"),
            d.table("api_keys")
        );
        with_conn!(self, |c| Ok(diesel::sql_query(&sql).load(c).await?))
    }
}
