//! `system_settings` rows.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::system_settings;

/// A stored dynamic setting (value as text).
#[derive(Clone, Debug, PartialEq, Queryable, Selectable)]
#[diesel(table_name = system_settings)]
pub struct SystemSetting {
    /// Primary key.
    pub id: i64,
    /// Setting key.
    pub setting_key: String,
    /// Value as text.
    pub setting_value: String,
    /// Description.
    pub description: String,
    /// Creation time (UTC).
    pub created_at: NaiveDateTime,
    /// Last change (UTC).
    pub updated_at: NaiveDateTime,
}

/// A setting to insert.
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = system_settings)]
pub struct NewSystemSetting {
    /// See [`SystemSetting`].
    pub setting_key: String,
    /// See [`SystemSetting`].
    pub setting_value: String,
    /// See [`SystemSetting`].
    pub description: String,
    /// See [`SystemSetting`].
    pub created_at: NaiveDateTime,
    /// See [`SystemSetting`].
    pub updated_at: NaiveDateTime,
}
