//! `GatewayService`: the Pingora `ProxyHttp` implementation. Each phase delegates to a named
//! module; the `RequestContext` carries decisions forward.
//!
//! Phases, in order:
//! 1. `request_filter` — takes an in-flight slot (429 when full); routes the path
//!    (`group_routing`). `/health` is answered here. Other non-proxy paths return `Ok(false)` and
//!    continue on Pingora's own proxy path to the admin process. For `/proxy/{group}/…`: loads
//!    the routing snapshot once, authenticates the proxy key (`client_auth`), reads the body up to
//!    the limit (413), then runs the attempt loop: pick a key (`key_ring`) not tried yet, pick an
//!    upstream (`upstream_selection`), build the request (`header_rewrite`), exchange
//!    (`upstream_exchange`). Each answer is judged by the key policy
//!    (`gateway_core::key_policy`) and the fault recorded on key or upstream health (`blame`);
//!    a retried failure before anything reached the client re-enters the loop, up to
//!    `max_retries` extra attempts; otherwise the response is relayed chunk by chunk (model lists
//!    rewritten by `model_list`) and the filter returns `Ok(true)`.
//! 2. `upstream_peer` — only for admin forwarding: the admin process's loopback address.
//! 3. `logging` — request-level bookkeeping (the in-flight slot is released with the context).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorSource, ErrorType, Result};

use gateway_core::AdminUpstream;
use gateway_core::client_address::TrustedProxies;
use gateway_core::client_credential::extract_token;
use gateway_core::key_policy::{Answer, Fault, KeyPolicy, parse_retry_after};
use gateway_core::token_usage::UsageScanner;

use crate::aggregate_routing::AggregateRuntime;
use crate::client_auth::{redact_key_param, strip_key_param};
use crate::clock::now_ms;
use crate::dns_cache::DnsCache;
use crate::error::{GatewayError, redact};
use crate::group_routing::{Route, route};
use crate::header_rewrite::UpstreamRequest;
use crate::key_health_writer::HealthJournal;
use crate::key_ring::{KeyFailure, PoolKey};
use crate::metrics::{KeyEvent, Outcome, ProxyMetrics, RateAction};
use crate::model_list;
use crate::rate_limit::{self, RateScope, Usage};
use crate::request_context::{InflightGuard, RequestContext};
use crate::request_log::{AttemptRecord, LogSink, RequestFields, RequestLogDraft};
use crate::routing_snapshot::{GroupRuntime, SnapshotHandle};
use crate::upstream_exchange::{
    AttemptTimeouts, ExchangeError, RelayLimits, UpstreamExchange, UpstreamResponse,
    complete_header, for_client,
};
use crate::upstream_selection::{EjectionPolicy, Upstream};

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

/// The gateway's Pingora service.
pub struct GatewayService {
    snapshot: SnapshotHandle,
    exchange: UpstreamExchange,
    /// Where admin routes go (`ADMIN_UPSTREAM`), resolved through `admin_dns`.
    admin: AdminUpstream,
    admin_dns: DnsCache,
    /// Whose forwarding headers name the client (`TRUSTED_PROXIES`).
    trusted_proxies: TrustedProxies,
    limits: ProxyLimits,
    started: Instant,
    journal: HealthJournal,
    observe: Observers,
}

/// Where the service reports what happened: metrics and the request-log pipeline.
#[derive(Clone, Debug)]
pub struct Observers {
    /// Prometheus collectors.
    pub metrics: Arc<ProxyMetrics>,
    /// The request-log queue.
    pub logs: LogSink,
    /// Requests in flight (shared with the metrics listener).
    pub inflight: Arc<AtomicU32>,
    /// Set once the process was told to stop or hand over (answers then close the connection).
    pub stopping: Arc<std::sync::atomic::AtomicBool>,
    /// The cluster link when `REDIS_DSN` is set (its state is shown by `/health`).
    pub cluster: Option<gateway_cluster::ClusterLink>,
    /// With a cluster link: where rate-limit usage goes to be reported to the other nodes.
    pub outbox: Option<crate::cluster_sync::ClusterOutbox>,
}

impl GatewayService {
    /// A service serving `snapshot`, forwarding non-proxy paths to `admin`, noting key
    /// health changes in `journal` and reporting to `observe`.
    pub fn new(
        snapshot: SnapshotHandle,
        exchange: UpstreamExchange,
        admin: AdminUpstream,
        trusted_proxies: TrustedProxies,
        limits: ProxyLimits,
        journal: HealthJournal,
        observe: Observers,
    ) -> Self {
        Self {
            snapshot,
            exchange,
            admin,
            admin_dns: DnsCache::default(),
            trusted_proxies,
            limits,
            started: Instant::now(),
            journal,
            observe,
        }
    }

