//! The router: one module per resource under `/api`, the public routes, and the fallback.

mod dashboard;
mod groups;
mod integration;
mod keys;
mod logs;
mod operations;
mod settings;
mod sub_groups;

pub(crate) use groups::new_group;
pub(crate) use operations::operations;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, middleware};
use gateway_core::ChannelType;

use crate::admin_auth::{ClientIp, check, require_auth_key};
use crate::dto::Login;
use crate::error::{ApiResult, ok};
use crate::extract::ApiJson;
use crate::http_layers::{cors, security_headers};
use crate::i18n;
use crate::operation::Access;
use crate::state::AppState;

/// The whole admin application: the operations of `operations()`, the admin UI for every other
/// path outside `/api`, and GPT-Load's JSON 404 for unknown `/api` paths.
pub fn router(state: AppState) -> Router {
    let mut admin = Router::new();
    let mut public_api = Router::new();
    let mut outside = Router::new();
    for op in operations() {
        let handler = match op.body_limit {
            Some(bytes) => op.handler.layer(DefaultBodyLimit::max(bytes)),
            None => op.handler,
        };
        match (op.path.strip_prefix("/api"), op.access) {
            (Some(path), Access::Admin) => admin = admin.route(path, handler),
            (Some(path), Access::Public) => public_api = public_api.route(path, handler),
            // Every operation outside /api is public (a unit test of `operations` checks it).
            (None, _) => outside = outside.route(op.path, handler),
        }
    }
    let admin = admin
        .route_layer(middleware::from_fn_with_state(
            state.revisions.clone(),
            crate::revision_announcer::announce_writes,
        ))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_auth_key,
        ));
    let api = public_api
        .merge(admin)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(API_BODY_LIMIT))
        .layer(middleware::from_fn(i18n::locale_scope));
    outside
        .nest("/api", api)
        .fallback(ui_fallback)
        .layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            crate::metrics::track,
        ))
        .layer(middleware::from_fn(security_headers))
        .layer(middleware::from_fn_with_state(state.clone(), cors))
        .with_state(state)
}

pub use crate::extract::API_BODY_LIMIT;

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

/// `GET /api/openapi.json`: the OpenAPI 3 document of this API (public), built once from
/// `operations()`.
async fn openapi_json() -> Response {
    static DOCUMENT: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    Json(DOCUMENT.get_or_init(|| crate::openapi::document(&operations()))).into_response()
}

/// The `(method, path)` of every operation, as the OpenAPI document names them.
pub fn documented_routes() -> Vec<(String, String)> {
    operations()
        .iter()
        .map(|o| {
            let (method, path) = o.route();
            (method.to_owned(), path.to_owned())
        })
        .collect()
}

/// `GET /metrics` of the admin process.
async fn metrics(State(state): State<AppState>) -> Response {
    crate::metrics::render(&state.metrics, &state.db).await
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
    crate::error::fallback_error(StatusCode::NOT_FOUND, "Not Found")
}

/// The id in a path, or 400 naming it.
fn parse_id(raw: &str) -> Result<i64, crate::error::ApiError> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
        crate::error::ApiError::BadRequest(format!(
            "invalid id {raw:?}: expected a positive integer"
        ))
    })
}
