//! `api_keys` rows.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::api_keys;

/// The states a key can be in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyStatus {
    /// In rotation.
    Active,
    /// Blacklisted; recovered by validation.
    Invalid,
    /// Rate limited: out of rotation until `cooldown_until`, then active again by itself.
    Cooling,
    /// Switched off by a person: out of rotation and out of validation until switched on.
    Disabled,
}

impl KeyStatus {
    /// The stored text.
    pub const fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Invalid => "invalid",
            KeyStatus::Cooling => "cooling",
            KeyStatus::Disabled => "disabled",
        }
    }

    /// Parses the stored text.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(KeyStatus::Active),
            "invalid" => Some(KeyStatus::Invalid),
            "cooling" => Some(KeyStatus::Cooling),
            "disabled" => Some(KeyStatus::Disabled),
            _ => None,
        }
    }
}

/// A stored upstream key.
#[derive(Clone, Debug, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = api_keys)]
pub struct ApiKey {
    /// Primary key.
    pub id: i64,
    /// The key as stored (plaintext, or ciphertext when encryption is on).
    pub key_value: String,
    /// Deterministic hash for lookups.
    pub key_hash: String,
    /// Owning group.
    pub group_id: i64,
    /// `active` / `invalid` / `cooling`.
    pub status: String,
    /// Free text.
    pub notes: String,
    /// Successful requests served.
    pub request_count: i64,
    /// Failure counter.
    pub failure_count: i64,
    /// Last successful use.
    pub last_used_at: Option<NaiveDateTime>,
    /// Creation time (UTC).
    pub created_at: NaiveDateTime,
    /// Last change (UTC).
    pub updated_at: NaiveDateTime,
    /// End of a rate-limit cool-down (status `cooling`).
    pub cooldown_until: Option<NaiveDateTime>,
}

/// A key to insert.
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = api_keys)]
pub struct NewApiKey {
    /// See [`ApiKey`].
    pub key_value: String,
    /// See [`ApiKey`].
    pub key_hash: String,
    /// See [`ApiKey`].
    pub group_id: i64,
    /// See [`ApiKey`].
    pub status: String,
    /// See [`ApiKey`].
    pub notes: String,
    /// See [`ApiKey`].
    pub created_at: NaiveDateTime,
    /// See [`ApiKey`].
    pub updated_at: NaiveDateTime,
}
