//! The schema of a setting's value, for `PUT /api/settings` and a group's `config`.

use gateway_core::settings_catalogue::{self, SettingKind};
use serde_json::Value;

/// The JSON Schema of one setting's value: its type and bounds. Text with a grammar of its own
/// (status-code lists, URLs) is checked by the handler and described in the description.
pub fn setting_schema(def: &settings_catalogue::SettingDef) -> Value {
    let mut schema = match def.kind {
        SettingKind::Int { min } => serde_json::json!({"type": "integer", "minimum": min}),
        SettingKind::Bool => serde_json::json!({"type": "boolean"}),
        SettingKind::String { required: true } => {
            serde_json::json!({"type": "string", "pattern": "\\S"})
        }
        SettingKind::String { required: false } => serde_json::json!({"type": "string"}),
    };
    schema["description"] = def.description.into();
    schema
}
