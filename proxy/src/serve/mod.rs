//! The `/proxy/{group}/…` request path, one file per step of a request:
//!
//! 1. `admission` — the group or aggregate named, an in-flight slot, the proxy key, the body;
//! 2. `attempt_loop` — keys and upstreams tried in turn (`rate_room` when a rate limit has no
//!    room), and here the failover of an aggregate to its next member;
//! 3. `attempt` — one upstream exchange and what its answer means: `blame` records the fault
//!    on key and upstream health, `relay` passes a served answer on;
//! 4. `answers` — the gateway's own answers; `record` — the metrics and request-log record of
//!    each attempt; `outcome` — what the steps hand each other; `path` — what the request path
//!    is given (`ProxyPath`); every step imports it, and it imports none of them.

mod admission;
mod answers;
mod attempt;
mod attempt_loop;
mod blame;
mod outcome;
mod path;
mod rate_room;
mod record;
mod relay;

use std::sync::Arc;

use bytes::Bytes;
use gateway_core::ChannelType;
use pingora::Result;
use pingora::proxy::Session;

pub use answers::respond_raw;
use answers::{respond_exhausted, respond_gateway_error};
use outcome::LoopEnd;
pub use path::{ProxyLimits, ProxyPath, SharedState};
use record::{RequestFacts, log_for};

use crate::clock::now_ms;
use crate::error::GatewayError;
use crate::group_runtime::GroupRuntime;
use crate::request_context::{ParentAggregate, RequestContext};

impl ProxyPath {
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
