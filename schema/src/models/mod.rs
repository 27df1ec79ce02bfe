//! Row types, one trio per table: `NewX` (Insertable), `X` (Queryable/Selectable) and `XChangeset`.

mod admin_task;
mod api_key;
mod group;
mod system_setting;

pub use admin_task::AdminTask;
pub use api_key::{ApiKey, KeyStatus, NewApiKey};
pub use group::{Group, GroupChangeset, NewGroup};
pub use system_setting::{NewSystemSetting, SystemSetting};
