//! `soak-load`: the fixed-rate load and the memory report of the soak test (`make soak`).
//!
//! An open-loop HTTP/1.1 load generator. Request *i* is due `i / RATE` seconds after the start,
//! whatever the latency: a slow proxy gets a queue, not a lighter load, and the latency of a
//! request is counted from the moment it was due (waiting for a free connection included).
//! Requests go over at most `--connections` keep-alive connections, one request at a time each
//! (a closed connection is reopened for the next request). A due request that finds every
//! connection busy waits in a queue of the same size; one that finds the queue full too is counted
//! as dropped and never sent. The scheduler wakes every millisecond; a request it sends more than
//! 10 ms after its due time (the load generator itself starved of CPU) is counted as late.
//! A fraction `--streams` of the requests, evenly spread, sends `"stream": true` and reads the SSE
//! answer to its end; such an answer counts as complete only when it carries `data: [DONE]`.
//!
//! Every `--sample` (from t = 0, before the first request, to the end) it reads `VmRSS` and
//! `RssAnon` of `--pid` (the proxy) and `VmRSS` of `--admin-pid` from `/proc/PID/status`, and
//! prints one CSV line on stderr (header `CSV_HEADER`; counts and latency of that interval).
//! At the end it prints a markdown report on stdout: the outcomes by class, the RSS every minute,
//! the RSS at the end of the warm-up against the end, the growth after the warm-up as a
//! least-squares slope, and the verdict
//! `RSS flat after warm-up: yes|no (slope X MB/min, threshold T MB/min)` (MB = MiB).
//!
//! The run lasts `--duration`, then at most `--grace` more while answers still arrive; what has
//! not finished by then is abandoned and reported. Loopback targets only.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{SocketAddr, ToSocketAddrs as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

const USAGE: &str = "usage: soak-load --url http://127.0.0.1:PORT (--group NAME | --path /PATH) \
[--key PROXY_KEY] [--rate REQUESTS_PER_S (1000)] [--duration D (30m)] [--streams FRACTION (0.1)] \
[--warmup D (2m)] [--sample D (10s)] [--pid PROXY_PID] [--admin-pid ADMIN_PID] \
[--connections N (64)] [--timeout D (30s)] [--grace D (10s)] [--threshold MB_PER_MIN (0.2)] \
[--threads N (1)]; durations like 500ms, 90s, 2m, 1h or plain seconds";

/// The columns of the per-sample lines on stderr. Counts and latency are those of the interval
/// since the previous sample; `ok` is 2xx answers read to their end, `err` every other outcome
/// (`4xx` … `timeout`); `dropped` requests were never sent; latency in milliseconds from the due
/// time; an empty RSS means no pid was given or the process is gone.
const CSV_HEADER: &str = "elapsed_s,rss_kib,rss_anon_kib,admin_rss_kib,sent,ok,err,4xx,5xx,other_status,truncated,transport,timeout,dropped,late,p50_ms,p99_ms";

/// A request sent more than this after its due time counts as late.
const LATE_AFTER: Duration = Duration::from_millis(10);
/// How often the scheduler wakes up to send what is due.
const TICK: Duration = Duration::from_millis(1);
/// KiB in one MB of the report (MB = MiB).
const KIB_PER_MB: f64 = 1024.0;
/// Runs longer than this get one RSS row per minute in the report, shorter ones every sample.
const ROW_EVERY_SAMPLE_UP_TO: Duration = Duration::from_secs(5 * 60);

/// Command-line options.
struct Options {
    url: String,
    /// Request path: `/proxy/GROUP/v1/chat/completions`, or `--path` as given.
    path: String,
    key: Option<String>,
    rate: f64,
    duration: Duration,
    /// Fraction of streamed requests.
    streams: f64,
    warmup: Duration,
    sample: Duration,
    pid: Option<u32>,
    admin_pid: Option<u32>,
    connections: usize,
    timeout: Duration,
    grace: Duration,
    /// Largest growth after the warm-up still called flat, MB per minute.
    threshold: f64,
    threads: usize,
}

/// `500ms`, `90s`, `2m`, `1h`, or plain (possibly fractional) seconds.
fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let value: f64 = number.parse().ok()?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return None,
    };
    if seconds.is_finite() && (0.0..1e9).contains(&seconds) {
        Some(Duration::from_secs_f64(seconds))
    } else {
        None
    }
}

