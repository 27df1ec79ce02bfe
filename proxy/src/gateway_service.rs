//! `GatewayService`: the Pingora `ProxyHttp` implementation. Each phase delegates; the
//! `RequestContext` carries decisions forward.
//!
//! Phases, in order:
//! 1. `request_filter` — sets keep-alive and the write timeout, routes the path
//!    (`group_routing`): `/health` is answered here; `/proxy/{group}/…` is served completely by
//!    [`ProxyPath`] (`serve/`: admission, attempts, relaying) and the filter returns
//!    `Ok(true)`; other paths return `Ok(false)` and continue on Pingora's own proxy path to the
//!    admin process.
//! 2. `upstream_request_filter`, `upstream_peer` — only for admin forwarding: the client's
//!    address for the admin, and the admin process's address (`ADMIN_UPSTREAM`).
//! 3. `fail_to_proxy` — a JSON answer for a fatal error, when nothing was answered yet.
//! 4. `logging` — request-level bookkeeping: metrics, the access line, the request-log records
//!    (the in-flight slot is released with the context).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::RequestHeader;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorSource, ErrorType, Result};

use gateway_core::AdminUpstream;

use crate::client_auth::redact_key_param;
use crate::dns_cache::DnsCache;
use crate::group_routing::{Route, route};
use crate::metrics::Outcome;
use crate::request_context::{CalledGroup, RequestContext};
use crate::serve::{ProxyPath, respond_raw};

/// The gateway's Pingora service.
pub struct GatewayService {
    /// The `/proxy` handler.
    path: ProxyPath,
    /// Where admin routes go (`ADMIN_UPSTREAM`), resolved through `admin_dns`.
    admin: AdminUpstream,
    admin_dns: DnsCache,
    started: Instant,
}

impl GatewayService {
    /// A service serving `/proxy` with `path` and forwarding other paths to `admin`.
    pub fn new(path: ProxyPath, admin: AdminUpstream) -> Self {
        Self {
            path,
            admin,
            admin_dns: DnsCache::default(),
            started: Instant::now(),
        }
    }

    /// `/health`: 200 once a routing snapshot is loaded (503 before), with the uptime, the
    /// snapshot's revision and the cluster link's state.
    fn health(&self) -> (u16, String) {
        let snapshot = self.path.snapshot().load();
        let loaded = snapshot.is_loaded();
        let body = serde_json::json!({
            "status": if loaded { "healthy" } else { "starting" },
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "uptime": format_uptime(self.started.elapsed()),
            "routing_revision": snapshot.revision,
            "groups": snapshot.groups.len(),
            "cluster": self.path.shared().cluster.as_ref().map(|link| serde_json::json!({
                "node": link.node(),
                "redis": if link.is_subscribed() { "subscribed" } else { "unreachable" },
            })),
        });
        (if loaded { 200 } else { 503 }, body.to_string())
    }

    /// Answers a request the public port does not serve itself with a JSON body.
    async fn respond_json(session: &mut Session, status: u16, body: String) -> Result<()> {
        let json = http::HeaderValue::from_static("application/json");
        respond_raw(session, status, Some(json), Bytes::from(body)).await
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
        if self.path.shared().stopping.load(Ordering::Relaxed) || session.get_keepalive().is_none()
        {
            session.set_keepalive(None);
        } else {
            session.set_keepalive(Some(self.path.limits().idle_timeout.as_secs()));
        }
        session
            .as_downstream_mut()
            .set_write_timeout(Some(self.path.limits().write_timeout));
        let path = session.req_header().uri.path().to_owned();
        match route(&path) {
            Route::Health => {
                let (status, body) = self.health();
                Self::respond_json(session, status, body).await?;
                Ok(true)
            }
            Route::Metrics => {
                let body = serde_json::json!({
                    "code": "NOT_FOUND",
                    "message": "metrics are not served on the public port; scrape METRICS_LISTEN (proxy) or ADMIN_LISTEN/metrics (admin)",
                });
                Self::respond_json(session, 404, body.to_string()).await?;
                Ok(true)
            }
            Route::Admin => {
                // `SERVER_READ_TIMEOUT` bounds each wait for the body here too (Pingora's own
                // default is 60 s); waiting for the admin's answer is not a read of the client.
                session
                    .as_downstream_mut()
                    .set_read_timeout(Some(self.path.limits().read_timeout));
                ctx.forward_to_admin = true;
                Ok(false)
            }
            Route::Proxy { group, rest } => {
                self.path.serve(session, ctx, group, rest).await?;
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
            if let Err(write_error) = Self::respond_json(session, code, body.to_string()).await {
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
        let Some(CalledGroup {
            name: group,
            channel,
        }) = ctx.called_group.take()
        else {
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
        let metrics = &self.path.shared().metrics;
        metrics.request(&group, channel, status, outcome);
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
                self.path.shared().logs.record(record);
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
            upstream_request.insert_header("x-forwarded-for", self.path.client_ip(session))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_reads_like_go_durations() {
        assert_eq!(format_uptime(Duration::from_secs(5)), "5s");
        assert_eq!(format_uptime(Duration::from_secs(65)), "1m5s");
        assert_eq!(format_uptime(Duration::from_secs(3_725)), "1h2m5s");
    }
}
