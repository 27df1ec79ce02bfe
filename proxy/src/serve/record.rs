//! What a request leaves behind as it goes: its request-log draft (started once the group is
//! known), and for each attempt its metrics and its log record.

use bytes::Bytes;
use pingora::proxy::Session;

use super::path::ProxyPath;
use crate::group_runtime::GroupRuntime;
use crate::request_context::RequestContext;
use crate::request_log::{AttemptRecord, RequestFields, RequestLogDraft};

/// What the request's log draft is made of: who asked for what.
pub(super) struct RequestFacts<'a> {
    /// The client's address.
    pub client_ip: &'a str,
    /// The query as forwarded (`key` removed).
    pub query: Option<&'a str>,
    /// The model the request names.
    pub model: &'a str,
    /// The request body.
    pub body: &'a Bytes,
}

impl ProxyPath {
    /// Counts one attempt in the metrics and adds its request-log record.
    pub(super) fn note_attempt(
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
}

/// Starts the request's log draft; when another member of the aggregate tried first, its
/// records stay and the next ones name `group`.
pub(super) fn log_for(
    session: &Session,
    ctx: &mut RequestContext,
    group: &GroupRuntime,
    facts: &RequestFacts<'_>,
) {
    match ctx.log.as_mut() {
        Some(log) => log.serve_with(group.id, &group.name),
        None => ctx.log = log_draft(session.req_header(), ctx, group, facts),
    }
}

/// The request-log draft of a request to `group` (`None` when the group does not log).
fn log_draft(
    req: &pingora::http::RequestHeader,
    ctx: &RequestContext,
    group: &GroupRuntime,
    facts: &RequestFacts<'_>,
) -> Option<Box<RequestLogDraft>> {
    let cfg = &group.config;
    cfg.enable_request_logging.then(|| {
        let request_path = match facts.query {
            Some(q) => format!("{}?{q}", req.uri.path()),
            None => req.uri.path().to_owned(),
        };
        Box::new(RequestLogDraft::new(&RequestFields {
            group: (group.id, &group.name),
            parent: ctx.parent.as_ref().map(|p| (p.id, p.name.as_str())),
            source_ip: facts.client_ip,
            request_path: &request_path,
            model: facts.model,
            user_agent: req
                .headers
                .get(http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or(""),
            body: cfg
                .enable_request_body_logging
                .then(|| (&facts.body[..], ctx.body_log_limit)),
        }))
    })
}
