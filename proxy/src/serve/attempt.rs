//! One upstream attempt: build the request for the key and upstream, send it while watching
//! the client, then act on what came back: a transport failure (the upstream's fault), an
//! answer to relay (`relay`), or an error answer judged by the key policy (retry or pass on).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use gateway_core::key_policy::{Answer, Fault, parse_retry_after};
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use pingora::{Error, ErrorType, Result};

use super::answers::{client_closed, respond_failure};
use super::attempt_loop::Plan;
use super::outcome::{Failure, Next, exchange_failure};
use super::path::ProxyPath;
use crate::client_response_header::for_client;
use crate::error::redact;
use crate::key_ring::PoolKey;
use crate::metrics::Outcome;
use crate::request_context::RequestContext;
use crate::request_log::AttemptRecord;
use crate::upstream_exchange::{AttemptTimeouts, ExchangeError, UpstreamResponse};
use crate::upstream_request::UpstreamRequest;
use crate::upstream_selection::Upstream;

/// Bytes of an upstream error body quoted in the request log.
const ERROR_EXCERPT: usize = 1_000;

/// One attempt in flight: what it uses and how long it has taken.
pub(super) struct Attempt<'a> {
    /// The key it injects.
    pub key: &'a Arc<PoolKey>,
    /// The upstream it calls.
    pub upstream: &'a Upstream,
    /// When it was picked (ms, the clock health uses).
    pub now: u64,
    /// How long it waits for the response header.
    pub header_wait: Duration,
    /// When it was sent.
    pub started: Instant,
    /// Time to the response header (zero until it arrives).
    pub ttfb: Duration,
    /// Whether the request asked for a stream.
    pub stream: bool,
}

impl Attempt<'_> {
    /// Its request-log record, failed and without an error until the caller says otherwise.
    pub(super) fn record<'b>(
        &'b self,
        status: u16,
        error: &'b str,
        duration: Duration,
    ) -> AttemptRecord<'b> {
        AttemptRecord {
            key: Some((self.key.value.expose(), self.key.hash.as_str())),
            upstream: &self.upstream.url,
            status,
            ok: false,
            error,
            duration,
            ttfb: self.ttfb,
            stream: self.stream,
            usage: None,
        }
    }
}