    /// The client's address: the peer, or what a trusted proxy in front says it is.
    fn client_ip(&self, session: &Session) -> String {
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

    /// Handles `/proxy/{group}/{rest}` completely.
    async fn proxy(
        &self,
        session: &mut Session,
        ctx: &mut RequestContext,
        group_name: &str,
        rest: &str,
    ) -> Result<()> {
        let snapshot = self.snapshot.load();
        if !snapshot.is_loaded() {
            return respond_error(session, &GatewayError::NotReady, None).await;
        }
        let target = match (
            snapshot.groups.get(group_name),
            snapshot.aggregates.get(group_name),
        ) {
            (Some(g), _) => Target::Group(Arc::clone(g)),
            (None, Some(a)) => Target::Aggregate(Arc::clone(a)),
            (None, None) => {
                return respond_error(
                    session,
                    &GatewayError::UnknownGroup(group_name.to_owned()),
                    None,
                )
                .await;
            }
        };
        ctx.body_log_limit = snapshot.body_log_limit;
        drop(snapshot);
        let (channel, proxy_keys) = match &target {
            Target::Group(g) => (g.channel, &g.proxy_keys),
            Target::Aggregate(a) => (a.channel, &a.proxy_keys),
        };
        ctx.called_group = Some((group_name.to_owned(), channel.as_str()));
        if let Target::Group(g) = &target {
            ctx.group = Some(Arc::clone(g));
        }
        let channel = Some(channel);
        // Only proxy traffic takes a slot: /health and the admin API stay reachable under load.
        let Some(slot) =
            InflightGuard::try_acquire(&self.observe.inflight, self.limits.max_concurrent_requests)
        else {
            let error = GatewayError::TooManyRequests(self.limits.max_concurrent_requests);
            return respond_error(session, &error, channel).await;
        };
        ctx.inflight = Some(slot);
        let req = session.req_header();
        let token = extract_token(req.uri.query(), |name| {
            req.headers.get(name).and_then(|v| v.to_str().ok())
        });
        match token {
            None => return respond_error(session, &GatewayError::MissingProxyKey, channel).await,
            Some(t) if !proxy_keys.allows(&t) => {
                return respond_error(
                    session,
                    &GatewayError::InvalidProxyKey(group_name.to_owned()),
                    channel,
                )
                .await;
            }
            Some(_) => {}
        }
        let enabled = match &target {
            Target::Group(g) => g.enabled,
            Target::Aggregate(a) => a.enabled,
        };
        if !enabled {
            let error = GatewayError::GroupDisabled(group_name.to_owned());
            return respond_error(session, &error, channel).await;
        }
        let query = strip_key_param(req.uri.query());
        // Only a model-aware aggregate looks at the body (and so the Accept header) before the
        // attempts; the header is gone from reach once the body is read.
        let accept = match &target {
            Target::Aggregate(a) if a.routing.model_aware => req
                .headers
                .get(http::header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            _ => None,
        };
        let body = match read_body(
            session,
            self.limits.max_request_body_bytes,
            self.limits.read_timeout,
        )
        .await?
        {
            Ok(body) => body,
            Err(too_large) => {
                session.set_keepalive(None);
                return respond_error(session, &too_large, channel).await;
            }
        };
        // An aggregate hands the request to one member with a usable key; from here on it is
        // that member's request, until (with `sub_group_failover`) the member's attempts all
        // failed and another member takes it over.
        let (aggregate, model) = match &target {
            Target::Group(_) => (None, None),
            Target::Aggregate(a) => {
                let model = a.routing.model_aware.then(|| {
                    a.channel
                        .inspect_request(rest, accept.as_deref(), query.as_deref(), &body)
                        .model
                });
                (Some(Arc::clone(a)), model)
            }
        };
        let mut group = match target {
            Target::Group(g) => g,
            Target::Aggregate(a) => match a.pick(now_ms(), &[], model.as_deref()) {
                Some(member) => member,
                None => {
                    let error = GatewayError::NoAvailableSubGroups(a.name.clone());
                    return respond_error(session, &error, channel).await;
                }
            },
        };
        let mut tried_members = Vec::new();
        loop {
            if let Some(a) = &aggregate {
                ctx.parent = Some((a.id, a.name.clone()));
                ctx.group = Some(Arc::clone(&group));
                tried_members.push(group.id);
            }
            let rewritten = match group.rewrite.apply(group.channel, rest, body.clone()) {
                Ok(r) => r,
                Err(model) => {
                    // Logged as a final attempt without a key, as GPT-Load does (under this
                    // member when another one failed before).
                    let client_ip = self.client_ip(session);
                    log_for(
                        session,
                        ctx,
                        &group,
                        &client_ip,
                        query.as_deref(),
                        &model,
                        &body,
                    );
                    return respond_gateway_error(
                        session,
                        ctx,
                        GatewayError::ModelNotConfigured(model),
                        channel,
                    )
                    .await;
                }
            };
            let ended = self
                .attempt_loop(
                    session,
                    ctx,
                    &group,
                    &rewritten.rest,
                    query.as_deref(),
                    rewritten.body,
                )
                .await?;
            let LoopEnd::Exhausted(failure) = ended else {
                return Ok(());
            };
            let next = aggregate
                .as_ref()
                .filter(|a| a.routing.failover)
                .and_then(|a| a.pick(now_ms(), &tried_members, model.as_deref()));
            match next {
                Some(member) => {
                    tracing::info!(group = %group.name, next = %member.name, "sub-group failed; the aggregate fails over to another sub-group");
                    if let Some(a) = &aggregate {
                        self.observe.metrics.failover(&a.name);
                    }
                    group = member;
                }
                None => return self.respond_exhausted(session, ctx, &group, failure).await,
            }
        }
    }

    /// Tries keys and upstreams until a response can be relayed or the attempts run out. Each
    /// answer is judged by the key policy (`gateway_core::key_policy`): the key, the upstream,
    /// the client or nobody is at fault, and the request goes on or ends accordingly. Returns
    /// `Exhausted` without answering when every attempt failed (or none could be made), so the
    /// caller may try another member of an aggregate.
    async fn attempt_loop(
        &self,
        session: &mut Session,
        ctx: &mut RequestContext,
        group: &GroupRuntime,
        rest: &str,
        query: Option<&str>,
        body: Bytes,
    ) -> Result<LoopEnd> {
        let channel = Some(group.channel);
        let cfg = &group.config;
        let max_attempts = u32::try_from(cfg.max_retries.max(0))
            .unwrap_or(u32::MAX)
            .saturating_add(1);
        // Each group (each member of an aggregate) gets its own `max_retries`.
        let attempts_before = ctx.attempts;
        let req = session.req_header();
        let facts = group.channel.inspect_request(
            rest,
            req.headers
                .get(http::header::ACCEPT)
                .and_then(|v| v.to_str().ok()),
            query,
            &body,
        );
        let stream_request = facts.stream;
        let model_list = !group.rewrite.model_redirects.is_empty()
            && model_list::is_model_list_request(&req.method, rest);
        // The total time of a non-streaming request; a stream has only its idle timeout.
        let deadline = (!stream_request).then(|| ctx.started + secs(cfg.request_timeout));
        let policy = KeyPolicy {
            failover: &cfg.failover,
            client_errors: &cfg.client_errors,
            default_cooldown: secs(cfg.key_cooldown_seconds),
        };
        let client_ip = self.client_ip(session);
        log_for(session, ctx, group, &client_ip, query, &facts.model, &body);
        let model = facts.model.as_str();
        let limits = group.limits;
        // The group's own limit counts each request once (once per member of an aggregate).
        let group_admitted = !limits.group.is_off();
        if group_admitted && let Some(end) = self.admit_to_group(session, ctx, group).await {
            return Ok(end);
        }
        // What the client gets if every attempt fails: the last upstream error response
        // (keys redacted), or our own error for a transport failure.
        let mut last_failure: Option<Failure> = None;
        while ctx.attempts - attempts_before < max_attempts {
            let now = now_ms();
            // Under a per-key limit, a key without room is passed over for one with room;
            // `limited` is the soonest any of them has room again.
            let mut limited: Option<Duration> = None;
            let picked = if limits.key.is_off() {
                group.keys.pick(&ctx.tried_keys, now)
            } else {
                let now_ns = rate_limit::now_ns();
                group.keys.pick_admitted(&ctx.tried_keys, now, |k| {
                    let Some(usage) = &k.usage else { return true };
                    match usage.admit(limits.key, now_ns) {
                        Ok(()) => true,
                        Err(wait) => {
                            limited = Some(limited.map_or(wait, |l| l.min(wait)));
                            false
                        }
                    }
                })
            };
            let key = match (picked, limited) {
                (Some(key), limited) => {
                    if let Some(usage) = &key.usage {
                        self.report_usage(group.id, Some(key.id), usage);
                    }
                    if limited.is_some() {
                        self.observe.metrics.rate_limited(
                            &group.name,
                            RateScope::Key,
                            RateAction::Rerouted,
                        );
                    }
                    key
                }
                (None, Some(wait)) => match self
                    .wait_for_room(session, ctx, group, RateScope::Key, wait)
                    .await
                {
                    Room::Again => continue,
                    Room::GaveUp(error) => {
                        last_failure = Some(Failure::Gateway(error));
                        break;
                    }
                    Room::ClientGone => return Ok(LoopEnd::Answered),
                },
                (None, None) => break,
            };
            let Some(upstream) = group.upstreams.pick(now) else {
                return respond_gateway_error(
                    session,
                    ctx,
                    GatewayError::NoUpstream(group.name.clone()),
                    channel,
                )
                .await
                .map(|()| LoopEnd::Answered);
            };
            let header_wait = secs(cfg.response_header_timeout);
            let header_wait = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => header_wait.min(left),
                    _ => {
                        last_failure = Some(Failure::Gateway(GatewayError::UpstreamTimeout {
                            host: upstream.host.clone(),
                        }));
                        break;
                    }
                },
                None => header_wait,
            };
            let timeouts = AttemptTimeouts {
                connect: secs(cfg.connect_timeout),
                read: header_wait,
                idle: secs(cfg.idle_conn_timeout),
            };
            ctx.attempts += 1;
            ctx.tried_keys.push(key.id);
            let request = UpstreamRequest {
                channel: group.channel,
                upstream,
                key: &key,
                rest,
                query,
                body_len: body.len(),
                header_rules: &group.rewrite.header_rules,
                group_name: &group.name,
                client_ip: &client_ip,
                now_ms: now,
            }
            .build(session.req_header())?;
            // The client may hang up while the upstream thinks: then the attempt is abandoned
            // (its connection dropped, not pooled) and nobody is blamed.
            let attempt_started = Instant::now();
            let mut attempt = AttemptRecord {
                key: Some((key.value.expose(), key.hash.as_str())),
                upstream: &upstream.url,
                status: 0,
                ok: false,
                error: "",
                duration: Duration::ZERO,
                ttfb: Duration::ZERO,
                stream: stream_request,
                usage: None,
            };
            let sent = tokio::select! {
                biased;
                sent = self.exchange.send(upstream, &request, &body, timeouts) => sent,
                _ = session.as_downstream_mut().read_body_or_idle(true) => {
                    client_closed(session, group, "waiting for the upstream");
                    attempt.status = 499;
                    attempt.error = "client closed the request while waiting for the upstream";
                    attempt.duration = attempt_started.elapsed();
                    self.note_attempt(ctx, group, model, &attempt);
                    ctx.outcome = Some(Outcome::ClientClosed);
                    return Ok(LoopEnd::Answered);
                }
            };
            attempt.ttfb = attempt_started.elapsed();
            let resp = match sent {
                Ok(resp) => resp,
                Err(e) => {
                    let reason = redact(&e.to_string(), key.value.expose());
                    tracing::warn!(group = %group.name, upstream = %upstream.host, attempt = ctx.attempts, "upstream attempt failed: {reason}");
                    self.blame(group, &key, upstream, Fault::Upstream, now);
                    attempt.status = if matches!(e, ExchangeError::Timeout) {
                        504
                    } else {
                        502
                    };
                    let error = format!("upstream {}: {reason}", upstream.host);
                    attempt.error = &error;
                    attempt.duration = attempt.ttfb;
                    attempt.ttfb = Duration::ZERO;
                    self.note_attempt(ctx, group, model, &attempt);
                    last_failure = Some(Failure::Gateway(match e {
                        ExchangeError::Timeout => GatewayError::UpstreamTimeout {
                            host: upstream.host.clone(),
                        },
                        ExchangeError::Connect(_) | ExchangeError::Transport(_) => {
                            GatewayError::UpstreamUnreachable {
                                host: upstream.host.clone(),
                                reason,
                            }
                        }
                    }));
                    continue;
                }
            };
            let status = resp.status();
            attempt.status = status;
            if status < 400 {
                if model_list && (200..300).contains(&status) {
                    self.blame(group, &key, upstream, Fault::None, now);
                    let answered = self
                        .respond_model_list(
                            session,
                            resp,
                            group,
                            (query, key.value.expose()),
                            header_wait,
                        )
                        .await;
                    attempt.ok = answered.is_ok();
                    attempt.duration = attempt_started.elapsed();
                    self.note_attempt(ctx, group, model, &attempt);
                    ctx.outcome = Some(if attempt.ok {
                        Outcome::Success
                    } else {
                        Outcome::Interrupted
                    });
                    return answered.map(|()| LoopEnd::Answered);
                }
                let streaming = stream_request || is_event_stream(&resp);
                attempt.stream = streaming;
                let limits = RelayLimits {
                    key: key.value.expose(),
                    idle: if streaming {
                        secs(cfg.stream_idle_timeout)
                    } else {
                        header_wait
                    },
                    deadline: if streaming { None } else { deadline },
                };
                let mut usage = usage_scanner(&resp);
                let relayed = {
                    let _streaming = streaming.then(|| self.observe.metrics.streaming());
                    self.exchange
                        .relay(session, resp, limits, usage.as_mut())
                        .await
                };
                attempt.usage = usage.and_then(UsageScanner::finish);
                if let Some(used) = attempt.usage {
                    self.charge_tokens(group, &key, u64::try_from(used.total).unwrap_or(0));
                }
                attempt.duration = attempt_started.elapsed();
                let (outcome, result, error) = match relayed {
                    // The upstream served: the attempt is a success (as GPT-Load logs it), with
                    // a note; the request counts as closed by the client.
                    Err(e) if e.esource() == &ErrorSource::Downstream => {
                        client_closed(session, group, "while the response streamed");
                        attempt.ok = true;
                        (
                            Outcome::ClientClosed,
                            Ok(()),
                            "client closed the request while the response streamed".to_owned(),
                        )
                    }
                    Err(e) => {
                        let reason = redact(&e.to_string(), key.value.expose());
                        tracing::warn!(group = %group.name, upstream = %upstream.host, "upstream response ended early: {reason}");
                        (
                            Outcome::Interrupted,
                            Err(e),
                            format!("upstream response ended early: {reason}"),
                        )
                    }
                    Ok(()) => (Outcome::Success, Ok(()), String::new()),
                };
                // The key served either way; a body the upstream broke off (reset, timeout) is
                // the upstream's fault and counts toward its ejection, as a failure before the
                // header would.
                if outcome == Outcome::Interrupted {
                    if key.health.record_success() {
                        self.journal.note(group.id, key.id, &key.health);
                    }
                    self.blame(group, &key, upstream, Fault::Upstream, now);
                } else {
                    self.blame(group, &key, upstream, Fault::None, now);
                }
                attempt.ok |= outcome == Outcome::Success;
                attempt.error = &error;
                self.note_attempt(ctx, group, model, &attempt);
                ctx.outcome = Some(outcome);
                return result.map(|()| LoopEnd::Answered);
            }
            let Some(upstream_header) = resp.header().cloned() else {
                continue;
            };
            let error_body = self.exchange.drain(resp).await;
            let verdict = policy.judge(&Answer {
                status,
                retry_after: retry_after(&upstream_header, now),
                body: &error_body,
                now_ms: now,
            });
            tracing::debug!(group = %group.name, status, attempt = ctx.attempts, fault = ?verdict.fault, retry = verdict.retry, "upstream answered an error");
            self.blame(group, &key, upstream, verdict.fault, now);
            let body = redact_body(&error_body, key.value.expose());
            let error = format!(
                "upstream answered {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(ERROR_EXCERPT)])
            );
            attempt.error = &error;
            attempt.duration = attempt_started.elapsed();
            self.note_attempt(ctx, group, model, &attempt);
            let failure = Failure::Upstream {
                header: Box::new(for_client(upstream_header, key.value.expose())?),
                body,
            };
            if !verdict.retry {
                ctx.outcome = Some(Outcome::UpstreamError);
                return respond_failure(session, failure, channel)
                    .await
                    .map(|()| LoopEnd::Answered);
            }
            last_failure = Some(failure);
        }
        if group_admitted && ctx.attempts == attempts_before {
            // Nothing was sent: the group's allowance is not spent.
            group.usage.give_back(limits.group);
        }
        Ok(LoopEnd::Exhausted(last_failure))
    }

