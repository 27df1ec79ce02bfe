//! The threads SQLite statements run on: a fixed set of long-lived threads, instead of Tokio's
//! blocking pool.
//!
//! diesel's SQLite connection is synchronous, so every statement runs on some thread beside the
//! async runtime. Tokio's blocking threads exit after 10 s without work and new ones are started
//! on the next burst; under a steady load of periodic writes (request logs, key health) that
//! churn never stops. Each exiting thread leaves its allocator heap behind while anything it
//! allocated is still alive (a connection's prepared statements, SQLite's page cache), and the
//! process's memory grew without bound under a steady load. These threads never exit.

use std::error::Error;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use diesel_async::sync_connection_wrapper::SpawnBlocking;

/// How many threads run SQLite statements. More statements than this wait their turn (SQLite
/// writes one at a time anyway; every pool of this process together has about this many
/// connections).
const THREADS: usize = 8;

type Job = Box<dyn FnOnce() + Send>;

/// The queue every thread takes its next statement from, started at the first statement.
fn queue() -> &'static Mutex<Sender<Job>> {
    static QUEUE: OnceLock<Mutex<Sender<Job>>> = OnceLock::new();
    QUEUE.get_or_init(|| {
        let (tx, rx) = channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for n in 0..THREADS {
            let rx = Arc::clone(&rx);
            let started = std::thread::Builder::new()
                .name(format!("sqlite-{n}"))
                .spawn(move || run(&rx));
            if let Err(e) = started {
                tracing::error!("cannot start SQLite thread {n}: {e}");
            }
        }
        Mutex::new(tx)
    })
}

/// A thread's life: take the next job and run it, until the process ends.
fn run(rx: &Mutex<Receiver<Job>>) {
    loop {
        let next = rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
        match next {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

/// Runs diesel-async's SQLite work on the threads above (see the module documentation).
#[derive(Clone, Copy, Debug, Default)]
pub struct SqliteThreads;

impl SpawnBlocking for SqliteThreads {
    fn spawn_blocking<'a, R>(
        &mut self,
        task: impl FnOnce() -> R + Send + 'static,
    ) -> Pin<Box<dyn Future<Output = Result<R, Box<dyn Error + Send + Sync + 'static>>> + Send + 'a>>
    where
        R: Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            // A panicking statement fails its caller, not the thread.
            let _ = tx.send(std::panic::catch_unwind(AssertUnwindSafe(task)));
        });
        let sent = queue()
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send(job);
        Box::pin(async move {
            if sent.is_err() {
                return Err("the SQLite threads are gone".into());
            }
            match rx.await {
                Ok(Ok(result)) => Ok(result),
                Ok(Err(_)) => Err("a SQLite statement panicked".into()),
                Err(_) => Err("a SQLite statement was dropped unfinished".into()),
            }
        })
    }

    fn get_runtime() -> Self {
        Self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn statements_run_on_the_same_few_named_threads_and_survive_panics() {
        let mut threads = SqliteThreads;
        let mut names = std::collections::HashSet::new();
        for _ in 0..50 {
            let name = threads
                .spawn_blocking(|| std::thread::current().name().map(str::to_owned))
                .await
                .map_err(|e| e.to_string());
            names.insert(name.ok().flatten().unwrap_or_default());
        }
        assert!(names.len() <= THREADS, "{names:?}");
        assert!(names.iter().all(|n| n.starts_with("sqlite-")), "{names:?}");
        let failed = threads
            .spawn_blocking(|| -> u8 { panic!("boom") })
            .await
            .map_err(|e| e.to_string());
        assert_eq!(failed, Err("a SQLite statement panicked".to_owned()));
        for _ in 0..THREADS * 2 {
            let ok = threads
                .spawn_blocking(|| 7)
                .await
                .map_err(|e| e.to_string());
            assert_eq!(ok, Ok(7));
        }
    }
}
