//! `RequestLogWriter`: the background service that writes what the request path queued in
//! `request_log::LogSink`: collected every second (or at once when a batch is full), written in
//! batches with the counters they move, one transaction per batch; retried while the database
//! is down (bounded in records and bytes), and spooled to disk (`request_log_spool`) when a stop
//! cannot write them.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_trait::async_trait;
use gateway_schema::models::RequestLog;
use gateway_schema::{Database, LogBatch};
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;

use crate::request_log::{BATCH_SIZE, LogSink, record_size};
use crate::request_log_spool::{self, MAX_SPOOL_BYTES, Spool};
use crate::routing_snapshot::SnapshotHandle;

/// Records the writer holds while the database cannot take them.
pub const MAX_BUFFERED: usize = 50_000;
/// Bytes of records the writer holds while the database cannot take them.
pub const MAX_BUFFERED_BYTES: usize = 96 << 20;
/// How often the writer collects queued records when no batch filled up.
const COLLECT_EVERY: Duration = Duration::from_secs(1);
/// Failed writes of the same batch, for a reason other than the database being unreachable,
/// before the batch is given up (so one bad record cannot stop all logging).
const MAX_BATCH_FAILURES: u32 = 3;

/// The background service writing queued records.
pub struct RequestLogWriter {
    db: Database,
    sink: LogSink,
    snapshot: SnapshotHandle,
    spool: Spool,
}

impl RequestLogWriter {
    /// A writer of what `sink` queues, at the interval the snapshot's settings give; what a
    /// stop cannot write goes to `spool`, and what is there is written first.
    pub fn new(db: Database, sink: LogSink, snapshot: SnapshotHandle, spool: Spool) -> Self {
        Self {
            db,
            sink,
            snapshot,
            spool,
        }
    }
}

/// How often a running writer looks for spooled records (another process's stop).
const SPOOL_CHECK_EVERY: Duration = Duration::from_secs(60);

/// What the writer holds between writes.
struct Buffer<'a> {
    writer: &'a RequestLogWriter,
    records: Vec<RequestLog>,
    bytes: usize,
    /// Consecutive failures of the head batch not explained by an unreachable database.
    batch_failures: u32,
    /// Size of the head batch while it is being retried (the same records each time).
    head: Option<usize>,
    /// Whether the database is failing (logged once per outage).
    failing: bool,
}

impl Buffer<'_> {
    /// Moves queued records here while there is room.
    fn collect(&mut self) {
        if self.records.len() >= MAX_BUFFERED || self.bytes >= MAX_BUFFERED_BYTES {
            return;
        }
        let (records, bytes) = self.writer.sink.take();
        self.records.extend(records);
        self.bytes += bytes;
    }

    /// Takes records read back from the spool, in front of the others.
    fn take_spooled(&mut self, records: Vec<RequestLog>) {
        if records.is_empty() {
            return;
        }
        tracing::info!(
            records = records.len(),
            "request logs a stopped proxy could not write were found in the spool; writing them"
        );
        self.bytes += records.iter().map(record_size).sum::<usize>();
        self.writer
            .sink
            .metrics
            .log_queue
            .add(i64::try_from(records.len()).unwrap_or(i64::MAX));
        self.records.splice(0..0, records);
        self.head = None;
    }

    /// Moves everything unwritten (buffer and queue) to the spool, at a stop with the database
    /// away; what does not fit is dropped and counted.
    fn spool_all(&mut self) {
        loop {
            let (records, bytes) = self.writer.sink.take();
            if records.is_empty() {
                break;
            }
            self.records.extend(records);
            self.bytes += bytes;
        }
        let rows = std::mem::take(&mut self.records);
        let kept = match self.writer.spool.store(&rows) {
            Ok(kept) => kept,
            Err(e) => {
                tracing::error!(
                    dir = %self.writer.spool.dir().display(),
                    "cannot spool request logs: {e}"
                );
                0
            }
        };
        let dropped = rows.len() - kept;
        if kept > 0 {
            tracing::warn!(
                records = kept,
                dir = %self.writer.spool.dir().display(),
                "database unreachable at stop: request logs spooled, written by the next start"
            );
        }
        if dropped > 0 {
            tracing::error!(
                records = dropped,
                "request logs dropped: the spool is full ({} MiB)",
                MAX_SPOOL_BYTES >> 20
            );
            self.writer
                .sink
                .dropped(u64::try_from(dropped).unwrap_or(u64::MAX));
        }
        self.forget(&rows);
    }

    /// Forgets records that left the buffer (written or dropped).
    fn forget(&mut self, rows: &[RequestLog]) {
        let freed: usize = rows.iter().map(record_size).sum();
        self.bytes = self.bytes.saturating_sub(freed);
        self.writer.sink.metrics.log_queue.sub(rows.len() as i64);
        self.head = None;
        self.batch_failures = 0;
    }

    /// Writes everything buffered, a batch per transaction. Returns false when a write failed
    /// (the rest stays buffered).
    async fn flush(&mut self) -> bool {
        let metrics = Arc::clone(&self.writer.sink.metrics);
        while !self.records.is_empty() {
            let n = self
                .head
                .unwrap_or_else(|| self.records.len().min(BATCH_SIZE));
            let rows: Vec<RequestLog> = self.records.drain(..n).collect();
            if self.batch_failures >= MAX_BATCH_FAILURES {
                if !self.write_one_by_one(rows).await {
                    return false;
                }
                continue;
            }
            let batch = LogBatch::new(rows);
            let written = self.writer.db.write_request_logs(&batch).await;
            let rows = batch.into_rows();
            match written {
                Ok(()) => {
                    metrics.log_written.inc_by(n as u64);
                    self.forget(&rows);
                    if std::mem::take(&mut self.failing) {
                        tracing::info!("database reachable again; request logs written");
                    }
                }
                // The ids exist: an earlier try committed and only its answer was lost.
                Err(e) if e.is_unique_violation() => {
                    tracing::info!(records = n, "request-log batch was already written");
                    self.forget(&rows);
                }
                Err(e) => {
                    metrics.log_write_failures.inc();
                    // Back to the front, to be retried as the same batch.
                    self.records.splice(0..0, rows);
                    self.head = Some(n);
                    if !e.is_transient() {
                        self.batch_failures += 1;
                        if self.batch_failures >= MAX_BATCH_FAILURES {
                            tracing::warn!(
                                records = n,
                                "request-log batch rejected {MAX_BATCH_FAILURES} times ({e}); writing it record by record"
                            );
                            continue;
                        }
                    }
                    if !std::mem::replace(&mut self.failing, true) {
                        tracing::error!(
                            buffered = self.records.len(),
                            "cannot write request logs (kept in memory, retried): {e}"
                        );
                    }
                    return false;
                }
            }
        }
        true
    }

    /// Writes `rows` one per transaction; a record the database refuses is dropped (and
    /// counted), the others are written. False when the database became unreachable (what is
    /// left is buffered again).
    async fn write_one_by_one(&mut self, rows: Vec<RequestLog>) -> bool {
        let metrics = Arc::clone(&self.writer.sink.metrics);
        for (i, record) in rows.iter().enumerate() {
            let one = LogBatch::new(vec![record.clone()]);
            match self.writer.db.write_request_logs(&one).await {
                Ok(()) => metrics.log_written.inc(),
                Err(e) if e.is_unique_violation() => {}
                // The database went away meanwhile: keep the rest for the next round.
                Err(e) if e.is_transient() => {
                    tracing::warn!("cannot write request logs (kept in memory, retried): {e}");
                    self.forget(&rows[..i]);
                    self.batch_failures = MAX_BATCH_FAILURES;
                    let rest = rows.len() - i;
                    self.records.splice(0..0, rows.into_iter().skip(i));
                    self.head = Some(rest);
                    return false;
                }
                Err(e) => {
                    tracing::error!(
                        id = %record.id,
                        group = %record.group_name,
                        "request-log record refused by the database, dropped: {e}"
                    );
                    self.writer.sink.dropped(1);
                }
            }
        }
        self.forget(&rows);
        true
    }
}