    /// Counts the request against the group's own rate limit, waiting for room when allowed.
    /// `Some` when the group's attempts end here instead: a 429 to answer, or the client left.
    async fn admit_to_group(
        &self,
        session: &mut Session,
        ctx: &mut RequestContext,
        group: &GroupRuntime,
    ) -> Option<LoopEnd> {
        loop {
            let Err(wait) = group.usage.admit(group.limits.group, rate_limit::now_ns()) else {
                self.report_usage(group.id, None, &group.usage);
                return None;
            };
            match self
                .wait_for_room(session, ctx, group, RateScope::Group, wait)
                .await
            {
                Room::Again => {}
                Room::GaveUp(error) => {
                    return Some(LoopEnd::Exhausted(Some(Failure::Gateway(error))));
                }
                Room::ClientGone => return Some(LoopEnd::Answered),
            }
        }
    }

    /// Waits `wait` for room under a rate limit when the request's waits stay within
    /// `rate_limit_max_wait_seconds` (the client hanging up ends the wait); else the 429 to
    /// answer.
    async fn wait_for_room(
        &self,
        session: &mut Session,
        ctx: &mut RequestContext,
        group: &GroupRuntime,
        scope: RateScope,
        wait: Duration,
    ) -> Room {
        let metrics = &self.observe.metrics;
        if ctx.rate_waited + wait > group.limits.max_wait {
            metrics.rate_limited(&group.name, scope, RateAction::Rejected);
            return Room::GaveUp(GatewayError::RateLimited {
                group: group.name.clone(),
                scope,
                retry_after_secs: wait
                    .as_millis()
                    .div_ceil(1000)
                    .max(1)
                    .try_into()
                    .unwrap_or(u64::MAX),
            });
        }
        if ctx.rate_waited.is_zero() {
            metrics.rate_limited(&group.name, scope, RateAction::Waited);
        }
        // At least a millisecond, so a wait never spins.
        let wait = wait.max(Duration::from_millis(1));
        ctx.rate_waited += wait;
        tokio::select! {
            biased;
            _ = session.as_downstream_mut().read_body_or_idle(true) => {
                client_closed(session, group, "while it waited under a rate limit");
                ctx.outcome = Some(Outcome::ClientClosed);
                Room::ClientGone
            }
            () = tokio::time::sleep(wait) => Room::Again,
        }
    }

