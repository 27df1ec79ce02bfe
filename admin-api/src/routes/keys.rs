//! `/api/keys`: the paginated key list, synchronous import, delete and restore by text, bulk
//! restore and clear, the text export, and notes. Every bulk write is batched (500 keys per
//! statement) and bumps the revision, so the proxy serves the change within a second.

use std::collections::HashSet;

use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::response::IntoResponse;
use gateway_core::key_text::parse_keys;
use gateway_core::settings_catalogue::SystemSettings;
use gateway_schema::models::{Group, KeyStatus};
use gateway_schema::{Announce, KeyListFilter, NewGroupKeys};

use crate::dto::{GroupBody, KeyResponse, KeysBody, NotesBody, ValidateGroup};
use crate::error::{ApiError, ApiResult, ok, success};
use crate::extract::{ApiJson, ApiQuery, PageQuery, query_int};
use crate::i18n;
use crate::state::AppState;
use crate::upstream_client::UpstreamClient;
use crate::{key_storage, key_tasks, key_validation};

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

async fn require_group(state: &AppState, group_id: i64) -> Result<Group, ApiError> {
    if group_id <= 0 {
        return Err(ApiError::BadRequest(
            "group_id: must be a positive integer".to_owned(),
        ));
    }
    state
        .db
        .group(group_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("group {group_id} not found")))
}

/// `GET /api/keys?group_id=&page=&page_size=&status=&key_value=`.
pub(crate) async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult {
    let Some(raw_group) = q.group_id.as_deref().filter(|s| !s.trim().is_empty()) else {
        return Err(ApiError::BadRequest(
            "group_id query parameter is required".to_owned(),
        ));
    };
    let group_id = query_int("group_id", Some(raw_group), 0)?;
    require_group(&state, group_id).await?;
    let pages = PageQuery::parse(q.page.as_deref(), q.page_size.as_deref())?;
    let status = match q.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) if KeyStatus::parse(s).is_some() => Some(s.to_owned()),
        Some(other) => {
            return Err(ApiError::Validation(format!(
                "status: invalid status filter {other:?} (active, cooling, invalid or disabled)"
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
            .map(|k| state.cipher.lookup_hash(k)),
        page: pages.page,
        page_size: pages.page_size,
    };
    let (rows, total) = state.db.list_keys(&filter).await?;
    let items: Vec<KeyResponse> = rows
        .into_iter()
        .map(|k| KeyResponse::new(k, &state.cipher))
        .collect();
    Ok(ok(pages.body(items, total)))
}

/// The keys of a `keys_text`, checked: not blank, at least one key, at most `SYNC_LIMIT`.
fn keys_of(text: &str) -> Result<Vec<String>, ApiError> {
    keys_within(text, SYNC_LIMIT)
}

/// The keys of a `keys_text`: not blank, at least one key, at most `limit`.
fn keys_within(text: &str, limit: usize) -> Result<Vec<String>, ApiError> {
    if text.trim().is_empty() {
        return Err(ApiError::Validation(
            "keys_text: keys text cannot be empty".to_owned(),
        ));
    }
    let parsed = parse_keys(text);
    if parsed.is_empty() {
        return Err(ApiError::Validation(
            "keys_text: no valid keys found in the input text".to_owned(),
        ));
    }
    if parsed.len() > limit {
        return Err(ApiError::Validation(format!(
            "keys_text: batch size exceeds the limit of {limit} keys, got {}",
            parsed.len()
        )));
    }
    Ok(parsed)
}

/// Largest body of an async import (a `.txt` file or JSON): room for a few million keys.
pub(crate) const ASYNC_BODY_LIMIT: usize = 256 << 20;

/// The keys of a `keys_text` for a background task: not blank, at least one key, no upper bound.
fn task_keys_of(text: &str) -> Result<Vec<String>, ApiError> {
    keys_within(text, usize::MAX)
}

/// `POST /api/keys/add-async`: JSON `{group_id, keys_text}`, or `multipart/form-data` with
/// `group_id` and a `.txt` `file`. Starts the import task and returns its status.
pub(crate) async fn add_async(State(state): State<AppState>, request: Request) -> ApiResult {
    let is_multipart = request
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let (group_id, text) = if is_multipart {
        let multipart = Multipart::from_request(request, &state)
            .await
            .map_err(|e| ApiError::BadRequest(format!("multipart body: {}", e.body_text())))?;
        read_upload(multipart).await?
    } else {
        let ApiJson(body) = ApiJson::<KeysBody>::from_request(request, &state).await?;
        (body.group_id, body.keys_text)
    };
    let group = require_group(&state, group_id).await?;
    let keys = task_keys_of(&text)?;
    Ok(ok(key_tasks::start_import(
        &state.db,
        &state.cipher,
        &group,
        keys,
    )
    .await?))
}

/// The `group_id` and `file` fields of an upload.
async fn read_upload(mut multipart: Multipart) -> Result<(i64, String), ApiError> {
    let (mut group_id, mut text) = (None, None);
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| ApiError::BadRequest(format!("multipart body: {}", e.body_text())))?
    {
        match field.name() {
            Some("group_id") => {
                let raw = field
                    .text()
                    .await
                    .map_err(|e| ApiError::BadRequest(format!("group_id: {}", e.body_text())))?;
                group_id = Some(query_int("group_id", Some(&raw), 0)?);
            }
            Some("file") => {
                let name = field.file_name().unwrap_or("").to_owned();
                if !name.to_ascii_lowercase().ends_with(".txt") {
                    return Err(ApiError::Validation(format!(
                        "file: only .txt files are accepted, got {name:?}"
                    )));
                }
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|e| ApiError::BadRequest(format!("file: {}", e.body_text())))?;
                text = Some(
                    String::from_utf8(bytes.to_vec())
                        .map_err(|_| ApiError::Validation("file: not UTF-8 text".to_owned()))?,
                );
            }
            Some(other) => {
                return Err(ApiError::Validation(format!(
                    "unknown form field: '{other}' (expected group_id and file)"
                )));
            }
            None => {}
        }
    }
    match (group_id, text) {
        (Some(g), Some(t)) => Ok((g, t)),
        (None, _) => Err(ApiError::Validation("group_id: required".to_owned())),
        (_, None) => Err(ApiError::Validation("file: required".to_owned())),
    }
}

