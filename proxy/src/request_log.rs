//! The data plane's request-log pipeline (docs/request-logs.md): the request path builds one
//! `RequestLog` record per upstream attempt (`RequestLogDraft`) and appends the records to a
//! bounded queue (`LogSink::record`: a short mutex, never waiting for the writer and not waking it
//! per record); the `RequestLogWriter` background service (`request_log_writer`) collects them
//! every second (or at once when a batch is full) and writes them in batches with the counters
//! they move (key usage, hourly statistics, token usage), one transaction per batch.
//!
//! * A batch is written when [`BATCH_SIZE`] records are waiting or when the
//!   `request_log_write_interval_minutes` setting's interval has passed since the last write
//!   (0: as soon as records arrive).
//! * While the database is down, records wait in the writer's buffer (at most
//!   `request_log_writer::MAX_BUFFERED` records and `MAX_BUFFERED_BYTES`) and the queue ([`QUEUE_CAPACITY`] records,
//!   [`MAX_QUEUE_BYTES`]); beyond that new records are dropped, counted in
//!   `gateway_request_log_dropped_total` and reported in the log. The request path never waits.
//! * A batch the database rejects (not merely unreachable) three times is
//!   written record by record, so only a record the database refuses is dropped. A batch whose
//!   commit succeeded although the answer was lost (its ids exist already) counts as written.
//! * On a graceful stop everything received is written; records of requests still finishing
//!   during the grace period are written every 100 ms until the process ends. When the database
//!   cannot be reached then, the records go to the spool (`request_log_spool`) and the next
//!   start writes them.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use chrono::Utc;
use gateway_core::secret::mask_key_into;
use gateway_core::token_usage::TokenUsage;
use gateway_schema::models::{REQUEST_TYPE_FINAL, REQUEST_TYPE_RETRY, RequestLog};

use crate::metrics::ProxyMetrics;

/// Records written per transaction.
pub const BATCH_SIZE: usize = 1_000;

/// Records waiting between the request path and the writer.
pub const QUEUE_CAPACITY: usize = 10_000;

/// Bytes of records waiting between the request path and the writer.
pub const MAX_QUEUE_BYTES: usize = 32 << 20;

/// Longest `request_path` / `upstream_addr` stored (GPT-Load's column size).
const MAX_PATH: usize = 500;

/// Longest `user_agent` stored.
const MAX_USER_AGENT: usize = 512;

/// Longest `error_message` stored.
const MAX_ERROR: usize = 2_000;

/// Records between the request path and the writer.
#[derive(Debug, Default)]
struct Queue {
    records: Vec<RequestLog>,
    bytes: usize,
}

/// What the sink and the writer share.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    queue: std::sync::Mutex<Queue>,
    /// Wakes the writer: a batch is full, or the interval is 0.
    pub(crate) wake: tokio::sync::Notify,
    /// Set by the writer while `request_log_write_interval_minutes` is 0.
    pub(crate) write_at_once: AtomicBool,
}

/// The request path's side of the pipeline. Cheap to clone.
#[derive(Clone, Debug)]
pub struct LogSink {
    pub(crate) shared: Arc<Shared>,
    pub(crate) metrics: Arc<ProxyMetrics>,
    last_drop_warning: Arc<AtomicU64>,
}

impl LogSink {
    /// A sink for `metrics`; `RequestLogWriter::new` takes a clone to read from it.
    pub fn new(metrics: Arc<ProxyMetrics>) -> Self {
        Self {
            shared: Arc::default(),
            metrics,
            last_drop_warning: Arc::default(),
        }
    }

    /// Queues a record; when the queue is full it is dropped and counted.
    pub fn record(&self, record: RequestLog) {
        let size = record_size(&record);
        let wake = {
            let mut q = self
                .shared
                .queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if q.records.len() >= QUEUE_CAPACITY || q.bytes + size > MAX_QUEUE_BYTES {
                None
            } else {
                q.records.push(record);
                q.bytes += size;
                // Counted under the lock, so the writer never subtracts it first.
                self.metrics.log_queue.inc();
                Some(
                    q.records.len() >= BATCH_SIZE
                        || self.shared.write_at_once.load(Ordering::Relaxed),
                )
            }
        };
        match wake {
            Some(true) => self.shared.wake.notify_one(),
            Some(false) => {}
            None => self.dropped(1),
        }
    }

    /// Counts dropped records and says so in the log, at most every 10 s.
    pub(crate) fn dropped(&self, n: u64) {
        self.metrics.log_dropped.inc_by(n);
        let now = crate::clock::now_ms();
        let last = self.last_drop_warning.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= 10_000
            && self
                .last_drop_warning
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                dropped_total = self.metrics.log_dropped.get(),
                "request-log buffer full (database slow or unreachable): records are being dropped"
            );
        }
    }

    /// Everything queued so far, and its size in bytes.
    pub(crate) fn take(&self) -> (Vec<RequestLog>, usize) {
        let mut q = self
            .shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let bytes = std::mem::take(&mut q.bytes);
        (std::mem::take(&mut q.records), bytes)
    }
}