    /// Queues a scope's rate-limit usage for the other nodes of a cluster.
    fn report_usage(&self, group_id: i64, key_id: Option<i64>, usage: &Arc<Usage>) {
        if let Some(outbox) = &self.observe.outbox {
            outbox.usage_counted(group_id, key_id, usage);
        }
    }

    /// Charges the tokens an answer reported to the group's and the key's token limits.
    fn charge_tokens(&self, group: &GroupRuntime, key: &PoolKey, tokens: u64) {
        let limits = group.limits;
        let now = rate_limit::now_ns();
        if limits.group.tpm > 0 {
            group.usage.charge_tokens(limits.group, tokens, now);
            self.report_usage(group.id, None, &group.usage);
        }
        if limits.key.tpm > 0
            && let Some(usage) = &key.usage
        {
            usage.charge_tokens(limits.key, tokens, now);
            self.report_usage(group.id, Some(key.id), usage);
        }
    }

    /// Answers a request whose attempts all failed: the last failure, or our own error when no
    /// attempt was made (no usable key).
    async fn respond_exhausted(
        &self,
        session: &mut Session,
        ctx: &mut RequestContext,
        group: &GroupRuntime,
        last_failure: Option<Failure>,
    ) -> Result<()> {
        let channel = Some(group.channel);
        match last_failure {
            Some(Failure::Gateway(error)) => {
                if ctx.attempts > 0 && matches!(error, GatewayError::RateLimited { .. }) {
                    // A rate limit met after failed attempts: the log's final record is the
                    // answer the client got, the attempts become its retries.
                    let text = error.to_string();
                    if let Some(log) = ctx.log.as_mut() {
                        log.attempt(&AttemptRecord {
                            key: None,
                            upstream: "",
                            status: error.status(),
                            ok: false,
                            error: &text,
                            duration: ctx.started.elapsed(),
                            ttfb: Duration::ZERO,
                            stream: false,
                            usage: None,
                        });
                    }
                }
                respond_gateway_error(session, ctx, error, channel).await
            }
            Some(failure) => {
                ctx.outcome = Some(Outcome::UpstreamError);
                respond_failure(session, failure, channel).await
            }
            None => {
                let error = match group.keys.all_cooling_until(now_ms()) {
                    Some(until) => GatewayError::AllKeysCooling {
                        group: group.name.clone(),
                        retry_after_secs: until.saturating_sub(now_ms()).div_ceil(1000).max(1),
                    },
                    None => GatewayError::NoActiveKeys(group.name.clone()),
                };
                respond_gateway_error(session, ctx, error, channel).await
            }
        }
    }

