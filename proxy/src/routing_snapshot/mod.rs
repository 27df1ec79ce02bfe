//! The routing snapshot: everything the request path needs to route, authenticate and pick keys
//! and upstreams, immutable, behind one `ArcSwap`. Loaded once per request; rebuilt off the
//! request path by the refresher when `config_revision` changes, then swapped in one store.

mod build;
mod refresher;

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

pub use build::{BuildError, build};
pub use refresher::{RefreshTrigger, SnapshotRefresher, refresh};

use crate::aggregate_routing::AggregateRuntime;
pub use crate::group_runtime::GroupRuntime;
use crate::key_ring::PoolKey;
use crate::outbound_route::OutboundProxies;
use crate::rate_limit::Usage;
use crate::upstream_selection::UpstreamHealth;

/// Upper bound of `request_body_log_max_bytes`.
pub const MAX_BODY_LOG: usize = 1 << 20;

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
    /// `request_body_log_max_bytes` (at most [`MAX_BODY_LOG`]): where logged request
    /// bodies are cut.
    pub body_log_limit: usize,
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
