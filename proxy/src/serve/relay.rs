//! Relaying an answer the upstream served: chunk by chunk (streams never buffered) with its
//! token usage read on the way and charged, or a model list rewritten whole. A body the
//! upstream breaks off is the upstream's fault; a client that hangs up while it streams is not.

use bytes::Bytes;
use gateway_core::key_policy::Fault;
use gateway_core::token_usage::UsageScanner;
use pingora::proxy::Session;
use pingora::{Error, ErrorSource, ErrorType, Result};

use super::answers::{client_closed, send_complete};
use super::attempt::Attempt;
use super::attempt_loop::Plan;
use super::path::ProxyPath;
use crate::client_response_header::{complete_header, for_client};
use crate::error::redact;
use crate::group_runtime::GroupRuntime;
use crate::metrics::Outcome;
use crate::model_list;
use crate::request_context::RequestContext;
use crate::request_log::AttemptRecord;
use crate::upstream_exchange::{RelayLimits, UpstreamResponse};

/// Largest model list read for rewriting.
const MODEL_LIST_LIMIT: usize = 8 << 20;

/// Largest JSON response body kept to read its token usage (streams are scanned, not kept).
const USAGE_BODY_LIMIT: usize = 4 << 20;

impl ProxyPath {
    /// Relays a successful answer to the client and records how it ended.
    pub(super) async fn relay_success(
        &self,
        session: &mut Session,
        ctx: &mut RequestContext,
        plan: &Plan<'_>,
        attempt: &Attempt<'_>,
        resp: UpstreamResponse,
    ) -> Result<()> {
        let group = plan.group;
        let status = resp.status();
        if plan.model_list && (200..300).contains(&status) {
            return self
                .relay_model_list(session, ctx, plan, attempt, resp)
                .await;
        }
        let streaming = plan.stream || is_event_stream(&resp);
        let limits = RelayLimits {
            key: attempt.key.value.expose(),
            idle: if streaming {
                group.attempts.stream_idle_timeout
            } else {
                attempt.header_wait
            },
            deadline: if streaming { None } else { plan.deadline },
        };
        let mut scanner = usage_scanner(&resp);
        let relayed = {
            let _streaming = streaming.then(|| self.observe.metrics.streaming());
            self.exchange
                .relay(session, resp, limits, scanner.as_mut())
                .await
        };
        let usage = scanner.and_then(UsageScanner::finish);
        if let Some(used) = usage {
            let tokens = u64::try_from(used.total).unwrap_or(0);
            self.charge_tokens(group, attempt.key, tokens);
        }
        let duration = attempt.started.elapsed();
        let (outcome, result, error) = self.relay_end(session, plan, attempt, relayed);
        let record = AttemptRecord {
            ok: outcome != Outcome::Interrupted,
            stream: streaming,
            usage,
            ..attempt.record(status, &error, duration)
        };
        self.note_attempt(ctx, group, &plan.model, &record);
        ctx.outcome = Some(outcome);
        result
    }

    /// How a relay ended, with the blame for it: the upstream served (the key succeeded) even
    /// when the client hung up; a body the upstream broke off (reset, timeout) counts toward
    /// the upstream's ejection, as a failure before the header would.
    fn relay_end(
        &self,
        session: &mut Session,
        plan: &Plan<'_>,
        attempt: &Attempt<'_>,
        relayed: Result<()>,
    ) -> (Outcome, Result<()>, String) {
        let (group, key, upstream) = (plan.group, attempt.key, attempt.upstream);
        let ended = match relayed {
            // The attempt is a success (as GPT-Load logs it), with a note; the request counts
            // as closed by the client.
            Err(e) if e.esource() == &ErrorSource::Downstream => {
                client_closed(session, group, "while the response streamed");
                let note = "client closed the request while the response streamed";
                (Outcome::ClientClosed, Ok(()), note.to_owned())
            }
            Err(e) => {
                let reason = redact(&e.to_string(), key.value.expose());
                tracing::warn!(group = %group.name, upstream = %upstream.host, "upstream response ended early: {reason}");
                let error = format!("upstream response ended early: {reason}");
                (Outcome::Interrupted, Err(e), error)
            }
            Ok(()) => (Outcome::Success, Ok(()), String::new()),
        };
        if ended.0 == Outcome::Interrupted {
            if key.health.record_success() {
                self.journal.note(group.id, key.id, &key.health);
            }
            self.blame(group, key, upstream, Fault::Upstream, attempt.now);
        } else {
            self.blame(group, key, upstream, Fault::None, attempt.now);
        }
        ended
    }

    /// A model list: read whole, the group's redirect sources merged in, then answered.
    async fn relay_model_list(
        &self,
        session: &mut Session,
        ctx: &mut RequestContext,
        plan: &Plan<'_>,
        attempt: &Attempt<'_>,
        resp: UpstreamResponse,
    ) -> Result<()> {
        let group = plan.group;
        let status = resp.status();
        self.blame(
            group,
            attempt.key,
            attempt.upstream,
            Fault::None,
            attempt.now,
        );
        let key = attempt.key.value.expose();
        let answered = self
            .respond_model_list(session, resp, group, plan.query, key, attempt.header_wait)
            .await;
        let record = AttemptRecord {
            ok: answered.is_ok(),
            ..attempt.record(status, "", attempt.started.elapsed())
        };
        self.note_attempt(ctx, group, &plan.model, &record);
        ctx.outcome = Some(if answered.is_ok() {
            Outcome::Success
        } else {
            Outcome::Interrupted
        });
        answered
    }

    /// Answers a model-list request with the group's redirect sources merged in.
    async fn respond_model_list(
        &self,
        session: &mut Session,
        resp: UpstreamResponse,
        group: &GroupRuntime,
        query: Option<&str>,
        key: &str,
        wait: std::time::Duration,
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
