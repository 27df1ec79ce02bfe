//! The scripted mock AI provider: an HTTP/1.1 server on `127.0.0.1` that speaks the OpenAI,
//! Anthropic and Gemini surfaces, replies from a per-key script (or realistic defaults), streams
//! SSE in each provider's format, and records every request it receives. It serves plain HTTP
//! or, with a certificate ([`MockProvider::start_tls`]), HTTPS over rustls.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::LazyConfigAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::Acceptor;
use tokio_rustls::rustls::{self, ServerConfig};

/// Events sent for a streaming request when no script says otherwise.
const DEFAULT_SSE_EVENTS: usize = 3;
/// Model named in replies when the request names none.
const DEFAULT_MODEL: &str = "mock-model";
/// `created` timestamp of every generated object (fixed so bodies are reproducible).
const CREATED: i64 = 1_700_000_000;
/// Assistant text of non-streaming replies.
const REPLY_TEXT: &str = "Hello from the mock provider.";
/// Token counts reported by non-streaming replies.
const PROMPT_TOKENS: u64 = 9;
const COMPLETION_TOKENS: u64 = 7;

/// Pause before a scripted mid-stream abort, so what came before reaches the client.
const ABORT_FLUSH: Duration = Duration::from_millis(20);
/// Longest wait for a TLS client to complete its handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

type RespBody = UnsyncBoxBody<Bytes, io::Error>;

// ---- scripting ------------------------------------------------------------------------------

/// One scripted reply. Build with [`Reply::ok`], [`Reply::status`], [`Reply::sse`] or
/// [`Reply::reset`], then refine with the builder methods.
#[derive(Clone, Debug)]
pub struct Reply {
    kind: ReplyKind,
    status: u16,
    body: Option<ReplyBody>,
    headers: Vec<(String, String)>,
    delay: Duration,
}

#[derive(Clone, Debug)]
enum ReplyKind {
    /// A complete response (default body when none is set).
    Normal,
    /// An SSE stream in the endpoint's format.
    Sse {
        events: usize,
        spacing: Duration,
        abort_after: Option<usize>,
    },
    /// Close the connection without a response.
    Reset,
    /// The default success body announced in full by `Content-Length`, then the connection
    /// dropped after half of it.
    CutBody,
}

/// Body of a scripted [`Reply`].
#[derive(Clone, Debug, PartialEq)]
pub enum ReplyBody {
    /// Sent as `application/json`.
    Json(Value),
    /// Sent as `text/plain` (unless a `content-type` header is scripted).
    Text(String),
}

impl From<Value> for ReplyBody {
    fn from(v: Value) -> Self {
        ReplyBody::Json(v)
    }
}

impl From<&str> for ReplyBody {
    fn from(s: &str) -> Self {
        ReplyBody::Text(s.to_owned())
    }
}

impl From<String> for ReplyBody {
    fn from(s: String) -> Self {
        ReplyBody::Text(s)
    }
}

impl Reply {
    /// The default behaviour: 200 with the endpoint's realistic body (SSE if the request streams).
    pub fn ok() -> Self {
        Self::status(200)
    }