/// `POST /api/keys/delete-async`: starts deleting the listed keys and returns the task status.
pub(crate) async fn delete_async(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<KeysBody>,
) -> ApiResult {
    let group = require_group(&state, body.group_id).await?;
    let keys = task_keys_of(&body.keys_text)?;
    Ok(ok(key_tasks::start_delete(
        &state.db,
        &state.cipher,
        &group,
        keys,
    )
    .await?))
}

/// `GET /api/tasks/status`.
pub(crate) async fn task_status(State(state): State<AppState>) -> ApiResult {
    Ok(ok(key_tasks::status_json(&state.db.task().await?)))
}

/// `POST /api/keys/add-multiple`: adds new keys, skipping duplicates.
pub(crate) async fn add_multiple(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<KeysBody>,
) -> ApiResult {
    require_group(&state, body.group_id).await?;
    let parsed = keys_of(&body.keys_text)?;
    let mut seen = HashSet::with_capacity(parsed.len());
    let batch = NewGroupKeys {
        group_id: body.group_id,
        keys: key_storage::sealed_new(&state.cipher, &parsed, &mut seen),
    };
    let added = state.db.insert_keys(&batch).await?;
    counted(&state, body.group_id, "added_count", added, parsed.len()).await
}

/// The answer of a synchronous key operation: `{<field>: done, ignored_count, total_in_group}`.
async fn counted(
    state: &AppState,
    group_id: i64,
    field: &str,
    done: usize,
    asked: usize,
) -> ApiResult {
    let total = state.db.count_keys(group_id).await?;
    let mut out = serde_json::json!({
        "ignored_count": asked.saturating_sub(done),
        "total_in_group": total,
    });
    out[field] = done.into();
    Ok(ok(out))
}

/// `POST /api/keys/delete-multiple`: deletes the listed keys of the group.
pub(crate) async fn delete_multiple(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<KeysBody>,
) -> ApiResult {
    require_group(&state, body.group_id).await?;
    let parsed = keys_of(&body.keys_text)?;
    let deleted = state
        .db
        .delete_keys_by_hash(
            body.group_id,
            &key_storage::hashes(&state.cipher, &parsed),
            Announce::EachChunk,
        )
        .await?;
    counted(
        &state,
        body.group_id,
        "deleted_count",
        deleted,
        parsed.len(),
    )
    .await
}

