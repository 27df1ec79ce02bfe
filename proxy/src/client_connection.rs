//! Client connections of the public port: a per-process cap (`SERVER_MAX_CONNECTIONS`), a total
//! deadline for each request header (`SERVER_READ_TIMEOUT`) and an idle deadline between
//! kept-alive requests (`SERVER_IDLE_TIMEOUT`), in front of Pingora's HTTP/1 handling.
//!
//! Pingora bounds only each single read of a header, so a client sending one byte a minute holds
//! a connection (and a file descriptor) forever, outside `MAX_CONCURRENT_REQUESTS`. Here each
//! HTTP/1 request header is read to its end under one deadline, then handed to Pingora as a
//! pre-read prefix (its pipelining hook), so Pingora parses it without another read. A header
//! that does not arrive in time gets `408` and the connection closes; a connection over the cap
//! gets `503` and closes at once. HTTP/2 (negotiated by TLS ALPN) goes to Pingora as it is.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::BytesMut;
use pingora::apps::{HttpPersistentSettings, HttpServerApp, ServerApp};
use pingora::protocols::http::ServerSession;
use pingora::protocols::{ALPN, Stream};
use pingora::server::ShutdownWatch;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use crate::metrics::ProxyMetrics;

/// Beyond this many header bytes we stop looking for the header's end and let Pingora answer
/// (it refuses headers over its own limit with 400).
const MAX_HEAD_SCAN: usize = 1 << 20;

/// How long the gateway waits to write a 408 or 503 to a client before closing anyway.
const REFUSAL_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// The deadlines and the cap of client connections.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Most client connections open at once in this process.
    pub max_connections: usize,
    /// Longest time from a connection's start (or a request's first byte) to the end of the
    /// request header.
    pub header_timeout: Duration,
    /// Longest wait for the next request on a kept-alive connection.
    pub idle_timeout: Duration,
}

/// Pingora's HTTP application `A` behind the connection limits.
pub struct ClientConnections<A> {
    app: Arc<A>,
    limits: ConnectionLimits,
    open: AtomicUsize,
    metrics: Arc<ProxyMetrics>,
}

impl<A> ClientConnections<A> {
    /// `app` served under `limits`, counted in `metrics`.
    pub fn new(app: A, limits: ConnectionLimits, metrics: Arc<ProxyMetrics>) -> Self {
        Self {
            app: Arc::new(app),
            limits,
            open: AtomicUsize::new(0),
            metrics,
        }
    }
}

/// One connection's place under the cap, given back when it closes.
struct Slot<'a> {
    open: &'a AtomicUsize,
    metrics: &'a ProxyMetrics,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
        self.metrics.client_connections.dec();
    }
}

impl<A> ClientConnections<A> {
    fn take_slot(&self) -> Option<Slot<'_>> {
        let taken = self
            .open
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < self.limits.max_connections).then_some(n + 1)
            })
            .is_ok();
        taken.then(|| {
            self.metrics.client_connections.inc();
            Slot {
                open: &self.open,
                metrics: &self.metrics,
            }
        })
    }
}

/// What waiting for a request header ended with.
enum Head {
    /// The header is complete (with any body bytes that came with it).
    Ready(BytesMut),
    /// The client closed, or nothing arrived before the idle deadline or a stop: close quietly.
    Gone,
    /// Part of a header arrived, not all of it in time: answer 408.
    TimedOut,
}

#[async_trait]
impl<A> ServerApp for ClientConnections<A>
where
    A: HttpServerApp + Send + Sync + 'static,
{
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let Some(_slot) = self.take_slot() else {
            self.metrics
                .client_connections_closed
                .with_label_values(&["over_limit"])
                .inc();
            refuse(stream, &OVER_LIMIT).await;
            return None;
        };
        if matches!(stream.selected_alpn_proto(), Some(ALPN::H2)) {
            return ServerApp::process_new(&self.app, stream, shutdown).await;
        }
        let mut stream = stream;
        let mut carried: Option<HttpPersistentSettings> = None;
        let mut first = true;
        loop {
            let head = read_head(&mut stream, first, self.limits, shutdown.clone()).await;
            let prefix = match head {
                Head::Ready(prefix) => prefix,
                Head::Gone => return None,
                Head::TimedOut => {
                    self.metrics
                        .client_connections_closed
                        .with_label_values(&["header_timeout"])
                        .inc();
                    refuse(stream, &HEADER_TIMEOUT).await;
                    return None;
                }
            };
            let mut session = ServerSession::new_http1(stream);
            match carried.take() {
                Some(settings) => settings.apply_to_session(&mut session),
                None => {
                    // Pingora's defaults for a new connection; `GatewayService` sets the
                    // keep-alive time per request.
                    session.set_keepalive(if *shutdown.borrow() { None } else { Some(60) });
                    session.set_keepalive_reuses_remaining(
                        self.app
                            .server_options()
                            .and_then(|o| o.keepalive_request_limit),
                    );
                }
            }
            session.set_pipelined_prefix(prefix);
            let reused = self.app.process_new_http(session, shutdown).await?;
            let (next, settings) = reused.consume();
            stream = next;
            carried = settings;
            first = false;
        }
    }

    async fn cleanup(&self) {
        ServerApp::cleanup(self.app.as_ref()).await;
    }
}