impl ProxyPath {
    /// Makes one attempt with `key` on `upstream`.
    #[expect(
        clippy::too_many_arguments,
        reason = "one attempt's inputs, each used once"
    )]
    pub(super) async fn attempt(
        &self,
        session: &mut Session,
        ctx: &mut RequestContext,
        plan: &Plan<'_>,
        key: &Arc<PoolKey>,
        upstream: &Upstream,
        header_wait: Duration,
        now: u64,
    ) -> Result<Next> {
        let group = plan.group;
        let timeouts = AttemptTimeouts {
            connect: group.attempts.connect_timeout,
            read: header_wait,
            idle: group.attempts.idle_conn_timeout,
        };
        ctx.attempts += 1;
        ctx.tried_keys.push(key.id);
        let request = UpstreamRequest {
            channel: group.channel,
            upstream,
            key,
            rest: plan.rest,
            query: plan.query,
            body_len: plan.body.len(),
            header_rules: &group.rewrite.header_rules,
            group_name: &group.name,
            client_ip: &plan.client_ip,
            now_ms: now,
        }
        .build(session.req_header())?;
        let mut attempt = Attempt {
            key,
            upstream,
            now,
            header_wait,
            started: Instant::now(),
            ttfb: Duration::ZERO,
            stream: plan.stream,
        };
        // The client may hang up while the upstream thinks: then the attempt is abandoned (its
        // connection dropped, not pooled) and nobody is blamed.
        let sent = tokio::select! {
            biased;
            sent = self.exchange.send(upstream, &request, &plan.body, timeouts) => sent,
            _ = session.as_downstream_mut().read_body_or_idle(true) => {
                return Ok(self.client_left(session, ctx, plan, &attempt));
            }
        };
        attempt.ttfb = attempt.started.elapsed();
        match sent {
            Err(e) => Ok(Next::Retry(self.transport_failed(ctx, plan, &attempt, &e))),
            Ok(resp) if resp.status() < 400 => Ok(Next::Answered(
                self.relay_success(session, ctx, plan, &attempt, resp).await,
            )),
            Ok(resp) => self.error_answer(session, ctx, plan, &attempt, resp).await,
        }
    }

    /// The client hung up before the upstream answered: a 499, nobody blamed.
    fn client_left(
        &self,
        session: &mut Session,
        ctx: &mut RequestContext,
        plan: &Plan<'_>,
        attempt: &Attempt<'_>,
    ) -> Next {
        client_closed(session, plan.group, "waiting for the upstream");
        let error = "client closed the request while waiting for the upstream";
        let record = attempt.record(499, error, attempt.started.elapsed());
        self.note_attempt(ctx, plan.group, &plan.model, &record);
        ctx.outcome = Some(Outcome::ClientClosed);
        Next::Answered(Ok(()))
    }

    /// No answer (connect error, reset, timeout): the upstream's fault; another attempt may
    /// follow, and the client gets a 502 or 504 if none does.
    fn transport_failed(
        &self,
        ctx: &mut RequestContext,
        plan: &Plan<'_>,
        attempt: &Attempt<'_>,
        e: &ExchangeError,
    ) -> Failure {
        let (group, upstream) = (plan.group, attempt.upstream);
        let reason = redact(&e.to_string(), attempt.key.value.expose());
        tracing::warn!(group = %group.name, upstream = %upstream.host, attempt = ctx.attempts, "upstream attempt failed: {reason}");
        self.blame(group, attempt.key, upstream, Fault::Upstream, attempt.now);
        let error = format!("upstream {}: {reason}", upstream.host);
        let (status, answer) = exchange_failure(e, &upstream.host, reason);
        // The attempt ended before any header: its time is all duration, no time to first byte.
        let record = AttemptRecord {
            ttfb: Duration::ZERO,
            ..attempt.record(status, &error, attempt.ttfb)
        };
        self.note_attempt(ctx, group, &plan.model, &record);
        Failure::Gateway(answer)
    }

    /// An error answer: the key policy names the fault and whether to retry; the answer (keys
    /// masked) is passed on when not retried, and kept for the client if the retries fail.
    async fn error_answer(
        &self,
        session: &mut Session,
        ctx: &mut RequestContext,
        plan: &Plan<'_>,
        attempt: &Attempt<'_>,
        resp: UpstreamResponse,
    ) -> Result<Next> {
        let (group, status, now) = (plan.group, resp.status(), attempt.now);
        let Some(upstream_header) = resp.header().cloned() else {
            return Err(Error::explain(
                ErrorType::InternalError,
                "no upstream response header",
            ));
        };
        let error_body = self.exchange.drain(resp).await;
        let verdict = plan.policy.judge(&Answer {
            status,
            retry_after: retry_after(&upstream_header, now),
            body: &error_body,
            now_ms: now,
        });
        tracing::debug!(group = %group.name, status, attempt = ctx.attempts, fault = ?verdict.fault, retry = verdict.retry, "upstream answered an error");
        self.blame(group, attempt.key, attempt.upstream, verdict.fault, now);
        let key = attempt.key.value.expose();
        let body = redact_body(&error_body, key);
        let error = format!(
            "upstream answered {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(ERROR_EXCERPT)])
        );
        let record = attempt.record(status, &error, attempt.started.elapsed());
        self.note_attempt(ctx, group, &plan.model, &record);
        let failure = Failure::Upstream {
            header: Box::new(for_client(upstream_header, key)?),
            body,
        };
        if verdict.retry {
            return Ok(Next::Retry(failure));
        }
        ctx.outcome = Some(Outcome::UpstreamError);
        Ok(Next::Answered(
            respond_failure(session, failure, Some(group.channel)).await,
        ))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_lose_the_key_and_keep_everything_else() {
        let key = "sk-secret-key-1234567890";
        let body = Bytes::from(format!("{{\"error\":\"bad key {key}\"}}"));
        let red = redact_body(&body, key);
        assert!(!String::from_utf8_lossy(&red).contains(key));
        assert!(String::from_utf8_lossy(&red).contains("sk-s****7890"));
        let clean = Bytes::from_static(b"{\"error\":\"overloaded\"}");
        assert_eq!(redact_body(&clean, key), clean);
        let binary = Bytes::from_static(&[0x1f, 0x8b, 0xff]);
        assert_eq!(redact_body(&binary, key), binary);
    }
}
