//! `bench-upstream`: the mock provider of the load benchmark (`scripts/bench.sh`).
//!
//! An HTTP/1.1 keep-alive server that reads and discards any request body, then answers every
//! method and path with the same small OpenAI-style `chat.completion` JSON and a `Content-Length`.
//! It must stay much faster than whatever is measured in front of it, so it does nothing per
//! request beyond that: no logging, no parsing, no allocation for the response body.
//!
//! Usage: `bench-upstream [--port P] [--threads N] [--limited-key K [--retry-after S]]
//! [--faults F [--fault-kinds K,...]] [--sse [--stream-gap-ms MS]]`. `--port 0`
//! (the default) picks a free port; the bound address is printed once on stdout as
//! `listening on 127.0.0.1:P` so scripts can read it. A request whose `Authorization` is
//! `Bearer K` gets OpenAI's 429 `rate_limit_exceeded` instead, with `retry-after: S` (default 1),
//! for the failover benchmark.
//!
//! For the soak test (`make soak`) it can also misbehave and stream, like a real provider:
//! `--faults F` answers a fraction F of the requests with a fault, drawn evenly from
//! `--fault-kinds` (default all four): `500` (OpenAI's `server_error`), `429` (OpenAI's
//! `rate_limit_exceeded` with `retry-after: S`), `reset` (the connection is dropped before any
//! answer) and `cut` (a 200 whose body stops halfway and the connection is dropped). With `--sse`,
//! a request whose JSON body has `"stream": true` gets a `text/event-stream` of six events
//! `--stream-gap-ms` apart (default 5): the chunks of the same answer, one with the `usage`, then
//! `data: [DONE]`. The faults follow a fixed pseudo-random sequence, so two runs inject the same
//! ones. None of this is on unless asked for: without these flags the fast path above is unchanged.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER,
};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

/// The fixed answer (about 300 bytes), shaped like a non-streaming OpenAI chat completion.
const COMPLETION: &[u8] = br#"{"id":"chatcmpl-bench0000000000000000000000","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! This is the benchmark upstream answering."},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":9,"total_tokens":21}}"#;

/// The 429 of a rate-limited key, shaped like OpenAI's.
const RATE_LIMITED: &[u8] = br#"{"error":{"message":"Rate limit reached for requests","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#;

/// The 500 of a failing provider, shaped like OpenAI's.
const SERVER_ERROR: &[u8] = br#"{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}"#;

/// The events of a streamed answer (`--sse`), each sent as `EVENT\n\n`: the same answer as
/// [`COMPLETION`] in chunks, the `usage` chunk OpenAI sends with `stream_options.include_usage`,
/// then the end marker.
const STREAM_EVENTS: [&str; 6] = [
    r#"data: {"id":"chatcmpl-bench0000000000000000000000","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello!"},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    r#"data: {"id":"chatcmpl-bench0000000000000000000000","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":" This is the benchmark"},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    r#"data: {"id":"chatcmpl-bench0000000000000000000000","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":" upstream answering."},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    r#"data: {"id":"chatcmpl-bench0000000000000000000000","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}"#,
    r#"data: {"id":"chatcmpl-bench0000000000000000000000","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":9,"total_tokens":21}}"#,
    "data: [DONE]",
];

/// The shortest pause before a `cut` body breaks off, so that its first half is flushed first.
const CUT_PAUSE: Duration = Duration::from_millis(1);

const USAGE: &str = "usage: bench-upstream [--port P (0 = pick a free one, default)] [--threads N (default 1)] [--limited-key K [--retry-after S (default 1)]] [--faults FRACTION (default 0) [--fault-kinds 500,429,reset,cut (default all)]] [--sse [--stream-gap-ms MS (default 5)]]";

/// Command-line options.
struct Options {
    port: u16,
    threads: usize,
    /// `Authorization` value answered with 429.
    limited: Option<String>,
    retry_after: u64,
    /// Fraction of requests answered with a fault.
    faults: f64,
    /// The faults drawn from, evenly.
    fault_kinds: Vec<FaultKind>,
    /// Stream the answer to `"stream": true` requests.
    sse: bool,
    /// Pause between two events of a stream.
    stream_gap: Duration,
}

