//! Waiting for room under the group's and the keys' rate limits: admitting a request to its
//! group, waiting (within `rate_limit_max_wait_seconds`, the client hanging up ends it) or
//! giving up with a 429, and charging answered tokens and reporting usage to the cluster.

use std::sync::Arc;
use std::time::Duration;

use pingora::proxy::Session;

use super::answers::client_closed;
use super::outcome::{Failure, LoopEnd, Room};
use super::path::ProxyPath;
use crate::error::GatewayError;
use crate::group_runtime::GroupRuntime;
use crate::key_ring::PoolKey;
use crate::metrics::{Outcome, RateAction};
use crate::rate_limit::{self, RateScope, Usage};
use crate::request_context::RequestContext;

impl ProxyPath {
    /// Counts the request against the group's own rate limit, waiting for room when allowed.
    /// `Some` when the group's attempts end here instead: a 429 to answer, or the client left.
    pub(super) async fn admit_to_group(
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
    pub(super) async fn wait_for_room(
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
            return Room::GaveUp(rate_limited(&group.name, scope, wait));
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
    pub(super) fn report_usage(&self, group_id: i64, key_id: Option<i64>, usage: &Arc<Usage>) {
        if let Some(outbox) = &self.observe.outbox {
            outbox.usage_counted(group_id, key_id, usage);
        }
    }

    /// Charges the tokens an answer reported to the group's and the key's token limits.
    pub(super) fn charge_tokens(&self, group: &GroupRuntime, key: &PoolKey, tokens: u64) {
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
}

/// The 429 for a wait longer than allowed: come back when there is room (whole seconds, at
/// least one).
fn rate_limited(group: &str, scope: RateScope, wait: Duration) -> GatewayError {
    GatewayError::RateLimited {
        group: group.to_owned(),
        scope,
        retry_after_secs: wait
            .as_millis()
            .div_ceil(1000)
            .max(1)
            .try_into()
            .unwrap_or(u64::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rejected_wait_says_when_to_come_back_in_whole_seconds() {
        let after = |ms| match rate_limited("g", RateScope::Key, Duration::from_millis(ms)) {
            GatewayError::RateLimited {
                retry_after_secs, ..
            } => retry_after_secs,
            other => panic!("{other:?}"),
        };
        assert_eq!(after(1), 1);
        assert_eq!(after(0), 1);
        assert_eq!(after(1_000), 1);
        assert_eq!(after(1_001), 2);
    }
}
