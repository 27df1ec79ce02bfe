//! Request and response bodies of the API (never the diesel rows themselves), with GPT-Load's
//! JSON field names: one module per resource, each holding what its routes take and answer, with
//! the schemas that carry the handlers' validation into the OpenAPI document.

mod auth;
mod group_input;
mod groups;
mod keys;
mod logs;
mod settings;

use chrono::{NaiveDateTime, SecondsFormat};

pub(crate) use auth::Login;
pub use group_input::{
    masked_config, opened_config, reject_aggregate_rate_limits, sealed_config, validate_channel,
    validate_config, validate_header_rules, validate_name, validate_object,
    validate_redirect_rules, validate_upstreams, validate_validation_endpoint,
};
pub(crate) use groups::{AddMembers, CopyGroup, Reorder, Weight};
pub use groups::{CreateGroup, GroupResponse, UpdateGroup, create_group_schema};
pub use keys::KeyResponse;
pub(crate) use keys::{GroupBody, KeysBody, NotesBody, ValidateGroup};
pub use logs::LogResponse;
pub use settings::setting_schema;

/// RFC 3339 in UTC, as the API prints every time.
pub fn rfc3339(t: NaiveDateTime) -> String {
    t.and_utc().to_rfc3339_opts(SecondsFormat::Millis, true)
}
