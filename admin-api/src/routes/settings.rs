//! `/api/settings`: the dynamic settings by category, and validated partial updates.

use axum::extract::State;
use gateway_core::settings_catalogue::{
    CATALOGUE, SettingCategory, SettingKind, SystemSettings, find, validate_value,
};

use gateway_core::outbound_proxy;

use crate::error::{ApiError, ApiResult, ok, success};
use crate::extract::ApiJson;
use crate::i18n;
use crate::state::AppState;

/// `GET /api/settings`: `[{category_name, settings: [...]}]` in GPT-Load's order.
pub(crate) async fn list(State(state): State<AppState>) -> ApiResult {
    let rows = state.db.settings().await?;
    let (settings, _) = SystemSettings::from_stored(&rows);
    let categories: Vec<serde_json::Value> = [SettingCategory::Basic, SettingCategory::Request, SettingCategory::Key]
        .into_iter()
        .map(|cat| {
            let items: Vec<serde_json::Value> = CATALOGUE
                .iter()
                .filter(|d| d.category == cat)
                .map(|d| {
                    let mut item = serde_json::json!({
                        "key": d.key,
                        "name": i18n::setting_name(d.key, d.name),
                        "value": shown_value(&settings, d.key),
                        "type": d.kind.type_name(),
                        "default_value": d.default,
                        "description": i18n::setting_description(d.key, d.description),
                        "category": i18n::category(cat),
                        "required": matches!(d.kind, SettingKind::Int { .. } | SettingKind::String { required: true }),
                    });
                    if let SettingKind::Int { min } = d.kind {
                        item["min_value"] = min.into();
                    }
                    item
                })
                .collect();
            serde_json::json!({"category_name": i18n::category(cat), "settings": items})
        })
        .collect();
    Ok(ok(categories))
}

/// A setting's value as the API shows it: `proxy_url` with its password masked.
pub(crate) fn shown_value(settings: &SystemSettings, key: &str) -> serde_json::Value {
    if key == "proxy_url" {
        outbound_proxy::mask_setting(settings.string(key)).into()
    } else {
        settings.value(key).clone()
    }
}

/// `PUT /api/settings`: a flat object of key → value; every value is validated before any is
/// written, and all are written in one transaction.
pub(crate) async fn update(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<serde_json::Map<String, serde_json::Value>>,
) -> ApiResult {
    let mut values = Vec::with_capacity(body.len());
    for (key, value) in &body {
        let def =
            find(key).ok_or_else(|| ApiError::Validation(format!("{key}: unknown setting")))?;
        let mut text =
            validate_value(def, value).map_err(|e| ApiError::Validation(e.to_string()))?;
        if key == "proxy_url" {
            // Shown masked: a masked password sent back keeps the stored one.
            let (current, _) = SystemSettings::from_stored(&state.db.settings().await?);
            text = outbound_proxy::unmask_setting(&text, current.string("proxy_url"))
                .map_err(|e| ApiError::Validation(format!("proxy_url: {e}")))?;
            // Its password is stored sealed under ENCRYPTION_KEY, like the upstream keys.
            text = outbound_proxy::seal_setting(&text, &state.cipher);
        }
        values.push((key.clone(), text));
    }
    if !values.is_empty() {
        state.db.update_settings(&values).await?;
    }
    Ok(success::<()>(
        "Settings updated successfully. Configuration will be reloaded in the background across all instances.",
        None,
    ))
}

/// The schema of `PUT /api/settings`'s body: every setting of the catalogue with its type and
/// bounds, no other field.
pub(crate) fn body_schema() -> serde_json::Value {
    let properties: serde_json::Map<String, serde_json::Value> = CATALOGUE
        .iter()
        .map(|d| (d.key.to_owned(), crate::dto::setting_schema(d)))
        .collect();
    serde_json::json!({"type": "object", "properties": properties, "additionalProperties": false})
}
