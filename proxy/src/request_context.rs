//! `RequestContext`: the per-request CTX. Decisions of `request_filter` (group, keys tried,
//! attempts) are stored here for the later phases (`upstream_peer` for admin forwarding,
//! `logging`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use crate::metrics::Outcome;
use crate::request_log::RequestLogDraft;
use crate::routing_snapshot::GroupRuntime;

/// Per-request state.
pub struct RequestContext {
    /// When the request arrived.
    pub started: Instant,
    /// Holds one slot of `MAX_CONCURRENT_REQUESTS` until the request ends.
    pub inflight: Option<InflightGuard>,
    /// The request goes to the admin process through Pingora's proxy path.
    pub forward_to_admin: bool,
    /// The group, once routed (an `Arc` of the snapshot loaded once for this request).
    pub group: Option<Arc<GroupRuntime>>,
    /// Ids of keys already used by this request.
    pub tried_keys: Vec<i64>,
    /// Upstream attempts made.
    pub attempts: u32,
    /// The group the client named, once known (the labels of the request's metrics).
    pub called_group: Option<CalledGroup>,
    /// The aggregate the client called, when it was one.
    pub parent: Option<ParentAggregate>,
    /// `request_body_log_max_bytes` of the snapshot this request uses.
    pub body_log_limit: usize,
    /// The request-log records of this request's attempts (boxed: the context lives in every
    /// request's future, which stays small when logging is off).
    pub log: Option<Box<RequestLogDraft>>,
    /// How the request ended (a gateway error when nothing else was noted).
    pub outcome: Option<Outcome>,
    /// The error the gateway answered itself, for the log record of a request without attempts.
    pub gateway_error: Option<String>,
    /// Time spent waiting for room under rate limits (at most `rate_limit_max_wait_seconds`).
    pub rate_waited: std::time::Duration,
}

impl Default for RequestContext {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            inflight: None,
            forward_to_admin: false,
            group: None,
            tried_keys: Vec::new(),
            attempts: 0,
            called_group: None,
            parent: None,
            body_log_limit: 0,
            log: None,
            outcome: None,
            gateway_error: None,
            rate_waited: std::time::Duration::ZERO,
        }
    }
}

/// The group (standard or aggregate) a request named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CalledGroup {
    /// Its name, as in `/proxy/{name}`.
    pub name: String,
    /// Its channel (`openai`, `anthropic`, …).
    pub channel: &'static str,
}

/// The aggregate a request came through, named in the request logs of its members' attempts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParentAggregate {
    /// Database id.
    pub id: i64,
    /// Name.
    pub name: String,
}

/// One in-flight slot; released on drop, whatever way the request ends.
pub struct InflightGuard(Arc<AtomicU32>);

impl InflightGuard {
    /// Takes a slot when fewer than `limit` are taken.
    pub fn try_acquire(counter: &Arc<AtomicU32>, limit: u32) -> Option<Self> {
        counter
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()
            .map(|_| Self(Arc::clone(counter)))
    }
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_bounded_and_released() {
        let c = Arc::new(AtomicU32::new(0));
        let a = InflightGuard::try_acquire(&c, 2).unwrap();
        let _b = InflightGuard::try_acquire(&c, 2).unwrap();
        assert!(InflightGuard::try_acquire(&c, 2).is_none());
        drop(a);
        assert!(InflightGuard::try_acquire(&c, 2).is_some());
    }
}
