//! The test Redis (`TEST_REDIS_DSN`, skipped when unset unless `REQUIRE_SERVICES=1`) behind a
//! TCP relay the test can cut and restore, to see what the gateway does when Redis goes away
//! and comes back without stopping the machine's shared server. Each handle has its own key
//! prefix, so runs never see each other's keys or messages.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, bail};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use crate::test_db::{REQUIRE_SERVICES_ENV, services_required};

/// Env var naming the Redis server used by tests.
pub const REDIS_ENV: &str = "TEST_REDIS_DSN";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The test Redis behind a relay on a free loopback port.
#[derive(Debug)]
pub struct TestRedis {
    relay: SocketAddr,
    target: SocketAddr,
    prefix: String,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl TestRedis {
    /// A relay to the Redis of `TEST_REDIS_DSN`, or `None` when it is unset (an error with
    /// `REQUIRE_SERVICES=1`).
    pub async fn start() -> anyhow::Result<Option<Self>> {
        let Some(dsn) = std::env::var(REDIS_ENV)
            .ok()
            .filter(|v| !v.trim().is_empty())
        else {
            if services_required() {
                bail!("{REDIS_ENV} is not set and {REQUIRE_SERVICES_ENV}=1");
            }
            return Ok(None);
        };
        let url = url::Url::parse(&dsn).with_context(|| format!("{REDIS_ENV} is not a URL"))?;
        let host = url.host_str().unwrap_or("127.0.0.1");
        let port = url.port().unwrap_or(6379);
        let target = tokio::net::lookup_host((host, port))
            .await?
            .next()
            .with_context(|| format!("{REDIS_ENV}: cannot resolve {host}"))?;
        if let Err(e) = TcpStream::connect(target).await {
            if services_required() {
                bail!("Redis at {target} is not reachable: {e}");
            }
            return Ok(None);
        }
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let relay = listener.local_addr()?;
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        Ok(Some(Self {
            relay,
            target,
            prefix: format!("gw-test-{}-{n}:", std::process::id()),
            task: Mutex::new(Some(tokio::spawn(relay_forever(listener, target)))),
        }))
    }

    /// The `REDIS_DSN` to give the gateway (through the relay).
    pub fn dsn(&self) -> String {
        format!("redis://{}/0", self.relay)
    }

    /// The `REDIS_KEY_PREFIX` to give the gateway (unique to this handle).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Redis "stops": open connections are closed and new ones refused.
    pub fn stop(&self) {
        if let Some(task) = self.lock().take() {
            task.abort();
        }
    }

    /// Redis "comes back" on the same address.
    pub async fn restart(&self) -> anyhow::Result<()> {
        self.stop();
        let listener = TcpListener::bind(self.relay)
            .await
            .with_context(|| format!("cannot listen on {} again", self.relay))?;
        *self.lock() = Some(tokio::spawn(relay_forever(listener, self.target)));
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<JoinHandle<()>>> {
        self.task
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Accepts on `listener` and pipes each connection to `target`; aborting the task drops the
/// listener and every connection with it.
async fn relay_forever(listener: TcpListener, target: SocketAddr) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((mut inbound, _)) = accepted else { continue };
                connections.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}