fn parse_args(mut args: impl Iterator<Item = String>) -> anyhow::Result<Options> {
    let mut options = Options {
        url: String::new(),
        path: String::new(),
        key: None,
        rate: 1000.0,
        duration: Duration::from_secs(30 * 60),
        streams: 0.1,
        warmup: Duration::from_secs(2 * 60),
        sample: Duration::from_secs(10),
        pid: None,
        admin_pid: None,
        connections: 64,
        timeout: Duration::from_secs(30),
        grace: Duration::from_secs(10),
        threshold: 0.2,
        threads: 1,
    };
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
            None => (arg, None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| anyhow!("{name} needs a value\n{USAGE}"))
        };
        let duration = |v: String| {
            parse_duration(&v)
                .ok_or_else(|| anyhow!("{name} {v:?}: expected a duration (500ms, 90s, 2m, 1h)"))
        };
        let fraction = |v: String| {
            v.parse::<f64>()
                .ok()
                .filter(|f| (0.0..=1.0).contains(f))
                .ok_or_else(|| anyhow!("{name} {v:?}: expected a fraction from 0 to 1"))
        };
        let count = |v: String, max: usize| {
            v.parse::<usize>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| anyhow!("{name} {v:?}: expected 1-{max}"))
        };
        let pid = |v: String| {
            v.parse::<u32>()
                .map_err(|_| anyhow!("{name} {v:?}: expected a process id"))
        };
        match name.as_str() {
            "--url" => options.url = value()?,
            "--group" => options.path = format!("/proxy/{}/v1/chat/completions", value()?),
            "--path" => options.path = value()?,
            "--key" => options.key = Some(value()?),
            "--rate" => {
                let v = value()?;
                options.rate = v
                    .parse::<f64>()
                    .ok()
                    .filter(|r| (0.1..=1_000_000.0).contains(r))
                    .ok_or_else(|| anyhow!("--rate {v:?}: expected 0.1-1000000 requests/s"))?;
            }
            "--duration" => options.duration = duration(value()?)?,
            "--streams" => options.streams = fraction(value()?)?,
            "--warmup" => options.warmup = duration(value()?)?,
            "--sample" => options.sample = duration(value()?)?,
            "--pid" => options.pid = Some(pid(value()?)?),
            "--admin-pid" => options.admin_pid = Some(pid(value()?)?),
            "--connections" => options.connections = count(value()?, 4096)?,
            "--timeout" => options.timeout = duration(value()?)?,
            "--grace" => options.grace = duration(value()?)?,
            "--threshold" => {
                let v = value()?;
                options.threshold = v
                    .parse::<f64>()
                    .ok()
                    .filter(|t| t.is_finite() && *t >= 0.0)
                    .ok_or_else(|| anyhow!("--threshold {v:?}: expected MB per minute"))?;
            }
            "--threads" => options.threads = count(value()?, 64)?,
            "-h" | "--help" => bail!("{USAGE}"),
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    if options.url.is_empty() || options.path.is_empty() {
        bail!("--url and one of --group or --path are required\n{USAGE}");
    }
    if !options.path.starts_with('/') {
        bail!("--path {:?}: must start with /", options.path);
    }
    if options.duration.is_zero() || options.sample.is_zero() || options.timeout.is_zero() {
        bail!("--duration, --sample and --timeout must be above 0");
    }
    if options.warmup >= options.duration {
        bail!(
            "--warmup ({:?}) must be shorter than --duration ({:?})",
            options.warmup,
            options.duration
        );
    }
    Ok(options)
}

/// `http://HOST:PORT` (a trailing `/` allowed): the address to connect to and the `Host` header.
/// Refused unless every address the host resolves to is a loopback one.
fn resolve_loopback(url: &str) -> anyhow::Result<(SocketAddr, String)> {
    let authority = url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow!("--url {url:?}: expected http://HOST:PORT"))?
        .trim_end_matches('/');
    if authority.is_empty() || authority.contains('/') {
        bail!("--url {url:?}: expected http://HOST:PORT, without a path (use --group or --path)");
    }
    let addresses: Vec<SocketAddr> = authority
        .to_socket_addrs()
        .with_context(|| format!("--url {url:?}: cannot resolve {authority:?}"))?
        .collect();
    let Some(first) = addresses.first().copied() else {
        bail!("--url {url:?}: {authority:?} resolves to no address");
    };
    if !addresses.iter().all(|a| a.ip().is_loopback()) {
        bail!("--url {url:?}: loopback targets only (127.0.0.1, [::1] or localhost)");
    }
    Ok((first, authority.to_owned()))
}

/// What became of one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// 2xx, read to its end (and, for a stream, up to `data: [DONE]`).
    Ok,
    /// 4xx (the gateway's 429 and 503 when every key rests are 4xx and 5xx).
    Client,
    /// 5xx.
    Server,
    /// 1xx or 3xx.
    OtherStatus,
    /// 2xx whose body broke off, or a stream that ended without `data: [DONE]`.
    Truncated,
    /// No answer: connect failed, or the connection closed or reset before the status line.
    Transport,
    /// No complete answer within `--timeout`.
    Timeout,
}

