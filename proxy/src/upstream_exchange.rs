//! The upstream exchange, owned by `request_filter` (docs/ARCHITECTURE.md "Request path"): Pingora's connector and pooled
//! sessions, our own request write and response-header read, so that any body size can be
//! retried with the next key. Also the relay of a response to the client, chunk by chunk.
//!
//! Traps handled here (listed in docs/ARCHITECTURE.md "Request path"): timeouts set per session,
//! 1xx responses skipped, a stale pooled connection retried once on a fresh one, the early
//! response of an upstream that stopped reading the body salvaged, failover bodies drained so the
//! connection returns to the pool, the client watched while streaming (`biased` select with a
//! `response_done` check first), and downstream framing fixed up.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use gateway_core::token_usage::UsageScanner;
use pingora::connectors::http::Connector;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::protocols::http::client::HttpSession;
use pingora::proxy::Session;
use pingora::upstreams::peer::HttpPeer;
use pingora::{ErrorType, Result};

use crate::client_response_header::downstream_header;
use crate::dns_cache::DnsCache;
use crate::upstream_selection::Upstream;

/// The most of a failed attempt's body we read (to pass it on or to free the connection).
const ERROR_BODY_LIMIT: usize = 1 << 20;
/// How long we wait for a failed attempt's body before giving the connection up.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// Timeouts of one attempt.
#[derive(Clone, Copy, Debug)]
pub struct AttemptTimeouts {
    /// TCP connect (and TLS handshake) time.
    pub connect: Duration,
    /// Time to the response header, and the longest gap between body chunks.
    pub read: Duration,
    /// How long an idle pooled connection is kept.
    pub idle: Duration,
}

/// Limits of relaying one response body, and the upstream key its header must not show.
#[derive(Clone, Copy)]
pub struct RelayLimits<'a> {
    /// The attempt's upstream key, masked wherever the response header carries it.
    pub key: &'a str,
    /// Longest wait for each body chunk (the stream idle timeout for streams).
    pub idle: Duration,
    /// When the whole response must be done (the total `request_timeout` of a non-streaming
    /// request); `None` for streams, which run as long as they produce.
    pub deadline: Option<std::time::Instant>,
}

/// Why an attempt got no response header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExchangeError {
    /// Name resolution, connect or TLS handshake failed.
    Connect(String),
    /// The upstream did not answer in time.
    Timeout,
    /// The connection failed while sending or waiting (reset, closed…).
    Transport(String),
}

impl std::fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExchangeError::Connect(m) | ExchangeError::Transport(m) => f.write_str(m),
            ExchangeError::Timeout => f.write_str("timed out"),
        }
    }
}

/// An upstream response whose header has been read; the body is still on the connection.
pub struct UpstreamResponse {
    session: HttpSession,
    peer: HttpPeer,
    idle: Duration,
}

impl UpstreamResponse {
    /// The response header.
    pub fn header(&self) -> Option<&ResponseHeader> {
        self.session.response_header()
    }

    /// The status code (0 if, impossibly, no header).
    pub fn status(&self) -> u16 {
        self.header().map_or(0, |h| h.status.as_u16())
    }
}

/// Connector plus DNS cache; one per proxy service.
pub struct UpstreamExchange {
    connector: Connector,
    dns: DnsCache,
}

impl UpstreamExchange {
    /// An exchange over `connector` (built from the server configuration for its pool settings).
    pub fn new(connector: Connector) -> Self {
        Self {
            connector,
            dns: DnsCache::default(),
        }
    }

