//! `groups` rows.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::groups;

/// What kind of group a row is (`groups.group_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GroupType {
    /// Serves requests with its own keys and upstreams.
    Standard,
    /// Hands each request to one of its member groups.
    Aggregate,
}

impl GroupType {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Aggregate => "aggregate",
        }
    }

    /// The type a stored name means; `""` is `standard` (GPT-Load rows from before aggregate
    /// groups existed). `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "" | "standard" => Some(Self::Standard),
            "aggregate" => Some(Self::Aggregate),
            _ => None,
        }
    }
}

/// A stored group (JSON columns as text).
#[derive(Clone, Debug, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = groups)]
pub struct Group {
    /// Primary key.
    pub id: i64,
    /// Unique name used in `/proxy/{name}`.
    pub name: String,
    /// Display name.
    pub display_name: String,
    /// Comma-separated proxy keys of this group.
    pub proxy_keys: String,
    /// Free text.
    pub description: String,
    /// `standard` or `aggregate` (see [`Group::kind`]).
    pub group_type: String,
    /// JSON array `[{"url","weight"}]`.
    pub upstreams: String,
    /// Path used for key validation ("" = channel default).
    pub validation_endpoint: String,
    /// `openai`, `openai-response`, `anthropic`, `gemini`.
    pub channel_type: String,
    /// Display order.
    pub sort: i32,
    /// Model used for key validation.
    pub test_model: String,
    /// JSON object of body overrides.
    pub param_overrides: String,
    /// JSON object of setting overrides.
    pub config: String,
    /// JSON array of header rules.
    pub header_rules: String,
    /// JSON object model → model.
    pub model_redirect_rules: String,
    /// Reject models without a redirect rule.
    pub model_redirect_strict: bool,
    /// Last validation run of this group's invalid keys.
    pub last_validated_at: Option<NaiveDateTime>,
    /// Creation time (UTC).
    pub created_at: NaiveDateTime,
    /// Last change (UTC).
    pub updated_at: NaiveDateTime,
    /// Switched on: false keeps the group's setup but answers its requests with 503 and takes
    /// it out of aggregates.
    pub enabled: bool,
}

impl Group {
    /// Its [`GroupType`] (`None` for a type this version does not know).
    pub fn kind(&self) -> Option<GroupType> {
        GroupType::parse(&self.group_type)
    }

    /// True for an aggregate group.
    pub fn is_aggregate(&self) -> bool {
        self.kind() == Some(GroupType::Aggregate)
    }
}

/// A group to insert.
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = groups)]
pub struct NewGroup {
    /// See [`Group`].
    pub name: String,
    /// See [`Group`].
    pub display_name: String,
    /// See [`Group`].
    pub proxy_keys: String,
    /// See [`Group`].
    pub description: String,
    /// See [`Group`].
    pub group_type: String,
    /// See [`Group`].
    pub upstreams: String,
    /// See [`Group`].
    pub validation_endpoint: String,
    /// See [`Group`].
    pub channel_type: String,
    /// See [`Group`].
    pub sort: i32,
    /// See [`Group`].
    pub test_model: String,
    /// See [`Group`].
    pub param_overrides: String,
    /// See [`Group`].
    pub config: String,
    /// See [`Group`].
    pub header_rules: String,
    /// See [`Group`].
    pub model_redirect_rules: String,
    /// See [`Group`].
    pub model_redirect_strict: bool,
    /// See [`Group`].
    pub created_at: NaiveDateTime,
    /// See [`Group`].
    pub updated_at: NaiveDateTime,
    /// See [`Group`].
    pub enabled: bool,
}

/// A partial update; `None` leaves a column as it is.
#[derive(Clone, Debug, Default, AsChangeset)]
#[diesel(table_name = groups)]
pub struct GroupChangeset {
    /// See [`Group`].
    pub name: Option<String>,
    /// See [`Group`].
    pub display_name: Option<String>,
    /// See [`Group`].
    pub proxy_keys: Option<String>,
    /// See [`Group`].
    pub description: Option<String>,
    /// See [`Group`].
    pub upstreams: Option<String>,
    /// See [`Group`].
    pub validation_endpoint: Option<String>,
    /// See [`Group`].
    pub channel_type: Option<String>,
    /// See [`Group`].
    pub sort: Option<i32>,
    /// See [`Group`].
    pub test_model: Option<String>,
    /// See [`Group`].
    pub param_overrides: Option<String>,
    /// See [`Group`].
    pub config: Option<String>,
    /// See [`Group`].
    pub header_rules: Option<String>,
    /// See [`Group`].
    pub model_redirect_rules: Option<String>,
    /// See [`Group`].
    pub model_redirect_strict: Option<bool>,
    /// See [`Group`].
    pub enabled: Option<bool>,
    /// Always set on update.
    pub updated_at: Option<NaiveDateTime>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_types_round_trip_and_empty_is_standard() {
        for t in [GroupType::Standard, GroupType::Aggregate] {
            assert_eq!(GroupType::parse(t.as_str()), Some(t));
        }
        assert_eq!(GroupType::parse(""), Some(GroupType::Standard));
        assert_eq!(GroupType::parse("Aggregate"), None);
    }
}
