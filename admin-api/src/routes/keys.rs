//! `/api/keys`: the paginated key list and synchronous import.

use std::collections::HashSet;

use axum::extract::{Query, State};
use gateway_core::key_text::{key_hash, parse_keys};
use gateway_schema::{KeyListFilter, NewGroupKeys};

use crate::dto::KeyResponse;
use crate::error::{ApiError, ApiResult, ok};
use crate::extract::ApiJson;
use crate::state::AppState;

/// Largest number of keys a synchronous call accepts.
const SYNC_LIMIT: usize = 5000;

/// Query of `GET /api/keys` (numbers as text so a bad value gets a clear message).
#[derive(serde::Deserialize)]
pub(crate) struct ListQuery {
    group_id: Option<String>,
    page: Option<String>,
    page_size: Option<String>,
    status: Option<String>,
    key_value: Option<String>,
}

fn number(field: &str, raw: Option<&str>, default: i64) -> Result<i64, ApiError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(default),
        Some(s) => s
            .parse::<i64>()
            .map_err(|_| ApiError::BadRequest(format!("{field}: expected an integer, got {s:?}"))),
    }
}

async fn require_group(state: &AppState, group_id: i64) -> Result<(), ApiError> {
    if group_id <= 0 {
        return Err(ApiError::BadRequest(
            "group_id: must be a positive integer".to_owned(),
        ));
    }
    match state.db.group(group_id).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::NotFound(format!("group {group_id} not found"))),
    }
}

/// `GET /api/keys?group_id=&page=&page_size=&status=&key_value=`.
pub(crate) async fn list(State(state): State<AppState>, Query(q): Query<ListQuery>) -> ApiResult {
    let Some(raw_group) = q.group_id.as_deref().filter(|s| !s.trim().is_empty()) else {
        return Err(ApiError::BadRequest(
            "group_id query parameter is required".to_owned(),
        ));
    };
    let group_id = number("group_id", Some(raw_group), 0)?;
    require_group(&state, group_id).await?;
    let page = number("page", q.page.as_deref(), 1)?.max(1);
    let mut page_size = number("page_size", q.page_size.as_deref(), 15)?;
    if page_size <= 0 {
        page_size = 15;
    }
    let page_size = page_size.min(1000);
    let status = match q.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s @ ("active" | "invalid" | "cooling")) => Some(s.to_owned()),
        Some(other) => {
            return Err(ApiError::Validation(format!(
                "status: invalid status filter {other:?} (active, cooling or invalid)"
            )));
        }
    };
    let filter = KeyListFilter {
        group_id,
        status,
        key_hash: q
            .key_value
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(key_hash),
        page,
        page_size,
    };
    let (rows, total) = state.db.list_keys(&filter).await?;
    let items: Vec<KeyResponse> = rows.into_iter().map(KeyResponse::from).collect();
    Ok(ok(serde_json::json!({
        "items": items,
        "pagination": {
            "page": page,
            "page_size": page_size,
            "total_items": total,
            "total_pages": (total + page_size - 1) / page_size,
        }
    })))
}

/// Body of the key import.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeysBody {
    group_id: i64,
    keys_text: String,
}

/// `POST /api/keys/add-multiple`: adds new keys, skipping duplicates.
pub(crate) async fn add_multiple(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<KeysBody>,
) -> ApiResult {
    require_group(&state, body.group_id).await?;
    if body.keys_text.trim().is_empty() {
        return Err(ApiError::Validation(
            "keys_text: keys text cannot be empty".to_owned(),
        ));
    }
    let parsed = parse_keys(&body.keys_text);
    if parsed.is_empty() {
        return Err(ApiError::Validation(
            "keys_text: no valid keys found in the input text".to_owned(),
        ));
    }
    if parsed.len() > SYNC_LIMIT {
        return Err(ApiError::Validation(format!(
            "keys_text: batch size exceeds the limit of {SYNC_LIMIT} keys, got {}",
            parsed.len()
        )));
    }
    let mut seen: HashSet<String> = state.db.key_hashes(body.group_id).await?;
    let mut batch = NewGroupKeys {
        group_id: body.group_id,
        keys: Vec::new(),
    };
    for key in &parsed {
        let hash = key_hash(key);
        if seen.insert(hash.clone()) {
            batch.keys.push((key.clone(), hash));
        }
    }
    let added = state.db.insert_keys(&batch).await?;
    let total = state.db.count_keys(body.group_id).await?;
    Ok(ok(serde_json::json!({
        "added_count": added,
        "ignored_count": parsed.len() - added,
        "total_in_group": total,
    })))
}