    /// Sends `header` + `body` to `upstream` and reads the response header.
    pub async fn send(
        &self,
        upstream: &Upstream,
        header: &RequestHeader,
        body: &Bytes,
        timeouts: AttemptTimeouts,
    ) -> std::result::Result<UpstreamResponse, ExchangeError> {
        let forward = upstream.route.as_ref().filter(|r| r.forward);
        let mut peer = self.peer(upstream).await?;
        peer.options.connection_timeout = Some(timeouts.connect);
        peer.options.total_connection_timeout = Some(timeouts.connect + Duration::from_secs(15));
        peer.options.read_timeout = Some(timeouts.read);
        peer.options.write_timeout = Some(timeouts.read);
        peer.options.idle_timeout = Some(timeouts.idle);
        // A pooled connection the upstream closed meanwhile fails on first use: retry once on a
        // new connection before treating it as the upstream's failure.
        let mut stale_retry = true;
        loop {
            let (mut session, reused) = self
                .connector
                .get_http_session(&peer)
                .await
                .map_err(|e| classify(&e, true))?;
            session.set_read_timeout(Some(timeouts.read));
            session.set_write_timeout(Some(timeouts.read));
            match exchange(&mut session, header, body).await {
                // The forwarding proxy's own refusal is a failure to reach the upstream.
                Ok(())
                    if forward.is_some()
                        && session
                            .response_header()
                            .is_some_and(|h| h.status.as_u16() == 407) =>
                {
                    session.shutdown().await;
                    let proxy = forward.map_or(String::new(), |r| r.proxy.endpoint());
                    let why = if header
                        .headers
                        .contains_key(http::header::PROXY_AUTHORIZATION)
                    {
                        "the proxy refused the credentials (407 Proxy Authentication Required)"
                    } else {
                        "the proxy requires authentication (407 Proxy Authentication Required): put user:password in the proxy URL"
                    };
                    return Err(ExchangeError::Connect(format!("proxy {proxy}: {why}")));
                }
                Ok(()) => {
                    return Ok(UpstreamResponse {
                        session,
                        peer,
                        idle: timeouts.idle,
                    });
                }
                Err(e) if reused && stale_retry && e.etype() != &ErrorType::ReadTimedout => {
                    stale_retry = false;
                    session.shutdown().await;
                }
                Err(e) => {
                    session.shutdown().await;
                    return Err(classify(&e, false));
                }
            }
        }
    }

