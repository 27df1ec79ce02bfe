//! `/api/groups`: list, create, update, delete, copy, reorder, statistics, the lite list and the
//! config options.

use axum::extract::{Path, State};
use chrono::Utc;
use gateway_core::settings_catalogue::{CATALOGUE, SystemSettings, normalise_key_list};
use gateway_schema::models::{GroupChangeset, GroupType, KeyStatus, NewGroup};

use super::parse_id;
use super::settings::shown_value;
use crate::dto::{self, CopyGroup, CreateGroup, GroupResponse, Reorder, UpdateGroup};
use crate::error::{ApiError, ApiResult, ok, success};
use crate::extract::ApiJson;
use crate::key_tasks;
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
                "key": d.key, "name": crate::i18n::setting_name(d.key, d.name),
                "description": crate::i18n::setting_description(d.key, d.description),
                "default_value": shown_value(&settings, d.key),
            })
        })
        .collect();
    Ok(ok(options))
}

/// The group `body` describes, validated as `POST /api/groups` takes it (also the way a
/// GPT-Load group is brought in by `import-gpt-load`).
pub(crate) fn new_group(body: &CreateGroup) -> Result<NewGroup, ApiError> {
    let name = dto::validate_name(&body.name)?;
    let channel = dto::validate_channel(&body.channel_type)?;
    let Some(kind) = GroupType::parse(body.group_type.trim()) else {
        return Err(ApiError::Validation(format!(
            "group_type: must be 'standard' or 'aggregate', got {:?}",
            body.group_type.trim()
        )));
    };
    let aggregate = kind == GroupType::Aggregate;
    let now = Utc::now().naive_utc();
    Ok(if aggregate {
        // An aggregate routes to its sub-groups: it has no upstreams, keys, test model,
        // validation endpoint or model redirects of its own.
        let redirects = dto::validate_redirect_rules(&body.model_redirect_rules)?;
        if redirects != "{}" {
            return Err(ApiError::Validation(
                "model_redirect_rules: aggregate groups take no redirect rules; set them on the sub-groups"
                    .to_owned(),
            ));
        }
        if body.upstreams.as_array().is_some_and(|u| !u.is_empty()) {
            return Err(ApiError::Validation(
                "upstreams: aggregate groups have no upstreams of their own; add sub-groups"
                    .to_owned(),
            ));
        }
        let config = dto::validate_config(&body.config, "")?;
        dto::reject_aggregate_rate_limits(&body.config)?;
        NewGroup {
            name,
            display_name: body.display_name.trim().to_owned(),
            proxy_keys: normalise_key_list(&body.proxy_keys),
            description: body.description.trim().to_owned(),
            group_type: GroupType::Aggregate.as_str().to_owned(),
            upstreams: "[]".to_owned(),
            validation_endpoint: String::new(),
            channel_type: channel.as_str().to_owned(),
            sort: body.sort,
            test_model: "-".to_owned(),
            param_overrides: "{}".to_owned(),
            config,
            header_rules: "[]".to_owned(),
            model_redirect_rules: "{}".to_owned(),
            model_redirect_strict: false,
            created_at: now,
            updated_at: now,
            enabled: body.enabled,
        }
    } else {
        let test_model = body.test_model.trim().to_owned();
        if test_model.is_empty() {
            return Err(ApiError::Validation("test_model: is required".to_owned()));
        }
        NewGroup {
            name,
            display_name: body.display_name.trim().to_owned(),
            proxy_keys: normalise_key_list(&body.proxy_keys),
            description: body.description.trim().to_owned(),
            group_type: GroupType::Standard.as_str().to_owned(),
            upstreams: dto::validate_upstreams(&body.upstreams)?,
            validation_endpoint: dto::validate_validation_endpoint(&body.validation_endpoint)?,
            channel_type: channel.as_str().to_owned(),
            sort: body.sort,
            test_model,
            param_overrides: dto::validate_object("param_overrides", &body.param_overrides)?,
            config: dto::validate_config(&body.config, "")?,
            header_rules: dto::validate_header_rules(&body.header_rules)?,
            model_redirect_rules: dto::validate_redirect_rules(&body.model_redirect_rules)?,
            model_redirect_strict: body.model_redirect_strict,
            created_at: now,
            updated_at: now,
            enabled: body.enabled,
        }
    })
}

