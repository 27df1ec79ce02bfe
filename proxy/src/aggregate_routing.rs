//! Aggregate groups (docs/ARCHITECTURE.md "Request path"): a group of standard groups, called at its own
//! `/proxy/{name}` with its own proxy keys. Each request goes to one member, chosen by smooth
//! weighted round robin among the members that have a usable key now (a member without one is
//! skipped, not tried); the request then runs exactly as a request to that member.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use gateway_core::ChannelType;

use crate::client_auth::ProxyKeySet;
use crate::group_runtime::GroupRuntime;
use crate::upstream_selection::smooth_sequence;

/// An aggregate group as the data plane serves it.
#[derive(Debug)]
pub struct AggregateRuntime {
    /// Database id.
    pub id: i64,
    /// Name used in `/proxy/{name}`.
    pub name: String,
    /// Provider API (that of every member).
    pub channel: ChannelType,
    /// Proxy keys that may call the aggregate (its own and the global ones).
    pub proxy_keys: ProxyKeySet,
    /// False when a person switched the aggregate off (its requests get 503).
    pub enabled: bool,
    /// What the aggregate's own `config` says about choosing and changing members.
    pub routing: MemberRouting,
    members: Vec<Arc<GroupRuntime>>,
    sequence: Vec<u16>,
    cursor: AtomicUsize,
}

/// How an aggregate chooses and changes members (its `config`: `sub_group_failover`,
/// `model_aware_routing`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemberRouting {
    /// When a member's attempts all failed, retry on another member.
    pub failover: bool,
    /// Prefer members whose redirect rules name the requested model.
    pub model_aware: bool,
}

impl AggregateRuntime {
    /// An aggregate over `members` (`(group, weight)`; weight 0 = off).
    pub fn new(
        id: i64,
        name: String,
        channel: ChannelType,
        proxy_keys: ProxyKeySet,
        members: Vec<(Arc<GroupRuntime>, u32)>,
        enabled: bool,
        routing: MemberRouting,
    ) -> Self {
        let members: Vec<(Arc<GroupRuntime>, u32)> =
            members.into_iter().filter(|(_, w)| *w > 0).collect();
        let sequence = smooth_sequence(&members.iter().map(|(_, w)| *w).collect::<Vec<_>>());
        Self {
            id,
            name,
            channel,
            proxy_keys,
            enabled,
            routing,
            members: members.into_iter().map(|(g, _)| g).collect(),
            sequence,
            cursor: AtomicUsize::new(0),
        }
    }

    /// Members in rotation.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// True without members in rotation.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The next member in weighted order that has a usable key at `now_ms` and is not in
    /// `tried` (group ids); `None` when there is none. A member whose own rate limit has no room
    /// is passed over while another member has room (else it is chosen, and its request waits
    /// or is answered 429 there). Model-aware (`routing.model_aware` and a `model`): a member
    /// whose redirect rules name the model comes first, then members that pass any model
    /// through; a strict member without a rule for it is never chosen.
    pub fn pick(
        &self,
        now_ms: u64,
        tried: &[i64],
        model: Option<&str>,
    ) -> Option<Arc<GroupRuntime>> {
        let n = self.sequence.len();
        if n == 0 {
            return None;
        }
        // Only a request's first choice moves the rotation: a failover scans on from where it
        // is, so failovers do not shift which member the next requests start with.
        let start = if tried.is_empty() {
            self.cursor.fetch_add(1, Ordering::Relaxed)
        } else {
            self.cursor.load(Ordering::Relaxed)
        };
        let now_ns = crate::rate_limit::now_ns();
        self.pick_from(start, now_ms, tried, model, |m| m.has_rate_room(now_ns))
            .or_else(|| self.pick_from(start, now_ms, tried, model, |_| true))
    }

    fn pick_from(
        &self,
        start: usize,
        now_ms: u64,
        tried: &[i64],
        model: Option<&str>,
        room: impl Fn(&GroupRuntime) -> bool,
    ) -> Option<Arc<GroupRuntime>> {
        let n = self.sequence.len();
        let mut candidates = (0..n)
            .filter_map(|i| {
                self.members
                    .get(usize::from(self.sequence[(start + i) % n]))
            })
            .filter(|m| !tried.contains(&m.id) && m.keys.has_usable(now_ms) && room(m));
        let Some(model) = model.filter(|_| self.routing.model_aware) else {
            return candidates.next().map(Arc::clone);
        };
        let mut passes_through = None;
        for m in candidates {
            let rules = &m.rewrite.model_redirects;
            if rules.contains_key(model) {
                return Some(Arc::clone(m));
            }
            if passes_through.is_none() && (!m.rewrite.strict || rules.is_empty()) {
                passes_through = Some(m);
            }
        }
        passes_through.map(Arc::clone)
    }
}