    /// Whom an attempt on `upstream` connects to: the upstream, or the outbound proxy its
    /// route goes through (forwarding absolute-form requests, or tunnelling).
    async fn peer(&self, upstream: &Upstream) -> std::result::Result<HttpPeer, ExchangeError> {
        let peer = match &upstream.route {
            // To the proxy itself, which forwards the absolute-form request (plain HTTP to the
            // upstream); pooled per proxy.
            Some(route) if route.forward => {
                let proxy = &route.proxy;
                let addr = self
                    .dns
                    .resolve(&proxy.host, proxy.port)
                    .await
                    .map_err(|e| {
                        ExchangeError::Connect(format!(
                            "proxy {}: cannot resolve it: {e}",
                            proxy.endpoint()
                        ))
                    })?;
                let tls = proxy.scheme == gateway_core::outbound_proxy::ProxyScheme::Https;
                let mut peer = HttpPeer::new(addr, tls, proxy.host.clone());
                peer.group_key = route.pool_key;
                peer
            }
            // Through a proxy, which resolves the name: the peer's address is a placeholder
            // the tunnel connector ignores. It is 0.0.0.0 because Pingora, before reusing a
            // pooled connection, checks that the socket's peer is the peer's address, except
            // for 0.0.0.0; the tunnel's socket goes to the proxy. The pool key (`group_key`)
            // keeps tunnels of different proxies and direct connections apart.
            Some(route) => {
                let placeholder =
                    std::net::SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, upstream.port));
                let mut peer = HttpPeer::new(placeholder, upstream.tls, upstream.host.clone());
                peer.group_key = route.pool_key;
                let connector: Arc<dyn pingora::connectors::L4Connect + Send + Sync> =
                    Arc::<crate::outbound_route::ProxyRoute>::clone(route);
                peer.options.custom_l4 = Some(connector);
                peer
            }
            None => {
                let addr = self
                    .dns
                    .resolve(&upstream.host, upstream.port)
                    .await
                    .map_err(|e| {
                        ExchangeError::Connect(format!("cannot resolve {}: {e}", upstream.host))
                    })?;
                HttpPeer::new(addr, upstream.tls, upstream.host.clone())
            }
        };
        Ok(peer)
    }

    /// Reads the (small) body of a response we will not relay, so its connection can return to
    /// the pool; gives the connection up if the body is large or slow. Returns what was read.
    pub async fn drain(&self, resp: UpstreamResponse) -> Bytes {
        self.read_body(resp, ERROR_BODY_LIMIT, DRAIN_TIMEOUT)
            .await
            .0
    }

    /// Reads a whole body of at most `limit` bytes within `wait`. The connection returns to the
    /// pool when the body was read to its end; the flag says whether it was.
    pub async fn read_body(
        &self,
        mut resp: UpstreamResponse,
        limit: usize,
        wait: Duration,
    ) -> (Bytes, bool) {
        let mut buf = BytesMut::new();
        let read_all = async {
            while !resp.session.response_done() {
                match resp.session.read_response_body().await {
                    Ok(Some(chunk)) if buf.len() + chunk.len() <= limit => {
                        buf.extend_from_slice(&chunk);
                    }
                    Ok(None) => break,
                    Ok(Some(_)) | Err(_) => return false,
                }
            }
            true
        };
        let complete = tokio::time::timeout(wait, read_all).await.unwrap_or(false);
        if complete {
            self.connector
                .release_http_session(resp.session, &resp.peer, Some(resp.idle))
                .await;
        } else {
            resp.session.shutdown().await;
        }
        (buf.freeze(), complete)
    }

    /// Relays the response to the client: header (framing fixed up), then the body chunk by
    /// chunk as it arrives (never buffered, so SSE keeps its timing), while watching for the
    /// client going away. The connection returns to the pool when the body was read to its end.
    ///
    /// An error after the header went out means the client sees a truncated stream, on purpose.
    /// Each chunk is also shown to `usage` (token usage is read as the body passes).
    pub async fn relay(
        &self,
        client: &mut Session,
        resp: UpstreamResponse,
        limits: RelayLimits<'_>,
        usage: Option<&mut UsageScanner>,
    ) -> Result<()> {
        match limits.deadline {
            None => self.relay_body(client, resp, limits, usage).await,
            Some(deadline) => {
                match tokio::time::timeout_at(
                    deadline.into(),
                    self.relay_body(client, resp, limits, usage),
                )
                .await
                {
                    Ok(done) => done,
                    Err(_) => Err(pingora::Error::explain(
                        ErrorType::ReadTimedout,
                        "request_timeout reached while the response body was relayed",
                    )
                    .into_up()),
                }
            }
        }
    }

    async fn relay_body(
        &self,
        client: &mut Session,
        mut resp: UpstreamResponse,
        limits: RelayLimits<'_>,
        mut usage: Option<&mut UsageScanner>,
    ) -> Result<()> {
        let key = limits.key;
        resp.session.set_read_timeout(Some(limits.idle));
        let Some(upstream_header) = resp.session.response_header() else {
            return Err(pingora::Error::explain(
                ErrorType::InternalError,
                "no upstream response header",
            ));
        };
        let header = downstream_header(upstream_header, key)?;
        client
            .write_response_header(Box::new(header), false)
            .await?;
        loop {
            if resp.session.response_done() {
                break;
            }
            tokio::select! {
                biased;
                chunk = resp.session.read_response_body() => match chunk {
                    Ok(Some(data)) => {
                        if let Some(u) = usage.as_deref_mut() {
                            u.feed(&data);
                        }
                        client.write_response_body(Some(data), false).await?;
                    }
                    Ok(None) => break,
                    Err(e) => {
                        resp.session.shutdown().await;
                        return Err(e);
                    }
                },
                gone = client.as_downstream_mut().read_body_or_idle(true) => {
                    resp.session.shutdown().await;
                    return Err(match gone {
                        Err(e) => e.into_down(),
                        Ok(_) => pingora::Error::explain(ErrorType::ConnectionClosed, "client sent data while the response streamed"),
                    });
                }
            }
        }
        client.write_response_body(None, true).await?;
        self.connector
            .release_http_session(resp.session, &resp.peer, Some(resp.idle))
            .await;
        Ok(())
    }
}

/// Writes the request and reads the response header, skipping 1xx. If the upstream answered
/// early and closed while we were still writing the body, its answer is recovered.
async fn exchange(session: &mut HttpSession, header: &RequestHeader, body: &Bytes) -> Result<()> {
    session
        .write_request_header(Box::new(header.clone()))
        .await?;
    let written = async {
        if !body.is_empty() {
            session.write_request_body(body.clone(), true).await?;
        }
        session.finish_request_body().await
    }
    .await;
    if let Err(e) = written {
        return match tokio::time::timeout(Duration::from_millis(500), read_final_header(session))
            .await
        {
            Ok(Ok(())) => Ok(()),
            _ => Err(e),
        };
    }
    read_final_header(session).await
}

async fn read_final_header(session: &mut HttpSession) -> Result<()> {
    loop {
        session.read_response_header().await?;
        match session.response_header() {
            Some(h) if h.status.is_informational() && h.status.as_u16() != 101 => continue,
            _ => return Ok(()),
        }
    }
}