    /// Counts one attempt in the metrics and adds its request-log record.
    fn note_attempt(
        &self,
        ctx: &mut RequestContext,
        group: &GroupRuntime,
        model: &str,
        attempt: &AttemptRecord<'_>,
    ) {
        let m = &self.observe.metrics;
        m.attempt(
            &group.name,
            attempt.ok,
            ctx.attempts > 1,
            (!attempt.ttfb.is_zero()).then_some(attempt.ttfb.as_secs_f64()),
            attempt.duration.as_secs_f64(),
        );
        if let Some(u) = attempt.usage {
            m.tokens(&group.name, model, u.input, u.output);
        }
        if let Some(log) = ctx.log.as_mut() {
            // The log's duration is the request's so far, as GPT-Load records it.
            log.attempt(&AttemptRecord {
                duration: ctx.started.elapsed(),
                ..*attempt
            });
        }
    }

    /// Records who was at fault for one answer: key health (queued for saving when it changed)
    /// and upstream health. `Fault::None` is a success for both.
    fn blame(
        &self,
        group: &GroupRuntime,
        key: &Arc<PoolKey>,
        upstream: &Upstream,
        fault: Fault,
        now: u64,
    ) {
        let cfg = &group.config;
        let changed = match fault {
            Fault::None => key.health.record_success(),
            Fault::Client | Fault::Unattributed => false,
            Fault::Key => {
                let threshold = u32::try_from(cfg.blacklist_threshold.max(0)).unwrap_or(u32::MAX);
                match key.health.record_failure(threshold) {
                    KeyFailure::Blacklisted(n) => {
                        tracing::warn!(group = %group.name, key_id = key.id, "key marked invalid after {n} consecutive failures; out of rotation until validated or restored");
                        self.observe
                            .metrics
                            .key_event(&group.name, KeyEvent::Blacklisted);
                        true
                    }
                    KeyFailure::Counted(_) => true,
                    KeyFailure::AlreadyInvalid => false,
                }
            }
            Fault::KeyExhausted if cfg.blacklist_threshold > 0 => {
                let first = key.health.mark_invalid();
                if first {
                    tracing::warn!(group = %group.name, key_id = key.id, "key has no quota or credit left; out of rotation until validated or restored");
                    self.observe
                        .metrics
                        .key_event(&group.name, KeyEvent::Blacklisted);
                }
                first
            }
            Fault::KeyExhausted => {
                let cooled = key
                    .health
                    .cool_until(now.saturating_add(duration_ms(secs(cfg.key_cooldown_seconds))));
                if cooled {
                    self.observe
                        .metrics
                        .key_event(&group.name, KeyEvent::Cooling);
                }
                cooled
            }
            Fault::KeyCooling { until_ms } => {
                let extended = key.health.cool_until(until_ms);
                if extended {
                    tracing::info!(group = %group.name, key_id = key.id, "key rate limited; cooling for {} s", until_ms.saturating_sub(now).div_ceil(1000));
                    self.observe
                        .metrics
                        .key_event(&group.name, KeyEvent::Cooling);
                }
                extended
            }
            Fault::Upstream => {
                let policy = EjectionPolicy {
                    threshold: u32::try_from(cfg.upstream_failure_threshold.max(0))
                        .unwrap_or(u32::MAX),
                    base_ms: duration_ms(secs(cfg.upstream_ejection_seconds)),
                };
                if let Some(period) = upstream.health.record_failure(policy, now) {
                    tracing::warn!(group = %group.name, upstream = %upstream.url, "upstream ejected for {} s after consecutive failures", period / 1000);
                    self.observe.metrics.ejection(&group.name);
                    self.journal
                        .note_ejection(group.id, &upstream.url, now.saturating_add(period));
                }
                false
            }
        };
        if fault != Fault::Upstream {
            upstream.health.record_success();
        }
        if changed {
            self.journal.note(group.id, key.id, &key.health);
        }
    }

