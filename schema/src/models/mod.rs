//! Row types, one trio per table: `NewX` (Insertable), `X` (Queryable/Selectable) and `XChangeset`.

mod admin_task;
mod api_key;
mod group;
mod request_log;
mod system_setting;

pub use admin_task::AdminTask;
pub use api_key::{ApiKey, KeyStatus, NewApiKey};
pub use group::{Group, GroupChangeset, GroupType, NewGroup};
pub use request_log::{REQUEST_TYPE_FINAL, REQUEST_TYPE_RETRY, RequestLog};
pub use system_setting::{NewSystemSetting, SystemSetting};