#[async_trait]
impl BackgroundService for RequestLogWriter {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut buf = Buffer {
            writer: self,
            records: Vec::with_capacity(BATCH_SIZE),
            bytes: 0,
            batch_failures: 0,
            head: None,
            failing: false,
        };
        let mut stopping = false;
        let mut last_write = tokio::time::Instant::now();
        let mut retry_at: Option<tokio::time::Instant> = None;
        // Spooled records of an earlier stop are written first; their files go once they are.
        let claimed = self.spool.claim();
        let mut claimed_files = claimed.files;
        // Spooled records are written at once, whatever the write interval.
        let mut spooled_waiting = !claimed.records.is_empty();
        buf.take_spooled(claimed.records);
        let mut spool_checked = tokio::time::Instant::now();
        loop {
            let interval = if stopping {
                Duration::ZERO
            } else {
                self.snapshot.load().log_write_interval
            };
            self.sink
                .shared
                .write_at_once
                .store(interval.is_zero(), Ordering::Relaxed);
            let tick = if stopping {
                Duration::from_millis(100)
            } else {
                COLLECT_EVERY
            };
            tokio::select! {
                () = self.sink.shared.wake.notified() => {}
                () = tokio::time::sleep(tick) => {}
                _ = shutdown.changed(), if !stopping => {
                    stopping = true;
                    tracing::info!(buffered = buf.records.len(), "writing buffered request logs before stopping");
                }
            }
            buf.collect();
            let now = tokio::time::Instant::now();
            if !stopping
                && retry_at.is_none()
                && now.duration_since(spool_checked) >= SPOOL_CHECK_EVERY
            {
                spool_checked = now;
                let claimed = self.spool.claim();
                claimed_files.extend(claimed.files);
                spooled_waiting |= !claimed.records.is_empty();
                buf.take_spooled(claimed.records);
            }
            let due = spooled_waiting
                || buf.records.len() >= BATCH_SIZE
                || now.duration_since(last_write) >= interval;
            // After a failure, wait a second before the next try.
            if buf.records.is_empty() || !due || retry_at.is_some_and(|t| now < t) {
                continue;
            }
            if buf.flush().await {
                retry_at = None;
                last_write = tokio::time::Instant::now();
                if buf.records.is_empty() {
                    request_log_spool::remove(&mut claimed_files);
                    spooled_waiting = false;
                }
            } else if stopping {
                // The database is away and the process is ending: keep the records on disk.
                buf.spool_all();
                request_log_spool::remove(&mut claimed_files);
                retry_at = Some(tokio::time::Instant::now() + Duration::from_secs(1));
            } else {
                retry_at = Some(tokio::time::Instant::now() + Duration::from_secs(1));
            }
        }
    }
}
