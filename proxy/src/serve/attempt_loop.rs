//! The attempts on one group: a key not tried yet (passing over keys without rate-limit room,
//! or waiting for one), an upstream, the time left, then one attempt; until an answer reaches
//! the client or `max_retries` extra attempts have failed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use gateway_core::key_policy::KeyPolicy;
use pingora::Result;
use pingora::proxy::Session;

use super::answers::respond_gateway_error;
use super::outcome::{Failure, LoopEnd, Next, Room};
use super::path::ProxyPath;
use super::record::{RequestFacts, log_for};
use crate::clock::now_ms;
use crate::error::GatewayError;
use crate::group_runtime::GroupRuntime;
use crate::key_ring::PoolKey;
use crate::metrics::RateAction;
use crate::model_list;
use crate::rate_limit::{self, RateScope};
use crate::request_context::RequestContext;

/// What every attempt on one group shares.
pub(super) struct Plan<'a> {
    /// The group whose keys and upstreams are tried.
    pub group: &'a GroupRuntime,
    /// The upstream path (after the group's rewrite rules).
    pub rest: &'a str,
    /// The query as forwarded.
    pub query: Option<&'a str>,
    /// The body as forwarded.
    pub body: Bytes,
    /// The model the request names ("" when none).
    pub model: String,
    /// Whether the client asked for a stream.
    pub stream: bool,
    /// A model-list request of a group with redirect rules (its answer is rewritten).
    pub model_list: bool,
    /// When a non-streaming request's total time (`request_timeout`) ends.
    pub deadline: Option<Instant>,
    /// The group's key policy (who is blamed for which answer).
    pub policy: KeyPolicy<'a>,
    /// The client's address.
    pub client_ip: String,
    max_attempts: u32,
    attempts_before: u32,
}

/// The key for the next attempt, or why there is none.
enum KeyPick {
    /// Use this key.
    Key(Arc<PoolKey>),
    /// Waited for a key's rate-limit room: look again.
    Again,
    /// No key can be tried (with the failure to answer, when it is a rate limit).
    Stop(Option<Failure>),
    /// The client hung up while waiting.
    ClientGone,
}

impl ProxyPath {
    /// Tries keys and upstreams until a response can be relayed or the attempts run out.
    /// Returns `Exhausted` without answering when every attempt failed (or none could be
    /// made), so the caller may try another member of an aggregate.
    pub(super) async fn attempt_loop(
        &self,
        session: &mut Session,
        ctx: &mut RequestContext,
        group: &GroupRuntime,
        rest: &str,
        query: Option<&str>,
        body: Bytes,
    ) -> Result<LoopEnd> {
        let plan = self.plan(session, ctx, group, rest, query, body);
        let facts = RequestFacts {
            client_ip: &plan.client_ip,
            query,
            model: &plan.model,
            body: &plan.body,
        };
        log_for(session, ctx, group, &facts);
        // The group's own limit counts each request once (once per member of an aggregate).
        let group_admitted = !group.limits.group.is_off();
        if group_admitted && let Some(end) = self.admit_to_group(session, ctx, group).await {
            return Ok(end);
        }
        // What the client gets if every attempt fails: the last upstream error response
        // (keys redacted), or our own error for a transport failure.
        let mut last_failure: Option<Failure> = None;
        while ctx.attempts - plan.attempts_before < plan.max_attempts {
            let now = now_ms();
            let key = match self.next_key(session, ctx, group, now).await {
                KeyPick::Key(key) => key,
                KeyPick::Again => continue,
                KeyPick::Stop(failure) => {
                    last_failure = failure.or(last_failure);
                    break;
                }
                KeyPick::ClientGone => return Ok(LoopEnd::Answered),
            };
            let Some(upstream) = group.upstreams.pick(now) else {
                let error = GatewayError::NoUpstream(group.name.clone());
                return respond_gateway_error(session, ctx, error, Some(group.channel))
                    .await
                    .map(|()| LoopEnd::Answered);
            };
            let setting = group.attempts.response_header_timeout;
            let Some(wait) = header_wait(setting, plan.deadline, Instant::now()) else {
                last_failure = Some(Failure::Gateway(GatewayError::UpstreamTimeout {
                    host: upstream.host.clone(),
                }));
                break;
            };
            match self
                .attempt(session, ctx, &plan, &key, upstream, wait, now)
                .await?
            {
                Next::Answered(result) => return result.map(|()| LoopEnd::Answered),
                Next::Retry(failure) => last_failure = Some(failure),
            }
        }
        if group_admitted && ctx.attempts == plan.attempts_before {
            // Nothing was sent: the group's allowance is not spent.
            group.usage.give_back(group.limits.group);
        }
        Ok(LoopEnd::Exhausted(last_failure))
    }