/// A misbehaviour of the provider (`--faults`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FaultKind {
    /// 500 with OpenAI's `server_error` body.
    ServerError,
    /// 429 with OpenAI's `rate_limit_exceeded` body and `retry-after`.
    RateLimited,
    /// The connection is dropped after the request is read, before any answer.
    Reset,
    /// A 200 whose body (JSON or stream) stops halfway, then the connection is dropped.
    Cut,
}

impl FaultKind {
    const ALL: [Self; 4] = [Self::ServerError, Self::RateLimited, Self::Reset, Self::Cut];

    fn parse(name: &str) -> Option<Self> {
        match name {
            "500" => Some(Self::ServerError),
            "429" => Some(Self::RateLimited),
            "reset" => Some(Self::Reset),
            "cut" => Some(Self::Cut),
            _ => None,
        }
    }
}

fn parse_args(mut args: impl Iterator<Item = String>) -> anyhow::Result<Options> {
    let mut options = Options {
        port: 0,
        threads: 1,
        limited: None,
        retry_after: 1,
        faults: 0.0,
        fault_kinds: FaultKind::ALL.to_vec(),
        sse: false,
        stream_gap: Duration::from_millis(5),
    };
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
            None => (arg, None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| anyhow::anyhow!("{name} needs a value\n{USAGE}"))
        };
        match name.as_str() {
            "--port" => {
                let v = value("--port")?;
                options.port = v
                    .parse()
                    .map_err(|_| anyhow::anyhow!("--port {v:?}: expected 0-65535"))?;
            }
            "--threads" => {
                let v = value("--threads")?;
                options.threads = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=1024).contains(n))
                    .ok_or_else(|| anyhow::anyhow!("--threads {v:?}: expected 1-1024"))?;
            }
            "--limited-key" => {
                options.limited = Some(format!("Bearer {}", value("--limited-key")?));
            }
            "--retry-after" => {
                let v = value("--retry-after")?;
                options.retry_after = v
                    .parse()
                    .map_err(|_| anyhow::anyhow!("--retry-after {v:?}: expected seconds"))?;
            }
            "--faults" => {
                let v = value("--faults")?;
                options.faults = v
                    .parse::<f64>()
                    .ok()
                    .filter(|f| (0.0..=1.0).contains(f))
                    .ok_or_else(|| {
                        anyhow::anyhow!("--faults {v:?}: expected a fraction from 0 to 1")
                    })?;
            }
            "--fault-kinds" => {
                let v = value("--fault-kinds")?;
                options.fault_kinds = v
                    .split(',')
                    .map(|k| {
                        FaultKind::parse(k.trim()).ok_or_else(|| {
                            anyhow::anyhow!(
                                "--fault-kinds {v:?}: {k:?} is not one of 500, 429, reset, cut"
                            )
                        })
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?;
            }
            "--sse" if inline.is_none() => options.sse = true,
            "--stream-gap-ms" => {
                let v = value("--stream-gap-ms")?;
                options.stream_gap = Duration::from_millis(
                    v.parse::<u64>()
                        .ok()
                        .filter(|ms| *ms <= 10_000)
                        .ok_or_else(|| {
                            anyhow::anyhow!("--stream-gap-ms {v:?}: expected 0-10000")
                        })?,
                );
            }
            "-h" | "--help" => anyhow::bail!("{USAGE}"),
            other => anyhow::bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    Ok(options)
}

/// Drains the request body frame by frame (nothing is buffered), then sends the fixed completion,
/// or the 429 when the request carries the limited key.
async fn handle(
    request: Request<Incoming>,
    limited: Option<Arc<Limited>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let is_limited = carries_limited_key(request.headers(), limited.as_deref());
    let mut body = request.into_body();
    while let Some(frame) = body.frame().await {
        if frame.is_err() {
            break;
        }
    }
    let (status, payload) = if is_limited {
        (StatusCode::TOO_MANY_REQUESTS, RATE_LIMITED)
    } else {
        (StatusCode::OK, COMPLETION)
    };
    // `Full` has an exact size hint, so hyper writes `Content-Length` rather than chunking.
    let mut response = Response::new(Full::new(Bytes::from_static(payload)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let (true, Some(l)) = (is_limited, &limited) {
        response
            .headers_mut()
            .insert(RETRY_AFTER, l.retry_after.clone());
    }
    Ok(response)
}

/// The rate-limited key and its answer.
struct Limited {
    authorization: String,
    retry_after: HeaderValue,
}

/// Whether the request carries the `--limited-key`.
fn carries_limited_key(headers: &HeaderMap, limited: Option<&Limited>) -> bool {
    limited.is_some_and(|l| {
        headers
            .get(AUTHORIZATION)
            .is_some_and(|v| v.as_bytes() == l.authorization.as_bytes())
    })
}

/// What the scripted mode (`--faults`, `--sse`) needs.
struct Script {
    faults: f64,
    kinds: Vec<FaultKind>,
    sse: bool,
    stream_gap: Duration,
    /// `retry-after` of the injected 429.
    retry_after: HeaderValue,
    /// The events of a stream, each with its blank line.
    events: Vec<Bytes>,
    /// Requests seen so far: the input of the fault draw.
    seen: AtomicU64,
}

impl Script {
    /// The fault of the next request, if it gets one: a fraction `faults` of the requests, the
    /// kinds evenly, from a fixed pseudo-random sequence (SplitMix64 of a counter).
    fn draw(&self) -> Option<FaultKind> {
        if self.faults <= 0.0 {
            return None;
        }
        let u = unit_interval(self.seen.fetch_add(1, Ordering::Relaxed));
        if u >= self.faults {
            return None;
        }
        let at = (u / self.faults * self.kinds.len() as f64) as usize;
        self.kinds
            .get(at.min(self.kinds.len().saturating_sub(1)))
            .copied()
    }
}

/// The `n`-th output of SplitMix64, mapped to `[0, 1)`.
fn unit_interval(n: u64) -> f64 {
    let mut z = n.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1_u64 << 53) as f64
}

/// Whether a JSON request body asks for a stream: `"stream"`, a colon and `true`, any spacing.
/// A byte scan, not a parse: the mock must stay cheap.
fn wants_stream(body: &[u8]) -> bool {
    const KEY: &[u8] = b"\"stream\"";
    let mut rest = body;
    while let Some(at) = rest.windows(KEY.len()).position(|w| w == KEY) {
        rest = rest[at + KEY.len()..].trim_ascii_start();
        if let Some(value) = rest.strip_prefix(b":")
            && value.trim_ascii_start().starts_with(b"true")
        {
            return true;
        }
    }
    false
}

/// A response body sent frame by frame: a pause of `gap` before every frame but the first, and,
/// for the `cut` fault, an error after the last frame (after a pause, so that what was sent is
/// flushed first), on which hyper drops the connection mid-body.
struct Scripted {
    frames: VecDeque<Bytes>,
    gap: Duration,
    pause: Option<Pin<Box<tokio::time::Sleep>>>,
    cut: bool,
    /// `Content-Length` (the full length, also when the body is cut); `None` = chunked.
    length: Option<u64>,
}

impl Scripted {
    /// One JSON body, sent whole.
    fn json(payload: &'static [u8]) -> Self {
        Self {
            frames: VecDeque::from([Bytes::from_static(payload)]),
            gap: Duration::ZERO,
            pause: None,
            cut: false,
            length: Some(payload.len() as u64),
        }
    }

    /// The first half of a JSON body under the full `Content-Length`, then the connection drops.
    fn cut_json(payload: &'static [u8]) -> Self {
        Self {
            frames: VecDeque::from([Bytes::from_static(&payload[..payload.len() / 2])]),
            gap: Duration::ZERO,
            pause: None,
            cut: true,
            length: Some(payload.len() as u64),
        }
    }

    /// The events of a stream, `gap` apart; only the first half of them when `cut`.
    fn stream(events: &[Bytes], gap: Duration, cut: bool) -> Self {
        let count = if cut {
            (events.len() / 2).max(1)
        } else {
            events.len()
        };
        Self {
            frames: events.iter().take(count).cloned().collect(),
            gap,
            pause: None,
            cut,
            length: None,
        }
    }
}

impl Body for Scripted {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        if let Some(pause) = this.pause.as_mut() {
            ready!(Future::poll(pause.as_mut(), cx));
            this.pause = None;
        }
        if let Some(data) = this.frames.pop_front() {
            let pause = if !this.frames.is_empty() {
                this.gap
            } else if this.cut {
                this.gap.max(CUT_PAUSE)
            } else {
                Duration::ZERO
            };
            if !pause.is_zero() {
                this.pause = Some(Box::pin(tokio::time::sleep(pause)));
            }
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        if this.cut {
            this.cut = false;
            return Poll::Ready(Some(Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "injected fault: body cut",
            ))));
        }
        Poll::Ready(None)
    }

    fn size_hint(&self) -> SizeHint {
        self.length
            .map_or_else(SizeHint::default, SizeHint::with_exact)
    }
}

