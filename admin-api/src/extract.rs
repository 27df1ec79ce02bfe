//! `ApiJson<T>`: axum's JSON extractor with rejections in our envelope (400 `INVALID_JSON` with
//! serde's message, which names an unknown or mistyped field).

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};

use crate::error::ApiError;

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
            Err(rejection) => Err(ApiError::InvalidJson(rejection.body_text())),
        }
    }
}
