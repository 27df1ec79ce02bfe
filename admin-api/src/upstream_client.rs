//! The admin process's HTTP client to providers (key validation): hyper over rustls with the ring
//! provider and the system's root certificates, pooled connections, one timeout per request.
//! Requests go through the same outbound proxy as the group's traffic on the proxy (the group's
//! effective `proxy_url`, else `HTTP_PROXY` / `HTTPS_PROXY` unless `NO_PROXY`), over a tunnel
//! (`gateway_tunnel`) with TLS to the provider inside it; one pooled client per proxy.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use gateway_core::outbound_proxy::{EnvProxies, ProxyScheme, ProxyUrl, effective};
use gateway_tunnel::{TunnelStream, Tunneler};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioIo};

/// Largest answer body read.
const BODY_LIMIT: usize = 1 << 20;

/// How long opening a tunnel may take.
const TUNNEL_TIMEOUT: Duration = Duration::from_secs(15);

type Direct = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;
type Proxied = Client<HttpsConnector<TunnelConnector>, Full<Bytes>>;

/// A pooled HTTPS/HTTP client (cheap to clone).
#[derive(Clone)]
pub struct UpstreamClient {
    direct: Direct,
    env: EnvProxies,
    tunneler: Tunneler,
    tls: rustls::ClientConfig,
    /// One client per proxy (by its full URL), so tunnels are pooled per proxy.
    proxied: Arc<Mutex<HashMap<String, Proxied>>>,
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
    /// A client trusting the system's root certificates, with the environment's proxies `env`.
    pub fn new(env: EnvProxies) -> Result<Self, String> {
        // One trust store, read once, for providers (direct or tunneled) and https:// proxies.
        let tls = gateway_tunnel::native_tls_config()
            .map_err(|e| format!("cannot load the system's root certificates: {e}"))?;
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls.clone())
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            direct: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(90))
                .build(https),
            env,
            tunneler: Tunneler::new(tls.clone()),
            tls,
            proxied: Arc::default(),
        })
    }

    /// The client for a proxy (made on first use).
    fn through(&self, proxy: &ProxyUrl) -> Proxied {
        let mut clients = self.proxied.lock().unwrap_or_else(PoisonError::into_inner);
        clients
            .entry(proxy.expose())
            .or_insert_with(|| {
                let tunnels = TunnelConnector {
                    proxy: Arc::new(proxy.clone()),
                    tunneler: self.tunneler.clone(),
                };
                let https = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config(self.tls.clone())
                    .https_or_http()
                    .enable_http1()
                    .wrap_connector(tunnels);
                Client::builder(TokioExecutor::new())
                    .pool_idle_timeout(Duration::from_secs(90))
                    .build(https)
            })
            .clone()
    }

    /// POSTs `body` as JSON to `url` with `headers`, within `timeout` (connect to last byte).
    /// `proxy` is the group's effective `proxy_url` (`None`: the environment's proxies apply).
    pub async fn post_json(
        &self,
        url: &str,
        headers: &[(HeaderName, String)],
        body: &serde_json::Value,
        timeout: Duration,
        proxy: Option<&ProxyUrl>,
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
            let uri = req.uri();
            let tls = uri.scheme_str() == Some("https");
            let host = uri
                .host()
                .unwrap_or_default()
                .trim_matches(['[', ']'])
                .to_owned();
            let host = host.as_str();
            let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
            let sent = match effective(proxy, &self.env, tls, host, port) {
                Some(p) => {
                    let mut req = req;
                    // A plain-HTTP upstream is forwarded by the proxy (absolute form), which
                    // reads its credentials from the request.
                    if forwards(p, tls)
                        && let Some(auth) = p.basic_auth()
                    {
                        let value = HeaderValue::from_str(&auth)
                            .map_err(|_| "the proxy credentials cannot be sent".to_owned())?;
                        req.headers_mut()
                            .insert(http::header::PROXY_AUTHORIZATION, value);
                    }
                    self.through(p).request(req).await
                }
                None => self.direct.request(req).await,
            };
            let resp = sent.map_err(|e| describe(&e))?;
            if let Some(p) =
                effective(proxy, &self.env, tls, host, port).filter(|p| forwards(p, tls))
                && resp.status() == http::StatusCode::PROXY_AUTHENTICATION_REQUIRED
            {
                // The forwarding proxy's own refusal: the upstream was never reached.
                return Err(format!(
                    "proxy {}: the proxy {} (407 Proxy Authentication Required)",
                    p.endpoint(),
                    if p.basic_auth().is_some() {
                        "refused the credentials"
                    } else {
                        "requires authentication"
                    }
                ));
            }
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

/// True when requests to a plain-HTTP upstream through `proxy` are forwarded in absolute form
/// rather than tunnelled (an HTTP(S) proxy; SOCKS5 always tunnels): common proxies allow
/// `CONNECT` only to port 443.
fn forwards(proxy: &ProxyUrl, tls: bool) -> bool {
    !tls && proxy.scheme != ProxyScheme::Socks5
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

/// Opens tunnels for hyper: the connection to `host:port` of a request's URI through the proxy.
#[derive(Clone)]
struct TunnelConnector {
    proxy: Arc<ProxyUrl>,
    tunneler: Tunneler,
}

/// A tunnel (or, `true`, a connection to a forwarding proxy) as a hyper connection.
struct Tunneled(TunnelStream, bool);

impl Connection for Tunneled {
    fn connected(&self) -> Connected {
        // A tunnel: requests in origin form, as to the upstream itself; a forwarding proxy:
        // absolute form.
        Connected::new().proxy(self.1)
    }
}

impl tokio::io::AsyncRead for Tunneled {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Tunneled {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

impl tower::Service<Uri> for TunnelConnector {
    type Response = TokioIo<Tunneled>;
    type Error = gateway_tunnel::TunnelError;
    type Future =
        Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let tls = uri.scheme_str() == Some("https");
            let host = uri
                .host()
                .unwrap_or_default()
                .trim_matches(['[', ']'])
                .to_owned();
            let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
            if forwards(&this.proxy, tls) {
                let stream = this.tunneler.to_proxy(&this.proxy, TUNNEL_TIMEOUT).await?;
                return Ok(TokioIo::new(Tunneled(stream, true)));
            }
            let stream = this
                .tunneler
                .open(&this.proxy, &host, port, TUNNEL_TIMEOUT)
                .await?;
            Ok(TokioIo::new(Tunneled(stream, false)))
        })
    }
}
