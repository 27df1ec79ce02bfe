//! The Redis link between the nodes of a cluster (docs/cluster.md): one pub/sub channel that carries
//! configuration revisions, key/upstream health and rate-limit usage between nodes, and shared
//! windowed counters (login throttling). Nothing here is on the request path of a healthy request: the proxy
//! publishes from a background task and applies what it receives to its snapshot.
//!
//! Redis is an accelerator, never a dependency for serving: every call has a short timeout, a
//! lost link is logged once (and its return once), and callers fall back to their local state
//! and to polling the database until it is back.

mod message;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use deadpool_redis::redis::{self, AsyncCommands};
use deadpool_redis::{Config, Pool, PoolConfig, Runtime, Timeouts};
use futures_util::StreamExt;
use tokio::sync::mpsc;

pub use message::{ClusterMessage, KeyHealthNote, UpstreamEjection, UsageNote};

/// The longest any one Redis command may take before it counts as a failure.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(1);
/// How often the subscription checks that its connection is alive.
const PING_INTERVAL: Duration = Duration::from_secs(2);
/// Longest wait between two attempts to subscribe again.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// The one channel every node publishes to and listens on (after the prefix).
const CHANNEL: &str = "events";

/// Why a Redis call failed. The DSN (which may hold a password) is never part of it.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// `REDIS_DSN` could not be understood.
    #[error("invalid REDIS_DSN: {0}")]
    InvalidDsn(String),
    /// Redis answered with an error or the connection failed.
    #[error("Redis: {0}")]
    Redis(String),
    /// Redis did not answer in time.
    #[error("Redis did not answer within {} ms", COMMAND_TIMEOUT.as_millis())]
    Timeout,
}

/// What the subscription reports to its owner.
#[derive(Debug)]
pub enum LinkEvent {
    /// Subscribed. `again` is true after a lost link came back: whatever was published
    /// meanwhile was missed, so the owner should catch up from the database.
    Subscribed {
        /// True for every subscription after the first.
        again: bool,
    },
    /// The subscription was lost; the owner serves from local state until `Subscribed`.
    Lost,
    /// A message from another node.
    Message(ClusterMessage),
}

/// A cheap-to-clone handle on the cluster's Redis.
#[derive(Clone)]
pub struct ClusterLink {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    client: redis::Client,
    prefix: String,
    /// Random per process: a node ignores its own messages.
    node: String,
    /// False from the first failure until the next success (the outage is logged once).
    reachable: AtomicBool,
    /// True while the subscription is live.
    subscribed: AtomicBool,
}

impl std::fmt::Debug for ClusterLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterLink")
            .field("prefix", &self.inner.prefix)
            .field("node", &self.inner.node)
            .finish_non_exhaustive()
    }
}