impl Outcome {
    const COUNT: usize = 7;
    const ALL: [Self; Self::COUNT] = [
        Self::Ok,
        Self::Client,
        Self::Server,
        Self::OtherStatus,
        Self::Truncated,
        Self::Transport,
        Self::Timeout,
    ];

    fn index(self) -> usize {
        self as usize
    }

    /// The row name in the report.
    fn label(self) -> &'static str {
        match self {
            Self::Ok => "2xx, complete",
            Self::Client => "4xx",
            Self::Server => "5xx",
            Self::OtherStatus => "other status (1xx, 3xx)",
            Self::Truncated => "2xx, body cut or stream without `[DONE]`",
            Self::Transport => "no answer (connect failed, connection closed or reset)",
            Self::Timeout => "timeout",
        }
    }
}

/// Outcome counts, indexed by [`Outcome::index`].
type Counts = [u64; Outcome::COUNT];

fn errors(counts: &Counts) -> u64 {
    counts.iter().sum::<u64>() - counts[Outcome::Ok.index()]
}

/// What finished since the last sample.
#[derive(Default)]
struct Window {
    outcomes: Counts,
    /// Latency of each, microseconds from the due time.
    latencies_us: Vec<u32>,
}

/// One request to send.
struct Job {
    due: Instant,
    stream: bool,
}

/// One keep-alive connection to the target.
type Http1 = SendRequest<Full<Bytes>>;

/// What the scheduler, the workers and the sampler share.
struct Shared {
    address: SocketAddr,
    host: HeaderValue,
    path: Uri,
    authorization: Option<HeaderValue>,
    plain_body: Bytes,
    stream_body: Bytes,
    timeout: Duration,
    /// Requests handed to a connection or to the queue.
    sent: AtomicU64,
    /// Due requests not sent: every connection busy and the queue full.
    dropped: AtomicU64,
    /// Requests sent more than [`LATE_AFTER`] after their due time.
    late: AtomicU64,
    connections_opened: AtomicU64,
    window: Mutex<Window>,
}

impl Shared {
    fn request(&self, stream: bool) -> Request<Full<Bytes>> {
        let body = if stream {
            self.stream_body.clone()
        } else {
            self.plain_body.clone()
        };
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.path.clone();
        let headers = request.headers_mut();
        headers.insert(HOST, self.host.clone());
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if stream {
            headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
        }
        if let Some(authorization) = &self.authorization {
            headers.insert(AUTHORIZATION, authorization.clone());
        }
        request
    }

    fn record(&self, outcome: Outcome, latency: Duration) {
        let micros = u32::try_from(latency.as_micros()).unwrap_or(u32::MAX);
        let mut window = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        window.outcomes[outcome.index()] += 1;
        window.latencies_us.push(micros);
    }

    fn take_window(&self) -> Window {
        std::mem::take(&mut *self.window.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// A chat request of about 1 KiB, as in `scripts/bench.sh`.
fn chat_body(stream: bool) -> Bytes {
    let content = "The quick brown fox jumps over the lazy dog while the soak test watches the proxy's memory. ".repeat(9);
    let body = serde_json::json!({
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": content.trim_end()},
        ],
        "temperature": 0.2,
        "max_tokens": 64,
        "stream": stream,
    });
    Bytes::from(body.to_string())
}

/// Whether request `i` is one of the streamed ones: exactly `share` of them, evenly spread.
fn is_stream(i: u64, share: f64) -> bool {
    ((i + 1) as f64 * share).floor() > (i as f64 * share).floor()
}

/// Sends every request when it is due (`total` of them, `rate` per second from `start`).
async fn schedule(
    shared: Arc<Shared>,
    queue: mpsc::Sender<Job>,
    start: Instant,
    rate: f64,
    total: u64,
    streams: f64,
) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut next: u64 = 0;
    while next < total {
        tick.tick().await;
        let now = Instant::now();
        let due = ((now.duration_since(start).as_secs_f64() * rate) as u64 + 1).min(total);
        while next < due {
            let at = start + Duration::from_secs_f64(next as f64 / rate);
            if now.saturating_duration_since(at) > LATE_AFTER {
                shared.late.fetch_add(1, Ordering::Relaxed);
            }
            let job = Job {
                due: at,
                stream: is_stream(next, streams),
            };
            match queue.try_send(job) {
                Ok(()) => {
                    shared.sent.fetch_add(1, Ordering::Relaxed);
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    shared.dropped.fetch_add(1, Ordering::Relaxed);
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return,
            }
            next += 1;
        }
    }
}

async fn next_job(queue: &tokio::sync::Mutex<mpsc::Receiver<Job>>) -> Option<Job> {
    queue.lock().await.recv().await
}

/// One connection's worth of work: takes the next due request, sends it, records the outcome.
async fn work(shared: Arc<Shared>, queue: Arc<tokio::sync::Mutex<mpsc::Receiver<Job>>>) {
    let mut connection: Option<Http1> = None;
    while let Some(job) = next_job(&queue).await {
        let result = tokio::time::timeout(
            shared.timeout,
            exchange(&shared, &mut connection, job.stream),
        )
        .await;
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(_elapsed) => {
                // The dropped request future closed the connection.
                connection = None;
                Outcome::Timeout
            }
        };
        shared.record(outcome, job.due.elapsed());
    }
}

async fn connect(shared: &Shared) -> anyhow::Result<Http1> {
    let stream = tokio::net::TcpStream::connect(shared.address).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) =
        hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // Ends when the target or this side closes the connection; errors show up in requests.
        let _ = connection.await;
    });
    shared.connections_opened.fetch_add(1, Ordering::Relaxed);
    Ok(sender)
}

