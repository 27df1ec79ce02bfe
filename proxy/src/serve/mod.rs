//! The `/proxy/{group}/…` request path, one file per step of a request:
//!
//! 1. `admission` — the group or aggregate named, an in-flight slot, the proxy key, the body;
//! 2. `attempt_loop` — keys and upstreams tried in turn (`rate_room` when a rate limit has no
//!    room), and here the failover of an aggregate to its next member;
//! 3. `attempt` — one upstream exchange and what its answer means: `blame` records the fault
//!    on key and upstream health, `relay` passes a served answer on;
//! 4. `answers` — the gateway's own answers; `record` — the metrics and request-log record of
//!    each attempt; `outcome` — what the steps hand each other.

mod admission;
mod answers;
mod attempt;
mod attempt_loop;
mod blame;
mod outcome;
mod rate_room;
mod record;
mod relay;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32};
use std::time::Duration;

use bytes::Bytes;
use gateway_core::ChannelType;
use gateway_core::client_address::TrustedProxies;
use pingora::Result;
use pingora::proxy::Session;

pub use answers::respond_raw;
use answers::{respond_exhausted, respond_gateway_error};
use outcome::LoopEnd;
use record::{RequestFacts, log_for};

use crate::clock::now_ms;
use crate::error::GatewayError;
use crate::group_runtime::GroupRuntime;
use crate::key_health_writer::HealthJournal;
use crate::metrics::ProxyMetrics;
use crate::request_context::{ParentAggregate, RequestContext};
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
    snapshot: SnapshotHandle,
    exchange: UpstreamExchange,
    /// Whose forwarding headers name the client (`TRUSTED_PROXIES`).
    trusted_proxies: TrustedProxies,
    limits: ProxyLimits,
    journal: HealthJournal,
    observe: SharedState,
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

    /// Handles `/proxy/{group}/{rest}` completely. An aggregate hands the request to one
    /// member; with `sub_group_failover`, when that member's attempts all failed, another
    /// member takes it over.
    pub async fn serve(
        &self,
        session: &mut Session,
        ctx: &mut RequestContext,
        group_name: &str,
        rest: &str,
    ) -> Result<()> {
        let Some(admitted) = self.admit(session, ctx, group_name, rest).await? else {
            return Ok(());
        };
        let (aggregate, mut group) = (admitted.aggregate, admitted.group);
        let channel = aggregate.as_ref().map_or(group.channel, |a| a.channel);
        let mut tried_members = Vec::new();
        loop {
            if let Some(a) = &aggregate {
                ctx.parent = Some(ParentAggregate {
                    id: a.id,
                    name: a.name.clone(),
                });
                ctx.group = Some(Arc::clone(&group));
                tried_members.push(group.id);
            }
            let (query, body) = (admitted.query.as_deref(), &admitted.body);
            let ended = self
                .serve_member(session, ctx, &group, rest, query, body, channel)
                .await?;
            let LoopEnd::Exhausted(failure) = ended else {
                return Ok(());
            };
            let model = admitted.model.as_deref();
            let next = aggregate
                .as_ref()
                .filter(|a| a.routing.failover)
                .and_then(|a| a.pick(now_ms(), &tried_members, model));
            let (Some(member), Some(a)) = (next, &aggregate) else {
                return respond_exhausted(session, ctx, &group, failure).await;
            };
            tracing::info!(group = %group.name, next = %member.name, "sub-group failed; the aggregate fails over to another sub-group");
            self.observe.metrics.failover(&a.name);
            group = member;
        }
    }

    /// The attempts on one group, after its rewrite rules (a model that strict redirect rules
    /// do not name is refused before any attempt).
    #[expect(
        clippy::too_many_arguments,
        reason = "the request's parts, each used once"
    )]
    async fn serve_member(
        &self,
        session: &mut Session,
        ctx: &mut RequestContext,
        group: &GroupRuntime,
        rest: &str,
        query: Option<&str>,
        body: &Bytes,
        channel: ChannelType,
    ) -> Result<LoopEnd> {
        match group.rewrite.apply(group.channel, rest, body.clone()) {
            Ok(rewritten) => {
                self.attempt_loop(session, ctx, group, &rewritten.rest, query, rewritten.body)
                    .await
            }
            Err(model) => {
                // Logged as a final attempt without a key, as GPT-Load does (under this member
                // when another one failed before).
                let client_ip = self.client_ip(session);
                let facts = RequestFacts {
                    client_ip: &client_ip,
                    query,
                    model: &model,
                    body,
                };
                log_for(session, ctx, group, &facts);
                let error = GatewayError::ModelNotConfigured(model);
                respond_gateway_error(session, ctx, error, Some(channel))
                    .await
                    .map(|()| LoopEnd::Answered)
            }
        }
    }
}
