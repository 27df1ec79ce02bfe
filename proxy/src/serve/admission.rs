//! Admission of a `/proxy/{group}/…` request: the group or aggregate it names, an in-flight
//! slot, the proxy key, the group switched on, the body read within its limit, and (for an
//! aggregate) the member that serves it first. Every refusal is answered here.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use pingora::Result;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;

use gateway_core::ChannelType;
use gateway_core::client_credential::extract_token;

use super::answers::respond_error;
use super::outcome::Target;
use super::path::ProxyPath;
use crate::aggregate_routing::AggregateRuntime;
use crate::client_auth::strip_key_param;
use crate::clock::now_ms;
use crate::error::GatewayError;
use crate::group_runtime::GroupRuntime;
use crate::request_context::{CalledGroup, InflightGuard, RequestContext};

/// The most a request body's buffer reserves before its bytes arrive; beyond it, it grows with
/// what the client really sends.
const INITIAL_BODY_BUFFER: usize = 64 << 10;

/// An admitted request, ready for its attempts.
pub(super) struct Admitted {
    /// The aggregate the client called, when it was one.
    pub aggregate: Option<Arc<AggregateRuntime>>,
    /// The group that serves first (the one called, or the aggregate's first pick).
    pub group: Arc<GroupRuntime>,
    /// The model an aggregate with model-aware routing read from the request.
    pub model: Option<String>,
    /// The query as forwarded (`key` removed).
    pub query: Option<String>,
    /// The whole request body.
    pub body: Bytes,
}

impl ProxyPath {
    /// Admits the request, or answers why not (`None`).
    pub(super) async fn admit(
        &self,
        session: &mut Session,
        ctx: &mut RequestContext,
        group_name: &str,
        rest: &str,
    ) -> Result<Option<Admitted>> {
        let target = match self.lookup(ctx, group_name) {
            Ok(target) => target,
            Err(error) => return respond_error(session, &error, None).await.map(|()| None),
        };
        let channel = Some(target.channel());
        if let Err(error) = self.check_caller(session, ctx, &target, group_name) {
            return respond_error(session, &error, channel).await.map(|()| None);
        }
        let req = session.req_header();
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
        let limits = &self.limits;
        let body =
            match read_body(session, limits.max_request_body_bytes, limits.read_timeout).await? {
                Ok(body) => body,
                Err(too_large) => {
                    session.set_keepalive(None);
                    return respond_error(session, &too_large, channel)
                        .await
                        .map(|()| None);
                }
            };
        // An aggregate hands the request to one member with a usable key.
        let (aggregate, model, group) = match target {
            Target::Group(g) => (None, None, g),
            Target::Aggregate(a) => {
                let model = a.routing.model_aware.then(|| {
                    a.channel
                        .inspect_request(rest, accept.as_deref(), query.as_deref(), &body)
                        .model
                });
                let Some(first) = a.pick(now_ms(), &[], model.as_deref()) else {
                    let error = GatewayError::NoAvailableSubGroups(a.name.clone());
                    return respond_error(session, &error, channel).await.map(|()| None);
                };
                (Some(a), model, first)
            }
        };
        Ok(Some(Admitted {
            aggregate,
            group,
            model,
            query,
            body,
        }))
    }

    /// The group or aggregate `name` in the current snapshot (loaded once for the request).
    fn lookup(&self, ctx: &mut RequestContext, name: &str) -> Result<Target, GatewayError> {
        let snapshot = self.snapshot.load();
        if !snapshot.is_loaded() {
            return Err(GatewayError::NotReady);
        }
        let target = match (snapshot.groups.get(name), snapshot.aggregates.get(name)) {
            (Some(g), _) => Target::Group(Arc::clone(g)),
            (None, Some(a)) => Target::Aggregate(Arc::clone(a)),
            (None, None) => return Err(GatewayError::UnknownGroup(name.to_owned())),
        };
        ctx.body_log_limit = snapshot.body_log_limit;
        ctx.called_group = Some(CalledGroup {
            name: name.to_owned(),
            channel: target.channel().as_str(),
        });
        if let Target::Group(g) = &target {
            ctx.group = Some(Arc::clone(g));
        }
        Ok(target)
    }

    /// Takes an in-flight slot, then checks the proxy key and that the group is switched on.
    fn check_caller(
        &self,
        session: &Session,
        ctx: &mut RequestContext,
        target: &Target,
        name: &str,
    ) -> Result<(), GatewayError> {
        // Only proxy traffic takes a slot: /health and the admin API stay reachable under load.
        let max = self.limits.max_concurrent_requests;
        let Some(slot) = InflightGuard::try_acquire(&self.observe.inflight, max) else {
            return Err(GatewayError::TooManyRequests(max));
        };
        ctx.inflight = Some(slot);
        let req = session.req_header();
        let token = extract_token(req.uri.query(), |name| {
            req.headers.get(name).and_then(|v| v.to_str().ok())
        });
        match token {
            None => return Err(GatewayError::MissingProxyKey),
            Some(t) if !target.proxy_keys().allows(&t) => {
                return Err(GatewayError::InvalidProxyKey(name.to_owned()));
            }
            Some(_) => {}
        }
        if !target.enabled() {
            return Err(GatewayError::GroupDisabled(name.to_owned()));
        }
        Ok(())
    }
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

/// What a target is called with, whichever kind it is.
impl Target {
    /// The provider API of the group (an aggregate's members share it).
    pub(super) fn channel(&self) -> ChannelType {
        match self {
            Target::Group(g) => g.channel,
            Target::Aggregate(a) => a.channel,
        }
    }

    fn proxy_keys(&self) -> &crate::client_auth::ProxyKeySet {
        match self {
            Target::Group(g) => &g.proxy_keys,
            Target::Aggregate(a) => &a.proxy_keys,
        }
    }

    fn enabled(&self) -> bool {
        match self {
            Target::Group(g) => g.enabled,
            Target::Aggregate(a) => a.enabled,
        }
    }
}
