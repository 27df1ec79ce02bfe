//! What the steps of a `/proxy` request hand each other: what the path names, how one attempt
//! or a group's attempts ended, how a wait under a rate limit ended, and the status an
//! exchange error becomes.

use std::sync::Arc;

use bytes::Bytes;
use pingora::http::ResponseHeader;

use crate::aggregate_routing::AggregateRuntime;
use crate::error::GatewayError;
use crate::group_runtime::GroupRuntime;
use crate::upstream_exchange::ExchangeError;

/// What `/proxy/{name}` names.
pub(super) enum Target {
    /// A standard group.
    Group(Arc<GroupRuntime>),
    /// An aggregate group (one member serves each request).
    Aggregate(Arc<AggregateRuntime>),
}

/// How the attempts on one group ended.
pub(super) enum LoopEnd {
    /// The client got an answer (a relayed response or an error).
    Answered,
    /// Nothing was sent: every attempt failed (the last failure) or none could be made.
    Exhausted(Option<Failure>),
}

/// How one attempt ended, when it did not answer the client.
pub(super) enum Next {
    /// The client got an answer (or went away): the request is over, with this result.
    Answered(pingora::Result<()>),
    /// The attempt failed and another may follow; this is what the client gets if none does.
    Retry(Failure),
}

/// How a wait for room under a rate limit ended.
pub(super) enum Room {
    /// Waited: look again.
    Again,
    /// The wait would be longer than allowed: answer this.
    GaveUp(GatewayError),
    /// The client hung up while waiting.
    ClientGone,
}

/// How the last failed attempt ended.
pub(super) enum Failure {
    /// The upstream answered an error; its header (as `for_client` makes it) and body, the key
    /// masked in both, are passed on.
    Upstream {
        /// The upstream's header, adapted for the client.
        header: Box<ResponseHeader>,
        /// The upstream's body, keys masked.
        body: Bytes,
    },
    /// No usable answer (connect error, reset, timeout).
    Gateway(GatewayError),
}

/// The status a failed exchange is logged with and the error the client gets for it: 504 for
/// a timeout, 502 for anything else (`reason` is the error, keys masked).
pub(super) fn exchange_failure(
    e: &ExchangeError,
    host: &str,
    reason: String,
) -> (u16, GatewayError) {
    match e {
        ExchangeError::Timeout => (
            504,
            GatewayError::UpstreamTimeout {
                host: host.to_owned(),
            },
        ),
        ExchangeError::Connect(_) | ExchangeError::Transport(_) => (
            502,
            GatewayError::UpstreamUnreachable {
                host: host.to_owned(),
                reason,
            },
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_is_504_and_every_other_exchange_error_502() {
        let (status, error) = exchange_failure(&ExchangeError::Timeout, "api.x", String::new());
        assert_eq!(status, 504);
        assert!(matches!(error, GatewayError::UpstreamTimeout { host } if host == "api.x"));
        let (status, error) = exchange_failure(
            &ExchangeError::Connect("refused".to_owned()),
            "api.x",
            "ConnectRefused (Connection refused)".to_owned(),
        );
        assert_eq!(status, 502);
        assert!(
            matches!(error, GatewayError::UpstreamUnreachable { reason, .. } if reason.starts_with("ConnectRefused"))
        );
    }
}