/// Makes `connection` a connection ready for a request: the current one when it is still open,
/// else a new one. False when no connection could be opened.
async fn ensure_ready(shared: &Shared, connection: &mut Option<Http1>) -> bool {
    if let Some(sender) = connection.as_mut()
        && sender.ready().await.is_ok()
    {
        return true;
    }
    *connection = None;
    let Ok(mut sender) = connect(shared).await else {
        return false;
    };
    if sender.ready().await.is_err() {
        return false;
    }
    *connection = Some(sender);
    true
}

/// Sends one request and reads its answer to the end.
async fn exchange(shared: &Shared, connection: &mut Option<Http1>, stream: bool) -> Outcome {
    if !ensure_ready(shared, connection).await {
        return Outcome::Transport;
    }
    let Some(sender) = connection.as_mut() else {
        return Outcome::Transport;
    };
    let Ok(response) = sender.send_request(shared.request(stream)).await else {
        *connection = None;
        return Outcome::Transport;
    };
    let status = response.status();
    let body = match response.into_body().collect().await {
        Ok(collected) => Some(collected.to_bytes()),
        Err(_) => {
            *connection = None;
            None
        }
    };
    if status.is_success() {
        match body {
            Some(bytes) if !stream || contains(&bytes, b"data: [DONE]") => Outcome::Ok,
            _ => Outcome::Truncated,
        }
    } else if status.is_client_error() {
        Outcome::Client
    } else if status.is_server_error() {
        Outcome::Server
    } else {
        Outcome::OtherStatus
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Memory of a process, KiB, from `/proc/PID/status`.
#[derive(Clone, Copy)]
struct Memory {
    rss_kib: u64,
    anon_kib: Option<u64>,
}

fn memory(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some(Memory {
        rss_kib: status_kib(&status, "VmRSS")?,
        anon_kib: status_kib(&status, "RssAnon"),
    })
}

/// The value of a `Field:   123 kB` line.
fn status_kib(status: &str, field: &str) -> Option<u64> {
    let line = status.lines().find(|line| {
        line.strip_prefix(field)
            .is_some_and(|rest| rest.starts_with(':'))
    })?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// One sample: memory now, and what happened since the previous sample.
struct Sample {
    elapsed: Duration,
    proxy: Option<Memory>,
    admin_rss_kib: Option<u64>,
    sent: u64,
    dropped: u64,
    late: u64,
    outcomes: Counts,
    p50_us: Option<u32>,
    p99_us: Option<u32>,
    /// Since the start.
    ok_so_far: u64,
    err_so_far: u64,
}

impl Sample {
    fn csv(&self) -> String {
        let kib = |v: Option<u64>| v.map_or_else(String::new, |v| v.to_string());
        let o = &self.outcomes;
        format!(
            "{:.1},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            self.elapsed.as_secs_f64(),
            kib(self.proxy.map(|m| m.rss_kib)),
            kib(self.proxy.and_then(|m| m.anon_kib)),
            kib(self.admin_rss_kib),
            self.sent,
            o[Outcome::Ok.index()],
            errors(o),
            o[Outcome::Client.index()],
            o[Outcome::Server.index()],
            o[Outcome::OtherStatus.index()],
            o[Outcome::Truncated.index()],
            o[Outcome::Transport.index()],
            o[Outcome::Timeout.index()],
            self.dropped,
            self.late,
            ms(self.p50_us),
            ms(self.p99_us),
        )
    }
}

/// Running totals of the sampler.
#[derive(Default)]
struct Totals {
    outcomes: Counts,
    latencies_us: Vec<u32>,
    sent: u64,
    dropped: u64,
    late: u64,
}

impl Totals {
    /// Takes what finished since the last sample into the totals; returns it.
    fn absorb(&mut self, mut window: Window) -> (Counts, Option<u32>, Option<u32>) {
        window.latencies_us.sort_unstable();
        let p50 = percentile(&window.latencies_us, 0.50);
        let p99 = percentile(&window.latencies_us, 0.99);
        for (total, n) in self.outcomes.iter_mut().zip(window.outcomes) {
            *total += n;
        }
        self.latencies_us.extend_from_slice(&window.latencies_us);
        (window.outcomes, p50, p99)
    }

    fn sample(&mut self, shared: &Shared, options: &Options, elapsed: Duration) -> Sample {
        let proxy = options.pid.and_then(memory);
        let admin_rss_kib = options.admin_pid.and_then(memory).map(|m| m.rss_kib);
        let (outcomes, p50_us, p99_us) = self.absorb(shared.take_window());
        let sent = shared.sent.load(Ordering::Relaxed);
        let dropped = shared.dropped.load(Ordering::Relaxed);
        let late = shared.late.load(Ordering::Relaxed);
        let sample = Sample {
            elapsed,
            proxy,
            admin_rss_kib,
            sent: sent - self.sent,
            dropped: dropped - self.dropped,
            late: late - self.late,
            outcomes,
            p50_us,
            p99_us,
            ok_so_far: self.outcomes[Outcome::Ok.index()],
            err_so_far: errors(&self.outcomes),
        };
        (self.sent, self.dropped, self.late) = (sent, dropped, late);
        sample
    }
}

/// The `q` quantile (0–1) of sorted values, by nearest rank.
fn percentile(sorted: &[u32], q: f64) -> Option<u32> {
    let last = sorted.len().checked_sub(1)?;
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.saturating_sub(1).min(last)).copied()
}

/// Microseconds as milliseconds with two decimals, `-` for none.
fn ms(us: Option<u32>) -> String {
    us.map_or_else(
        || "-".to_owned(),
        |us| format!("{:.2}", f64::from(us) / 1000.0),
    )
}

fn mb(kib: u64) -> f64 {
    kib as f64 / KIB_PER_MB
}

/// `m:ss`.
fn clock(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}", s / 60, s % 60)
}

/// Least-squares slope of `y` over `x`; `None` below two distinct `x`.
fn slope(points: &[(f64, f64)]) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    if sxx > 0.0 { Some(sxy / sxx) } else { None }
}