    /// A reply with this status. Without [`Reply::body`], a 2xx carries the default success body
    /// and any other status a provider-shaped error body.
    pub fn status(status: u16) -> Self {
        Self {
            kind: ReplyKind::Normal,
            status,
            body: None,
            headers: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    /// A 200 SSE stream of `events` content events in the endpoint's format, `spacing` apart
    /// (framing events such as `message_start` or `data: [DONE]` ride with the first / last one).
    pub fn sse(events: usize, spacing: Duration) -> Self {
        Self {
            kind: ReplyKind::Sse {
                events,
                spacing,
                abort_after: None,
            },
            ..Self::ok()
        }
    }

    /// Close the connection after reading the request, without sending any response.
    pub fn reset() -> Self {
        Self {
            kind: ReplyKind::Reset,
            ..Self::ok()
        }
    }

    /// A 200 whose header announces the whole default body, after which the connection drops
    /// half-way through the body (an upstream that fails mid-response).
    pub fn cut_body() -> Self {
        Self {
            kind: ReplyKind::CutBody,
            ..Self::ok()
        }
    }

    /// Sets the body (a `serde_json::Value`, `&str` or `String`).
    #[must_use]
    pub fn body(mut self, body: impl Into<ReplyBody>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Waits this long before sending the response head (or before resetting).
    #[must_use]
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Adds a response header.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    /// Adds `retry-after: secs`.
    #[must_use]
    pub fn retry_after(self, secs: u64) -> Self {
        self.header("retry-after", &secs.to_string())
    }

    /// For an SSE reply: after `events` events, abort the body (the connection drops mid-stream).
    #[must_use]
    pub fn abort_after(mut self, events: usize) -> Self {
        if let ReplyKind::Sse { abort_after, .. } = &mut self.kind {
            *abort_after = Some(events);
        }
        self
    }
}

// ---- recording ------------------------------------------------------------------------------

/// One request as the mock received it.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// HTTP method.
    pub method: Method,
    /// Full request path, prefix included.
    pub path: String,
    /// Raw query string.
    pub query: Option<String>,
    /// Headers in arrival order, lower-case names.
    pub headers: Vec<(String, String)>,
    /// The key as the provider reads it for this endpoint (`None`: missing or unknown path).
    pub key: Option<String>,
    /// Body length in bytes.
    pub body_len: usize,
    /// Lower-case hex SHA-256 of the body.
    pub body_sha256: String,
    /// The body.
    pub body: Bytes,
}

impl Recorded {
    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name` (case-insensitive).
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// Value of query parameter `name`, decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        query_param(self.query.as_deref(), name)
    }
}

// ---- server ---------------------------------------------------------------------------------

#[derive(Default)]
struct KeyScript {
    queue: VecDeque<Reply>,
    always: Option<Reply>,
}

#[derive(Default)]
struct State {
    scripts: Mutex<HashMap<String, KeyScript>>,
    fallback: Mutex<VecDeque<Reply>>,
    recorded: Mutex<Vec<Recorded>>,
    server_names: Mutex<Vec<Option<String>>>,
    connections: AtomicUsize,
    seq: AtomicUsize,
    abandoned_streams: AtomicUsize,
}

/// Counts a streamed body dropped before its end (the reader went away).
struct StreamWatch {
    state: Arc<State>,
    finished: bool,
}

impl StreamWatch {
    fn finish(&mut self) {
        self.finished = true;
    }
}

impl Drop for StreamWatch {
    fn drop(&mut self) {
        if !self.finished {
            self.state.abandoned_streams.fetch_add(1, Ordering::SeqCst);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl State {
    /// The reply for `key`: its queue, then its sticky reply, then the shared fallback queue.
    fn next_reply(&self, key: &str) -> Option<Reply> {
        {
            let mut scripts = lock(&self.scripts);
            if let Some(script) = scripts.get_mut(key) {
                if let Some(r) = script.queue.pop_front() {
                    return Some(r);
                }
                if let Some(r) = &script.always {
                    return Some(r.clone());
                }
            }
        }
        lock(&self.fallback).pop_front()
    }
}

/// A running mock provider. Dropping it (or [`MockProvider::shutdown`]) stops the server and
/// closes its connections.
pub struct MockProvider {
    addr: SocketAddr,
    tls: bool,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for MockProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockProvider")
            .field("addr", &self.addr)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl MockProvider {
    /// Starts a mock on `127.0.0.1` with an OS-chosen port.
    pub async fn start() -> anyhow::Result<Self> {
        Self::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts a mock on `addr`.
    pub async fn bind(addr: SocketAddr) -> anyhow::Result<Self> {
        Self::listen(addr, None).await
    }

    /// Starts an HTTPS mock on `127.0.0.1` with an OS-chosen port, presenting `cert_chain_pem`
    /// (leaf first) with the private key `key_pem` (see [`crate::TestCa`]).
    pub async fn start_tls(cert_chain_pem: &str, key_pem: &str) -> anyhow::Result<Self> {
        Self::bind_tls(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            cert_chain_pem,
            key_pem,
        )
        .await
    }

    /// Starts an HTTPS mock on `addr` (see [`MockProvider::start_tls`]). It speaks HTTP/1.1 only
    /// (ALPN `http/1.1`) and records the SNI name of every TLS client hello
    /// ([`MockProvider::tls_server_names`]).
    pub async fn bind_tls(
        addr: SocketAddr,
        cert_chain_pem: &str,
        key_pem: &str,
    ) -> anyhow::Result<Self> {
        let config = tls_server_config(cert_chain_pem, key_pem)?;
        Self::listen(addr, Some(config)).await
    }

    async fn listen(addr: SocketAddr, tls: Option<Arc<ServerConfig>>) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the mock provider to {addr}"))?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State::default());
        let is_tls = tls.is_some();
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&state), tls));
        Ok(Self {
            addr,
            tls: is_tls,
            state,
            task,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR` or, for a TLS mock, `https://ADDR` (the bound IP address and port, no
    /// trailing slash). A TLS mock's certificate usually names a host instead: build that URL
    /// from [`MockProvider::addr`]'s port.
    pub fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The SNI server name of every TLS client hello received so far, in arrival order (`None`:
    /// the client sent none). Recorded before the handshake completes, so a client that then
    /// refuses the certificate is listed too. Always empty for a plain HTTP mock.
    pub fn tls_server_names(&self) -> Vec<Option<String>> {
        lock(&self.state.server_names).clone()
    }

    /// Queues `reply` for requests carrying `key` (FIFO; when the queue is empty the default applies).
    pub fn script(&self, key: &str, reply: Reply) {
        lock(&self.state.scripts)
            .entry(key.to_owned())
            .or_default()
            .queue
            .push_back(reply);
    }

    /// Answers every request carrying `key` with `reply` once its queue is empty (e.g. a revoked key).
    pub fn always(&self, key: &str, reply: Reply) {
        lock(&self.state.scripts)
            .entry(key.to_owned())
            .or_default()
            .always = Some(reply);
    }

    /// Queues `reply` for the next request whose key has nothing scripted (any key).
    pub fn script_default(&self, reply: Reply) {
        lock(&self.state.fallback).push_back(reply);
    }

    /// Forgets every script (queued, sticky and default).
    pub fn clear_scripts(&self) {
        lock(&self.state.scripts).clear();
        lock(&self.state.fallback).clear();
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.state.recorded).clone()
    }

    /// The requests that carried `key`.
    pub fn requests_for_key(&self, key: &str) -> Vec<Recorded> {
        lock(&self.state.recorded)
            .iter()
            .filter(|r| r.key.as_deref() == Some(key))
            .cloned()
            .collect()
    }

    /// Forgets the recorded requests.
    pub fn clear(&self) {
        lock(&self.state.recorded).clear();
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Streamed bodies whose reader went away before their end (a proxy that abandoned the
    /// upstream request).
    pub fn abandoned_streams(&self) -> usize {
        self.state.abandoned_streams.load(Ordering::SeqCst)
    }

    /// Stops the server and waits until the listener is closed.
    pub async fn shutdown(mut self) {
        self.task.abort();
        // The abort error is the expected outcome.
        let _ = (&mut self.task).await;
    }
}

impl Drop for MockProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Accepts connections; each is served in a task of a `JoinSet` owned here, so aborting this
/// task also drops every connection.
async fn accept_loop(listener: TcpListener, state: Arc<State>, tls: Option<Arc<ServerConfig>>) {
    let mut conns = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors and the like: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        state.connections.fetch_add(1, Ordering::SeqCst);
        while conns.try_join_next().is_some() {}
        conns.spawn(serve_connection(stream, Arc::clone(&state), tls.clone()));
    }
}

async fn serve_connection(stream: TcpStream, state: Arc<State>, tls: Option<Arc<ServerConfig>>) {
    // SSE chunks are small: send them as soon as they are written.
    let _ = stream.set_nodelay(true);
    let Some(config) = tls else {
        serve_http(stream, state).await;
        return;
    };
    let handshake = async {
        let start = LazyConfigAcceptor::new(Acceptor::default(), stream).await?;
        let sni = start.client_hello().server_name().map(str::to_owned);
        lock(&state.server_names).push(sni);
        start.into_stream(config).await
    };
    // A failed or stalled handshake (e.g. the client refuses the certificate) ends the connection.
    if let Ok(Ok(tls_stream)) = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, handshake).await {
        serve_http(tls_stream, state).await;
    }
}

async fn serve_http<I>(io: I, state: Arc<State>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| handle(Arc::clone(&state), req));
    // Errors here are client disconnects and scripted resets.
    let _ = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), service)
        .await;
}