/// About how much memory a record holds.
pub(crate) fn record_size(r: &RequestLog) -> usize {
    256 + r.id.len()
        + r.group_name.len()
        + r.parent_group_name.len()
        + r.key_value.len()
        + r.key_hash.len()
        + r.model.len()
        + r.source_ip.len()
        + r.request_path.len()
        + r.error_message.len()
        + r.user_agent.len()
        + r.upstream_addr.len()
        + r.request_body.len()
}

/// What one request contributes to every record of its attempts.
#[derive(Debug)]
pub struct RequestLogDraft {
    /// The shared fields until the next attempt takes them (other attempts copy the last one).
    template: Option<RequestLog>,
    attempts: Vec<RequestLog>,
}

/// One attempt as the request path saw it.
#[derive(Clone, Copy, Debug)]
pub struct AttemptRecord<'a> {
    /// The key (plaintext; the row stores only its mask) and its lookup hash (`None` when no
    /// key was used).
    pub key: Option<(&'a str, &'a str)>,
    /// The upstream URL.
    pub upstream: &'a str,
    /// Status the attempt ended with.
    pub status: u16,
    /// Whether it succeeded.
    pub ok: bool,
    /// Why it failed (already redacted).
    pub error: &'a str,
    /// Time of the whole attempt.
    pub duration: Duration,
    /// Time to the response header (zero when there was none).
    pub ttfb: Duration,
    /// Whether the response was a stream.
    pub stream: bool,
    /// Tokens reported.
    pub usage: Option<TokenUsage>,
}

