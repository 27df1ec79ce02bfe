//! `ApiError`: every error the admin API answers, mapped exhaustively to GPT-Load's envelope
//! `{"code": "<ERROR_CODE>", "message": "…"}` with the right status (400 for bad input, never 500).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gateway_schema::DbError;

/// Errors of the admin API boundary.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A malformed request (bad path or query parameter).
    #[error("{0}")]
    BadRequest(String),
    /// The JSON body could not be read (syntax, type or unknown field).
    #[error("{0}")]
    InvalidJson(String),
    /// The body is larger than the route accepts.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// A field failed validation; the message names it.
    #[error("{0}")]
    Validation(String),
    /// The resource does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A unique value is taken.
    #[error("{0}")]
    Duplicate(String),
    /// Another long-running task holds the lock; the message says which.
    #[error("{0}")]
    TaskInProgress(String),
    /// Missing or wrong `AUTH_KEY`.
    #[error("Authentication failed")]
    Unauthorized,
    /// Too many wrong keys from this address; try again after the given seconds.
    #[error("too many failed authentication attempts; retry in {0} s")]
    Throttled(u64),
    /// The database could not be reached.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Any other storage failure (details are logged, not returned).
    #[error("database error")]
    Database(DbError),
}

impl ApiError {
    /// HTTP status and GPT-Load error code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "BAD_REQUEST"),
            ApiError::InvalidJson(_) => (StatusCode::BAD_REQUEST, "INVALID_JSON"),
            ApiError::Validation(_) => (StatusCode::BAD_REQUEST, "VALIDATION_FAILED"),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            ApiError::Duplicate(_) => (StatusCode::CONFLICT, "DUPLICATE_RESOURCE"),
            ApiError::TaskInProgress(_) => (StatusCode::CONFLICT, "TASK_IN_PROGRESS"),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
            ApiError::Throttled(_) => (StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_REQUESTS"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "DATABASE_UNAVAILABLE"),
            ApiError::Database(_) => (StatusCode::INTERNAL_SERVER_ERROR, "DATABASE_ERROR"),
        }
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        if e.is_unique_violation() {
            return ApiError::Duplicate("Resource already exists".to_owned());
        }
        if e.is_not_found() {
            return ApiError::NotFound("Resource not found".to_owned());
        }
        match e {
            DbError::Pool(m) | DbError::Connect(m) => ApiError::Unavailable(m),
            other if other.is_unreachable() => {
                ApiError::Unavailable("the connection to the database was lost".to_owned())
            }
            other => ApiError::Database(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let ApiError::Database(e) = &self {
            tracing::error!("database error: {e}");
        }
        let body = serde_json::json!({"code": code, "message": self.to_string()});
        let mut response = (status, Json(body)).into_response();
        if let ApiError::Throttled(secs) = self {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}

/// The success envelope `{"code": 0, "message": …, "data": …}` (`data` omitted when `None`).
/// The message is translated to the request's language (`crate::i18n`).
pub fn success<T: serde::Serialize>(message: &str, data: Option<T>) -> Response {
    let mut body = serde_json::json!({"code": 0, "message": crate::i18n::t(message)});
    if let Some(d) = data {
        body["data"] = serde_json::to_value(d).unwrap_or(serde_json::Value::Null);
    }
    Json(body).into_response()
}

/// `success("Success", Some(data))`.
pub fn ok<T: serde::Serialize>(data: T) -> Response {
    success("Success", Some(data))
}

/// Result type of handlers.
pub type ApiResult = Result<Response, ApiError>;

/// GPT-Load's shape for answers of no route: `{"error": message}`.
pub(crate) fn fallback_error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}
