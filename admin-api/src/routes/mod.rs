//! The router: one module per resource under `/api`, the public routes, and the fallback.

mod dashboard;
mod groups;
mod integration;
mod keys;
mod logs;
mod settings;
mod sub_groups;

pub(crate) use groups::new_group;

pub(crate) use groups::{CopyGroup, Reorder};
pub(crate) use keys::{GroupBody, KeysBody, NotesBody, ValidateGroup};
pub(crate) use sub_groups::{AddMembers, Weight};

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router, middleware};
use gateway_core::ChannelType;

use crate::admin_auth::{ClientIp, check, require_auth_key};
use crate::error::{ApiResult, ok};
use crate::extract::ApiJson;
use crate::http_layers::{cors, security_headers};
use crate::i18n;
use crate::state::AppState;

/// The whole admin application.
pub fn router(state: AppState) -> Router {
    let protected = Router::new()
        .route("/channel-types", get(channel_types))
        .route("/groups", get(groups::list).post(groups::create))
        .route("/groups/list", get(groups::list_lite))
        .route("/groups/config-options", get(groups::config_options))
        .route("/groups/reorder", put(groups::reorder))
        .route("/groups/{id}/stats", get(groups::stats))
        .route("/groups/{id}/copy", post(groups::copy))
        .route(
            "/groups/{id}/sub-groups",
            get(sub_groups::list).post(sub_groups::add),
        )
        .route(
            "/groups/{id}/sub-groups/{sub}/weight",
            put(sub_groups::set_weight),
        )
        .route(
            "/groups/{id}/sub-groups/{sub}",
            axum::routing::delete(sub_groups::remove),
        )
        .route(
            "/groups/{id}/parent-aggregate-groups",
            get(sub_groups::parents),
        )
        .route("/groups/{id}", put(groups::update).delete(groups::delete))
        .route("/keys", get(keys::list))
        .route("/keys/add-multiple", post(keys::add_multiple))
        .route(
            "/keys/add-async",
            post(keys::add_async).layer(DefaultBodyLimit::max(keys::ASYNC_BODY_LIMIT)),
        )
        .route(
            "/keys/delete-async",
            post(keys::delete_async).layer(DefaultBodyLimit::max(keys::ASYNC_BODY_LIMIT)),
        )
        .route("/tasks/status", get(keys::task_status))
        .route("/keys/validate-group", post(keys::validate_group))
        .route("/keys/test-multiple", post(keys::test_multiple))
        .route("/keys/delete-multiple", post(keys::delete_multiple))
        .route("/keys/restore-multiple", post(keys::restore_multiple))
        .route("/keys/disable-multiple", post(keys::disable_multiple))
        .route("/keys/enable-multiple", post(keys::enable_multiple))
        .route("/keys/restore-all-invalid", post(keys::restore_all_invalid))
        .route("/keys/clear-all-invalid", post(keys::clear_all_invalid))
        .route("/keys/clear-all", post(keys::clear_all))
        .route("/keys/export", get(keys::export))
        .route("/keys/{id}/notes", put(keys::notes))
        .route("/settings", get(settings::list).put(settings::update))
        .route("/logs", get(logs::list))
        .route("/logs/export", get(logs::export))
        .route("/dashboard/stats", get(dashboard::stats))
        .route("/dashboard/chart", get(dashboard::chart))
        .route(
            "/dashboard/encryption-status",
            get(dashboard::encryption_status),
        )
        .route("/dashboard/upstreams", get(dashboard::upstreams))
        .route("/usage", get(dashboard::usage))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            crate::revision_announcer::announce_writes,
        ))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_auth_key,
        ));
    let api = Router::new()
        .route("/auth/login", post(login))
        .route("/integration/info", get(integration::all))
        .route("/openapi.json", get(openapi_json))
        .merge(protected)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(API_BODY_LIMIT))
        .layer(middleware::from_fn(i18n::locale_scope));
    Router::new()
        .nest("/api", api)
        .route("/health", get(health))
        .route("/metrics", get(crate::metrics::render))
        .route("/proxy/{group}/api/integration/info", get(integration::one))
        .fallback(ui_fallback)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::track,
        ))
        .layer(middleware::from_fn(security_headers))
        .layer(middleware::from_fn_with_state(state.clone(), cors))
        .with_state(state)
}

/// Largest body of an `/api` route (the key import routes take more, `keys::ASYNC_BODY_LIMIT`).
pub const API_BODY_LIMIT: usize = 2 << 20;

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Login {
    auth_key: String,
}

/// `POST /api/auth/login`: GPT-Load's own body shape, `{success, message}`.
async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    body: Result<ApiJson<Login>, crate::error::ApiError>,
) -> Response {
    let verdict = match &body {
        Ok(ApiJson(l)) => Ok(check(&state, ip, Some(&l.auth_key)).await),
        Err(e) => Err(e),
    };
    match verdict {
        Ok(Ok(())) => Json(
            serde_json::json!({"success": true, "message": i18n::t("Authentication successful")}),
        )
        .into_response(),
        Ok(Err(e @ crate::error::ApiError::Throttled(_))) => e.into_response(),
        Ok(Err(_)) => (
            StatusCode::UNAUTHORIZED,
            Json(
                serde_json::json!({"success": false, "message": i18n::t("Authentication failed")}),
            ),
        )
            .into_response(),
        Err(_) => (
            StatusCode::BAD_REQUEST,
            Json(
                serde_json::json!({"success": false, "message": i18n::t("Invalid request format")}),
            ),
        )
            .into_response(),
    }
}

/// `GET /api/openapi.json`: the OpenAPI 3 document of this API (public).
async fn openapi_json() -> Response {
    Json(crate::openapi::document()).into_response()
}

/// `GET /api/channel-types`, in a stable order.
async fn channel_types() -> ApiResult {
    Ok(ok(ChannelType::ALL
        .iter()
        .map(|c| c.as_str())
        .collect::<Vec<_>>()))
}

/// `GET /health` of the admin process: checks the database too.
async fn health(State(state): State<AppState>) -> Response {
    match state.db.ping().await {
        Ok(revision) => Json(serde_json::json!({"status": "healthy", "database": state.db.backend(), "config_revision": revision})).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"status": "unhealthy", "database": state.db.backend(), "error": e.to_string()})),
        )
            .into_response(),
    }
}

/// Everything outside `/api`, `/health`, `/metrics`: the admin UI (`/proxy…` stays a JSON 404).
async fn ui_fallback(
    State(state): State<AppState>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> Response {
    crate::ui_assets::serve(&state.ui, &method, uri.path(), &headers)
}

/// Unknown routes: `404 {"error": "Not Found"}` as GPT-Load.
async fn not_found() -> Response {
    fallback_error(StatusCode::NOT_FOUND, "Not Found")
}

/// GPT-Load's shape for answers of no route: `{"error": message}`.
pub(crate) fn fallback_error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

/// The id in a path, or 400 naming it.
fn parse_id(raw: &str) -> Result<i64, crate::error::ApiError> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
        crate::error::ApiError::BadRequest(format!(
            "invalid id {raw:?}: expected a positive integer"
        ))
    })
}