/// The fields a request shares across its attempts.
#[derive(Debug)]
pub struct RequestFields<'a> {
    /// Serving group `(id, name)`.
    pub group: (i64, &'a str),
    /// Aggregate the client called, if any.
    pub parent: Option<(i64, &'a str)>,
    /// Client address.
    pub source_ip: &'a str,
    /// Path and query as the client sent them, `key` removed.
    pub request_path: &'a str,
    /// Model named by the request.
    pub model: &'a str,
    /// Client user agent.
    pub user_agent: &'a str,
    /// The body to keep (`enable_request_body_logging`) and the limit it is cut at.
    pub body: Option<(&'a [u8], usize)>,
}

impl RequestLogDraft {
    /// A draft for a request with these shared fields.
    pub fn new(f: &RequestFields<'_>) -> Self {
        let (parent_id, parent_name) = f.parent.unwrap_or((0, ""));
        Self {
            template: Some(RequestLog {
                id: String::new(),
                timestamp: Utc::now().naive_utc(),
                group_id: f.group.0,
                group_name: f.group.1.to_owned(),
                parent_group_id: parent_id,
                parent_group_name: parent_name.to_owned(),
                key_value: String::new(),
                key_hash: String::new(),
                model: truncate(f.model, 255),
                is_success: false,
                source_ip: truncate(f.source_ip, 64),
                status_code: 0,
                request_path: truncate(f.request_path, MAX_PATH),
                duration: 0,
                error_message: String::new(),
                user_agent: truncate(f.user_agent, MAX_USER_AGENT),
                request_type: REQUEST_TYPE_FINAL.to_owned(),
                upstream_addr: String::new(),
                is_stream: false,
                request_body: f
                    .body
                    .map(|(b, limit)| body_text(b, limit))
                    .unwrap_or_default(),
                retry_index: 0,
                ttfb_ms: 0,
                input_tokens: 0,
                output_tokens: 0,
                total_tokens: 0,
            }),
            attempts: Vec::with_capacity(1),
        }
    }

    /// Adds the record of one attempt.
    pub fn attempt(&mut self, a: &AttemptRecord<'_>) {
        let mut r = match (self.template.take(), self.attempts.last()) {
            (Some(t), _) => t,
            (None, Some(last)) => last.clone(),
            // Unreachable: the template is only taken by an attempt.
            (None, None) => return,
        };
        // Time-ordered (UUID v7): new rows go to the end of the primary-key index instead of a
        // random page, which roughly halves the cost of writing a log row.
        r.id = uuid::Uuid::now_v7().to_string();
        r.timestamp = Utc::now().naive_utc();
        // A row names its key by hash and mask, never by value: the admin shows the key by
        // looking the hash up in `api_keys` (docs/security.md).
        match a.key {
            Some((value, hash)) => {
                mask_key_into(value, &mut r.key_value);
                hash.clone_into(&mut r.key_hash);
            }
            None => {
                r.key_value.clear();
                r.key_hash.clear();
            }
        }
        r.upstream_addr = truncate(a.upstream, MAX_PATH);
        r.status_code = i32::from(a.status);
        r.is_success = a.ok;
        r.error_message = truncate(a.error, MAX_ERROR);
        r.duration = millis(a.duration);
        r.ttfb_ms = millis(a.ttfb);
        r.is_stream = a.stream;
        r.retry_index = i32::try_from(self.attempts.len()).unwrap_or(i32::MAX);
        let u = a.usage.unwrap_or_default();
        r.input_tokens = u.input;
        r.output_tokens = u.output;
        r.total_tokens = u.total;
        self.attempts.push(r);
    }

    /// From now on the attempts are served by group `(id, name)` (another member of the
    /// aggregate the client called took the request over).
    pub fn serve_with(&mut self, id: i64, name: &str) {
        if self.template.is_none() {
            self.template = self.attempts.last().cloned();
        }
        if let Some(t) = self.template.as_mut() {
            t.group_id = id;
            name.clone_into(&mut t.group_name);
        }
    }

    /// Attempts recorded so far.
    pub fn attempts(&self) -> &[RequestLog] {
        &self.attempts
    }

    /// The records, every attempt but the last marked `retry`. A request answered without
    /// any attempt (no usable key, …) gets one record with `status` and no key.
    pub fn finish(mut self, status: u16, error: &str) -> Vec<RequestLog> {
        if self.attempts.is_empty() {
            self.attempt(&AttemptRecord {
                key: None,
                upstream: "",
                status,
                ok: false,
                error,
                duration: Duration::ZERO,
                ttfb: Duration::ZERO,
                stream: false,
                usage: None,
            });
        }
        if let Some((_, retried)) = self.attempts.split_last_mut() {
            for r in retried {
                REQUEST_TYPE_RETRY.clone_into(&mut r.request_type);
            }
        }
        self.attempts
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// At most `max` bytes of `s`, cut at a character boundary, without NUL characters (which
/// PostgreSQL refuses in text, so one would make the database reject a whole batch).
fn truncate(s: &str, max: usize) -> String {
    let s: std::borrow::Cow<'_, str> = if s.contains('\0') {
        s.replace('\0', "").into()
    } else {
        s.into()
    };
    if s.len() <= max {
        return s.into_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// The logged form of a request body: text (invalid UTF-8 replaced), cut at `limit` bytes with
/// a marker that says how much was left out.
fn body_text(body: &[u8], limit: usize) -> String {
    if body.len() <= limit {
        return truncate(&String::from_utf8_lossy(body), usize::MAX);
    }
    let mut end = limit;
    // Do not cut a UTF-8 sequence (continuation bytes are 0b10xxxxxx).
    while end > 0 && end < body.len() && (body[end] & 0xC0) == 0x80 {
        end -= 1;
    }
    format!(
        "{}…[truncated {} of {} bytes]",
        truncate(&String::from_utf8_lossy(&body[..end]), usize::MAX),
        body.len() - end,
        body.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_are_marked_and_a_request_without_attempts_gets_one_record() {
        let fields = RequestFields {
            group: (1, "g"),
            parent: Some((9, "agg")),
            source_ip: "127.0.0.1",
            request_path: "/proxy/agg/v1/chat/completions",
            model: "m",
            user_agent: "ua",
            body: Some((b"{\"model\":\"m\"}", 5)),
        };
        let mut d = RequestLogDraft::new(&fields);
        for (status, ok) in [(500, false), (200, true)] {
            d.attempt(&AttemptRecord {
                key: Some(("sk-1", "h1")),
                upstream: "http://u",
                status,
                ok,
                error: "",
                duration: Duration::from_millis(3),
                ttfb: Duration::from_millis(1),
                stream: false,
                usage: None,
            });
        }
        let rows = d.finish(200, "");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].request_type, "retry");
        assert_eq!(
            (rows[1].request_type.as_str(), rows[1].retry_index),
            ("final", 1)
        );
        assert_eq!(rows[1].parent_group_name, "agg");
        assert_eq!(rows[1].request_body, "{\"mod…[truncated 8 of 13 bytes]");
        assert_ne!(rows[0].id, rows[1].id);
        let none = RequestLogDraft::new(&fields).finish(503, "no active keys");
        assert_eq!(none.len(), 1);
        assert_eq!((none[0].status_code, none[0].key_hash.as_str()), (503, ""));
    }

    #[test]
    fn body_cut_keeps_utf8_whole_and_nul_never_reaches_the_database() {
        assert_eq!(body_text("aé".as_bytes(), 2), "a…[truncated 2 of 3 bytes]");
        assert_eq!(truncate("aé", 2), "a");
        assert_eq!(truncate("a\0b", 10), "ab");
        assert_eq!(body_text(b"{\"m\":\"\0\"}", 100), "{\"m\":\"\"}");
    }
}
