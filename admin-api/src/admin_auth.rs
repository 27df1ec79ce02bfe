//! Admin authentication: the `AUTH_KEY` from query `key`, `Authorization: Bearer`, `X-Api-Key`
//! or `X-Goog-Api-Key` (GPT-Load's extractor), compared in constant time, with wrong keys
//! throttled per client address.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap};
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
    let ip = client_ip(&state, &request);
    match check(&state, ip, credential(&request).as_deref()).await {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

/// Judges a presented key from `ip`: 429 while the address is throttled, 401 for a missing or
/// wrong key (a wrong one counts towards the throttle).
pub async fn check(state: &AppState, ip: IpAddr, presented: Option<&str>) -> Result<(), ApiError> {
    if let Some(wait) = state.throttle.locked(ip).await {
        return Err(ApiError::Throttled(wait.as_secs().max(1)));
    }
    match presented {
        Some(token) if matches(token, state.auth_key.expose()) => {
            state.throttle.succeeded(ip).await;
            Ok(())
        }
        Some(_) => {
            state.throttle.failed(ip).await;
            tracing::warn!(client = %ip, "wrong AUTH_KEY presented");
            Err(ApiError::Unauthorized)
        }
        None => Err(ApiError::Unauthorized),
    }
}

/// The client's address: the connection's peer, or the address our proxy (on loopback) or a
/// trusted proxy put in `X-Forwarded-For`. Unknown (0.0.0.0) without connection information.
pub fn client_ip(state: &AppState, request: &Request) -> IpAddr {
    resolve(state, request.extensions(), request.headers())
}

/// The client's address as an extractor (see [`client_ip`]).
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(resolve(state, &parts.extensions, &parts.headers)))
    }
}

fn resolve(state: &AppState, extensions: &Extensions, headers: &HeaderMap) -> IpAddr {
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    state
        .trusted_proxies
        .client_ip(peer, header("x-forwarded-for"), header("x-real-ip"))
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