    /// Answers a model-list request with the group's redirect sources merged in.
    async fn respond_model_list(
        &self,
        session: &mut Session,
        resp: UpstreamResponse,
        group: &GroupRuntime,
        (query, key): (Option<&str>, &str),
        wait: Duration,
    ) -> Result<()> {
        let Some(header) = resp.header().cloned() else {
            return Err(Error::explain(
                ErrorType::InternalError,
                "no upstream response header",
            ));
        };
        let (body, complete) = self.exchange.read_body(resp, MODEL_LIST_LIMIT, wait).await;
        let first_page =
            !query.is_some_and(|q| q.split('&').any(|kv| kv.starts_with("pageToken=")));
        let rewritten = complete
            .then(|| {
                model_list::rewrite(
                    &body,
                    &group.rewrite.model_redirects,
                    group.rewrite.strict,
                    first_page,
                )
            })
            .flatten();
        let (body, json) = match rewritten {
            Some(list) => (Bytes::from(list), true),
            None => (body, false),
        };
        let mut out = complete_header(for_client(header, key)?, body.len())?;
        if json {
            out.insert_header(http::header::CONTENT_TYPE, "application/json")?;
        }
        send_complete(session, out, body).await
    }

    fn health(&self) -> (u16, Vec<u8>) {
        let snapshot = self.snapshot.load();
        let loaded = snapshot.is_loaded();
        let body = serde_json::json!({
            "status": if loaded { "healthy" } else { "starting" },
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "uptime": format_uptime(self.started.elapsed()),
            "routing_revision": snapshot.revision,
            "groups": snapshot.groups.len(),
            "cluster": self.observe.cluster.as_ref().map(|link| serde_json::json!({
                "node": link.node(),
                "redis": if link.is_subscribed() { "subscribed" } else { "unreachable" },
            })),
        });
        (
            if loaded { 200 } else { 503 },
            body.to_string().into_bytes(),
        )
    }
}

#[async_trait]
impl ProxyHttp for GatewayService {
    type CTX = RequestContext;

    fn new_ctx(&self) -> RequestContext {
        RequestContext::default()
    }

    async fn request_filter(
        &self,
        session: &mut Session,
        ctx: &mut RequestContext,
    ) -> Result<bool> {
        // While stopping (or handing the sockets to a new process), each answer closes its
        // connection, so clients reconnect to whoever accepts now instead of finding a kept-alive
        // connection closed under them. A connection Pingora already marked to close stays
        // closing: HTTP/1.0 without keep-alive, or a request framed by both `Content-Length` and
        // `Transfer-Encoding`, after which RFC 9112 §6.1 requires closing (reusing it would let
        // a front proxy that trusts `Content-Length` smuggle a request).
        if self.observe.stopping.load(Ordering::Relaxed) || session.get_keepalive().is_none() {
            session.set_keepalive(None);
        } else {
            session.set_keepalive(Some(self.limits.idle_timeout.as_secs()));
        }
        session
            .as_downstream_mut()
            .set_write_timeout(Some(self.limits.write_timeout));
        let path = session.req_header().uri.path().to_owned();
        match route(&path) {
            Route::Health => {
                let (status, body) = self.health();
                respond_raw(
                    session,
                    status,
                    Some(http::HeaderValue::from_static("application/json")),
                    Bytes::from(body),
                )
                .await?;
                Ok(true)
            }
            Route::Metrics => {
                let body = serde_json::json!({
                    "code": "NOT_FOUND",
                    "message": "metrics are not served on the public port; scrape METRICS_LISTEN (proxy) or ADMIN_LISTEN/metrics (admin)",
                });
                respond_raw(
                    session,
                    404,
                    Some(http::HeaderValue::from_static("application/json")),
                    Bytes::from(body.to_string()),
                )
                .await?;
                Ok(true)
            }
            Route::Admin => {
                // `SERVER_READ_TIMEOUT` bounds each wait for the body here too (Pingora's own
                // default is 60 s); waiting for the admin's answer is not a read of the client.
                session
                    .as_downstream_mut()
                    .set_read_timeout(Some(self.limits.read_timeout));
                ctx.forward_to_admin = true;
                Ok(false)
            }
            Route::Proxy { group, rest } => {
                self.proxy(session, ctx, group, rest).await?;
                Ok(true)
            }
        }
    }