/// The scripted mode's answer: the 429 of the limited key, else the fault drawn for this request,
/// else the completion (streamed when asked for and `--sse` is on). The `reset` fault is an error
/// of the service, on which hyper drops the connection without answering.
async fn handle_scripted(
    request: Request<Incoming>,
    limited: Option<Arc<Limited>>,
    script: Arc<Script>,
) -> Result<Response<Scripted>, std::io::Error> {
    let limited = limited.filter(|l| carries_limited_key(request.headers(), Some(l.as_ref())));
    // Chat requests are small; the whole body is needed to see `"stream": true`.
    let body = request
        .into_body()
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
        .unwrap_or_default();
    let stream = script.sse && wants_stream(&body);
    let fault = if limited.is_some() {
        Some(FaultKind::RateLimited)
    } else {
        script.draw()
    };
    let (status, body) = match fault {
        Some(FaultKind::Reset) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "injected fault: connection dropped before the answer",
            ));
        }
        Some(FaultKind::ServerError) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Scripted::json(SERVER_ERROR),
        ),
        Some(FaultKind::RateLimited) => {
            (StatusCode::TOO_MANY_REQUESTS, Scripted::json(RATE_LIMITED))
        }
        Some(FaultKind::Cut) if stream => (
            StatusCode::OK,
            Scripted::stream(&script.events, script.stream_gap, true),
        ),
        Some(FaultKind::Cut) => (StatusCode::OK, Scripted::cut_json(COMPLETION)),
        None if stream => (
            StatusCode::OK,
            Scripted::stream(&script.events, script.stream_gap, false),
        ),
        None => (StatusCode::OK, Scripted::json(COMPLETION)),
    };
    let event_stream = stream && status == StatusCode::OK;
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(if event_stream {
            "text/event-stream"
        } else {
            "application/json"
        }),
    );
    if event_stream {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        let retry_after =
            limited.map_or_else(|| script.retry_after.clone(), |l| l.retry_after.clone());
        headers.insert(RETRY_AFTER, retry_after);
    }
    Ok(response)
}