/// A rustls server configuration (ring provider, TLS 1.2 and 1.3, ALPN `http/1.1`) presenting
/// the PEM certificate chain and private key.
fn tls_server_config(cert_chain_pem: &str, key_pem: &str) -> anyhow::Result<Arc<ServerConfig>> {
    let chain = CertificateDer::pem_slice_iter(cert_chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .context("parsing the certificate chain PEM")?;
    anyhow::ensure!(!chain.is_empty(), "no certificate in the chain PEM");
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).context("parsing the key PEM")?;
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .context("TLS certificate and key")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

// ---- endpoints ------------------------------------------------------------------------------

/// Which provider family answers (error shapes, key placement).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    OpenAi,
    Anthropic,
    Gemini,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Endpoint {
    OpenAiChat,
    OpenAiResponses,
    AnthropicMessages,
    GeminiGenerate { model: String, stream: bool },
    GeminiOpenAiChat,
    OpenAiModels,
    GeminiModels,
}

/// Where the key is read from.
enum KeyPlace {
    Bearer,
    XApiKey,
    QueryKey,
}

impl Endpoint {
    /// Recognises `path` after stripping anything before the first `/v1/` or `/v1beta/`.
    fn parse(method: &Method, path: &str) -> Option<Self> {
        let start = ["/v1/", "/v1beta/"]
            .iter()
            .filter_map(|p| path.find(p))
            .min()?;
        let path = path[start..].trim_end_matches('/');
        let post = method == Method::POST;
        let get = method == Method::GET;
        Some(match path {
            "/v1/chat/completions" if post => Endpoint::OpenAiChat,
            "/v1/responses" if post => Endpoint::OpenAiResponses,
            "/v1/messages" if post => Endpoint::AnthropicMessages,
            "/v1beta/openai/chat/completions" if post => Endpoint::GeminiOpenAiChat,
            "/v1/models" if get => Endpoint::OpenAiModels,
            "/v1beta/models" if get => Endpoint::GeminiModels,
            other if post => {
                let rest = other.strip_prefix("/v1beta/models/")?;
                let (model, action) = rest.rsplit_once(':')?;
                if model.is_empty() || model.contains('/') {
                    return None;
                }
                let stream = match action {
                    "generateContent" => false,
                    "streamGenerateContent" => true,
                    _ => return None,
                };
                Endpoint::GeminiGenerate {
                    model: model.to_owned(),
                    stream,
                }
            }
            _ => return None,
        })
    }

    fn family(&self) -> Family {
        match self {
            Endpoint::OpenAiChat | Endpoint::OpenAiResponses | Endpoint::OpenAiModels => {
                Family::OpenAi
            }
            Endpoint::AnthropicMessages => Family::Anthropic,
            Endpoint::GeminiGenerate { .. }
            | Endpoint::GeminiOpenAiChat
            | Endpoint::GeminiModels => Family::Gemini,
        }
    }

    fn key_place(&self) -> KeyPlace {
        match self {
            Endpoint::OpenAiChat
            | Endpoint::OpenAiResponses
            | Endpoint::OpenAiModels
            | Endpoint::GeminiOpenAiChat => KeyPlace::Bearer,
            Endpoint::AnthropicMessages => KeyPlace::XApiKey,
            Endpoint::GeminiGenerate { .. } | Endpoint::GeminiModels => KeyPlace::QueryKey,
        }
    }

    fn key(&self, headers: &HeaderMap, query: Option<&str>) -> Option<String> {
        let key = match self.key_place() {
            KeyPlace::Bearer => {
                let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
                let (scheme, token) = value.split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then(|| token.trim().to_owned())?
            }
            KeyPlace::XApiKey => headers.get("x-api-key")?.to_str().ok()?.trim().to_owned(),
            KeyPlace::QueryKey => query_param(query, "key")?,
        };
        (!key.is_empty()).then_some(key)
    }
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// What a reply needs to know about the request.
struct Ctx {
    endpoint: Endpoint,
    model: String,
    stream: bool,
    seq: usize,
    state: Arc<State>,
}

// ---- request handling -----------------------------------------------------------------------

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<RespBody>, io::Error> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map_err(io::Error::other)?.to_bytes();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().map(str::to_owned);
    let endpoint = Endpoint::parse(&parts.method, &path);
    let key = endpoint
        .as_ref()
        .and_then(|e| e.key(&parts.headers, query.as_deref()));

    let seq = state.seq.fetch_add(1, Ordering::SeqCst);
    lock(&state.recorded).push(Recorded {
        method: parts.method.clone(),
        path: path.clone(),
        query,
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        key: key.clone(),
        body_len: body.len(),
        body_sha256: hex::encode(Sha256::digest(&body)),
        body: body.clone(),
    });

    let Some(endpoint) = endpoint else {
        let msg = format!("Unknown request URL: {} {path}", parts.method);
        return Ok(json_response(
            StatusCode::NOT_FOUND,
            json!({"error": {"message": msg, "type": "invalid_request_error", "param": null, "code": "unknown_url"}}),
        ));
    };
    let family = endpoint.family();
    let Some(key) = key else {
        return Ok(missing_key(family));
    };
    if family == Family::Anthropic && !parts.headers.contains_key("anthropic-version") {
        return Ok(json_response(
            StatusCode::BAD_REQUEST,
            anthropic_error(
                "invalid_request_error",
                "anthropic-version: header is required",
            ),
        ));
    }

    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let body_model = parsed
        .as_ref()
        .and_then(|v| v.get("model"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let body_stream = parsed
        .as_ref()
        .and_then(|v| v.get("stream"))
        .and_then(Value::as_bool)
        == Some(true);
    let (model, stream) = match &endpoint {
        Endpoint::GeminiGenerate { model, stream } => (model.clone(), *stream),
        _ => (
            body_model.unwrap_or_else(|| DEFAULT_MODEL.to_owned()),
            body_stream,
        ),
    };
    let ctx = Ctx {
        endpoint,
        model,
        stream,
        seq,
        state: Arc::clone(&state),
    };

    let reply = state.next_reply(&key).unwrap_or_else(Reply::ok);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    render(reply, &ctx)
}

fn render(reply: Reply, ctx: &Ctx) -> Result<Response<RespBody>, io::Error> {
    let status = StatusCode::from_u16(reply.status).map_err(io::Error::other)?;
    let mut response = match reply.kind {
        ReplyKind::Reset => {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "scripted reset",
            ));
        }
        ReplyKind::Sse {
            events,
            spacing,
            abort_after,
        } => sse_response(status, ctx, events, spacing, abort_after),
        ReplyKind::CutBody => cut_response(status, Bytes::from(success_body(ctx).to_string())),
        ReplyKind::Normal => match reply.body {
            Some(ReplyBody::Json(v)) => json_response(status, v),
            Some(ReplyBody::Text(t)) => full_response(
                status,
                "text/plain; charset=utf-8",
                Bytes::from(t.into_bytes()),
            ),
            None if status.is_success() && ctx.stream && streams(&ctx.endpoint) => {
                sse_response(status, ctx, DEFAULT_SSE_EVENTS, Duration::ZERO, None)
            }
            None if status.is_success() => json_response(status, success_body(ctx)),
            None => json_response(status, error_body(ctx.endpoint.family(), status)),
        },
    };
    for (name, value) in &reply.headers {
        let name = header::HeaderName::from_bytes(name.as_bytes()).map_err(io::Error::other)?;
        let value = HeaderValue::from_str(value).map_err(io::Error::other)?;
        response.headers_mut().insert(name, value);
    }
    Ok(response)
}

fn streams(endpoint: &Endpoint) -> bool {
    !matches!(endpoint, Endpoint::OpenAiModels | Endpoint::GeminiModels)
}

fn full_response(
    status: StatusCode,
    content_type: &'static str,
    body: Bytes,
) -> Response<RespBody> {
    let mut response = Response::new(
        Full::new(body)
            .map_err(|never: Infallible| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// `body` announced by `Content-Length`, of which only the first half is sent before the body
/// fails (hyper then drops the connection).
fn cut_response(status: StatusCode, body: Bytes) -> Response<RespBody> {
    let len = body.len();
    let half = body.slice(..len / 2);
    let stream = futures_util::stream::iter([
        Ok(Frame::data(half)),
        Err(io::Error::other("scripted cut mid-body")),
    ])
    .then(|item| async move {
        if item.is_err() {
            // Let hyper flush the head and the first half before the body fails.
            tokio::time::sleep(ABORT_FLUSH).await;
        }
        item
    });
    let mut response = Response::new(StreamBody::new(stream).boxed_unsync());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    response
}

fn json_response(status: StatusCode, body: Value) -> Response<RespBody> {
    full_response(status, "application/json", Bytes::from(body.to_string()))
}

// ---- bodies ---------------------------------------------------------------------------------

fn missing_key(family: Family) -> Response<RespBody> {
    match family {
        Family::OpenAi => json_response(
            StatusCode::UNAUTHORIZED,
            json!({"error": {
                "message": "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                "type": "invalid_request_error",
                "param": null,
                "code": "invalid_api_key"
            }}),
        ),
        Family::Anthropic => json_response(
            StatusCode::UNAUTHORIZED,
            anthropic_error("authentication_error", "x-api-key header is required"),
        ),
        Family::Gemini => json_response(
            StatusCode::BAD_REQUEST,
            json!({"error": {
                "code": 400,
                "message": "API key not valid. Please pass a valid API key.",
                "status": "INVALID_ARGUMENT"
            }}),
        ),
    }
}

fn anthropic_error(kind: &str, message: &str) -> Value {
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

/// A provider-shaped error body for a scripted status without a body.
fn error_body(family: Family, status: StatusCode) -> Value {
    let code = status.as_u16();
    let message = format!("mock provider error {code}");
    match family {
        Family::OpenAi => {
            let (kind, code_str) = match code {
                401 => ("invalid_request_error", Some("invalid_api_key")),
                403 => ("permission_denied", None),
                404 => ("invalid_request_error", Some("model_not_found")),
                429 => ("requests", Some("rate_limit_exceeded")),
                500..=599 => ("server_error", None),
                _ => ("invalid_request_error", None),
            };
            json!({"error": {"message": message, "type": kind, "param": null, "code": code_str}})
        }
        Family::Anthropic => {
            let kind = match code {
                401 => "authentication_error",
                403 => "permission_error",
                404 => "not_found_error",
                413 => "request_too_large",
                429 => "rate_limit_error",
                529 => "overloaded_error",
                500..=599 => "api_error",
                _ => "invalid_request_error",
            };
            anthropic_error(kind, &message)
        }
        Family::Gemini => {
            let status_name = match code {
                401 => "UNAUTHENTICATED",
                403 => "PERMISSION_DENIED",
                404 => "NOT_FOUND",
                429 => "RESOURCE_EXHAUSTED",
                503 => "UNAVAILABLE",
                504 => "DEADLINE_EXCEEDED",
                500..=599 => "INTERNAL",
                _ => "INVALID_ARGUMENT",
            };
            json!({"error": {"code": code, "message": message, "status": status_name}})
        }
    }
}

fn openai_usage(completion: u64) -> Value {
    json!({"prompt_tokens": PROMPT_TOKENS, "completion_tokens": completion, "total_tokens": PROMPT_TOKENS + completion})
}

fn gemini_usage(completion: u64) -> Value {
    json!({"promptTokenCount": PROMPT_TOKENS, "candidatesTokenCount": completion, "totalTokenCount": PROMPT_TOKENS + completion})
}

fn responses_object(ctx: &Ctx, status: &str, text: Option<&str>, completion: u64) -> Value {
    let output = match text {
        Some(text) => json!([{
            "type": "message",
            "id": format!("msg_mock_{}", ctx.seq),
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}]
        }]),
        None => json!([]),
    };
    json!({
        "id": format!("resp_mock_{}", ctx.seq),
        "object": "response",
        "created_at": CREATED,
        "status": status,
        "model": ctx.model,
        "output": output,
        "usage": {"input_tokens": PROMPT_TOKENS, "output_tokens": completion, "total_tokens": PROMPT_TOKENS + completion}
    })
}

/// The default non-streaming success body of each endpoint.
fn success_body(ctx: &Ctx) -> Value {
    match &ctx.endpoint {
        Endpoint::OpenAiChat | Endpoint::GeminiOpenAiChat => json!({
            "id": format!("chatcmpl-mock-{}", ctx.seq),
            "object": "chat.completion",
            "created": CREATED,
            "model": ctx.model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": REPLY_TEXT, "refusal": null},
                "logprobs": null,
                "finish_reason": "stop"
            }],
            "usage": openai_usage(COMPLETION_TOKENS),
            "system_fingerprint": "fp_mock"
        }),
        Endpoint::OpenAiResponses => {
            responses_object(ctx, "completed", Some(REPLY_TEXT), COMPLETION_TOKENS)
        }
        Endpoint::AnthropicMessages => json!({
            "id": format!("msg_mock_{}", ctx.seq),
            "type": "message",
            "role": "assistant",
            "model": ctx.model,
            "content": [{"type": "text", "text": REPLY_TEXT}],
            "stop_reason": "end_turn",
            "stop_sequence": null,
            "usage": {"input_tokens": PROMPT_TOKENS, "output_tokens": COMPLETION_TOKENS}
        }),
        Endpoint::GeminiGenerate { .. } => json!({
            "candidates": [{
                "content": {"parts": [{"text": REPLY_TEXT}], "role": "model"},
                "finishReason": "STOP",
                "index": 0
            }],
            "usageMetadata": gemini_usage(COMPLETION_TOKENS),
            "modelVersion": ctx.model
        }),
        Endpoint::OpenAiModels => json!({
            "object": "list",
            "data": [
                {"id": "gpt-4o-mini", "object": "model", "created": CREATED, "owned_by": "mock"},
                {"id": "gpt-4o", "object": "model", "created": CREATED, "owned_by": "mock"},
                {"id": "claude-3-5-haiku-latest", "object": "model", "created": CREATED, "owned_by": "mock"}
            ]
        }),
        Endpoint::GeminiModels => json!({
            "models": [
                {
                    "name": "models/gemini-2.0-flash",
                    "displayName": "Gemini 2.0 Flash",
                    "inputTokenLimit": 1_048_576,
                    "outputTokenLimit": 8192,
                    "supportedGenerationMethods": ["generateContent", "countTokens", "streamGenerateContent"]
                },
                {
                    "name": "models/gemini-1.5-pro",
                    "displayName": "Gemini 1.5 Pro",
                    "inputTokenLimit": 2_097_152,
                    "outputTokenLimit": 8192,
                    "supportedGenerationMethods": ["generateContent", "countTokens", "streamGenerateContent"]
                }
            ]
        }),
    }
}

// ---- SSE ------------------------------------------------------------------------------------

fn data_event(v: &Value) -> String {
    format!("data: {v}\n\n")
}

fn named_event(name: &str, v: &Value) -> String {
    format!("event: {name}\ndata: {v}\n\n")
}

/// The chunks of a stream of `events` content events: chunk `i` holds content event `i`, the
/// first also the opening framing events and the last the closing ones.
fn sse_chunks(ctx: &Ctx, events: usize) -> Vec<Bytes> {
    let (prelude, finale) = sse_framing(ctx, events);
    let mut chunks: Vec<String> = (0..events).map(|i| sse_content(ctx, i, events)).collect();
    if chunks.is_empty() {
        chunks.push(String::new());
    }
    if let Some(first) = chunks.first_mut() {
        first.insert_str(0, &prelude);
    }
    if let Some(last) = chunks.last_mut() {
        last.push_str(&finale);
    }
    chunks
        .into_iter()
        .map(|c| Bytes::from(c.into_bytes()))
        .collect()
}

fn sse_framing(ctx: &Ctx, events: usize) -> (String, String) {
    let total = events as u64;
    match &ctx.endpoint {
        Endpoint::OpenAiResponses => (
            named_event(
                "response.created",
                &json!({"type": "response.created", "response": responses_object(ctx, "in_progress", None, 0)}),
            ),
            named_event(
                "response.completed",
                &json!({
                    "type": "response.completed",
                    "response": responses_object(ctx, "completed", Some(&stream_text(events)), total)
                }),
            ),
        ),
        Endpoint::AnthropicMessages => {
            let start = json!({"type": "message_start", "message": {
                "id": format!("msg_mock_{}", ctx.seq),
                "type": "message",
                "role": "assistant",
                "model": ctx.model,
                "content": [],
                "stop_reason": null,
                "stop_sequence": null,
                "usage": {"input_tokens": PROMPT_TOKENS, "output_tokens": 1}
            }});
            let block = json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}});
            let prelude = named_event("message_start", &start)
                + &named_event("content_block_start", &block)
                + &named_event("ping", &json!({"type": "ping"}));
            let finale = named_event(
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": 0}),
            ) + &named_event(
                "message_delta",
                &json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": total}}),
            ) + &named_event("message_stop", &json!({"type": "message_stop"}));
            (prelude, finale)
        }
        Endpoint::GeminiGenerate { .. } => (String::new(), String::new()),
        Endpoint::OpenAiChat
        | Endpoint::GeminiOpenAiChat
        | Endpoint::OpenAiModels
        | Endpoint::GeminiModels => {
            let id = format!("chatcmpl-mock-{}", ctx.seq);
            let stop = json!({
                "id": id, "object": "chat.completion.chunk", "created": CREATED, "model": ctx.model,
                "choices": [{"index": 0, "delta": {}, "logprobs": null, "finish_reason": "stop"}]
            });
            let usage = json!({
                "id": id, "object": "chat.completion.chunk", "created": CREATED, "model": ctx.model,
                "choices": [], "usage": openai_usage(total)
            });
            (
                String::new(),
                data_event(&stop) + &data_event(&usage) + "data: [DONE]\n\n",
            )
        }
    }
}