    /// A fatal error of the request (Pingora's own proxy path to the admin process, or an error
    /// returned by `request_filter`). When nothing was answered yet, the client gets a JSON body
    /// that says what failed, not an empty status.
    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestContext,
    ) -> FailToProxy {
        let code = match e.etype() {
            ErrorType::HTTPStatus(code) => *code,
            _ => match e.esource() {
                ErrorSource::Upstream => 502,
                ErrorSource::Downstream => match e.etype() {
                    ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed => 0,
                    // The body did not come within `SERVER_READ_TIMEOUT`.
                    ErrorType::ReadTimedout => 408,
                    _ => 400,
                },
                ErrorSource::Internal | ErrorSource::Unset => 500,
            },
        };
        let answered = session
            .response_written()
            .is_some_and(|r| !r.status.is_informational());
        if code > 0 && !answered {
            let message = match code {
                408 => "the request body did not arrive within SERVER_READ_TIMEOUT".to_owned(),
                502 if ctx.forward_to_admin => format!(
                    "the admin API (gateway-admin at {}) is not reachable; is it running?",
                    self.admin
                ),
                _ => format!("request failed: {}", e.etype().as_str()),
            };
            let body = if ctx.forward_to_admin {
                let code = match code {
                    408 => "REQUEST_TIMEOUT",
                    502 => "BAD_GATEWAY",
                    _ => "GATEWAY_ERROR",
                };
                serde_json::json!({ "code": code, "message": message })
            } else {
                let channel = ctx
                    .group
                    .as_ref()
                    .map_or(gateway_core::ChannelType::OpenAi, |g| g.channel);
                channel.error_body(code, "gateway_error", &message)
            };
            // The connection is not reused after a fatal error: say so, so clients do not send
            // their next request into a closing socket.
            session.set_keepalive(None);
            let json = http::HeaderValue::from_static("application/json");
            if let Err(write_error) =
                respond_raw(session, code, Some(json), Bytes::from(body.to_string())).await
            {
                tracing::debug!("cannot send the error response: {write_error}");
            }
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    /// What Pingora prints about a request in its own error logs: method, path and query with
    /// any `key` parameter masked (a proxy or admin key can travel there).
    fn request_summary(&self, session: &Session, _ctx: &RequestContext) -> String {
        let req = session.req_header();
        match req.uri.query() {
            Some(q) => format!("{} {}?{}", req.method, req.uri.path(), redact_key_param(q)),
            None => format!("{} {}", req.method, req.uri.path()),
        }
    }

    /// Counts the request, writes its access line (`LOG_LEVEL=debug`, target `access`; the path
    /// with any `key` masked) and hands its attempts' records to the request-log queue.
    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut RequestContext) {
        let Some((group, channel)) = ctx.called_group.take() else {
            return;
        };
        let written = session.response_written().map_or(0, |h| h.status.as_u16());
        let outcome = ctx.outcome.unwrap_or(if written == 0 {
            Outcome::ClientClosed
        } else {
            Outcome::GatewayError
        });
        let status = if outcome == Outcome::ClientClosed {
            499
        } else {
            written
        };
        self.observe
            .metrics
            .request(&group, channel, status, outcome);
        if tracing::enabled!(target: "access", tracing::Level::DEBUG) {
            let summary = self.request_summary(session, ctx);
            tracing::debug!(
                target: "access",
                group = %group,
                status,
                outcome = ?outcome,
                attempts = ctx.attempts,
                duration_ms = u64::try_from(ctx.started.elapsed().as_millis()).unwrap_or(u64::MAX),
                "{summary}"
            );
        }
        if let Some(draft) = ctx.log.take() {
            let error = ctx.gateway_error.take().unwrap_or_default();
            for record in draft.finish(status, &error) {
                self.observe.logs.record(record);
            }
        }
    }

    /// Only for admin forwarding: tells the admin process who the client is (one address, ours,
    /// replacing whatever the client sent).
    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut RequestContext,
    ) -> Result<()> {
        if ctx.forward_to_admin {
            upstream_request.insert_header("x-forwarded-for", self.client_ip(session))?;
            upstream_request.remove_header("x-real-ip");
        }
        Ok(())
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut RequestContext,
    ) -> Result<Box<HttpPeer>> {
        if !ctx.forward_to_admin {
            return Err(Error::explain(
                ErrorType::InternalError,
                "proxy routes never use upstream_peer",
            ));
        }
        let addr = self
            .admin_dns
            .resolve(&self.admin.host, self.admin.port)
            .await
            .map_err(|e| {
                Error::explain(
                    ErrorType::ConnectNoRoute,
                    format!("cannot resolve ADMIN_UPSTREAM {}: {e}", self.admin),
                )
                .into_up()
            })?;
        let mut peer = HttpPeer::new(addr, false, String::new());
        peer.options.connection_timeout = Some(Duration::from_secs(2));
        Ok(Box::new(peer))
    }
}

/// What `/proxy/{name}` names.
enum Target {
    /// A standard group.
    Group(Arc<GroupRuntime>),
    /// An aggregate group (one member serves each request).
    Aggregate(Arc<AggregateRuntime>),
}

/// How the attempts on one group ended.
enum LoopEnd {
    /// The client got an answer (a relayed response or an error).
    Answered,
    /// Nothing was sent: every attempt failed (the last failure) or none could be made.
    Exhausted(Option<Failure>),
}

/// How a wait for room under a rate limit ended.
enum Room {
    /// Waited: look again.
    Again,
    /// The wait would be longer than allowed: answer this.
    GaveUp(GatewayError),
    /// The client hung up while waiting.
    ClientGone,
}

/// How the last failed attempt ended.
enum Failure {
    /// The upstream answered an error; its header (as `for_client` makes it) and body, the key
    /// masked in both, are passed on.
    Upstream {
        header: Box<ResponseHeader>,
        body: Bytes,
    },
    /// No usable answer (connect error, reset, timeout).
    Gateway(GatewayError),
}

/// Largest model list read for rewriting.
const MODEL_LIST_LIMIT: usize = 8 << 20;

/// Largest JSON response body kept to read its token usage (streams are scanned, not kept).
const USAGE_BODY_LIMIT: usize = 4 << 20;

/// Bytes of an upstream error body quoted in the request log.
const ERROR_EXCERPT: usize = 1_000;

/// The most a request body's buffer reserves before its bytes arrive; beyond it, it grows with
/// what the client really sends.
const INITIAL_BODY_BUFFER: usize = 64 << 10;

/// Answers one of our own errors from inside the attempt loop, noting it for the request log.
async fn respond_gateway_error(
    session: &mut Session,
    ctx: &mut RequestContext,
    error: GatewayError,
    channel: Option<gateway_core::ChannelType>,
) -> Result<()> {
    ctx.outcome = Some(Outcome::GatewayError);
    let answered = respond_error(session, &error, channel).await;
    ctx.gateway_error = Some(error.to_string());
    answered
}

/// Logs a request whose client went away (status 499, as nginx counts it) and makes sure the
/// connection is not reused. Nothing is charged to the key or the upstream.
fn client_closed(session: &mut Session, group: &GroupRuntime, when: &str) {
    session.set_keepalive(None);
    tracing::info!(group = %group.name, status = 499, "client closed the request {when}; upstream request abandoned");
}

/// Sends the answer of a failed request.
async fn respond_failure(
    session: &mut Session,
    failure: Failure,
    channel: Option<gateway_core::ChannelType>,
) -> Result<()> {
    match failure {
        Failure::Upstream { header, body } => {
            let out = complete_header(*header, body.len())?;
            send_complete(session, out, body).await
        }
        Failure::Gateway(error) => respond_error(session, &error, channel).await,
    }
}

/// An error body with every occurrence of the key masked. A compressed body is left as it is
/// (it cannot carry the key in plain text).
fn redact_body(body: &Bytes, key: &str) -> Bytes {
    match std::str::from_utf8(body) {
        Ok(text) => {
            let red = redact(text, key);
            if red.len() == text.len() && red == text {
                body.clone()
            } else {
                Bytes::from(red)
            }
        }
        Err(_) => body.clone(),
    }
}

