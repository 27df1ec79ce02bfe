//! `gateway_processes`: every running proxy and admin process keeps a row with a recent
//! `last_seen_at` (refreshed by [`stay_registered`]), so maintenance commands (`migrate-keys`)
//! can tell that the database is in use.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::{Database, now};
use crate::DbError;
use crate::connection::DbPool;
use crate::schema::gateway_processes;

/// Rows not refreshed for this long are removed when a process registers.
const STALE_AFTER: chrono::Duration = chrono::Duration::hours(24);

/// A running gateway process.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct ProcessRow {
    /// Random id chosen at start.
    pub id: String,
    /// `proxy` or `admin`.
    pub role: String,
    /// The machine it runs on.
    pub hostname: String,
    /// Its process id there.
    pub pid: i32,
    /// When it started.
    pub started_at: NaiveDateTime,
    /// When it last said it is alive.
    pub last_seen_at: NaiveDateTime,
}

impl ProcessRow {
    /// The row of this process in `role`, with a fresh id.
    pub fn this_process(role: &str) -> Self {
        let at = now();
        Self {
            id: uuid::Uuid::now_v7().simple().to_string(),
            role: role.to_owned(),
            hostname: std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_default(),
            pid: i32::try_from(std::process::id()).unwrap_or(0),
            started_at: at,
            last_seen_at: at,
        }
    }
}

impl Database {
    /// Says that `p` is alive: refreshes its row, or writes it (and removes day-old rows of
    /// processes that died without saying so) when it is not there.
    pub async fn process_alive(&self, p: &ProcessRow) -> Result<(), DbError> {
        let at = now();
        let n = with_conn!(self, |c| diesel::update(
            gateway_processes::table.find(&p.id)
        )
        .set(gateway_processes::last_seen_at.eq(at))
        .execute(c)
        .await)?;
        if n > 0 {
            return Ok(());
        }
        with_conn!(self, |c| diesel::delete(
            gateway_processes::table.filter(gateway_processes::last_seen_at.lt(at - STALE_AFTER))
        )
        .execute(c)
        .await)?;
        with_conn!(self, |c| diesel::insert_into(gateway_processes::table)
            .values((
                gateway_processes::id.eq(&p.id),
                gateway_processes::role.eq(&p.role),
                gateway_processes::hostname.eq(&p.hostname),
                gateway_processes::pid.eq(p.pid),
                gateway_processes::started_at.eq(p.started_at),
                gateway_processes::last_seen_at.eq(at),
            ))
            .execute(c)
            .await)?;
        Ok(())
    }

    /// Removes `p`'s row (a clean stop).
    pub async fn process_stopped(&self, p: &ProcessRow) -> Result<(), DbError> {
        with_conn!(self, |c| diesel::delete(
            gateway_processes::table.find(&p.id)
        )
        .execute(c)
        .await)?;
        Ok(())
    }

    /// Processes seen since `since`.
    pub async fn live_processes(&self, since: NaiveDateTime) -> Result<Vec<ProcessRow>, DbError> {
        Ok(with_conn!(self, |c| gateway_processes::table
            .filter(gateway_processes::last_seen_at.ge(since))
            .order(gateway_processes::started_at.asc())
            .load::<ProcessRow>(c)
            .await)?)
    }
}

/// How often a running process refreshes its `gateway_processes` row.
pub const PROCESS_HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(5);

/// Keeps this process's `gateway_processes` row fresh until `stop` resolves, then removes it.
pub async fn stay_registered(
    db: Database,
    me: ProcessRow,
    stop: impl std::future::Future<Output = ()>,
) {
    let mut stop = std::pin::pin!(stop);
    let mut failing = false;
    loop {
        match db.process_alive(&me).await {
            Ok(()) => failing = false,
            Err(e) if !failing => {
                failing = true;
                tracing::warn!("cannot record that this process is running: {e}");
            }
            Err(_) => {}
        }
        tokio::select! {
            () = &mut stop => break,
            () = tokio::time::sleep(PROCESS_HEARTBEAT) => {}
        }
    }
    if let Err(e) = db.process_stopped(&me).await {
        tracing::warn!("cannot record that this process stopped: {e}");
    }
}