/// RSS in MB per minute after the warm-up, from the samples of one process.
fn growth(samples: &[&Sample], rss_kib: impl Fn(&Sample) -> Option<u64>) -> Option<f64> {
    let points: Vec<(f64, f64)> = samples
        .iter()
        .copied()
        .filter_map(|s| Some((s.elapsed.as_secs_f64() / 60.0, mb(rss_kib(s)?))))
        .collect();
    slope(&points)
}

/// Everything the report is made of.
struct Run<'a> {
    options: &'a Options,
    authority: &'a str,
    samples: &'a [Sample],
    totals: &'a Totals,
    /// Outcomes recorded after the last sample (answers that arrived during the grace period).
    after_end: Counts,
    /// Sent requests with no outcome when the grace period ended.
    unfinished: u64,
    connections_opened: u64,
}

fn report(run: &Run<'_>) -> Result<String, std::fmt::Error> {
    let o = run.options;
    let t = run.totals;
    let seconds = o.duration.as_secs_f64();
    let mut out = String::new();
    writeln!(out, "## Soak: proxy memory under a steady load")?;
    writeln!(out)?;
    writeln!(
        out,
        "- load: {} requests/s for {} s, open loop (request i due at i / rate, latency counted from then), \
         {:.0} % streams (`\"stream\": true`, SSE read to `data: [DONE]`), at most {} keep-alive \
         connections, `POST {}` on {}",
        o.rate,
        seconds,
        o.streams * 100.0,
        o.connections,
        o.path,
        run.authority
    )?;
    writeln!(
        out,
        "- achieved: {} requests sent, {:.1} requests/s ({:.1} % of the target); {} dropped (every \
         connection busy and the queue full); {} sent more than {} ms late; {} connections opened",
        t.sent,
        t.sent as f64 / seconds,
        t.sent as f64 * 100.0 / (o.rate * seconds),
        t.dropped,
        t.late,
        LATE_AFTER.as_millis(),
        run.connections_opened
    )?;
    let mut all = t.latencies_us.clone();
    all.sort_unstable();
    writeln!(
        out,
        "- latency over the run (ms, from the due time): p50 {}, p99 {}, p99.9 {}, max {}",
        ms(percentile(&all, 0.50)),
        ms(percentile(&all, 0.99)),
        ms(percentile(&all, 0.999)),
        ms(all.last().copied())
    )?;
    writeln!(out)?;
    let finished: u64 = t.outcomes.iter().sum();
    writeln!(out, "| outcome | requests | share of sent |")?;
    writeln!(out, "|---|---:|---:|")?;
    let share = |n: u64| {
        if t.sent == 0 {
            0.0
        } else {
            n as f64 * 100.0 / t.sent as f64
        }
    };
    for outcome in Outcome::ALL {
        let n = t.outcomes[outcome.index()];
        writeln!(out, "| {} | {n} | {:.2} % |", outcome.label(), share(n))?;
    }
    writeln!(
        out,
        "| not finished {} s after the end (abandoned) | {} | {:.2} % |",
        o.grace.as_secs_f64(),
        run.unfinished,
        share(run.unfinished)
    )?;
    writeln!(
        out,
        "| **all errors** (every row but the first) | **{}** | **{:.2} %** |",
        errors(&t.outcomes) + run.unfinished,
        share(errors(&t.outcomes) + run.unfinished)
    )?;
    let late_answers: u64 = run.after_end.iter().sum();
    if late_answers > 0 {
        writeln!(
            out,
            "\n{late_answers} of the {finished} answers arrived after the end of the run, during the grace period."
        )?;
    }

    writeln!(out)?;
    let pid = o
        .pid
        .map_or_else(|| "no --pid given".to_owned(), |p| format!("pid {p}"));
    writeln!(out, "### RSS of the proxy ({pid})")?;
    writeln!(out)?;
    writeln!(
        out,
        "| elapsed | proxy RSS (MB) | of which anonymous (MB) | admin RSS (MB) | requests ok / failed so far |"
    )?;
    writeln!(out, "|---:|---:|---:|---:|---:|")?;
    let every = if o.duration > ROW_EVERY_SAMPLE_UP_TO {
        Duration::from_secs(60).max(o.sample)
    } else {
        o.sample
    };
    let cell = |kib: Option<u64>| kib.map_or_else(|| "-".to_owned(), |k| format!("{:.1}", mb(k)));
    let mut mark = Duration::ZERO;
    for (i, s) in run.samples.iter().enumerate() {
        if s.elapsed >= mark || i + 1 == run.samples.len() {
            writeln!(
                out,
                "| {} | {} | {} | {} | {} / {} |",
                clock(s.elapsed),
                cell(s.proxy.map(|m| m.rss_kib)),
                cell(s.proxy.and_then(|m| m.anon_kib)),
                cell(s.admin_rss_kib),
                s.ok_so_far,
                s.err_so_far
            )?;
            while mark <= s.elapsed {
                mark += every;
            }
        }
    }
    writeln!(out)?;

    let after: Vec<&Sample> = run
        .samples
        .iter()
        .filter(|s| s.elapsed >= o.warmup)
        .collect();
    let proxy_rss = |s: &Sample| s.proxy.map(|m| m.rss_kib);
    let admin_rss = |s: &Sample| s.admin_rss_kib;
    let (first, last) = (after.first().copied(), after.last().copied());
    if let (Some(first), Some(last)) = (first, last)
        && let (Some(a), Some(b)) = (proxy_rss(first), proxy_rss(last))
    {
        let minutes = (last.elapsed.as_secs_f64() - first.elapsed.as_secs_f64()) / 60.0;
        let change = mb(b) - mb(a);
        let per_minute = if minutes > 0.0 {
            format!(" ({:+.2} MB/min end to end)", change / minutes)
        } else {
            String::new()
        };
        writeln!(
            out,
            "- proxy RSS at the end of the warm-up ({}, sample at {}): {:.1} MB; at the end ({}): {:.1} MB; change {change:+.1} MB{per_minute}",
            clock(o.warmup),
            clock(first.elapsed),
            mb(a),
            clock(last.elapsed),
            mb(b),
        )?;
    }
    let proxy_slope = growth(&after, proxy_rss);
    let admin_slope = growth(&after, admin_rss);
    let slope_text = |s: Option<f64>| s.map_or_else(|| "-".to_owned(), |s| format!("{s:+.3}"));
    writeln!(
        out,
        "- growth after the warm-up (least-squares slope of RSS over the {} samples from {} on): proxy {} MB/min; admin {} MB/min",
        after.len(),
        clock(o.warmup),
        slope_text(proxy_slope),
        slope_text(admin_slope)
    )?;
    writeln!(
        out,
        "- MB = MiB (2^20 bytes), RSS = `VmRSS` of `/proc/PID/status`, anonymous = `RssAnon` (heap and stacks; the rest is file-backed and shared pages); a sample every {} s",
        o.sample.as_secs_f64()
    )?;
    writeln!(out)?;

    let gone = after.iter().find(|s| s.proxy.is_none());
    let verdict = match (o.pid, gone, proxy_slope) {
        (None, _, _) => "unknown (no --pid given)".to_owned(),
        (Some(_), Some(s), _) => format!(
            "no (the proxy's RSS could not be read at {}: the process is gone)",
            clock(s.elapsed)
        ),
        (Some(_), None, None) => {
            "unknown (fewer than 2 samples after the warm-up: lengthen --duration or shorten --sample)"
                .to_owned()
        }
        (Some(_), None, Some(s)) => format!(
            "{} (slope {s:.3} MB/min, threshold {} MB/min)",
            if s <= o.threshold { "yes" } else { "no" },
            o.threshold
        ),
    };
    writeln!(out, "**RSS flat after warm-up: {verdict}**")?;
    writeln!(out)?;
    writeln!(
        out,
        "<details><summary>Every sample (CSV; counts and latency per interval)</summary>"
    )?;
    writeln!(out)?;
    writeln!(out, "```csv")?;
    writeln!(out, "{CSV_HEADER}")?;
    for s in run.samples {
        writeln!(out, "{}", s.csv())?;
    }
    writeln!(out, "```")?;
    writeln!(out)?;
    writeln!(out, "</details>")?;
    Ok(out)
}

