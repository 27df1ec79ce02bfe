//! `ProxyPath`: what the `/proxy` request path is given: the routing snapshot it serves, the
//! upstream exchange, the static limits, where key health goes, and what it shares with the
//! rest of the process (`SharedState`). Its steps are the other files of `serve/`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32};
use std::time::Duration;

use gateway_core::client_address::TrustedProxies;
use pingora::proxy::Session;

use crate::key_health_writer::HealthJournal;
use crate::metrics::ProxyMetrics;
use crate::request_log::LogSink;
use crate::routing_snapshot::SnapshotHandle;
use crate::upstream_exchange::UpstreamExchange;

/// Limits of the data plane from the static configuration.
#[derive(Clone, Copy, Debug)]
pub struct ProxyLimits {
    /// `MAX_CONCURRENT_REQUESTS`.
    pub max_concurrent_requests: u32,
    /// Largest request body (413 above it).
    pub max_request_body_bytes: usize,
    /// `SERVER_READ_TIMEOUT`: longest wait for each piece of the client's request body.
    pub read_timeout: Duration,
    /// `SERVER_WRITE_TIMEOUT`: longest wait for the client to accept each write.
    pub write_timeout: Duration,
    /// `SERVER_IDLE_TIMEOUT`: how long an idle keep-alive client connection stays open.
    pub idle_timeout: Duration,
}

/// What the request path shares with the rest of the process: where it reports (metrics, the
/// request-log queue, the cluster), the in-flight count it admits against, and the flag that
/// says the process is stopping.
#[derive(Clone, Debug)]
pub struct SharedState {
    /// Prometheus collectors.
    pub metrics: Arc<ProxyMetrics>,
    /// The request-log queue.
    pub logs: LogSink,
    /// Requests in flight (shared with the metrics listener).
    pub inflight: Arc<AtomicU32>,
    /// Set once the process was told to stop or hand over (answers then close the connection).
    pub stopping: Arc<AtomicBool>,
    /// The cluster link when `REDIS_DSN` is set (its state is shown by `/health`).
    pub cluster: Option<gateway_cluster::ClusterLink>,
    /// With a cluster link: where rate-limit usage goes to be reported to the other nodes.
    pub outbox: Option<crate::cluster_outbox::ClusterOutbox>,
}

/// The `/proxy` handler: the routing snapshot it serves, the upstream exchange, and where key
/// and upstream health and everything else it observes go.
pub struct ProxyPath {
    pub(super) snapshot: SnapshotHandle,
    pub(super) exchange: UpstreamExchange,
    /// Whose forwarding headers name the client (`TRUSTED_PROXIES`).
    trusted_proxies: TrustedProxies,
    pub(super) limits: ProxyLimits,
    pub(super) journal: HealthJournal,
    pub(super) observe: SharedState,
}

impl ProxyPath {
    /// A handler serving `snapshot` through `exchange`, noting key health changes in
    /// `journal` and reporting to `observe`.
    pub fn new(
        snapshot: SnapshotHandle,
        exchange: UpstreamExchange,
        trusted_proxies: TrustedProxies,
        limits: ProxyLimits,
        journal: HealthJournal,
        observe: SharedState,
    ) -> Self {
        Self {
            snapshot,
            exchange,
            trusted_proxies,
            limits,
            journal,
            observe,
        }
    }

    /// The limits it applies.
    pub fn limits(&self) -> &ProxyLimits {
        &self.limits
    }

    /// What it shares with the rest of the process.
    pub fn shared(&self) -> &SharedState {
        &self.observe
    }

    /// The routing snapshot it serves.
    pub fn snapshot(&self) -> &SnapshotHandle {
        &self.snapshot
    }

    /// The client's address: the peer, or what a trusted proxy in front says it is.
    pub fn client_ip(&self, session: &Session) -> String {
        let Some(peer) = session
            .client_addr()
            .and_then(|a| a.as_inet().map(std::net::SocketAddr::ip))
        else {
            return String::new();
        };
        if self.trusted_proxies.is_empty() {
            return peer.to_canonical().to_string();
        }
        let header = |name: &str| {
            session
                .req_header()
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
        };
        self.trusted_proxies
            .client_ip(peer, header("x-forwarded-for"), header("x-real-ip"))
            .to_string()
    }
}