/// `Retry-After` / `retry-after-ms` of an upstream answer.
fn retry_after(header: &ResponseHeader, now: u64) -> Option<Duration> {
    let get = |name: &str| header.headers.get(name).and_then(|v| v.to_str().ok());
    parse_retry_after(get("retry-after-ms"), get("retry-after"), now)
}

/// Starts the request's log draft; when another member of the aggregate tried first, its
/// records stay and the next ones name `group`.
fn log_for(
    session: &Session,
    ctx: &mut RequestContext,
    group: &GroupRuntime,
    client_ip: &str,
    query: Option<&str>,
    model: &str,
    body: &Bytes,
) {
    match ctx.log.as_mut() {
        Some(log) => log.serve_with(group.id, &group.name),
        None => {
            ctx.log = log_draft(
                session.req_header(),
                ctx,
                group,
                client_ip,
                query,
                model,
                body,
            );
        }
    }
}

/// The request-log draft of a request to `group` (`None` when the group does not log).
fn log_draft(
    req: &pingora::http::RequestHeader,
    ctx: &RequestContext,
    group: &GroupRuntime,
    client_ip: &str,
    query: Option<&str>,
    model: &str,
    body: &Bytes,
) -> Option<Box<RequestLogDraft>> {
    let cfg = &group.config;
    cfg.enable_request_logging.then(|| {
        let request_path = match query {
            Some(q) => format!("{}?{q}", req.uri.path()),
            None => req.uri.path().to_owned(),
        };
        Box::new(RequestLogDraft::new(&RequestFields {
            group: (group.id, &group.name),
            parent: ctx.parent.as_ref().map(|(id, name)| (*id, name.as_str())),
            source_ip: client_ip,
            request_path: &request_path,
            model,
            user_agent: req
                .headers
                .get(http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or(""),
            body: cfg
                .enable_request_body_logging
                .then(|| (&body[..], ctx.body_log_limit)),
        }))
    })
}

/// The token-usage scanner for a response: none for a compressed body (`Accept-Encoding` is not
/// forwarded, so only an upstream that compresses anyway sends one).
fn usage_scanner(resp: &UpstreamResponse) -> Option<UsageScanner> {
    let header = resp.header()?;
    let identity = header
        .headers
        .get(http::header::CONTENT_ENCODING)
        .is_none_or(|v| v.as_bytes().eq_ignore_ascii_case(b"identity"));
    if !identity {
        return None;
    }
    UsageScanner::for_content_type(
        header
            .headers
            .get(http::header::CONTENT_TYPE)
            .map(http::HeaderValue::as_bytes),
        USAGE_BODY_LIMIT,
    )
}

/// True when the upstream answers with Server-Sent Events.
fn is_event_stream(resp: &UpstreamResponse) -> bool {
    resp.header()
        .and_then(|h| h.headers.get(http::header::CONTENT_TYPE))
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"))
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Reads the whole request body, answering `Expect: 100-continue` first. The inner `Err` is a
/// 413 to send; the outer one a client that went away (status 0, nothing to answer).
async fn read_body(
    session: &mut Session,
    limit: usize,
    read_timeout: Duration,
) -> Result<std::result::Result<Bytes, GatewayError>> {
    let declared = session
        .req_header()
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Ok(Err(GatewayError::BodyTooLarge(limit)));
    }
    let expects_continue = session
        .req_header()
        .headers
        .get(http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if expects_continue {
        session
            .write_response_header(Box::new(ResponseHeader::build(100, None)?), false)
            .await?;
    }
    // The buffer grows as bytes arrive: a declared length reserves nothing the client has not
    // sent (a client declaring just under the limit and sending nothing must not cost memory).
    let mut buf = BytesMut::with_capacity(declared.unwrap_or(0).min(INITIAL_BODY_BUFFER));
    session
        .as_downstream_mut()
        .set_read_timeout(Some(read_timeout));
    while let Some(chunk) = session
        .read_request_body()
        .await
        .map_err(|e| e.into_down())?
    {
        if buf.len() + chunk.len() > limit {
            return Ok(Err(GatewayError::BodyTooLarge(limit)));
        }
        buf.extend_from_slice(&chunk);
    }
    // While a response streams, the client is only watched for hanging up; a quiet client is
    // not a timeout.
    session.as_downstream_mut().set_read_timeout(None);
    Ok(Ok(buf.freeze()))
}

/// Answers one of our own errors with a provider-shaped JSON body (and `Retry-After` when the
/// client should simply come back).
async fn respond_error(
    session: &mut Session,
    error: &GatewayError,
    channel: Option<gateway_core::ChannelType>,
) -> Result<()> {
    let body = Bytes::from(error.body(channel));
    let mut header = response_header(
        error.status(),
        Some(http::HeaderValue::from_static("application/json")),
        body.len(),
    )?;
    if let Some(seconds) = error.retry_after() {
        header.insert_header(http::header::RETRY_AFTER, seconds.to_string())?;
    }
    send_complete(session, header, body).await
}

/// Answers a complete response with a known body.
async fn respond_raw(
    session: &mut Session,
    status: u16,
    content_type: Option<http::HeaderValue>,
    body: Bytes,
) -> Result<()> {
    let header = response_header(status, content_type, body.len())?;
    send_complete(session, header, body).await
}

fn response_header(
    status: u16,
    content_type: Option<http::HeaderValue>,
    len: usize,
) -> Result<ResponseHeader> {
    let mut header = ResponseHeader::build(status, Some(4))?;
    if let Some(ct) = content_type {
        header.insert_header(http::header::CONTENT_TYPE, ct)?;
    }
    header.insert_header(http::header::CONTENT_LENGTH, len.to_string())?;
    Ok(header)
}

async fn send_complete(session: &mut Session, header: ResponseHeader, body: Bytes) -> Result<()> {
    session
        .write_response_header(Box::new(header), false)
        .await?;
    session.write_response_body(Some(body), true).await
}

fn secs(s: i64) -> Duration {
    Duration::from_secs(u64::try_from(s.max(1)).unwrap_or(1))
}

/// `1h2m3s`, like Go's duration strings GPT-Load reports.
fn format_uptime(d: Duration) -> String {
    let s = d.as_secs();
    let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}