/// One line on stderr (progress; a closed stderr is not a reason to stop the run).
fn progress(line: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{line}");
}

async fn run(options: Options, address: SocketAddr, authority: String) -> anyhow::Result<String> {
    let authorization = options
        .key
        .as_deref()
        .map(|k| HeaderValue::from_str(&format!("Bearer {k}")))
        .transpose()
        .context("--key: not a valid header value")?;
    let shared = Arc::new(Shared {
        address,
        host: HeaderValue::from_str(&authority).context("--url: not a valid Host header")?,
        path: options
            .path
            .parse()
            .with_context(|| format!("--path {:?}: not a valid request path", options.path))?,
        authorization,
        plain_body: chat_body(false),
        stream_body: chat_body(true),
        timeout: options.timeout,
        sent: AtomicU64::new(0),
        dropped: AtomicU64::new(0),
        late: AtomicU64::new(0),
        connections_opened: AtomicU64::new(0),
        window: Mutex::new(Window::default()),
    });
    let (queue_tx, queue_rx) = mpsc::channel::<Job>(options.connections);
    let queue_rx = Arc::new(tokio::sync::Mutex::new(queue_rx));
    let mut workers: Vec<JoinHandle<()>> = (0..options.connections)
        .map(|_| tokio::spawn(work(shared.clone(), queue_rx.clone())))
        .collect();
    drop(queue_rx);

    let total = (options.rate * options.duration.as_secs_f64()).round() as u64;
    let start = Instant::now();
    let mut scheduler = tokio::spawn(schedule(
        shared.clone(),
        queue_tx,
        start,
        options.rate,
        total,
        options.streams,
    ));

    progress(CSV_HEADER);
    let mut totals = Totals::default();
    let mut samples = Vec::new();
    let mut at = Duration::ZERO;
    loop {
        tokio::time::sleep_until(start + at).await;
        let sample = totals.sample(&shared, &options, at);
        progress(&sample.csv());
        samples.push(sample);
        if at >= options.duration {
            break;
        }
        at = (at + options.sample).min(options.duration);
    }

    // The schedule is over; let the answers still on their way arrive, for at most --grace.
    let deadline = Instant::now() + options.grace;
    if tokio::time::timeout_at(deadline, &mut scheduler)
        .await
        .is_err()
    {
        scheduler.abort();
    }
    let drained = tokio::time::timeout_at(deadline, async {
        for worker in &mut workers {
            let _ = worker.await;
        }
    })
    .await;
    if drained.is_err() {
        for worker in &workers {
            worker.abort();
        }
    }
    let (after_end, _, _) = totals.absorb(shared.take_window());
    // Sends the scheduler made after the last sample (none unless it lagged behind).
    totals.sent = shared.sent.load(Ordering::Relaxed);
    totals.dropped = shared.dropped.load(Ordering::Relaxed);
    totals.late = shared.late.load(Ordering::Relaxed);
    let finished: u64 = totals.outcomes.iter().sum();
    let summary = Run {
        options: &options,
        authority: &authority,
        samples: &samples,
        totals: &totals,
        after_end,
        unfinished: totals.sent.saturating_sub(finished),
        connections_opened: shared.connections_opened.load(Ordering::Relaxed),
    };
    Ok(report(&summary)?)
}

