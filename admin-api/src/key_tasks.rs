//! Long-running key tasks (import, delete, validation) run in the background with their
//! progress in `GET /api/tasks/status`. One task at a time across every admin process sharing the
//! database: the lock is the `admin_task` row, held with a heartbeat every few seconds, so a
//! process that crashed mid-task blocks the next one for at most `STALE_AFTER`.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use chrono::{NaiveDateTime, Utc};
use gateway_core::key_crypto::KeyCipher;
use gateway_schema::models::{AdminTask, Group, KeyStatus};
use gateway_schema::{Announce, Database, KeyRow, NewGroupKeys, NewTask};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::key_validation::{Checked, GroupValidation};
use crate::upstream_client::UpstreamClient;

/// A running task whose owner has not beaten for this long is considered dead.
const STALE_AFTER: Duration = Duration::from_secs(60);
/// How often a running task proves its owner is alive.
const HEARTBEAT: Duration = Duration::from_secs(5);
/// How often progress is written (at most).
const PROGRESS_EVERY: Duration = Duration::from_millis(250);
/// How often a long task lets the proxies reload what it wrote so far.
const ANNOUNCE_EVERY: Duration = Duration::from_secs(5);
/// Keys per statement.
const CHUNK: usize = 500;
/// Keys per import step (one write transaction).
const IMPORT_STEP: usize = 10_000;

/// The kinds of task, with GPT-Load's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskKind {
    /// Adding keys.
    Import,
    /// Deleting keys.
    Delete,
    /// Validating keys against the upstream.
    Validation,
}

impl TaskKind {
    fn as_str(self) -> &'static str {
        match self {
            TaskKind::Import => "KEY_IMPORT",
            TaskKind::Delete => "KEY_DELETE",
            TaskKind::Validation => "KEY_VALIDATION",
        }
    }
}

/// This process's name in the lock.
fn owner() -> &'static str {
    static OWNER: OnceLock<String> = OnceLock::new();
    OWNER.get_or_init(|| {
        let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
        format!("admin-{}-{nanos:x}", std::process::id())
    })
}

fn stale_before() -> NaiveDateTime {
    Utc::now().naive_utc() - chrono::Duration::from_std(STALE_AFTER).unwrap_or_default()
}

/// GPT-Load's `TaskStatus` JSON of the task row. A task marked running whose owner stopped
/// beating is reported as ended, with an error that says so.
pub fn status_json(task: &AdminTask) -> Value {
    let dead = task.is_running && task.heartbeat_at.is_none_or(|h| h < stale_before());
    let is_running = task.is_running && !dead;
    let rfc3339 = |t: NaiveDateTime| {
        t.and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let mut out = json!({
        "task_type": task.task_type,
        "is_running": is_running,
        "processed": task.processed,
        "total": task.total,
        "started_at": task.started_at.map_or_else(|| "0001-01-01T00:00:00Z".to_owned(), rfc3339),
    });
    if !task.group_name.is_empty() {
        out["group_name"] = task.group_name.clone().into();
    }
    if let Ok(result) = serde_json::from_str::<Value>(&task.result) {
        out["result"] = result;
    }
    if dead {
        out["error"] = "the admin process running this task stopped before it finished".into();
    } else if !task.error.is_empty() {
        out["error"] = task.error.clone().into();
    }
    if let (false, Some(start), Some(end)) = (is_running, task.started_at, task.finished_at) {
        out["finished_at"] = rfc3339(end).into();
        out["duration_seconds"] = ((end - start).num_milliseconds() as f64 / 1000.0).into();
    }
    out
}

/// 409 `TASK_IN_PROGRESS` naming the running task, if one runs (a check before work that would
/// start one, such as copying a group with its keys).
pub async fn ensure_idle(db: &Database) -> Result<(), ApiError> {
    let task = db.task().await?;
    if status_json(&task)["is_running"] == true {
        return Err(busy(&task));
    }
    Ok(())
}

fn busy(running: &AdminTask) -> ApiError {
    ApiError::TaskInProgress(format!(
        "a task is already running, please wait: {} of group '{}' ({} of {} done)",
        running.task_type, running.group_name, running.processed, running.total
    ))
}

/// Claims the task lock or answers 409 `TASK_IN_PROGRESS` naming what runs.
async fn claim(
    db: &Database,
    kind: TaskKind,
    group: &Group,
    total: usize,
) -> Result<TaskReporter, ApiError> {
    let task = NewTask {
        owner: owner(),
        task_type: kind.as_str(),
        group_name: &group.name,
        total: i64::try_from(total).unwrap_or(i64::MAX),
    };
    if let Some(running) = db.try_start_task(task, stale_before()).await? {
        return Err(busy(&running));
    }
    let heartbeat = {
        let db = db.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(HEARTBEAT);
            loop {
                tick.tick().await;
                if let Err(e) = db.task_heartbeat(owner()).await {
                    tracing::warn!("cannot record the task heartbeat: {e}");
                }
            }
        })
    };
    Ok(TaskReporter {
        db: db.clone(),
        processed: 0,
        last_write: Instant::now(),
        heartbeat,
    })
}