impl ClusterLink {
    /// A link to the Redis at `dsn` (`redis://` or `rediss://`), with every key and channel
    /// name starting with `prefix`. Connects lazily: a Redis that is down now is not an error.
    pub fn new(dsn: &str, prefix: &str) -> Result<Self, ClusterError> {
        let client =
            redis::Client::open(dsn).map_err(|e| ClusterError::InvalidDsn(e.to_string()))?;
        let mut config = Config::from_url(dsn);
        config.pool = Some(PoolConfig {
            max_size: 8,
            timeouts: Timeouts {
                wait: Some(COMMAND_TIMEOUT),
                create: Some(COMMAND_TIMEOUT),
                recycle: Some(COMMAND_TIMEOUT),
            },
            ..PoolConfig::default()
        });
        let pool = config
            .create_pool(Some(Runtime::Tokio1))
            .map_err(|e| ClusterError::InvalidDsn(e.to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                client,
                prefix: prefix.to_owned(),
                node: uuid::Uuid::now_v7().simple().to_string(),
                reachable: AtomicBool::new(true),
                subscribed: AtomicBool::new(false),
            }),
        })
    }

    /// This process's node id (in every message it publishes).
    pub fn node(&self) -> &str {
        &self.inner.node
    }

    /// True while the subscription is live (messages from other nodes arrive).
    pub fn is_subscribed(&self) -> bool {
        self.inner.subscribed.load(Ordering::Acquire)
    }

    /// Checks that Redis answers (startup logging).
    pub async fn ping(&self) -> Result<(), ClusterError> {
        self.command(|mut c| async move {
            redis::cmd("PING")
                .query_async::<String>(&mut c)
                .await
                .map(|_| ())
        })
        .await
    }

    /// Sends `message` to every other node.
    pub async fn publish(&self, message: &ClusterMessage) -> Result<(), ClusterError> {
        let channel = self.name(CHANNEL);
        let payload = message::encode(&self.inner.node, message);
        self.command(
            |mut c| async move { c.publish::<_, _, i64>(channel, payload).await.map(|_| ()) },
        )
        .await
    }

    /// Adds one to the counter `name`, which lives for `window` from its first increment.
    /// Returns the count and the milliseconds left in the window.
    pub async fn count_in_window(
        &self,
        name: &str,
        window: Duration,
    ) -> Result<(u64, u64), ClusterError> {
        let key = self.name(name);
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        self.command(|mut c| async move {
            let (count, ttl): (u64, i64) = redis::pipe()
                .atomic()
                .incr(&key, 1)
                .cmd("PEXPIRE")
                .arg(&key)
                .arg(window_ms)
                .arg("NX")
                .ignore()
                .pttl(&key)
                .query_async(&mut c)
                .await?;
            Ok((count, u64::try_from(ttl).unwrap_or(0)))
        })
        .await
    }

    /// The counter `name` and the milliseconds left in its window (`None` when it is not set).
    pub async fn counter(&self, name: &str) -> Result<Option<(u64, u64)>, ClusterError> {
        let key = self.name(name);
        self.command(|mut c| async move {
            let (count, ttl): (Option<u64>, i64) = redis::pipe()
                .get(&key)
                .pttl(&key)
                .query_async(&mut c)
                .await?;
            Ok(count.map(|n| (n, u64::try_from(ttl).unwrap_or(0))))
        })
        .await
    }

    /// Removes the counter `name`.
    pub async fn clear(&self, name: &str) -> Result<(), ClusterError> {
        let key = self.name(name);
        self.command(|mut c| async move { c.del::<_, i64>(key).await.map(|_| ()) })
            .await
    }

    /// Keeps a subscription to the cluster channel alive until the receiver is dropped,
    /// reporting to `events`. Reconnects with a short back-off; run it in its own task.
    pub async fn run_subscription(&self, events: mpsc::Sender<LinkEvent>) {
        let mut again = false;
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.subscribe_once(&events, again).await {
                Ok(Closed::Receiver) => return,
                Ok(Closed::Link(why)) => {
                    self.failed(&why);
                    backoff = Duration::from_millis(100);
                }
                Err(e) => self.failed(&e),
            }
            again = true;
            if self.inner.subscribed.swap(false, Ordering::AcqRel)
                && events.send(LinkEvent::Lost).await.is_err()
            {
                return;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn subscribe_once(
        &self,
        events: &mpsc::Sender<LinkEvent>,
        again: bool,
    ) -> Result<Closed, ClusterError> {
        let mut pubsub = timed(self.inner.client.get_async_pubsub()).await?;
        timed(pubsub.subscribe(self.name(CHANNEL))).await?;
        let (mut sink, mut stream) = pubsub.split();
        self.succeeded();
        self.inner.subscribed.store(true, Ordering::Release);
        if events.send(LinkEvent::Subscribed { again }).await.is_err() {
            return Ok(Closed::Receiver);
        }
        let mut ping = tokio::time::interval(PING_INTERVAL);
        ping.tick().await;
        loop {
            tokio::select! {
                msg = stream.next() => {
                    let Some(msg) = msg else {
                        return Ok(Closed::Link(ClusterError::Redis("the subscription connection closed".into())));
                    };
                    match message::decode(msg.get_payload_bytes()) {
                        Ok((node, _)) if node == self.inner.node => {}
                        Ok((_, message)) => {
                            if events.send(LinkEvent::Message(message)).await.is_err() {
                                return Ok(Closed::Receiver);
                            }
                        }
                        Err(e) => tracing::warn!("ignoring a cluster message that is not understood: {e}"),
                    }
                }
                _ = ping.tick() => {
                    if let Err(e) = timed(sink.ping::<redis::Value>()).await {
                        return Ok(Closed::Link(e));
                    }
                }
                () = events.closed() => return Ok(Closed::Receiver),
            }
        }
    }

    /// Runs one command on a pooled connection with the command timeout, noting the outcome.
    async fn command<T, F, Fut>(&self, run: F) -> Result<T, ClusterError>
    where
        F: FnOnce(deadpool_redis::Connection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let outcome = async {
            let conn = self
                .inner
                .pool
                .get()
                .await
                .map_err(|e| ClusterError::Redis(e.to_string()))?;
            timed(run(conn)).await
        }
        .await;
        match &outcome {
            Ok(_) => self.succeeded(),
            Err(e) => self.failed(e),
        }
        outcome
    }

    fn name(&self, name: &str) -> String {
        format!("{}{name}", self.inner.prefix)
    }

    fn failed(&self, e: &ClusterError) {
        if self.inner.reachable.swap(false, Ordering::AcqRel) {
            tracing::warn!(
                "Redis unreachable ({e}); serving from this node's own state and polling the database until it is back"
            );
        }
    }

    fn succeeded(&self) {
        if !self.inner.reachable.swap(true, Ordering::AcqRel) {
            tracing::info!("Redis reachable again; cluster messages flow");
        }
    }
}

/// Why a subscription ended.
enum Closed {
    /// The owner is gone: stop.
    Receiver,
    /// The connection failed: subscribe again.
    Link(ClusterError),
}

/// `fut` with the command timeout.
async fn timed<T>(fut: impl Future<Output = redis::RedisResult<T>>) -> Result<T, ClusterError> {
    match tokio::time::timeout(COMMAND_TIMEOUT, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(ClusterError::Redis(e.to_string())),
        Err(_) => Err(ClusterError::Timeout),
    }
}
