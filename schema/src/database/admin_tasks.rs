//! Queries of `admin_task`: the lock of the one long-running admin task, its progress and result.
//! A task is running while `is_running` is set and its owner's heartbeat is recent; a process that
//! crashed stops beating, and after `stale_before` the next task may start.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::{Database, now};
use crate::DbError;
use crate::connection::DbPool;
use crate::models::AdminTask;
use crate::schema::admin_task;

/// What a new task is.
#[derive(Clone, Copy, Debug)]
pub struct NewTask<'a> {
    /// The claiming process.
    pub owner: &'a str,
    /// `KEY_IMPORT`, `KEY_DELETE`, `KEY_VALIDATION`.
    pub task_type: &'a str,
    /// The group it works on.
    pub group_name: &'a str,
    /// Items in all.
    pub total: i64,
}

impl Database {
    /// Claims the task lock unless a live task holds it (one whose heartbeat is after
    /// `stale_before`). `Ok(None)` when claimed; otherwise the task that holds it.
    pub async fn try_start_task(
        &self,
        task: NewTask<'_>,
        stale_before: NaiveDateTime,
    ) -> Result<Option<AdminTask>, DbError> {
        let ts = now();
        let claimed = with_conn!(self, |c| diesel::update(
            admin_task::table.filter(
                admin_task::id.eq(1).and(
                    admin_task::is_running
                        .eq(false)
                        .or(admin_task::heartbeat_at.is_null())
                        .or(admin_task::heartbeat_at.lt(stale_before))
                )
            )
        )
        .set((
            admin_task::task_type.eq(task.task_type),
            admin_task::is_running.eq(true),
            admin_task::group_name.eq(task.group_name),
            admin_task::processed.eq(0_i64),
            admin_task::total.eq(task.total),
            admin_task::result.eq(""),
            admin_task::error.eq(""),
            admin_task::owner.eq(task.owner),
            admin_task::started_at.eq(Some(ts)),
            admin_task::finished_at.eq(None::<NaiveDateTime>),
            admin_task::heartbeat_at.eq(Some(ts)),
        ))
        .execute(c)
        .await)?;
        if claimed == 1 {
            Ok(None)
        } else {
            Ok(Some(self.task().await?))
        }
    }

    /// Records progress (and a heartbeat) of the owner's task. False when the task is no longer
    /// the owner's (it was declared dead and taken over).
    pub async fn task_progress(&self, owner: &str, processed: i64) -> Result<bool, DbError> {
        let n = with_conn!(self, |c| diesel::update(
            admin_task::table.filter(admin_task::id.eq(1).and(admin_task::owner.eq(owner)))
        )
        .set((
            admin_task::processed.eq(processed),
            admin_task::heartbeat_at.eq(Some(now())),
        ))
        .execute(c)
        .await)?;
        Ok(n == 1)
    }

    /// A heartbeat of the owner's task without progress.
    pub async fn task_heartbeat(&self, owner: &str) -> Result<(), DbError> {
        with_conn!(self, |c| diesel::update(
            admin_task::table.filter(
                admin_task::id
                    .eq(1)
                    .and(admin_task::owner.eq(owner))
                    .and(admin_task::is_running.eq(true))
            )
        )
        .set(admin_task::heartbeat_at.eq(Some(now())))
        .execute(c)
        .await)?;
        Ok(())
    }

    /// Ends the owner's task with its result (JSON) or error text.
    pub async fn finish_task(
        &self,
        owner: &str,
        processed: i64,
        result: &str,
        error: &str,
    ) -> Result<(), DbError> {
        let ts = now();
        with_conn!(self, |c| diesel::update(
            admin_task::table.filter(admin_task::id.eq(1).and(admin_task::owner.eq(owner)))
        )
        .set((
            admin_task::is_running.eq(false),
            admin_task::processed.eq(processed),
            admin_task::result.eq(result),
            admin_task::error.eq(error),
            admin_task::finished_at.eq(Some(ts)),
            admin_task::heartbeat_at.eq(Some(ts)),
        ))
        .execute(c)
        .await)?;
        Ok(())
    }

    /// The task row.
    pub async fn task(&self) -> Result<AdminTask, DbError> {
        with_conn!(self, |c| Ok(admin_task::table
            .find(1)
            .select(AdminTask::as_select())
            .first(c)
            .await?))
    }
}
