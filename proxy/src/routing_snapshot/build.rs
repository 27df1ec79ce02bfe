//! Database rows → a ready `RoutingSnapshot`. Every fallible step happens here, off the request
//! path; a group that cannot be built is left out with a warning, and a database error keeps the
//! old snapshot serving.

use std::collections::HashMap;
use std::sync::Arc;

use gateway_core::key_crypto::{ENCRYPTED_PREFIX, KeyCipher, Mismatch};
use gateway_core::outbound_proxy::open_setting;
use gateway_core::settings_catalogue::{GroupConfig, SystemSettings};
use gateway_core::{ChannelType, Secret};
use gateway_schema::models::{Group, GroupType};
use gateway_schema::{Database, DbError, KeyRow};

use super::{BuildContext, GroupRuntime, RoutingSnapshot};
use crate::aggregate_routing::{AggregateRuntime, MemberRouting};
use crate::client_auth::ProxyKeySet;
use crate::group_runtime::AttemptSettings;
use crate::key_ring::{KeyHealth, KeyRing, PoolKey, StoredHealth};
use crate::outbound_route::OutboundProxies;
use crate::rate_limit::{self, RateLimits, Usage};
use crate::request_rewrite::RewriteRules;
use crate::upstream_selection::{Upstream, UpstreamHealth, UpstreamTable};

