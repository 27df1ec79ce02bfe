//! The admin process's HTTP client to providers (key validation): hyper over rustls with the ring
//! provider and the system's root certificates, pooled connections, one timeout per request.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// Largest answer body read.
const BODY_LIMIT: usize = 1 << 20;

/// A pooled HTTPS/HTTP client (cheap to clone).
#[derive(Clone)]
pub struct UpstreamClient {
    inner: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

/// An answer: status, headers and (at most 1 MiB of) body.
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl UpstreamClient {
    /// A client trusting the system's root certificates.
    pub fn new() -> Result<Self, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(provider)
            .map_err(|e| format!("cannot load the system's root certificates: {e}"))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            inner: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(90))
                .build(https),
        })
    }

    /// POSTs `body` as JSON to `url` with `headers`, within `timeout` (connect to last byte).
    pub async fn post_json(
        &self,
        url: &str,
        headers: &[(HeaderName, String)],
        body: &serde_json::Value,
        timeout: Duration,
    ) -> Result<Answer, String> {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(url)
            .header(http::header::CONTENT_TYPE, "application/json");
        for (name, value) in headers {
            let value = HeaderValue::from_str(value)
                .map_err(|_| format!("header {name} has a value that cannot be sent"))?;
            req = req.header(name, value);
        }
        let req = req
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| format!("invalid request to {}: {e}", host_of(url)))?;
        let exchange = async {
            let resp = self.inner.request(req).await.map_err(|e| describe(&e))?;
            let (parts, body) = resp.into_parts();
            let body = http_body_util::Limited::new(body, BODY_LIMIT)
                .collect()
                .await
                .map_err(|e| format!("reading the answer failed: {e}"))?
                .to_bytes();
            Ok(Answer {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body,
            })
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "no answer from {} within {} s",
                host_of(url),
                timeout.as_secs()
            )),
        }
    }
}

/// The error and its causes, e.g. `client error (Connect): tcp connect error: Connection refused`.
fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "the upstream".to_owned())
}
