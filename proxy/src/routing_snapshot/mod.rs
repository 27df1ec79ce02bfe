//! The routing snapshot: everything the request path needs to route, authenticate and pick keys
//! and upstreams, immutable, behind one `ArcSwap`. Loaded once per request; rebuilt off the
//! request path by the refresher when `config_revision` changes, then swapped in one store.

mod build;
mod refresher;

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use gateway_core::ChannelType;
use gateway_core::settings_catalogue::EffectiveConfig;

pub use build::{BuildError, build};
pub use refresher::{RefreshTrigger, SnapshotRefresher, refresh};

use crate::aggregate_routing::AggregateRuntime;
use crate::client_auth::ProxyKeySet;
use crate::key_ring::{KeyRing, PoolKey};
use crate::outbound_route::OutboundProxies;
use crate::rate_limit::{RateLimits, Usage};
use crate::request_rewrite::RewriteRules;
use crate::upstream_selection::{UpstreamHealth, UpstreamTable};

/// What snapshots are built with besides the database rows.
#[derive(Clone)]
pub struct BuildContext {
    /// Opens keys stored encrypted (`ENCRYPTION_KEY`).
    pub cipher: gateway_core::key_crypto::KeyCipher,
    /// Which proxy each upstream goes through.
    pub outbound: OutboundProxies,
}

/// One routing table version.
#[derive(Debug, Default)]
pub struct RoutingSnapshot {
    /// The `config_revision` it was built from (0 = nothing loaded yet).
    pub revision: i64,
    /// Groups by name.
    pub groups: HashMap<String, Arc<GroupRuntime>>,
    /// Aggregate groups by name.
    pub aggregates: HashMap<String, Arc<AggregateRuntime>>,
    /// `request_log_write_interval_minutes` (zero: write request logs as they come).
    pub log_write_interval: std::time::Duration,
    /// `request_body_log_max_bytes` (at most `request_log::MAX_BODY_LOG`): where logged request
    /// bodies are cut.
    pub body_log_limit: usize,
}

/// Everything the data plane knows about one group.
#[derive(Debug)]
pub struct GroupRuntime {
    /// Database id.
    pub id: i64,
    /// Name used in `/proxy/{name}`.
    pub name: String,
    /// Provider API.
    pub channel: ChannelType,
    /// Weighted upstreams.
    pub upstreams: UpstreamTable,
    /// Active keys in rotation.
    pub keys: KeyRing,
    /// Proxy keys that may call the group (its own and the global ones).
    pub proxy_keys: ProxyKeySet,
    /// System settings with the group's overrides.
    pub config: EffectiveConfig,
    /// Body, model and header rewriting of forwarded requests.
    pub rewrite: RewriteRules,
    /// False when a person switched the group off: its requests get 503, aggregates skip it.
    pub enabled: bool,
    /// Rate limits of the group and of each of its keys (from `config`).
    pub limits: RateLimits,
    /// What the group used against its own limits (carried across rebuilds by group id).
    pub usage: Arc<Usage>,
}

impl GroupRuntime {
    /// True unless the group's own rate limit has no room at `now_ns` (`rate_limit::now_ns`).
    pub fn has_rate_room(&self, now_ns: u64) -> bool {
        self.limits.group.is_off() || self.usage.room(self.limits.group, now_ns).is_ok()
    }
}

impl RoutingSnapshot {
    /// The standard group with database id `id`.
    pub fn group_by_id(&self, id: i64) -> Option<&Arc<GroupRuntime>> {
        self.groups.values().find(|g| g.id == id)
    }

    /// True once a snapshot was loaded from the database.
    pub fn is_loaded(&self) -> bool {
        self.revision > 0
    }

    /// Every key in rotation, by key id: its health and opened value carry into the next snapshot.
    pub fn pool_keys(&self) -> HashMap<i64, Arc<PoolKey>> {
        self.groups
            .values()
            .flat_map(|g| g.keys.keys().iter().map(|k| (k.id, Arc::clone(k))))
            .collect()
    }

    /// Rate-limit usage of every group, by group id, to carry into the next snapshot.
    pub fn group_usage(&self) -> HashMap<i64, Arc<Usage>> {
        self.groups
            .values()
            .map(|g| (g.id, Arc::clone(&g.usage)))
            .collect()
    }

    /// Runtime health of every upstream, by group id and URL, to carry into the next snapshot.
    pub fn upstream_health(&self) -> HashMap<(i64, String), Arc<UpstreamHealth>> {
        self.groups
            .values()
            .flat_map(|g| {
                g.upstreams
                    .upstreams()
                    .iter()
                    .map(|u| ((g.id, u.url.clone()), Arc::clone(&u.health)))
            })
            .collect()
    }
}

/// The shared handle to the current snapshot (cheap to clone).
#[derive(Clone, Default)]
pub struct SnapshotHandle(Arc<ArcSwap<RoutingSnapshot>>);

impl SnapshotHandle {
    /// The current snapshot. Call once per request and keep the `Arc`.
    pub fn load(&self) -> Arc<RoutingSnapshot> {
        self.0.load_full()
    }

    /// Replaces the snapshot; infallible, nothing but a store.
    pub fn swap(&self, next: RoutingSnapshot) {
        self.0.store(Arc::new(next));
    }
}