    /// What the attempts on `group` share, read once from the request.
    fn plan<'a>(
        &self,
        session: &Session,
        ctx: &RequestContext,
        group: &'a GroupRuntime,
        rest: &'a str,
        query: Option<&'a str>,
        body: Bytes,
    ) -> Plan<'a> {
        let (cfg, settings) = (&group.config, &group.attempts);
        let req = session.req_header();
        let accept = req
            .headers
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok());
        let facts = group.channel.inspect_request(rest, accept, query, &body);
        Plan {
            group,
            rest,
            query,
            model_list: !group.rewrite.model_redirects.is_empty()
                && model_list::is_model_list_request(&req.method, rest),
            // The total time of a non-streaming request; a stream has only its idle timeout.
            deadline: (!facts.stream).then(|| ctx.started + settings.request_timeout),
            policy: KeyPolicy {
                failover: &cfg.failover,
                client_errors: &cfg.client_errors,
                default_cooldown: settings.key_cooldown,
            },
            client_ip: self.client_ip(session),
            max_attempts: settings.max_attempts.get(),
            // Each group (each member of an aggregate) gets its own `max_retries`.
            attempts_before: ctx.attempts,
            body,
            model: facts.model,
            stream: facts.stream,
        }
    }

    /// The next key not tried yet. Under a per-key limit, a key without room is passed over
    /// for one with room; when none has room, waits for the soonest (or gives up with a 429).
    async fn next_key(
        &self,
        session: &mut Session,
        ctx: &mut RequestContext,
        group: &GroupRuntime,
        now: u64,
    ) -> KeyPick {
        let limits = group.limits;
        // The soonest any key passed over has room again.
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
        match (picked, limited) {
            (Some(key), limited) => {
                if let Some(usage) = &key.usage {
                    self.report_usage(group.id, Some(key.id), usage);
                }
                if limited.is_some() {
                    let metrics = &self.observe.metrics;
                    metrics.rate_limited(&group.name, RateScope::Key, RateAction::Rerouted);
                }
                KeyPick::Key(key)
            }
            (None, Some(wait)) => match self
                .wait_for_room(session, ctx, group, RateScope::Key, wait)
                .await
            {
                Room::Again => KeyPick::Again,
                Room::GaveUp(error) => KeyPick::Stop(Some(Failure::Gateway(error))),
                Room::ClientGone => KeyPick::ClientGone,
            },
            (None, None) => KeyPick::Stop(None),
        }
    }
}

/// How long an attempt waits for the response header: the group's `setting`, cut to what is
/// left of a non-streaming request's total time; `None` when nothing is left (no attempt).
fn header_wait(setting: Duration, deadline: Option<Instant>, now: Instant) -> Option<Duration> {
    match deadline {
        None => Some(setting),
        Some(d) => d
            .checked_duration_since(now)
            .filter(|left| !left.is_zero())
            .map(|left| setting.min(left)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_wait_never_outlasts_the_request() {
        let now = Instant::now();
        let setting = Duration::from_secs(30);
        assert_eq!(header_wait(setting, None, now), Some(setting));
        let soon = now + Duration::from_secs(5);
        assert_eq!(
            header_wait(setting, Some(soon), now),
            Some(Duration::from_secs(5))
        );
        let later = now + Duration::from_secs(60);
        assert_eq!(header_wait(setting, Some(later), now), Some(setting));
        assert_eq!(header_wait(setting, Some(now), now), None);
        assert_eq!(header_wait(setting, Some(now), soon), None);
    }
}