/// `POST /api/keys/restore-multiple`: returns the listed invalid keys to rotation.
pub(crate) async fn restore_multiple(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<KeysBody>,
) -> ApiResult {
    require_group(&state, body.group_id).await?;
    let parsed = keys_of(&body.keys_text)?;
    let restored = state
        .db
        .restore_invalid_keys(
            body.group_id,
            Some(&key_storage::hashes(&state.cipher, &parsed)),
        )
        .await?;
    counted(
        &state,
        body.group_id,
        "restored_count",
        restored,
        parsed.len(),
    )
    .await
}

/// `POST /api/keys/disable-multiple` (ours): switches the listed keys off.
pub(crate) async fn disable_multiple(state: State<AppState>, body: ApiJson<KeysBody>) -> ApiResult {
    switch_keys(state, body, false).await
}

/// `POST /api/keys/enable-multiple` (ours): switches the listed disabled keys back on.
pub(crate) async fn enable_multiple(state: State<AppState>, body: ApiJson<KeysBody>) -> ApiResult {
    switch_keys(state, body, true).await
}

async fn switch_keys(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<KeysBody>,
    enabled: bool,
) -> ApiResult {
    require_group(&state, body.group_id).await?;
    let parsed = keys_of(&body.keys_text)?;
    let changed = state
        .db
        .set_keys_enabled(
            body.group_id,
            &key_storage::hashes(&state.cipher, &parsed),
            enabled,
        )
        .await?;
    let field = if enabled {
        "enabled_count"
    } else {
        "disabled_count"
    };
    counted(&state, body.group_id, field, changed, parsed.len()).await
}

/// `POST /api/keys/restore-all-invalid`.
pub(crate) async fn restore_all_invalid(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<GroupBody>,
) -> ApiResult {
    require_group(&state, body.group_id).await?;
    let n = state.db.restore_invalid_keys(body.group_id, None).await?;
    Ok(success::<()>(&i18n::t_count("{n} keys restored", n), None))
}

/// `POST /api/keys/clear-all-invalid`.
pub(crate) async fn clear_all_invalid(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<GroupBody>,
) -> ApiResult {
    require_group(&state, body.group_id).await?;
    let n = state
        .db
        .clear_keys(body.group_id, Some(KeyStatus::Invalid))
        .await?;
    Ok(success::<()>(
        &i18n::t_count("{n} invalid keys cleared", n),
        None,
    ))
}

/// `POST /api/keys/clear-all`.
pub(crate) async fn clear_all(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<GroupBody>,
) -> ApiResult {
    require_group(&state, body.group_id).await?;
    let n = state.db.clear_keys(body.group_id, None).await?;
    Ok(success::<()>(&i18n::t_count("{n} keys cleared", n), None))
}

/// Query of `GET /api/keys/export`.
#[derive(serde::Deserialize)]
pub(crate) struct ExportQuery {
    group_id: Option<String>,
    status: Option<String>,
}

/// Keys read per database round trip of an export.
const EXPORT_PAGE: i64 = 5000;

/// `GET /api/keys/export?group_id=&status=all|active|invalid|cooling`: one key per line,
/// `text/plain`, as an attachment; streamed page by page, so a million keys never sit in memory.
pub(crate) async fn export(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> ApiResult {
    let Some(raw_group) = q.group_id.as_deref().filter(|s| !s.trim().is_empty()) else {
        return Err(ApiError::BadRequest(
            "group_id query parameter is required".to_owned(),
        ));
    };
    let group_id = query_int("group_id", Some(raw_group), 0)?;
    let group = require_group(&state, group_id).await?;
    let label = q.status.as_deref().map(str::trim).unwrap_or("all");
    let status = match label {
        "" | "all" => None,
        other => Some(KeyStatus::parse(other).ok_or_else(|| {
            ApiError::Validation(format!(
                "status: invalid export status {other:?} (all, active, cooling, invalid or disabled)"
            ))
        })?),
    };
    let label = if label.is_empty() { "all" } else { label };
    let db = state.db.clone();
    let cipher = state.cipher.clone();
    let pages = futures_util::stream::try_unfold(Some(0_i64), move |after| {
        let db = db.clone();
        let cipher = cipher.clone();
        async move {
            let Some(after) = after else {
                return Ok(None);
            };
            let rows = db
                .key_values_page(group_id, status, after, EXPORT_PAGE)
                .await
                .map_err(std::io::Error::other)?;
            let next = (rows.len() as i64 == EXPORT_PAGE)
                .then(|| rows.last().map(|(id, _)| *id))
                .flatten();
            if rows.is_empty() {
                return Ok(None);
            }
            let mut text = String::with_capacity(rows.len() * 64);
            for key in crate::key_storage::opened_values(&cipher, rows.into_iter().map(|(_, k)| k))
            {
                text.push_str(&key);
                text.push('\n');
            }
            Ok::<_, std::io::Error>(Some((bytes::Bytes::from(text), next)))
        }
    });
    let filename = format!("keys-{}-{label}.txt", group.name);
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/plain; charset=utf-8".to_owned(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename={filename}"),
            ),
        ],
        axum::body::Body::from_stream(pages),
    )
        .into_response())
}

