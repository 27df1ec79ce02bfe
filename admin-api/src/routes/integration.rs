//! `GET /api/integration/info` and `GET /proxy/{group}/api/integration/info` (public, as
//! GPT-Load): which groups a proxy key may call, and the path to call them, for tools such as New
//! API.

use axum::extract::{Path, State};
use gateway_core::ChannelType;
use gateway_core::client_credential::extract_token;
use gateway_core::settings_catalogue::{SystemSettings, split_key_list};
use gateway_schema::models::Group;

use crate::admin_auth::matches;
use crate::error::{ApiError, ApiResult, ok};
use crate::extract::ApiQuery;
use crate::state::AppState;

/// The query: the proxy key may come as `?key=` or in a header.
#[derive(serde::Deserialize)]
pub(crate) struct InfoQuery {
    key: Option<String>,
}

/// `GET /api/integration/info?key=`: every group the key may call, with its proxy path.
pub(crate) async fn all(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    ApiQuery(q): ApiQuery<InfoQuery>,
) -> ApiResult {
    let key = proxy_key(&headers, q.key)?;
    let groups = state.db.groups().await?;
    info(&state, &key, groups, true).await
}

/// `GET /proxy/{group}/api/integration/info?key=`: the same for one group, with paths relative
/// to the group's endpoint.
pub(crate) async fn one(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: axum::http::HeaderMap,
    ApiQuery(q): ApiQuery<InfoQuery>,
) -> ApiResult {
    let key = proxy_key(&headers, q.key)?;
    let group = state
        .db
        .groups()
        .await?
        .into_iter()
        .find(|g| g.name == name)
        .ok_or_else(|| ApiError::NotFound(format!("group '{name}' not found")))?;
    info(&state, &key, vec![group], false).await
}

fn proxy_key(headers: &axum::http::HeaderMap, query: Option<String>) -> Result<String, ApiError> {
    query
        .filter(|k| !k.trim().is_empty())
        .or_else(|| extract_token(None, |n| headers.get(n).and_then(|v| v.to_str().ok())))
        .ok_or_else(|| ApiError::Validation("key: proxy key is required".to_owned()))
}

async fn info(state: &AppState, key: &str, groups: Vec<Group>, global: bool) -> ApiResult {
    let rows = state.db.settings().await?;
    let (settings, _) = SystemSettings::from_stored(&rows);
    let global_ok = settings.proxy_keys().any(|k| matches(key, k));
    let items: Vec<serde_json::Value> = groups
        .into_iter()
        .filter(|g| global_ok || split_key_list(&g.proxy_keys).any(|k| matches(key, k)))
        .map(|g| {
            let channel = g.channel_type.parse::<ChannelType>().ok();
            let custom = matches!(
                channel,
                Some(ChannelType::OpenAi | ChannelType::OpenAiResponse)
            ) && !g.validation_endpoint.is_empty()
                && channel
                    .is_some_and(|c| c.default_validation_endpoint() != g.validation_endpoint);
            let base = if global {
                format!("/proxy/{}", g.name)
            } else {
                String::new()
            };
            let (channel_type, path) = if custom {
                (
                    "custom".to_owned(),
                    format!("{base}{}", g.validation_endpoint),
                )
            } else {
                (g.channel_type.clone(), base)
            };
            serde_json::json!({
                "name": g.name, "display_name": g.display_name,
                "channel_type": channel_type, "path": path,
            })
        })
        .collect();
    if items.is_empty() {
        return Err(ApiError::Validation(
            "key: invalid or unauthorized proxy key".to_owned(),
        ));
    }
    Ok(ok(items))
}