fn main() -> anyhow::Result<()> {
    let options = parse_args(std::env::args().skip(1))?;
    let (address, authority) = resolve_loopback(&options.url)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.threads)
        .enable_all()
        .build()?;
    let report = runtime.block_on(run(options, address, authority))?;
    // Abandoned requests and their connections are not waited for.
    runtime.shutdown_background();
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(report.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> anyhow::Result<Options> {
        parse_args(list.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("12"), Some(Duration::from_secs(12)));
        assert_eq!(parse_duration("1.5m"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("2d"), None);
        assert_eq!(parse_duration("m"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn parses_flags() {
        let o = args(&["--url", "http://127.0.0.1:1", "--group", "soak"]).unwrap();
        assert_eq!(o.path, "/proxy/soak/v1/chat/completions");
        assert_eq!((o.rate, o.streams, o.connections), (1000.0, 0.1, 64));
        assert_eq!(o.duration, Duration::from_secs(1800));
        let o = args(&[
            "--url=http://127.0.0.1:1",
            "--path=/v1/chat/completions",
            "--duration=60s",
            "--warmup=20s",
            "--streams=0",
            "--pid=42",
        ])
        .unwrap();
        assert_eq!((o.pid, o.streams), (Some(42), 0.0));
        assert!(
            args(&["--url", "http://127.0.0.1:1"]).is_err(),
            "no group or path"
        );
        assert!(
            args(&[
                "--url",
                "http://127.0.0.1:1",
                "--group",
                "g",
                "--duration",
                "1m",
                "--warmup",
                "2m"
            ])
            .is_err(),
            "warm-up longer than the run"
        );
        assert!(
            args(&[
                "--url",
                "http://127.0.0.1:1",
                "--group",
                "g",
                "--streams",
                "2"
            ])
            .is_err()
        );
        assert!(args(&["--bogus"]).is_err());
    }

    #[test]
    fn only_loopback_targets() {
        assert!(resolve_loopback("http://127.0.0.1:8080").is_ok());
        assert!(resolve_loopback("http://127.0.0.1:8080/").is_ok());
        assert!(resolve_loopback("http://[::1]:8080").is_ok());
        assert!(resolve_loopback("http://192.0.2.1:8080").is_err());
        assert!(resolve_loopback("https://127.0.0.1:8080").is_err());
        assert!(resolve_loopback("http://127.0.0.1:8080/proxy").is_err());
    }

    #[test]
    fn streams_are_the_exact_share_evenly_spread() {
        let streamed: Vec<u64> = (0..100).filter(|&i| is_stream(i, 0.1)).collect();
        assert_eq!(streamed.len(), 10);
        assert!(
            streamed.windows(2).all(|w| w[1] - w[0] == 10),
            "{streamed:?}"
        );
        assert!(!(0..100).any(|i| is_stream(i, 0.0)));
        assert!((0..100).all(|i| is_stream(i, 1.0)));
    }

    #[test]
    fn slope_and_percentiles() {
        let flat = [(0.0, 80.0), (1.0, 80.0), (2.0, 80.0)];
        assert_eq!(slope(&flat), Some(0.0));
        let growing = [(2.0, 81.0), (3.0, 83.0), (4.0, 85.0)];
        assert!((slope(&growing).unwrap() - 2.0).abs() < 1e-9);
        assert_eq!(slope(&[(1.0, 1.0)]), None);
        let sorted: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&sorted, 0.5), Some(50));
        assert_eq!(percentile(&sorted, 0.99), Some(99));
        assert_eq!(percentile(&sorted, 1.0), Some(100));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn reads_proc_status() {
        let status =
            "Name:\tgateway-proxy\nVmRSSMax:\t1 kB\nVmRSS:\t   83012 kB\nRssAnon:\t   61000 kB\n";
        assert_eq!(status_kib(status, "VmRSS"), Some(83012));
        assert_eq!(status_kib(status, "RssAnon"), Some(61000));
        assert_eq!(status_kib(status, "RssFile"), None);
        assert!(memory(std::process::id()).is_some_and(|m| m.rss_kib > 0));
    }

    #[test]
    fn request_bodies_ask_for_a_stream_or_not() {
        let plain = chat_body(false);
        let stream = chat_body(true);
        assert!(contains(&plain, br#""stream":false"#));
        assert!(contains(&stream, br#""stream":true"#));
        assert!((900..=1300).contains(&plain.len()), "{}", plain.len());
    }
}