/// Longest note, in characters.
const NOTES_LIMIT: usize = 255;

/// `PUT /api/keys/{id}/notes`.
pub(crate) async fn notes(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NotesBody>,
) -> ApiResult {
    let id = super::parse_id(&id)?;
    let notes = body.notes.trim();
    if notes.chars().count() > NOTES_LIMIT {
        return Err(ApiError::Validation(format!(
            "notes: at most {NOTES_LIMIT} characters"
        )));
    }
    if !state.db.set_key_notes(id, notes).await? {
        return Err(ApiError::NotFound(format!("key {id} not found")));
    }
    Ok(success::<()>("Success", None))
}

/// The group's validation settings, or 400 saying what is missing.
async fn validation_of(
    state: &AppState,
    group: &Group,
) -> Result<(key_validation::GroupValidation, UpstreamClient), ApiError> {
    if group.is_aggregate() {
        return Err(ApiError::Validation(format!(
            "group_id: '{}' is an aggregate group; validate its sub-groups",
            group.name
        )));
    }
    let rows = state.db.settings().await?;
    let (settings, _) = SystemSettings::from_stored(&rows);
    let validation = key_validation::GroupValidation::new(group, &settings, &state.cipher)
        .map_err(ApiError::Validation)?;
    let http = UpstreamClient::new(state.outbound.clone()).map_err(ApiError::Unavailable)?;
    Ok((validation, http))
}

/// `POST /api/keys/validate-group`: validates every key of the group (or only the `active` or
/// `invalid` ones) in the background task; returns its status.
pub(crate) async fn validate_group(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ValidateGroup>,
) -> ApiResult {
    let group = require_group(&state, body.group_id).await?;
    let status = match body.status.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s @ ("active" | "invalid" | "cooling")) => KeyStatus::parse(s),
        Some(other) => {
            return Err(ApiError::Validation(format!(
                "status: {other:?} is not one of active, cooling, invalid"
            )));
        }
    };
    let (validation, http) = validation_of(&state, &group).await?;
    Ok(ok(key_tasks::start_validation(
        &state.db, &group, status, validation, http,
    )
    .await?))
}

/// `POST /api/keys/test-multiple`: validates the listed keys of the group now and saves what
/// that says about them.
pub(crate) async fn test_multiple(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<KeysBody>,
) -> ApiResult {
    let group = require_group(&state, body.group_id).await?;
    let parsed = keys_of(&body.keys_text)?;
    let (validation, http) = validation_of(&state, &group).await?;
    let started = std::time::Instant::now();
    let mut rows = Vec::with_capacity(parsed.len());
    for chunk in key_storage::hashes(&state.cipher, &parsed).chunks(500) {
        rows.extend(state.db.keys_by_hash(group.id, chunk).await?);
    }
    let checked = key_tasks::check_all(&validation, &http, &rows).await;
    let updates: Vec<_> = checked.iter().filter_map(|c| c.update.clone()).collect();
    key_tasks::save(&state.db, &rows, &updates).await?;
    let by_hash: std::collections::HashMap<&str, &key_validation::Checked> = rows
        .iter()
        .map(|r| r.key_hash.as_str())
        .zip(checked.iter())
        .collect();
    let mut seen = HashSet::new();
    let results: Vec<serde_json::Value> = parsed
        .iter()
        .filter(|k| seen.insert(k.as_str()))
        .map(
            |k| match by_hash.get(state.cipher.lookup_hash(k).as_str()) {
                Some(c) => {
                    let mut r = serde_json::json!({"key_value": k, "is_valid": c.valid});
                    if let Some(e) = &c.error {
                        r["error"] = e.clone().into();
                    }
                    r
                }
                None => serde_json::json!({"key_value": k, "is_valid": false,
                "error": "Key does not exist in this group or has been removed."}),
            },
        )
        .collect();
    Ok(ok(serde_json::json!({
        "results": results,
        "total_duration": started.elapsed().as_millis() as u64,
    })))
}