async fn serve(
    listener: tokio::net::TcpListener,
    limited: Option<Arc<Limited>>,
    script: Option<Arc<Script>>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Usually EMFILE under extreme load: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        // Small responses on keep-alive connections: Nagle would add delayed-ACK stalls.
        let _ = stream.set_nodelay(true);
        let limited = limited.clone();
        let script = script.clone();
        tokio::spawn(async move {
            let io = TokioIo::new(stream);
            let mut builder = http1::Builder::new();
            builder.keep_alive(true);
            // Client resets and half-closed connections are normal at the end of a run.
            if let Some(script) = script {
                let service =
                    service_fn(move |r| handle_scripted(r, limited.clone(), script.clone()));
                let _ = builder.serve_connection(io, service).await;
            } else {
                let service = service_fn(move |r| handle(r, limited.clone()));
                let _ = builder.serve_connection(io, service).await;
            }
        });
    }
}

fn main() -> anyhow::Result<()> {
    let options = parse_args(std::env::args().skip(1))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.threads)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener =
            tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], options.port))).await?;
        let bound = listener.local_addr()?;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on {bound}")?;
        stdout.flush()?;
        drop(stdout);
        let limited = options.limited.map(|authorization| {
            Arc::new(Limited {
                authorization,
                retry_after: HeaderValue::from(options.retry_after),
            })
        });
        let script = (options.faults > 0.0 || options.sse).then(|| {
            Arc::new(Script {
                faults: options.faults,
                kinds: options.fault_kinds,
                sse: options.sse,
                stream_gap: options.stream_gap,
                retry_after: HeaderValue::from(options.retry_after),
                events: STREAM_EVENTS
                    .iter()
                    .map(|event| Bytes::from(format!("{event}\n\n")))
                    .collect(),
                seen: AtomicU64::new(0),
            })
        });
        serve(listener, limited, script).await;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> anyhow::Result<Options> {
        parse_args(list.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn parses_flags() {
        let o = args(&[]).unwrap();
        assert_eq!((o.port, o.threads), (0, 1));
        let o = args(&["--port", "8080", "--threads=4"]).unwrap();
        assert_eq!((o.port, o.threads), (8080, 4));
        assert!(args(&["--threads", "0"]).is_err());
        assert!(args(&["--port"]).is_err());
        assert!(args(&["--bogus"]).is_err());
        let o = args(&["--limited-key", "sk-1", "--retry-after=5"]).unwrap();
        assert_eq!(
            (o.limited.as_deref(), o.retry_after),
            (Some("Bearer sk-1"), 5)
        );
    }

    #[test]
    fn parses_fault_and_stream_flags() {
        let o = args(&[]).unwrap();
        assert_eq!((o.faults, o.sse), (0.0, false));
        assert_eq!(o.fault_kinds, FaultKind::ALL);
        let o = args(&[
            "--faults=0.05",
            "--fault-kinds",
            "500, cut",
            "--sse",
            "--stream-gap-ms",
            "2",
        ])
        .unwrap();
        assert_eq!(o.faults, 0.05);
        assert_eq!(o.fault_kinds, [FaultKind::ServerError, FaultKind::Cut]);
        assert!(o.sse);
        assert_eq!(o.stream_gap, Duration::from_millis(2));
        assert!(args(&["--faults", "1.5"]).is_err());
        assert!(args(&["--fault-kinds", "500,teapot"]).is_err());
        assert!(args(&["--sse=yes"]).is_err());
    }

    #[test]
    fn sees_stream_requests() {
        assert!(wants_stream(br#"{"model":"m","stream":true}"#));
        assert!(wants_stream(br#"{"stream" : true, "model":"m"}"#));
        assert!(!wants_stream(br#"{"model":"m","stream":false}"#));
        assert!(!wants_stream(
            br#"{"stream_options":{"include_usage":true}}"#
        ));
        assert!(!wants_stream(
            br#"{"messages":[{"content":"say \"stream\": true"}]}"#
        ));
        assert!(!wants_stream(b""));
    }

    #[test]
    fn draws_the_asked_share_of_each_fault() {
        let script = Script {
            faults: 0.2,
            kinds: FaultKind::ALL.to_vec(),
            sse: false,
            stream_gap: Duration::ZERO,
            retry_after: HeaderValue::from(1_u64),
            events: Vec::new(),
            seen: AtomicU64::new(0),
        };
        let mut counts = [0_u32; 4];
        for _ in 0..100_000 {
            if let Some(kind) = script.draw() {
                let at = FaultKind::ALL.iter().position(|k| *k == kind).unwrap();
                counts[at] += 1;
            }
        }
        // 5,000 of each expected
        assert!(
            counts.iter().all(|n| (4_600..=5_400).contains(n)),
            "{counts:?}"
        );
    }

    #[test]
    fn stream_ends_with_usage_and_done() {
        let events: Vec<&str> = STREAM_EVENTS.to_vec();
        assert_eq!(events.last(), Some(&"data: [DONE]"));
        assert!(events[events.len() - 2].contains(r#""usage":{"prompt_tokens":12"#));
        for event in &events[..events.len() - 1] {
            let json = event.strip_prefix("data: ").unwrap();
            assert!(json.starts_with('{') && json.ends_with('}'), "{event}");
        }
    }

    #[test]
    fn completion_is_small_valid_json_shape() {
        let text = std::str::from_utf8(COMPLETION).unwrap();
        assert!((250..=400).contains(&text.len()), "{}", text.len());
        assert!(text.starts_with('{') && text.ends_with('}'));
        assert!(text.contains(r#""object":"chat.completion""#));
    }
}