/// Reads one request header under the deadlines: the first request's within `header_timeout`
/// of the connection's start; a later one's first byte within `idle_timeout` (a stop ends that
/// wait), then the rest within `header_timeout` of that byte.
async fn read_head(
    stream: &mut Stream,
    first: bool,
    limits: ConnectionLimits,
    mut shutdown: ShutdownWatch,
) -> Head {
    let mut buf = BytesMut::with_capacity(4096);
    let deadline = if first {
        Instant::now() + limits.header_timeout
    } else {
        let first_byte = async {
            if *shutdown.borrow_and_update() {
                return None;
            }
            tokio::select! {
                read = stream.read_buf(&mut buf) => Some(read),
                _ = shutdown.changed() => None,
            }
        };
        match tokio::time::timeout(limits.idle_timeout, first_byte).await {
            Ok(Some(Ok(n))) if n > 0 => {}
            _ => return Head::Gone,
        }
        Instant::now() + limits.header_timeout
    };
    let mut scanned = 0;
    loop {
        if head_complete(&buf, scanned) || buf.len() > MAX_HEAD_SCAN {
            return Head::Ready(buf);
        }
        scanned = buf.len();
        match tokio::time::timeout_at(deadline, stream.read_buf(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {}
            Ok(_) => return Head::Gone,
            Err(_) if buf.is_empty() => return Head::Gone,
            Err(_) => return Head::TimedOut,
        }
    }
}

/// True when `buf` holds the end of a header (an empty line, `\r\n\r\n` or a bare `\n\n`),
/// looking only at bytes from a little before `from` on.
fn head_complete(buf: &[u8], from: usize) -> bool {
    let start = from.saturating_sub(3);
    buf[start..]
        .iter()
        .enumerate()
        .filter(|&(_, &b)| b == b'\n')
        .any(|(i, _)| {
            let rest = &buf[start + i + 1..];
            rest.first() == Some(&b'\n') || rest.starts_with(b"\r\n")
        })
}

/// A complete answer written to a client whose request is refused, before closing.
struct Refusal {
    status_line: &'static str,
    retry_after: bool,
    message: &'static str,
    code: &'static str,
}

const OVER_LIMIT: Refusal = Refusal {
    status_line: "503 Service Unavailable",
    retry_after: true,
    message: "the gateway holds as many client connections as SERVER_MAX_CONNECTIONS allows; retry shortly",
    code: "too_many_connections",
};

const HEADER_TIMEOUT: Refusal = Refusal {
    status_line: "408 Request Timeout",
    retry_after: false,
    message: "the request header did not arrive within SERVER_READ_TIMEOUT",
    code: "request_timeout",
};

/// Writes `refusal` (OpenAI's error shape: the channel is not known before the header) and
/// closes the connection.
async fn refuse(mut stream: Stream, refusal: &Refusal) {
    let body = serde_json::json!({
        "error": {"message": refusal.message, "type": "gateway_error", "code": refusal.code}
    })
    .to_string();
    let retry_after = if refusal.retry_after {
        "Retry-After: 1\r\n"
    } else {
        ""
    };
    let answer = format!(
        "HTTP/1.1 {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{retry_after}Connection: close\r\n\r\n{body}",
        refusal.status_line,
        body.len(),
    );
    let write = async {
        stream.write_all(answer.as_bytes()).await?;
        stream.flush().await?;
        stream.shutdown().await
    };
    match tokio::time::timeout(REFUSAL_WRITE_TIMEOUT, write).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!("cannot write the refusal to the client: {e}"),
        Err(_) => tracing::debug!("the client did not take the refusal in time"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_end_of_a_header() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        assert!(head_complete(head, 0));
        assert!(!head_complete(&head[..head.len() - 1], 0));
        // Found when the blank line is split across reads.
        assert!(head_complete(head, head.len() - 2));
        assert!(head_complete(b"GET / HTTP/1.1\nHost: a\n\n", 0));
        assert!(!head_complete(b"GET / HTTP/1.1\r\nHost: a\r\n", 0));
        assert!(head_complete(b"POST / HTTP/1.1\r\n\r\n{\"a\":1}", 0));
    }
}
