//! Request input: `ApiJson<T>`, axum's JSON extractor with rejections in our envelope (400
//! `INVALID_JSON` with serde's message, which names an unknown or mistyped field); numbers of
//! query strings (`query_int`) and the `page` / `page_size` of list routes (`PageQuery`), each
//! with a 400 that names the parameter.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};

use crate::error::ApiError;

/// Largest body of an `/api` route (the key import routes take more, `routes::keys::ASYNC_BODY_LIMIT`).
pub const API_BODY_LIMIT: usize = 2 << 20;

/// A JSON body; bad bodies become `ApiError::InvalidJson`.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::PayloadTooLarge(format!(
                    "request body too large for this route (most routes take up to \
                     {API_BODY_LIMIT} bytes; import large key lists with /api/keys/add-async)"
                )))
            }
            Err(rejection) => Err(ApiError::InvalidJson(rejection.body_text())),
        }
    }
}

/// A query string; one that cannot be read (a repeated parameter, a wrong type) becomes a 400
/// in the JSON envelope naming the problem, not axum's plain-text answer.
pub struct ApiQuery<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Self(v))
            .map_err(|r| ApiError::BadRequest(r.body_text()))
    }
}

/// An integer query parameter (`default` when absent or blank), or 400 naming it.
pub(crate) fn query_int(field: &str, raw: Option<&str>, default: i64) -> Result<i64, ApiError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(default),
        Some(s) => s
            .parse::<i64>()
            .map_err(|_| ApiError::BadRequest(format!("{field}: expected an integer, got {s:?}"))),
    }
}

/// An optional positive id in a query (`None` when absent, blank or 0), or 400 naming it.
pub(crate) fn query_id(field: &str, raw: Option<&str>) -> Result<Option<i64>, ApiError> {
    match query_int(field, raw, 0)? {
        0 => Ok(None),
        id if id > 0 => Ok(Some(id)),
        _ => Err(ApiError::BadRequest(format!(
            "{field}: must be a positive integer"
        ))),
    }
}

/// `page` (from 1) and `page_size` (15 by default, at most 1000) of a list route.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PageQuery {
    pub(crate) page: i64,
    pub(crate) page_size: i64,
}

impl PageQuery {
    /// Parses the two parameters as GPT-Load does, with a 400 for text that is not a number.
    pub(crate) fn parse(page: Option<&str>, page_size: Option<&str>) -> Result<Self, ApiError> {
        let page = query_int("page", page, 1)?.max(1);
        let mut page_size = query_int("page_size", page_size, 15)?;
        if page_size <= 0 {
            page_size = 15;
        }
        Ok(Self {
            page,
            page_size: page_size.min(1000),
        })
    }

    /// GPT-Load's list body: `{items, pagination: {page, page_size, total_items, total_pages}}`.
    pub(crate) fn body<T: serde::Serialize>(self, items: T, total: i64) -> serde_json::Value {
        serde_json::json!({
            "items": items,
            "pagination": {
                "page": self.page,
                "page_size": self.page_size,
                "total_items": total,
                "total_pages": (total + self.page_size - 1) / self.page_size,
            }
        })
    }
}