/// Why a snapshot could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Reading the database failed.
    #[error(transparent)]
    Database(#[from] DbError),
    /// The stored keys do not match `ENCRYPTION_KEY`: nothing is served until they do.
    #[error(transparent)]
    Encryption(#[from] Mismatch),
}

/// A key row with its key readable.
struct OpenedKey {
    row: KeyRow,
    plain: Secret<String>,
    /// The stored value when it is encrypted (request logs store it as it is).
    sealed: Option<Box<str>>,
}

/// Decrypts a row's key (`None` when it does not decrypt). A key the previous snapshot already
/// opened from the same stored value is taken from it: a reload decrypts only what changed.
fn open_key(
    cipher: &KeyCipher,
    mut row: KeyRow,
    previous: &HashMap<i64, Arc<PoolKey>>,
) -> Option<OpenedKey> {
    let stored = std::mem::take(&mut row.key_value);
    if !cipher.is_encrypting() {
        // Plaintext is used as it is; an encrypted value without a key is not a key.
        return (!stored.starts_with(ENCRYPTED_PREFIX)).then(|| OpenedKey {
            row,
            plain: Secret::new(stored),
            sealed: None,
        });
    }
    let plain = match previous.get(&row.id) {
        Some(p) if p.sealed.as_deref() == Some(stored.as_str()) => p.value.clone(),
        _ => Secret::new(cipher.open(&stored).ok()?),
    };
    Some(OpenedKey {
        row,
        plain,
        sealed: Some(stored.into_boxed_str()),
    })
}

#[derive(serde::Deserialize)]
struct UpstreamEntry {
    url: String,
    #[serde(default)]
    weight: i64,
}

/// Reads revision, settings, groups and active keys and builds the next snapshot, carrying key
/// health over from `previous` by key id. The revision is read first, so a write that lands
/// during the build is picked up by the next poll.
pub async fn build(
    db: &Database,
    previous: &RoutingSnapshot,
    context: &BuildContext,
) -> Result<RoutingSnapshot, BuildError> {
    let cipher = &context.cipher;
    let revision = db.revision().await?;
    let samples = db.encryption_samples().await?;
    cipher.verify(samples.iter().map(|(v, h)| (v.as_str(), h.as_str())))?;
    let rows = db.settings().await?;
    let (settings, bad) = SystemSettings::from_stored(&rows);
    for e in bad {
        tracing::warn!("ignoring stored setting: {e}");
    }
    let groups = db.groups().await?;
    let carried_keys = previous.pool_keys();
    let mut keys_by_group: HashMap<i64, Vec<OpenedKey>> = HashMap::new();
    let mut unreadable = 0_usize;
    for row in db.routable_keys().await? {
        match open_key(cipher, row, &carried_keys) {
            Some(key) => keys_by_group.entry(key.row.group_id).or_default().push(key),
            None => unreadable += 1,
        }
    }
    if unreadable > 0 {
        tracing::warn!(
            unreadable,
            "keys that do not decrypt with ENCRYPTION_KEY were left out of rotation; see \
             /api/dashboard/encryption-status"
        );
    }
    let health = Carried {
        keys: carried_keys,
        upstreams: previous.upstream_health(),
        usage: previous.group_usage(),
    };
    let mut out = HashMap::with_capacity(groups.len());
    let (aggregate_rows, groups): (Vec<Group>, Vec<Group>) =
        groups.into_iter().partition(|g| g.is_aggregate());
    for group in groups {
        let keys = keys_by_group.remove(&group.id).unwrap_or_default();
        match build_group(
            &group,
            keys,
            &settings,
            &health,
            (&context.outbound, cipher),
        ) {
            Ok(runtime) => {
                out.insert(group.name.clone(), Arc::new(runtime));
            }
            Err(reason) => {
                tracing::warn!(group = %group.name, "group left out of routing: {reason}");
            }
        }
    }
    let aggregates = if aggregate_rows.is_empty() {
        HashMap::new()
    } else {
        build_aggregates(aggregate_rows, &out, &db.all_sub_groups().await?, &settings)
    };
    let minutes = u64::try_from(settings.int("request_log_write_interval_minutes")).unwrap_or(0);
    Ok(RoutingSnapshot {
        revision,
        groups: out,
        aggregates,
        log_write_interval: std::time::Duration::from_secs(minutes * 60),
        body_log_limit: usize::try_from(settings.int("request_body_log_max_bytes"))
            .unwrap_or(0)
            .min(super::MAX_BODY_LOG),
    })
}

/// Aggregates over the built standard groups (a member left out of routing is left out here).
fn build_aggregates(
    rows: Vec<Group>,
    groups: &HashMap<String, Arc<GroupRuntime>>,
    links: &[(i64, i64, i32)],
    settings: &SystemSettings,
) -> HashMap<String, Arc<AggregateRuntime>> {
    let by_id: HashMap<i64, &Arc<GroupRuntime>> = groups.values().map(|g| (g.id, g)).collect();
    let mut out = HashMap::with_capacity(rows.len());
    for row in rows {
        let Ok(channel) = row.channel_type.parse::<ChannelType>() else {
            tracing::warn!(group = %row.name, "aggregate left out of routing: unknown channel type");
            continue;
        };
        let members: Vec<(Arc<GroupRuntime>, u32)> = links
            .iter()
            .filter(|(aggregate, _, _)| *aggregate == row.id)
            .filter_map(|(_, member, weight)| {
                // A member switched off is left out, as if its weight were 0.
                by_id
                    .get(member)
                    .filter(|g| g.enabled)
                    .map(|g| (Arc::clone(g), u32::try_from(*weight).unwrap_or(0)))
            })
            .collect();
        let proxy_keys = ProxyKeySet::new(
            gateway_core::settings_catalogue::split_key_list(&row.proxy_keys)
                .chain(settings.proxy_keys()),
        );
        let effective = settings.effective(&overrides_of(&row));
        let routing = MemberRouting {
            failover: effective.sub_group_failover,
            model_aware: effective.model_aware_routing,
        };
        out.insert(
            row.name.clone(),
            Arc::new(AggregateRuntime::new(
                row.id,
                row.name,
                channel,
                proxy_keys,
                members,
                row.enabled,
                routing,
            )),
        );
    }
    out
}

/// A group's setting overrides (`config`); an invalid one is logged and ignored.
fn overrides_of(group: &Group) -> GroupConfig {
    GroupConfig::from_stored(&group.config).unwrap_or_else(|e| {
        tracing::warn!(group = %group.name, "ignoring invalid group config: {e}");
        GroupConfig::default()
    })
}

/// Runtime health and rate-limit usage from the previous snapshot.
struct Carried {
    keys: HashMap<i64, Arc<PoolKey>>,
    upstreams: HashMap<(i64, String), Arc<UpstreamHealth>>,
    usage: HashMap<i64, Arc<Usage>>,
}

fn build_group(
    group: &Group,
    keys: Vec<OpenedKey>,
    settings: &SystemSettings,
    health: &Carried,
    (outbound, cipher): (&OutboundProxies, &KeyCipher),
) -> Result<GroupRuntime, String> {
    if group.kind() != Some(GroupType::Standard) {
        return Err(format!("unknown group type '{}'", group.group_type));
    }
    let channel: ChannelType = group.channel_type.parse().map_err(|e| format!("{e}"))?;
    let entries: Vec<UpstreamEntry> = serde_json::from_str(&group.upstreams)
        .map_err(|e| format!("upstreams are not valid JSON: {e}"))?;
    let mut upstreams = Vec::with_capacity(entries.len());
    for entry in entries {
        let weight = u32::try_from(entry.weight.max(0)).unwrap_or(u32::MAX);
        match Upstream::parse(&entry.url, weight) {
            Ok(mut u) => {
                if let Some(h) = health.upstreams.get(&(group.id, u.url.clone())) {
                    u.health = Arc::clone(h);
                }
                upstreams.push(u);
            }
            Err(e) => tracing::warn!(group = %group.name, "{e}"),
        }
    }
    let overrides = overrides_of(group);
    let config = settings.effective(&overrides);
    let limits = RateLimits::of(&config);
    // Never sent direct when a proxy was asked for: a group whose proxy is unusable is out.
    let proxy = open_setting(&config.proxy_url, cipher)
        .map_err(|e| format!("proxy_url is invalid: {e}"))?;
    let attempts = AttemptSettings::of(&config);
    for u in &mut upstreams {
        let connect = attempts.connect_timeout;
        u.route = outbound.route(proxy.as_ref(), u.tls, &u.host, u.port, connect);
    }
    let rewrite = RewriteRules::from_json(
        &group.param_overrides,
        &group.model_redirect_rules,
        group.model_redirect_strict,
        &group.header_rules,
    )?;
    let ring = key_ring(keys, health, &limits);
    let proxy_keys = ProxyKeySet::new(
        gateway_core::settings_catalogue::split_key_list(&group.proxy_keys)
            .chain(settings.proxy_keys()),
    );
    Ok(GroupRuntime {
        id: group.id,
        name: group.name.clone(),
        channel,
        upstreams: UpstreamTable::new(upstreams),
        keys: ring,
        proxy_keys,
        config,
        attempts,
        rewrite,
        enabled: group.enabled,
        limits,
        usage: rate_limit::carried(health.usage.get(&group.id)),
    })
}

/// The group's key ring: each key with the health and rate-limit usage carried from the
/// previous snapshot (memory is newer unless the row changed since: a person restored the key).
fn key_ring(keys: Vec<OpenedKey>, health: &Carried, limits: &RateLimits) -> KeyRing {
    KeyRing::new(
        keys.into_iter()
            .map(|k| {
                let stored =
                    StoredHealth::from_row(false, k.row.failure_count, k.row.cooldown_until);
                let previous = health.keys.get(&k.row.id);
                let h = match previous.map(|p| &p.health) {
                    Some(h) => {
                        h.adopt_stored(stored);
                        Arc::clone(h)
                    }
                    None => Arc::new(KeyHealth::from_stored(stored)),
                };
                // Keys carry usage only while their group limits keys.
                let usage = (!limits.key.is_off())
                    .then(|| rate_limit::carried(previous.and_then(|p| p.usage.as_ref())));
                Arc::new(PoolKey {
                    id: k.row.id,
                    value: k.plain,
                    hash: k.row.key_hash,
                    sealed: k.sealed,
                    health: h,
                    usage,
                })
            })
            .collect(),
    )
}
