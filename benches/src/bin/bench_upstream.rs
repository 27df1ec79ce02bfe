//! `bench-upstream`: the mock provider of the load benchmark (`scripts/bench.sh`).
//!
//! An HTTP/1.1 keep-alive server that reads and discards any request body, then answers every
//! method and path with the same small OpenAI-style `chat.completion` JSON and a `Content-Length`.
//! It must stay much faster than whatever is measured in front of it, so it does nothing per
//! request beyond that: no logging, no parsing, no allocation for the response body.
//!
//! Usage: `bench-upstream [--port P] [--threads N] [--limited-key K [--retry-after S]]`. `--port 0`
//! (the default) picks a free port; the bound address is printed once on stdout as
//! `listening on 127.0.0.1:P` so scripts can read it. A request whose `Authorization` is
//! `Bearer K` gets OpenAI's 429 `rate_limit_exceeded` instead, with `retry-after: S` (default 1),
//! for the failover benchmark.

use std::convert::Infallible;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

/// The fixed answer (about 300 bytes), shaped like a non-streaming OpenAI chat completion.
const COMPLETION: &[u8] = br#"{"id":"chatcmpl-bench0000000000000000000000","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! This is the benchmark upstream answering."},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":9,"total_tokens":21}}"#;

/// The 429 of a rate-limited key, shaped like OpenAI's.
const RATE_LIMITED: &[u8] = br#"{"error":{"message":"Rate limit reached for requests","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#;

const USAGE: &str = "usage: bench-upstream [--port P (0 = pick a free one, default)] [--threads N (default 1)] [--limited-key K [--retry-after S (default 1)]]";

/// Command-line options.
struct Options {
    port: u16,
    threads: usize,
    /// `Authorization` value answered with 429.
    limited: Option<String>,
    retry_after: u64,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> anyhow::Result<Options> {
    let mut options = Options {
        port: 0,
        threads: 1,
        limited: None,
        retry_after: 1,
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
    let is_limited = limited.as_ref().is_some_and(|l| {
        request
            .headers()
            .get(AUTHORIZATION)
            .is_some_and(|v| v.as_bytes() == l.authorization.as_bytes())
    });
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

async fn serve(listener: tokio::net::TcpListener, limited: Option<Arc<Limited>>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Usually EMFILE under extreme load: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        // Small responses on keep-alive connections: Nagle would add delayed-ACK stalls.
        let _ = stream.set_nodelay(true);
        let limited = limited.clone();
        tokio::spawn(async move {
            // Client resets and half-closed connections are normal at the end of a run.
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(
                    TokioIo::new(stream),
                    service_fn(move |r| handle(r, limited.clone())),
                )
                .await;
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
        serve(listener, limited).await;
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
    fn completion_is_small_valid_json_shape() {
        let text = std::str::from_utf8(COMPLETION).unwrap();
        assert!((250..=400).contains(&text.len()), "{}", text.len());
        assert!(text.starts_with('{') && text.ends_with('}'));
        assert!(text.contains(r#""object":"chat.completion""#));
    }
}