fn classify(e: &pingora::Error, connecting: bool) -> ExchangeError {
    match e.etype() {
        ErrorType::ReadTimedout | ErrorType::WriteTimedout => ExchangeError::Timeout,
        ErrorType::ConnectTimedout => ExchangeError::Connect("connect timed out".to_owned()),
        _ if connecting => ExchangeError::Connect(describe(e)),
        _ => ExchangeError::Transport(describe(e)),
    }
}

/// A short description of a transport error: its type and the most specific detail in its
/// chain (e.g. `TLSHandshakeFailure (TLS connect() failed: invalid peer certificate:
/// NotValidForName, SNI: api.example.com)` or `ConnectRefused (Connection refused (os error
/// 111))`). Pingora's note of our own local socket address is left out.
fn describe(e: &pingora::Error) -> String {
    let mut detail: Option<String> = None;
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = current {
        if let Some(inner) = c.downcast_ref::<pingora::Error>() {
            if let Some(context) = &inner.context {
                detail = Some(context.to_string());
            }
            current = inner
                .cause
                .as_deref()
                .map(|c| c as &(dyn std::error::Error + 'static));
        } else {
            let text = c.to_string();
            if !text.is_empty() && !text.starts_with("local address") {
                detail = Some(text);
            }
            current = c.source();
        }
    }
    match detail.as_deref().map(root_cause).filter(|d| !d.is_empty()) {
        Some(d) => format!("{} ({d})", e.etype().as_str()),
        None => e.etype().as_str().to_owned(),
    }
}

/// The last cause of a detail that Pingora built from another error's text
/// (`… ConnectRefused context: Fail to connect to … cause: Connection refused (os error 111)`
/// → `Connection refused (os error 111)`), with runs of spaces folded.
fn root_cause(detail: &str) -> String {
    let last = detail
        .rsplit_once(" cause: ")
        .map_or(detail, |(_, cause)| cause);
    let last = last
        .split_once(" context: ")
        .map_or(last, |(_, context)| context);
    last.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closed_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    async fn failure(url: &str) -> ExchangeError {
        let upstream = Upstream::parse(url, 1).unwrap();
        let exchange = UpstreamExchange::new(Connector::new(None));
        let mut header = RequestHeader::build("POST", b"/v1/chat/completions", None).unwrap();
        header.insert_header("host", "127.0.0.1").unwrap();
        let timeouts = AttemptTimeouts {
            connect: Duration::from_secs(2),
            read: Duration::from_secs(2),
            idle: Duration::from_secs(2),
        };
        match exchange
            .send(&upstream, &header, &Bytes::from_static(b"{}"), timeouts)
            .await
        {
            Ok(_) => panic!("{url} answered"),
            Err(e) => e,
        }
    }

    /// One sentence per failure: the error type once, then the most specific cause, without
    /// Pingora's nested `context:` / `cause:` text.
    fn assert_clean(what: &str, e: &ExchangeError, expected: &str) {
        let text = e.to_string();
        assert_eq!(text, expected, "{what}");
        assert!(
            !text.contains("context:") && !text.contains("cause:"),
            "{what}: {text}"
        );
    }

    #[tokio::test]
    async fn transport_failures_read_as_one_sentence() {
        let refused = failure(&format!("http://127.0.0.1:{}", closed_port())).await;
        assert_clean(
            "refused",
            &refused,
            "ConnectRefused (Connection refused (os error 111))",
        );
        // An upstream that reads the request and closes without answering, and one that never
        // answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let closing = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = tokio::io::AsyncReadExt::read(&mut s, &mut buf).await;
            }
        });
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let silent_addr = silent.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = silent.accept().await {
                held.push(s);
            }
        });
        assert_clean(
            "closed",
            &failure(&format!("http://{closing}")).await,
            "ConnectionClosed (while reading response headers, bytes already read: 0)",
        );
        assert_clean(
            "tls",
            &failure(&format!("https://{closing}")).await,
            "TLSHandshakeFailure (tls handshake eof, SNI: 127.0.0.1)",
        );
        assert_eq!(
            failure(&format!("http://{silent_addr}")).await,
            ExchangeError::Timeout
        );
        assert_eq!(
            root_cause("TLS connect() failed: invalid peer certificate: NotValidForName, SNI: a"),
            "TLS connect() failed: invalid peer certificate: NotValidForName, SNI: a"
        );
    }
}