/// The running task's side: progress and the end. Tasks that write keys also let the proxies
/// reload every `ANNOUNCE_EVERY` (`step`) and at the end (`finish_announced`).
struct TaskReporter {
    db: Database,
    processed: i64,
    last_write: Instant,
    heartbeat: tokio::task::JoinHandle<()>,
}

impl TaskReporter {
    /// Adds `n` processed items; written at most every `PROGRESS_EVERY`.
    async fn advance(&mut self, n: usize) {
        self.processed += i64::try_from(n).unwrap_or(i64::MAX);
        if self.last_write.elapsed() >= PROGRESS_EVERY {
            self.last_write = Instant::now();
            if let Err(e) = self.db.task_progress(owner(), self.processed).await {
                tracing::warn!("cannot record task progress: {e}");
            }
        }
    }

    /// Adds `n` processed items and, every `ANNOUNCE_EVERY`, announces the writes so far.
    async fn step(&mut self, n: usize, announced: &mut Instant) {
        self.advance(n).await;
        if announced.elapsed() >= ANNOUNCE_EVERY {
            *announced = Instant::now();
            announce(&self.db).await;
        }
    }

    /// Announces the writes, then ends the task with `outcome`.
    async fn finish_announced(self, outcome: Result<Value, String>) {
        announce(&self.db).await;
        self.finish(outcome).await;
    }

    /// Ends the task with `outcome` (its result, or the error that stopped it).
    async fn finish(self, outcome: Result<Value, String>) {
        self.heartbeat.abort();
        let (result, error) = match outcome {
            Ok(r) => (r.to_string(), String::new()),
            Err(e) => (String::new(), e),
        };
        if let Err(e) = self
            .db
            .finish_task(owner(), self.processed, &result, &error)
            .await
        {
            tracing::error!("cannot record the end of the task: {e}");
        }
    }
}

/// Starts importing `keys` into `group` in the background. Returns the task status at start.
pub async fn start_import(
    db: &Database,
    cipher: &KeyCipher,
    group: &Group,
    keys: Vec<String>,
) -> Result<Value, ApiError> {
    let reporter = claim(db, TaskKind::Import, group, keys.len()).await?;
    tokio::spawn(import(db.clone(), cipher.clone(), group.id, keys, reporter));
    Ok(status_json(&db.task().await?))
}

/// Starts deleting `keys` from `group` in the background. Returns the task status at start.
pub async fn start_delete(
    db: &Database,
    cipher: &KeyCipher,
    group: &Group,
    keys: Vec<String>,
) -> Result<Value, ApiError> {
    let reporter = claim(db, TaskKind::Delete, group, keys.len()).await?;
    tokio::spawn(delete(db.clone(), cipher.clone(), group.id, keys, reporter));
    Ok(status_json(&db.task().await?))
}

/// Adds the keys a group does not have yet, 500 per statement and 10 000 per transaction, announcing to the proxies every
/// few seconds and at the end.
async fn import(
    db: Database,
    cipher: KeyCipher,
    group_id: i64,
    keys: Vec<String>,
    mut reporter: TaskReporter,
) {
    let total = keys.len();
    let mut added = 0;
    let mut seen = std::collections::HashSet::with_capacity(keys.len());
    let mut announced = Instant::now();
    let mut outcome: Result<(), String> = Ok(());
    for chunk in keys.chunks(IMPORT_STEP) {
        let batch = NewGroupKeys {
            group_id,
            keys: crate::key_storage::sealed_new(&cipher, chunk, &mut seen),
        };
        let step = db.insert_keys_announced(&batch, Announce::Caller);
        match step.await {
            Ok(n) => added += n,
            Err(e) => {
                outcome = Err(format!("import stopped after {added} keys: {e}"));
                break;
            }
        }
        reporter.step(chunk.len(), &mut announced).await;
    }
    tracing::info!(group_id, added, total, "key import ended");
    reporter
        .finish_announced(
            outcome.map(|()| json!({"added_count": added, "ignored_count": total - added})),
        )
        .await;
}

