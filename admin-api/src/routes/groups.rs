//! `/api/groups`: list, create, update, delete, the lite list and the config options.

use axum::extract::{Path, State};
use chrono::Utc;
use gateway_core::settings_catalogue::{CATALOGUE, SystemSettings, normalise_key_list};
use gateway_schema::models::{GroupChangeset, NewGroup};

use super::parse_id;
use crate::dto::{self, CreateGroup, GroupResponse, UpdateGroup};
use crate::error::{ApiError, ApiResult, ok, success};
use crate::extract::ApiJson;
use crate::state::AppState;

/// The effective `app_url` (setting, or `http://{HOST}:{PORT}`).
pub(crate) async fn app_url(state: &AppState) -> Result<String, ApiError> {
    let rows = state.db.settings().await?;
    Ok(rows
        .into_iter()
        .find(|(k, v)| k == "app_url" && !v.trim().is_empty())
        .map_or_else(|| state.default_app_url.clone(), |(_, v)| v))
}

/// `GET /api/groups`: every group, `sort ASC, id DESC`.
pub(crate) async fn list(State(state): State<AppState>) -> ApiResult {
    let url = app_url(&state).await?;
    let groups: Vec<GroupResponse> = state
        .db
        .groups()
        .await?
        .into_iter()
        .map(|g| GroupResponse::new(g, &url))
        .collect();
    Ok(ok(groups))
}

/// `GET /api/groups/list`: `id`, `name`, `display_name` of every group.
pub(crate) async fn list_lite(State(state): State<AppState>) -> ApiResult {
    let groups: Vec<serde_json::Value> = state
        .db
        .groups()
        .await?
        .into_iter()
        .map(|g| serde_json::json!({"id": g.id, "name": g.name, "display_name": g.display_name}))
        .collect();
    Ok(ok(groups))
}

/// `GET /api/groups/config-options`: the overridable settings with their current system values.
pub(crate) async fn config_options(State(state): State<AppState>) -> ApiResult {
    let rows = state.db.settings().await?;
    let (settings, _) = SystemSettings::from_stored(&rows);
    let options: Vec<serde_json::Value> = CATALOGUE
        .iter()
        .filter(|d| d.group_override)
        .map(|d| {
            serde_json::json!({
                "key": d.key, "name": d.name, "description": d.description,
                "default_value": settings.value(d.key),
            })
        })
        .collect();
    Ok(ok(options))
}

/// `POST /api/groups`.
pub(crate) async fn create(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateGroup>,
) -> ApiResult {
    let name = dto::validate_name(&body.name)?;
    let channel = dto::validate_channel(&body.channel_type)?;
    match body.group_type.trim() {
        "" | "standard" => {}
        "aggregate" => {
            return Err(ApiError::Validation(
                "group_type: aggregate groups cannot be created in this version; create standard groups".to_owned(),
            ));
        }
        other => {
            return Err(ApiError::Validation(format!(
                "group_type: must be 'standard' or 'aggregate', got {other:?}"
            )));
        }
    }
    let test_model = body.test_model.trim().to_owned();
    if test_model.is_empty() {
        return Err(ApiError::Validation("test_model: is required".to_owned()));
    }
    let now = Utc::now().naive_utc();
    let new = NewGroup {
        name: name.clone(),
        display_name: body.display_name.trim().to_owned(),
        proxy_keys: normalise_key_list(&body.proxy_keys),
        description: body.description.trim().to_owned(),
        group_type: "standard".to_owned(),
        upstreams: dto::validate_upstreams(&body.upstreams)?,
        validation_endpoint: dto::validate_validation_endpoint(&body.validation_endpoint)?,
        channel_type: channel.as_str().to_owned(),
        sort: body.sort,
        test_model,
        param_overrides: dto::validate_object("param_overrides", &body.param_overrides)?,
        config: dto::validate_config(&body.config)?,
        header_rules: dto::validate_header_rules(&body.header_rules)?,
        model_redirect_rules: dto::validate_redirect_rules(&body.model_redirect_rules)?,
        model_redirect_strict: body.model_redirect_strict,
        created_at: now,
        updated_at: now,
    };
    let group = state.db.create_group(&new).await.map_err(|e| {
        if e.is_unique_violation() {
            ApiError::Duplicate(format!("name: a group named '{name}' already exists"))
        } else {
            e.into()
        }
    })?;
    let url = app_url(&state).await?;
    Ok(ok(GroupResponse::new(group, &url)))
}

/// `PUT /api/groups/{id}`: partial update.
pub(crate) async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateGroup>,
) -> ApiResult {
    let id = parse_id(&id)?;
    let mut changes = GroupChangeset {
        updated_at: Some(Utc::now().naive_utc()),
        ..GroupChangeset::default()
    };
    if let Some(name) = &body.name {
        changes.name = Some(dto::validate_name(name)?);
    }
    if let Some(v) = &body.display_name {
        changes.display_name = Some(v.trim().to_owned());
    }
    if let Some(v) = &body.description {
        changes.description = Some(v.trim().to_owned());
    }
    if let Some(v) = &body.channel_type {
        changes.channel_type = Some(dto::validate_channel(v)?.as_str().to_owned());
    }
    if let Some(v) = body.sort {
        changes.sort = Some(v);
    }
    if let Some(v) = body.upstreams.as_ref().filter(|v| !v.is_null()) {
        changes.upstreams = Some(dto::validate_upstreams(v)?);
    }
    if let Some(v) = body
        .test_model
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        changes.test_model = Some(v.to_owned());
    }
    if let Some(v) = &body.validation_endpoint {
        changes.validation_endpoint = Some(dto::validate_validation_endpoint(v)?);
    }
    if let Some(v) = body.param_overrides.as_ref().filter(|v| !v.is_null()) {
        changes.param_overrides = Some(dto::validate_object("param_overrides", v)?);
    }
    if let Some(v) = body.model_redirect_rules.as_ref().filter(|v| !v.is_null()) {
        changes.model_redirect_rules = Some(dto::validate_redirect_rules(v)?);
    }
    if let Some(v) = body.model_redirect_strict {
        changes.model_redirect_strict = Some(v);
    }
    if let Some(v) = body.config.as_ref().filter(|v| !v.is_null()) {
        changes.config = Some(dto::validate_config(v)?);
    }
    if let Some(v) = body.header_rules.as_ref().filter(|v| !v.is_null()) {
        changes.header_rules = Some(dto::validate_header_rules(v)?);
    }
    if let Some(v) = &body.proxy_keys {
        changes.proxy_keys = Some(normalise_key_list(v));
    }
    let group = state
        .db
        .update_group(id, &changes)
        .await
        .map_err(|e| {
            if e.is_unique_violation() {
                ApiError::Duplicate("name: another group already has this name".to_owned())
            } else {
                e.into()
            }
        })?
        .ok_or_else(|| ApiError::NotFound(format!("group {id} not found")))?;
    let url = app_url(&state).await?;
    Ok(ok(GroupResponse::new(group, &url)))
}

/// `DELETE /api/groups/{id}`: the group, its keys and memberships.
pub(crate) async fn delete(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    if !state.db.delete_group(id).await? {
        return Err(ApiError::NotFound(format!("group {id} not found")));
    }
    Ok(success::<()>(
        "Group and related keys deleted successfully",
        None,
    ))
}
