//! `/api/groups/{id}/sub-groups…` and `/api/groups/{id}/parent-aggregate-groups`: the members of
//! aggregate groups (docs/admin.md "Aggregate groups"). Members are standard groups of the
//! aggregate's channel with the same effective validation endpoint; weights are 0 (off) to 1000.

use std::collections::HashSet;

use axum::extract::{Path, State};
use gateway_core::ChannelType;
use gateway_schema::models::{Group, KeyStatus};

use super::parse_id;
use crate::dto::{AddMembers, Weight};
use crate::error::{ApiError, ApiResult, ok, success};
use crate::extract::ApiJson;
use crate::state::AppState;

/// Largest member weight.
const MAX_WEIGHT: i64 = 1000;

/// The aggregate group `id`, or 404 / 400.
async fn aggregate(state: &AppState, id: &str) -> Result<Group, ApiError> {
    let id = parse_id(id)?;
    let group = state
        .db
        .group(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("group {id} not found")))?;
    if !group.is_aggregate() {
        return Err(ApiError::BadRequest(format!(
            "group '{}' is not an aggregate group",
            group.name
        )));
    }
    Ok(group)
}

fn weight_of(field: &str, weight: i64) -> Result<i32, ApiError> {
    if (0..=MAX_WEIGHT).contains(&weight) {
        Ok(i32::try_from(weight).unwrap_or(0))
    } else {
        Err(ApiError::Validation(format!(
            "{field}: must be between 0 and {MAX_WEIGHT}, got {weight}"
        )))
    }
}

/// The validation endpoint a member is checked with (its own, or its channel's default).
fn effective_endpoint(group: &Group) -> String {
    if group.validation_endpoint.is_empty() {
        group
            .channel_type
            .parse::<ChannelType>()
            .map(|c| c.default_validation_endpoint().to_owned())
            .unwrap_or_default()
    } else {
        group.validation_endpoint.clone()
    }
}

/// `GET /api/groups/{id}/sub-groups`: members with weight and key counts (weight 0 included).
pub(crate) async fn list(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let group = aggregate(&state, &id).await?;
    let url = super::groups::app_url(&state).await?;
    let mut out = Vec::new();
    for (member, weight) in state.db.sub_groups(group.id).await? {
        let (mut total, mut active, mut invalid) = (0, 0, 0);
        for (status, n) in state.db.key_counts(member.id).await? {
            total += n;
            match KeyStatus::parse(&status) {
                Some(KeyStatus::Active) => active += n,
                Some(KeyStatus::Invalid) => invalid += n,
                _ => {}
            }
        }
        out.push(serde_json::json!({
            "group": crate::dto::GroupResponse::new(member, &url),
            "weight": weight, "total_keys": total, "active_keys": active, "invalid_keys": invalid,
        }));
    }
    Ok(ok(out))
}

/// `POST /api/groups/{id}/sub-groups`: adds members, all or none.
pub(crate) async fn add(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AddMembers>,
) -> ApiResult {
    let group = aggregate(&state, &id).await?;
    if body.sub_groups.is_empty() {
        return Err(ApiError::Validation(
            "sub_groups: must not be empty".to_owned(),
        ));
    }
    let existing = state.db.sub_groups(group.id).await?;
    let mut endpoint = existing.first().map(|(g, _)| effective_endpoint(g));
    let mut seen: HashSet<i64> = existing.iter().map(|(g, _)| g.id).collect();
    let mut members = Vec::with_capacity(body.sub_groups.len());
    for (i, m) in body.sub_groups.iter().enumerate() {
        let field = format!("sub_groups[{i}]");
        let weight = weight_of(&format!("{field}.weight"), m.weight)?;
        if m.group_id <= 0 {
            return Err(ApiError::Validation(format!(
                "{field}.group_id: must be a positive integer"
            )));
        }
        if !seen.insert(m.group_id) {
            return Err(ApiError::Validation(format!(
                "{field}.group_id: group {} is already a member (or listed twice)",
                m.group_id
            )));
        }
        let member = state.db.group(m.group_id).await?.ok_or_else(|| {
            ApiError::NotFound(format!("{field}.group_id: group {} not found", m.group_id))
        })?;
        if member.is_aggregate() {
            return Err(ApiError::Validation(format!(
                "{field}.group_id: '{}' is an aggregate group; members must be standard groups",
                member.name
            )));
        }
        if member.channel_type != group.channel_type {
            return Err(ApiError::Validation(format!(
                "{field}.group_id: '{}' is a {} group; this aggregate is {}",
                member.name, member.channel_type, group.channel_type
            )));
        }
        let own = effective_endpoint(&member);
        match &endpoint {
            Some(e) if *e != own => {
                return Err(ApiError::Validation(format!(
                    "{field}.group_id: '{}' validates with {own}, the other members with {e}",
                    member.name
                )));
            }
            Some(_) => {}
            None => endpoint = Some(own),
        }
        members.push((member.id, weight));
    }
    state.db.add_sub_groups(group.id, &members).await?;
    Ok(success::<()>("Sub groups added", None))
}

/// `PUT /api/groups/{id}/sub-groups/{sub}/weight`.
pub(crate) async fn set_weight(
    State(state): State<AppState>,
    Path((id, sub)): Path<(String, String)>,
    ApiJson(body): ApiJson<Weight>,
) -> ApiResult {
    let group = aggregate(&state, &id).await?;
    let sub = parse_id(&sub)?;
    let weight = weight_of("weight", body.weight)?;
    if !state.db.set_sub_group_weight(group.id, sub, weight).await? {
        return Err(ApiError::NotFound(format!(
            "group {sub} is not a member of '{}'",
            group.name
        )));
    }
    Ok(success::<()>("Weight updated", None))
}

/// `DELETE /api/groups/{id}/sub-groups/{sub}`.
pub(crate) async fn remove(
    State(state): State<AppState>,
    Path((id, sub)): Path<(String, String)>,
) -> ApiResult {
    let group = aggregate(&state, &id).await?;
    let sub = parse_id(&sub)?;
    if !state.db.remove_sub_group(group.id, sub).await? {
        return Err(ApiError::NotFound(format!(
            "group {sub} is not a member of '{}'",
            group.name
        )));
    }
    Ok(success::<()>("Sub group removed", None))
}

/// `GET /api/groups/{id}/parent-aggregate-groups`.
pub(crate) async fn parents(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    if state.db.group(id).await?.is_none() {
        return Err(ApiError::NotFound(format!("group {id} not found")));
    }
    let out: Vec<serde_json::Value> = state
        .db
        .parent_aggregates(id)
        .await?
        .into_iter()
        .map(|(g, weight)| {
            serde_json::json!({"group_id": g.id, "name": g.name,
                               "display_name": g.display_name, "weight": weight})
        })
        .collect();
    Ok(ok(out))
}
