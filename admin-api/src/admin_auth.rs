//! Admin authentication: the `AUTH_KEY` from query `key`, `Authorization: Bearer`, `X-Api-Key`
//! or `X-Goog-Api-Key` (GPT-Load's extractor), compared in constant time.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use gateway_core::client_credential::extract_token;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::state::AppState;

/// Rejects requests without the right `AUTH_KEY` (401 `UNAUTHORIZED`).
pub async fn require_auth_key(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let presented = credential(&request);
    match presented {
        Some(token) if matches(&token, state.auth_key.expose()) => next.run(request).await,
        _ => ApiError::Unauthorized.into_response(),
    }
}

/// The credential a request carries (GPT-Load's extractor, shared with the proxy).
pub fn credential(request: &Request) -> Option<String> {
    extract_token(request.uri().query(), |name| {
        request.headers().get(name).and_then(|v| v.to_str().ok())
    })
}

/// Constant-time comparison of two secrets (compares their SHA-256 digests, so lengths leak nothing).
pub fn matches(presented: &str, expected: &str) -> bool {
    let a = Sha256::digest(presented.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.iter()
        .zip(b.iter())
        .fold(0_u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_match() {
        assert!(matches("abc", "abc"));
        assert!(!matches("abc", "abd"));
        assert!(!matches("", "abc"));
    }

    #[test]
    fn reads_every_place() {
        let r = |uri: &str, h: Option<(&str, &str)>| {
            let mut b = axum::http::Request::builder().uri(uri);
            if let Some((k, v)) = h {
                b = b.header(k, v);
            }
            credential(&b.body(axum::body::Body::empty()).unwrap())
        };
        assert_eq!(r("/api/x?key=a%2Bb", None).as_deref(), Some("a+b"));
        assert_eq!(
            r("/api/x", Some(("authorization", "Bearer t"))).as_deref(),
            Some("t")
        );
        assert_eq!(
            r("/api/x", Some(("x-goog-api-key", "g"))).as_deref(),
            Some("g")
        );
        assert_eq!(r("/api/x", None), None);
    }
}