fn stream_token(i: usize) -> String {
    format!("tok{i} ")
}

fn stream_text(events: usize) -> String {
    (0..events).map(stream_token).collect()
}

fn sse_content(ctx: &Ctx, i: usize, events: usize) -> String {
    let text = stream_token(i);
    match &ctx.endpoint {
        Endpoint::OpenAiResponses => named_event(
            "response.output_text.delta",
            &json!({
                "type": "response.output_text.delta",
                "item_id": format!("msg_mock_{}", ctx.seq),
                "output_index": 0,
                "content_index": 0,
                "delta": text
            }),
        ),
        Endpoint::AnthropicMessages => named_event(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}),
        ),
        Endpoint::GeminiGenerate { .. } => {
            let mut candidate =
                json!({"content": {"parts": [{"text": text}], "role": "model"}, "index": 0});
            if i + 1 == events {
                candidate["finishReason"] = json!("STOP");
            }
            data_event(&json!({
                "candidates": [candidate],
                "usageMetadata": gemini_usage(i as u64 + 1),
                "modelVersion": ctx.model
            }))
        }
        Endpoint::OpenAiChat
        | Endpoint::GeminiOpenAiChat
        | Endpoint::OpenAiModels
        | Endpoint::GeminiModels => {
            let delta = if i == 0 {
                json!({"role": "assistant", "content": text})
            } else {
                json!({"content": text})
            };
            data_event(&json!({
                "id": format!("chatcmpl-mock-{}", ctx.seq),
                "object": "chat.completion.chunk",
                "created": CREATED,
                "model": ctx.model,
                "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": null}]
            }))
        }
    }
}

