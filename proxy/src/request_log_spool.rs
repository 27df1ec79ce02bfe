//! The request-log spool: records a stopping proxy could not write (the database was down) are
//! kept in a local, bounded folder (`REQUEST_LOG_SPOOL_DIR`) as JSON lines and written to the
//! database by the next proxy that starts with the same folder (or by a running one, which
//! looks again every minute), so a stop during an outage loses nothing.
//!
//! * At most [`MAX_SPOOL_BYTES`] in the folder; records beyond that are dropped and counted in
//!   `gateway_request_log_dropped_total`.
//! * A file is written whole under a temporary name, then renamed; a reader claims a file by
//!   renaming it (one reader wins), and deletes it once its records are in the database.
//! * Records keep their ids, so a record written twice (a claim interrupted after the write)
//!   is recognised by the database's unique id and counted once.
//! * Files are readable by their owner only: without `ENCRYPTION_KEY` a record holds its key as
//!   the database does.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use gateway_schema::models::RequestLog;

/// The most the spool folder holds (all files together).
pub const MAX_SPOOL_BYTES: u64 = 256 << 20;

/// Suffix of a complete spool file.
const SPOOLED: &str = ".jsonl";

/// A spool folder.
#[derive(Clone, Debug)]
pub struct Spool {
    dir: PathBuf,
}

/// Records read back from claimed files, with the files to delete once they are written.
#[derive(Debug, Default)]
pub struct Claimed {
    /// The records.
    pub records: Vec<RequestLog>,
    /// The claimed files.
    pub files: Vec<PathBuf>,
}

impl Spool {
    /// The spool in `dir` (created when first written).
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// Where it is.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `records` to a new file within the folder's bound; returns how many were kept
    /// (the rest did not fit).
    pub fn store(&self, records: &[RequestLog]) -> std::io::Result<usize> {
        if records.is_empty() {
            return Ok(0);
        }
        std::fs::create_dir_all(&self.dir)?;
        let mut room = MAX_SPOOL_BYTES.saturating_sub(self.used_bytes());
        let mut text = Vec::new();
        let mut kept = 0;
        for record in records {
            let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
            line.push(b'\n');
            let size = u64::try_from(line.len()).unwrap_or(u64::MAX);
            if size > room {
                break;
            }
            room -= size;
            text.extend_from_slice(&line);
            kept += 1;
        }
        if kept == 0 {
            return Ok(0);
        }
        // Time first (files are read back in order), then the process and a sequence number,
        // so two files of one millisecond never share a name.
        static SEQUENCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%3f");
        let seq = SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("requests-{stamp}-{}-{seq:06}", std::process::id());
        let partial = self.dir.join(format!("{name}.partial"));
        let complete = self.dir.join(format!("{name}{SPOOLED}"));
        let mut file = owner_only(&partial)?;
        file.write_all(&text)?;
        file.sync_all()?;
        std::fs::rename(&partial, &complete)?;
        Ok(kept)
    }

    /// Claims every complete file of the folder (renaming it, so no other process reads it
    /// too) and reads its records. Lines that do not read as a record are skipped with a
    /// warning. An absent folder has nothing.
    pub fn claim(&self) -> Claimed {
        let mut claimed = Claimed::default();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return claimed;
        };
        let mut names: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().ends_with(SPOOLED))
            .collect();
        names.sort();
        for path in names {
            let mine = path.with_extension(format!("claimed-{}", std::process::id()));
            if std::fs::rename(&path, &mine).is_err() {
                continue; // another process claimed it first
            }
            match std::fs::read_to_string(&mine) {
                Ok(text) => {
                    for (n, line) in text.lines().enumerate() {
                        match serde_json::from_str::<RequestLog>(line) {
                            Ok(record) => claimed.records.push(record),
                            Err(e) => tracing::warn!(
                                file = %mine.display(),
                                line = n + 1,
                                "request-log spool line skipped: {e}"
                            ),
                        }
                    }
                    claimed.files.push(mine);
                }
                Err(e) => {
                    tracing::warn!(file = %mine.display(), "cannot read a request-log spool file: {e}");
                }
            }
        }
        claimed
    }

    /// Bytes of the files in the folder.
    fn used_bytes(&self) -> u64 {
        std::fs::read_dir(&self.dir).map_or(0, |entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
    }
}

/// Deletes claimed files whose records are written (or spooled again).
pub fn remove(files: &mut Vec<PathBuf>) {
    for file in files.drain(..) {
        if let Err(e) = std::fs::remove_file(&file) {
            tracing::warn!(file = %file.display(), "cannot remove a request-log spool file: {e}");
        }
    }
}

/// A new file readable and writable by its owner only.
fn owner_only(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> RequestLog {
        RequestLog {
            id: id.to_owned(),
            timestamp: chrono::Utc::now().naive_utc(),
            group_id: 1,
            group_name: "g".to_owned(),
            parent_group_id: 0,
            parent_group_name: String::new(),
            key_value: "sk-1".to_owned(),
            key_hash: "h".to_owned(),
            model: "m".to_owned(),
            is_success: true,
            source_ip: "127.0.0.1".to_owned(),
            status_code: 200,
            request_path: "/proxy/g/v1/chat/completions".to_owned(),
            duration: 3,
            error_message: String::new(),
            user_agent: String::new(),
            request_type: "final".to_owned(),
            upstream_addr: "http://u".to_owned(),
            is_stream: false,
            request_body: String::new(),
            retry_index: 0,
            ttfb_ms: 1,
            input_tokens: 5,
            output_tokens: 7,
            total_tokens: 12,
        }
    }

    #[test]
    fn stored_records_are_claimed_once_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path().join("spool"));
        assert!(spool.claim().records.is_empty(), "no folder yet");
        assert_eq!(spool.store(&[record("a"), record("b")]).unwrap(), 2);
        assert_eq!(spool.store(&[record("c")]).unwrap(), 1);
        let mut claimed = spool.claim();
        let ids: Vec<&str> = claimed.records.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        let mut expected = record("a");
        expected.timestamp = claimed.records[0].timestamp;
        assert_eq!(claimed.records[0], expected, "read back as written");
        assert!(spool.claim().records.is_empty(), "claimed once");
        remove(&mut claimed.files);
        assert_eq!(std::fs::read_dir(spool.dir()).unwrap().count(), 0);
        let mode = {
            spool.store(&[record("d")]).unwrap();
            let file = std::fs::read_dir(spool.dir())
                .unwrap()
                .next()
                .unwrap()
                .unwrap();
            std::os::unix::fs::PermissionsExt::mode(&file.metadata().unwrap().permissions())
        };
        assert_eq!(mode & 0o777, 0o600);
    }
}