/// `POST /api/groups`.
pub(crate) async fn create(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateGroup>,
) -> ApiResult {
    let mut new = new_group(&body)?;
    new.config = dto::sealed_config(new.config, &state.cipher);
    let name = &new.name;
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
    if let Some(v) = body.header_rules.as_ref().filter(|v| !v.is_null()) {
        changes.header_rules = Some(dto::validate_header_rules(v)?);
    }
    if let Some(v) = &body.proxy_keys {
        changes.proxy_keys = Some(normalise_key_list(v));
    }
    changes.enabled = body.enabled;
    let Some(current) = state.db.group(id).await? else {
        return Err(ApiError::NotFound(format!("group {id} not found")));
    };
    if let Some(v) = body.config.as_ref().filter(|v| !v.is_null()) {
        changes.config = Some(dto::sealed_config(
            dto::validate_config(v, &current.config)?,
            &state.cipher,
        ));
    }
    if current.is_aggregate() {
        // An aggregate's channel follows its members; it has no upstreams, redirects or rate
        // limits.
        changes.channel_type = None;
        if let Some(config) = &body.config {
            dto::reject_aggregate_rate_limits(config)?;
        }
        if changes.upstreams.as_deref().is_some_and(|u| u != "[]") {
            return Err(ApiError::Validation(
                "upstreams: aggregate groups have no upstreams of their own; add sub-groups"
                    .to_owned(),
            ));
        }
        if changes
            .model_redirect_rules
            .as_deref()
            .is_some_and(|r| r != "{}")
        {
            return Err(ApiError::Validation(
                "model_redirect_rules: aggregate groups take no redirect rules; set them on the sub-groups"
                    .to_owned(),
            ));
        }
        changes.upstreams = None;
        changes.test_model = None;
        changes.validation_endpoint = None;
    } else {
        let channel_change = changes
            .channel_type
            .as_deref()
            .is_some_and(|c| c != current.channel_type);
        let endpoint_change = changes
            .validation_endpoint
            .as_deref()
            .is_some_and(|v| v != current.validation_endpoint);
        if channel_change || endpoint_change {
            let parents = state.db.parent_aggregates(id).await?;
            if !parents.is_empty() {
                return Err(ApiError::Validation(format!(
                    "{}: this group is referenced by {} aggregate group(s); remove it from them first",
                    if channel_change {
                        "channel_type"
                    } else {
                        "validation_endpoint"
                    },
                    parents.len()
                )));
            }
        }
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

/// `PUT /api/groups/reorder`: sets the `sort` of the listed groups in one transaction.
pub(crate) async fn reorder(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Reorder>,
) -> ApiResult {
    if body.items.is_empty() {
        return Err(ApiError::Validation("items: must not be empty".to_owned()));
    }
    let mut seen = std::collections::HashSet::new();
    let mut items = Vec::with_capacity(body.items.len());
    for (i, item) in body.items.iter().enumerate() {
        if item.id <= 0 {
            return Err(ApiError::Validation(format!(
                "items[{i}].id: must be a positive integer"
            )));
        }
        let sort = i32::try_from(item.sort)
            .ok()
            .filter(|s| *s >= 0)
            .ok_or_else(|| ApiError::Validation(format!("items[{i}].sort: must be 0 or more")))?;
        if !seen.insert(item.id) {
            return Err(ApiError::Validation(format!(
                "items[{i}].id: group {} is listed twice",
                item.id
            )));
        }
        items.push((item.id, sort));
    }
    let missing = state.db.reorder_groups(&items).await?;
    if let Some(id) = missing.first() {
        return Err(ApiError::NotFound(format!("group {id} not found")));
    }
    Ok(success::<()>("Group order saved", None))
}

/// `GET /api/groups/{id}/stats`: keys by state and request totals over 24 h, 7 and 30 days
/// (from the hourly statistics).
pub(crate) async fn stats(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    let Some(group) = state.db.group(id).await? else {
        return Err(ApiError::NotFound(format!("group {id} not found")));
    };
    let mut key_stats = serde_json::json!({
        "total_keys": 0, "active_keys": 0, "invalid_keys": 0, "cooling_keys": 0, "disabled_keys": 0,
    });
    if !group.is_aggregate() {
        let mut total = 0;
        for (status, n) in state.db.key_counts(id).await? {
            total += n;
            key_stats[format!("{status}_keys")] = n.into();
        }
        key_stats["total_keys"] = total.into();
    }
    let now = Utc::now().naive_utc();
    let mut out = serde_json::json!({"key_stats": key_stats});
    for (field, days) in [
        ("stats_24_hour", 1),
        ("stats_7_day", 7),
        ("stats_30_day", 30),
    ] {
        let (success, failed) = state
            .db
            .request_totals(id, now - chrono::Duration::days(days))
            .await?;
        let total = success + failed;
        let rate = if total > 0 {
            (failed as f64 / total as f64 * 10_000.0).round() / 10_000.0
        } else {
            0.0
        };
        out[field] = serde_json::json!({
            "total_requests": total, "failed_requests": failed, "failure_rate": rate,
        });
    }
    Ok(ok(out))
}

/// `POST /api/groups/{id}/copy`: a new group `{name}_copy` (or `_copy_2`…) with the same
/// configuration and, with `copy_keys` `all` (default) or `valid_only`, the keys imported by the
/// background task. When a task is running and keys are to be copied, nothing is created and the
/// answer is 409 saying what runs (GPT-Load silently skipped the keys).
pub(crate) async fn copy(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CopyGroup>,
) -> ApiResult {
    let id = parse_id(&id)?;
    let statuses: &[KeyStatus] = match body.copy_keys.trim() {
        "" | "all" => &[
            KeyStatus::Active,
            KeyStatus::Cooling,
            KeyStatus::Invalid,
            KeyStatus::Disabled,
        ],
        "valid_only" => &[KeyStatus::Active, KeyStatus::Cooling],
        "none" => &[],
        other => {
            return Err(ApiError::Validation(format!(
                "copy_keys: {other:?} is not one of none, valid_only, all"
            )));
        }
    };
    let Some(source) = state.db.group(id).await? else {
        return Err(ApiError::NotFound(format!("group {id} not found")));
    };
    let mut keys = Vec::new();
    for status in statuses {
        let mut after = 0;
        loop {
            let page = state
                .db
                .key_values_page(id, Some(*status), after, 10_000)
                .await?;
            let Some((last, _)) = page.last() else { break };
            after = *last;
            keys.extend(crate::key_storage::opened_values(
                &state.cipher,
                page.into_iter().map(|(_, k)| k),
            ));
        }
    }
    if !keys.is_empty() {
        key_tasks::ensure_idle(&state.db).await?;
    }
    let taken: std::collections::HashSet<String> = state
        .db
        .groups()
        .await?
        .into_iter()
        .map(|g| g.name)
        .collect();
    let base = format!("{}_copy", source.name);
    let name = std::iter::once(base.clone())
        .chain((2..=1000).map(|n| format!("{base}_{n}")))
        .find(|n| !taken.contains(n) && n.len() <= 100)
        .ok_or_else(|| {
            ApiError::Duplicate(format!("name: no free copy name for '{}'", source.name))
        })?;
    let now = Utc::now().naive_utc();
    let new = NewGroup {
        name,
        display_name: if source.display_name.is_empty() {
            String::new()
        } else {
            format!("{} Copy", source.display_name)
        },
        proxy_keys: source.proxy_keys,
        description: source.description,
        group_type: source.group_type,
        upstreams: source.upstreams,
        validation_endpoint: source.validation_endpoint,
        channel_type: source.channel_type,
        sort: source.sort,
        test_model: source.test_model,
        param_overrides: source.param_overrides,
        config: source.config,
        header_rules: source.header_rules,
        model_redirect_rules: source.model_redirect_rules,
        model_redirect_strict: source.model_redirect_strict,
        created_at: now,
        updated_at: now,
        enabled: source.enabled,
    };
    let group = state.db.create_group(&new).await?;
    let mut out = serde_json::json!({});
    if !keys.is_empty() {
        out["key_task"] = key_tasks::start_import(&state.db, &state.cipher, &group, keys).await?;
    }
    out["group"] = serde_json::to_value(GroupResponse::new(group, &app_url(&state).await?))
        .unwrap_or_default();
    Ok(ok(out))
}