/// A streamed body: each chunk is its own frame, `spacing` after the previous one; with
/// `abort_after = Some(n)` the body fails after `n` chunks, which drops the connection.
fn sse_response(
    status: StatusCode,
    ctx: &Ctx,
    events: usize,
    spacing: Duration,
    abort_after: Option<usize>,
) -> Response<RespBody> {
    let mut items: Vec<Option<Bytes>> = sse_chunks(ctx, events).into_iter().map(Some).collect();
    if let Some(n) = abort_after {
        items.truncate(n);
        items.push(None);
    }
    let watch = StreamWatch {
        state: Arc::clone(&ctx.state),
        finished: false,
    };
    let stream = futures_util::stream::unfold(
        (items.into_iter(), true, watch),
        move |(mut it, first, mut watch)| async move {
            let Some(item) = it.next() else {
                watch.finish();
                return None;
            };
            if item.is_none() {
                // a scripted abort is not the reader going away
                watch.finished = true;
            }
            if !first && !spacing.is_zero() {
                tokio::time::sleep(spacing).await;
            }
            if item.is_none() {
                // Let hyper flush the head and the earlier chunks before the body fails.
                tokio::time::sleep(ABORT_FLUSH).await;
            }
            let frame = item
                .map(Frame::data)
                .ok_or_else(|| io::Error::other("scripted abort mid-stream"));
            Some((frame, (it, false, watch)))
        },
    );
    let mut response = Response::new(StreamBody::new(stream).boxed_unsync());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn extracts_keys_per_channel_and_records() {
        let mock = MockProvider::start().await.unwrap();
        let c = client();
        let base = mock.base_url();
        let body = json!({"model": "m-1", "messages": []});

        let r = c
            .post(format!("{base}/v1/chat/completions"))
            .bearer_auth("oa")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["model"], "m-1");
        assert_eq!(v["object"], "chat.completion");
        assert_eq!(v["usage"]["total_tokens"], 16);

        let r = c
            .post(format!("{base}/v1/responses"))
            .bearer_auth("rs")
            .json(&body)
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["object"], "response");

        let r = c
            .post(format!("{base}/prefix/v1/messages"))
            .header("x-api-key", "an")
            .header("anthropic-version", "2023-06-01")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["type"], "message");
        assert_eq!(v["model"], "m-1");

        let r = c
            .post(format!(
                "{base}/v1beta/models/gemini-2.0-flash:generateContent?key=ge"
            ))
            .json(&json!({"contents": []}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["modelVersion"], "gemini-2.0-flash");
        assert_eq!(v["usageMetadata"]["totalTokenCount"], 16);

        let r = c
            .post(format!("{base}/v1beta/openai/chat/completions"))
            .bearer_auth("go")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let r = c
            .get(format!("{base}/v1/models"))
            .bearer_auth("ml")
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["object"], "list");
        let r = c
            .get(format!("{base}/v1beta/models?key=gm"))
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        assert!(v["models"].is_array());

        // The key is only read where the provider reads it.
        let r = c
            .post(format!("{base}/v1/messages"))
            .bearer_auth("wrong-place")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["type"], "authentication_error");
        let r = c
            .post(format!("{base}/v1/chat/completions"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "invalid_api_key");
        let r = c
            .post(format!("{base}/v1beta/models/g:generateContent"))
            .bearer_auth("x")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["status"], "INVALID_ARGUMENT");
        let r = c
            .post(format!("{base}/v1/messages"))
            .header("x-api-key", "an")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let r = c.get(format!("{base}/nope")).send().await.unwrap();
        assert_eq!(r.status(), 404);

        let keys: Vec<Option<String>> = mock.requests().into_iter().map(|r| r.key).collect();
        let k = |s: &str| Some(s.to_owned());
        assert_eq!(
            keys,
            vec![
                k("oa"),
                k("rs"),
                k("an"),
                k("ge"),
                k("go"),
                k("ml"),
                k("gm"),
                None,
                None,
                None,
                k("an"),
                None
            ]
        );
        let anthropic = mock.requests_for_key("an");
        assert_eq!(anthropic[0].path, "/prefix/v1/messages");
        assert_eq!(anthropic[0].header("anthropic-version"), Some("2023-06-01"));
        assert_eq!(anthropic[0].json().unwrap()["model"], "m-1");
        let gemini = mock.requests_for_key("ge");
        assert_eq!(gemini[0].query.as_deref(), Some("key=ge"));
        assert_eq!(gemini[0].query_param("key").as_deref(), Some("ge"));
        mock.clear();
        assert!(mock.requests().is_empty());
    }

    #[tokio::test]
    async fn scripted_429_then_default_200() {
        let mock = MockProvider::start().await.unwrap();
        mock.script("k1", Reply::status(429).retry_after(7));
        let c = client();
        let url = format!("{}/v1/chat/completions", mock.base_url());
        let body = json!({"model": "gpt-4o-mini"});

        // Another key is unaffected by k1's script.
        let r = c
            .post(&url)
            .bearer_auth("k2")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);

        let r = c
            .post(&url)
            .bearer_auth("k1")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["retry-after"], "7");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "rate_limit_exceeded");

        let r = c
            .post(&url)
            .bearer_auth("k1")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);

        mock.always(
            "k3",
            Reply::status(401).body(json!({"error": {"message": "revoked"}})),
        );
        for _ in 0..2 {
            let r = c
                .post(&url)
                .bearer_auth("k3")
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 401);
            assert_eq!(
                r.json::<Value>().await.unwrap()["error"]["message"],
                "revoked"
            );
        }
        assert_eq!(mock.requests_for_key("k1").len(), 2);
        // Sequential requests on one client reuse the keep-alive connection.
        assert_eq!(mock.connections(), 1);
    }

    #[tokio::test]
    async fn sse_events_arrive_spaced() {
        let mock = MockProvider::start().await.unwrap();
        mock.script("k", Reply::sse(3, Duration::from_millis(200)));
        let mut r = client()
            .post(format!("{}/v1/chat/completions", mock.base_url()))
            .bearer_auth("k")
            .json(&json!({"model": "gpt-4o", "stream": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["content-type"], "text/event-stream");
        let mut first = None;
        let mut last = Instant::now();
        let mut text = String::new();
        while let Some(chunk) = r.chunk().await.unwrap() {
            last = Instant::now();
            first.get_or_insert(last);
            text.push_str(std::str::from_utf8(&chunk).unwrap());
        }
        let spread = last - first.unwrap();
        assert!(
            spread >= Duration::from_millis(150),
            "chunks arrived within {spread:?}"
        );
        assert!(text.ends_with("data: [DONE]\n\n"));
        assert_eq!(text.matches("\"model\":\"gpt-4o\"").count(), 5);

        // Default streaming for Anthropic and Gemini, in their formats.
        let r = client()
            .post(format!("{}/v1/messages", mock.base_url()))
            .header("x-api-key", "a")
            .header("anthropic-version", "2023-06-01")
            .json(&json!({"model": "claude", "stream": true}))
            .send()
            .await
            .unwrap();
        let text = r.text().await.unwrap();
        assert!(text.starts_with("event: message_start\n"));
        assert_eq!(text.matches("event: content_block_delta").count(), 3);
        assert!(text.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
        let r = client()
            .post(format!(
                "{}/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse&key=g",
                mock.base_url()
            ))
            .json(&json!({"contents": []}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["content-type"], "text/event-stream");
        let text = r.text().await.unwrap();
        assert_eq!(text.matches("data: {").count(), 3);
        assert!(text.contains("\"finishReason\":\"STOP\""));
    }

    #[tokio::test]
    async fn reset_closes_the_connection() {
        let mock = MockProvider::start().await.unwrap();
        mock.script("k", Reply::reset());
        let c = client();
        let url = format!("{}/v1/chat/completions", mock.base_url());
        let err = c
            .post(&url)
            .bearer_auth("k")
            .json(&json!({}))
            .send()
            .await
            .unwrap_err();
        assert!(!err.is_timeout(), "{err:?}");
        let r = c
            .post(&url)
            .bearer_auth("k")
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(mock.requests_for_key("k").len(), 2);

        // A delayed reply arrives no earlier than its delay.
        mock.script("k", Reply::status(503).delay(Duration::from_millis(100)));
        let t = Instant::now();
        let r = c
            .post(&url)
            .bearer_auth("k")
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 503);
        assert!(t.elapsed() >= Duration::from_millis(100));

        // A stream aborted mid-way fails on the client.
        mock.script("k", Reply::sse(5, Duration::ZERO).abort_after(2));
        let mut r = c
            .post(&url)
            .bearer_auth("k")
            .json(&json!({"stream": true}))
            .send()
            .await
            .unwrap();
        let mut got = Vec::new();
        let err = loop {
            match r.chunk().await {
                Ok(Some(chunk)) => got.extend_from_slice(&chunk),
                Ok(None) => panic!("stream ended cleanly: {}", String::from_utf8_lossy(&got)),
                Err(e) => break e,
            }
        };
        let got = String::from_utf8(got).unwrap();
        assert!(
            got.contains("tok1 ") && !got.contains("tok2 "),
            "{got} / {err}"
        );
    }

    #[tokio::test]
    async fn records_sha256_of_a_10_mib_body() {
        let mock = MockProvider::start().await.unwrap();
        let body: Vec<u8> = (0..10 * 1024 * 1024)
            .map(|i: u32| (i % 251) as u8)
            .collect();
        let expected = hex::encode(Sha256::digest(&body));
        let r = client()
            .post(format!("{}/v1/chat/completions", mock.base_url()))
            .bearer_auth("big")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let rec = mock.requests_for_key("big");
        assert_eq!(rec[0].body_len, 10 * 1024 * 1024);
        assert_eq!(rec[0].body_sha256, expected);
    }

    #[tokio::test]
    async fn shutdown_stops_accepting() {
        let mock = MockProvider::start().await.unwrap();
        let addr = mock.addr();
        mock.shutdown().await;
        assert!(TcpStream::connect(addr).await.is_err());
    }

    #[test]
    fn parses_endpoints() {
        let p = |m: &Method, path: &str| Endpoint::parse(m, path);
        assert_eq!(
            p(&Method::POST, "/a/b/v1/chat/completions"),
            Some(Endpoint::OpenAiChat)
        );
        assert_eq!(
            p(
                &Method::POST,
                "/v1beta/models/gemini-pro:streamGenerateContent"
            ),
            Some(Endpoint::GeminiGenerate {
                model: "gemini-pro".into(),
                stream: true
            })
        );
        assert_eq!(
            p(&Method::POST, "/v1beta/openai/chat/completions"),
            Some(Endpoint::GeminiOpenAiChat)
        );
        assert_eq!(p(&Method::GET, "/v1/chat/completions"), None);
        assert_eq!(p(&Method::POST, "/v1beta/models/x:countTokens"), None);
        assert_eq!(p(&Method::POST, "/v2/chat/completions"), None);
    }
}