/// Deletes the keys, 500 per statement, announcing to the proxies every few seconds and at the
/// end.
async fn delete(
    db: Database,
    cipher: KeyCipher,
    group_id: i64,
    keys: Vec<String>,
    mut reporter: TaskReporter,
) {
    let total = keys.len();
    let mut deleted = 0;
    let mut announced = Instant::now();
    let mut outcome: Result<(), String> = Ok(());
    for chunk in keys.chunks(CHUNK) {
        let hashes = crate::key_storage::hashes(&cipher, chunk);
        match db
            .delete_keys_by_hash(group_id, &hashes, Announce::Caller)
            .await
        {
            Ok(n) => deleted += n,
            Err(e) => {
                outcome = Err(format!("delete stopped after {deleted} keys: {e}"));
                break;
            }
        }
        reporter.step(chunk.len(), &mut announced).await;
    }
    tracing::info!(group_id, deleted, total, "key delete ended");
    reporter
        .finish_announced(
            outcome.map(|()| json!({"deleted_count": deleted, "ignored_count": total - deleted})),
        )
        .await;
}

/// Lets the proxies reload (a failure is logged; the next write announces again).
async fn announce(db: &Database) {
    if let Err(e) = db.bump_revision().await {
        tracing::warn!("cannot announce the key changes to the proxies: {e}");
    }
}

/// Starts validating the keys of `group` (only those in `status` when given; never disabled
/// ones) in the background, `key_validation_concurrency` at a time. Returns the task status at
/// start.
pub async fn start_validation(
    db: &Database,
    group: &Group,
    status: Option<KeyStatus>,
    validation: GroupValidation,
    http: UpstreamClient,
) -> Result<Value, ApiError> {
    let total: i64 = db
        .key_counts(group.id)
        .await?
        .into_iter()
        .filter(|(s, _)| {
            s != KeyStatus::Disabled.as_str() && status.is_none_or(|want| want.as_str() == s)
        })
        .map(|(_, n)| n)
        .sum();
    if total == 0 {
        return Err(ApiError::Validation(format!(
            "no keys to validate in group '{}'",
            group.name
        )));
    }
    let reporter = claim(
        db,
        TaskKind::Validation,
        group,
        usize::try_from(total).unwrap_or(0),
    )
    .await?;
    tokio::spawn(validate(
        db.clone(),
        group.id,
        status,
        validation,
        http,
        reporter,
    ));
    Ok(status_json(&db.task().await?))
}

/// Keys read per validation round.
const VALIDATION_PAGE: i64 = 1000;

async fn validate(
    db: Database,
    group_id: i64,
    status: Option<KeyStatus>,
    validation: GroupValidation,
    http: UpstreamClient,
    mut reporter: TaskReporter,
) {
    let (mut valid, mut invalid) = (0_usize, 0_usize);
    let mut after = 0;
    let mut outcome: Result<(), String> = Ok(());
    loop {
        let page = match db
            .key_rows_page(group_id, status, after, VALIDATION_PAGE)
            .await
        {
            Ok(p) => p,
            Err(e) => {
                outcome = Err(format!("validation stopped: {e}"));
                break;
            }
        };
        let Some(last) = page.last() else { break };
        after = last.id;
        let mut page = page;
        // A person switched these off: not asked about until switched on.
        page.retain(|k| k.status != KeyStatus::Disabled.as_str());
        let checked = check_all(&validation, &http, &page).await;
        let updates: Vec<_> = checked.iter().filter_map(|c| c.update.clone()).collect();
        valid += checked.iter().filter(|c| c.valid).count();
        invalid += checked.iter().filter(|c| !c.valid).count();
        if let Err(e) = save(&db, &page, &updates).await {
            outcome = Err(format!("validation stopped: cannot save key states: {e}"));
            break;
        }
        reporter.advance(page.len()).await;
    }
    tracing::info!(group_id, valid, invalid, "key validation ended");
    reporter
        .finish(outcome.map(|()| {
            json!({"total_keys": valid + invalid, "valid_keys": valid, "invalid_keys": invalid})
        }))
        .await;
}

/// Checks `keys`, `key_validation_concurrency` at a time, results in the order of `keys`.
pub async fn check_all(
    validation: &GroupValidation,
    http: &UpstreamClient,
    keys: &[KeyRow],
) -> Vec<Checked> {
    let mut out = Vec::with_capacity(keys.len());
    for wave in keys.chunks(validation.concurrency.max(1)) {
        let mut checks = Vec::with_capacity(wave.len());
        for key in wave {
            checks.push(validation.check(http, key));
        }
        out.extend(futures_util::future::join_all(checks).await);
    }
    out
}

/// Saves changed key states; a change of status is announced to the proxies.
pub async fn save(
    db: &Database,
    keys: &[KeyRow],
    updates: &[gateway_schema::KeyHealthUpdate],
) -> Result<(), gateway_schema::DbError> {
    if updates.is_empty() {
        return Ok(());
    }
    db.save_key_health(updates).await?;
    let status_changed = updates.iter().any(|u| {
        keys.iter()
            .find(|k| k.id == u.id)
            .is_none_or(|k| k.status != u.status.as_str())
    });
    if status_changed {
        db.bump_revision().await?;
    }
    Ok(())
}
