//! `admin_task`: the one long-running admin task and its lock.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::admin_task;

/// The task row (there is exactly one, id 1).
#[derive(Clone, Debug, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = admin_task)]
pub struct AdminTask {
    /// Always 1.
    pub id: i32,
    /// `KEY_IMPORT`, `KEY_DELETE`, `KEY_VALIDATION` (empty before the first task).
    pub task_type: String,
    /// Set while a process works on it (see `heartbeat_at` for a crashed one).
    pub is_running: bool,
    /// The group it works on.
    pub group_name: String,
    /// Items done.
    pub processed: i64,
    /// Items in all.
    pub total: i64,
    /// Result JSON when finished (empty otherwise).
    pub result: String,
    /// Error text when it failed (empty otherwise).
    pub error: String,
    /// Which admin process runs it.
    pub owner: String,
    /// Start time (UTC).
    pub started_at: Option<NaiveDateTime>,
    /// End time (UTC).
    pub finished_at: Option<NaiveDateTime>,
    /// Last sign of life of the owner (UTC); a running task without one for a while is dead.
    pub heartbeat_at: Option<NaiveDateTime>,
}
