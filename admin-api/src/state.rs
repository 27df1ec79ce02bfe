//! `AppState`: what every handler shares (database handle and the static settings it needs).

use gateway_core::Secret;
use gateway_schema::Database;

/// Shared state of the admin API (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub db: Database,
    /// `AUTH_KEY`.
    pub auth_key: Secret<String>,
    /// `app_url` used when the setting is empty (`http://{HOST}:{PORT}`).
    pub default_app_url: String,
    /// CORS configuration.
    pub cors: gateway_core::config::CorsConfig,
    /// `ENCRYPTION_KEY` (checked for strength by the dashboard's security warnings).
    pub encryption_key: Option<Secret<String>>,
    /// Seals, opens and hashes upstream keys as `ENCRYPTION_KEY` says.
    pub cipher: gateway_core::key_crypto::KeyCipher,
    /// Wrong `AUTH_KEY`s per client address.
    pub throttle: std::sync::Arc<crate::login_throttle::LoginThrottle>,
    /// Whose `X-Forwarded-For` names the client: loopback (our proxy) and `TRUSTED_PROXIES`.
    pub trusted_proxies: gateway_core::client_address::TrustedProxies,
    /// The admin process's Prometheus collectors.
    pub metrics: std::sync::Arc<crate::metrics::AdminMetrics>,
    /// The built admin UI served at `/`.
    pub ui: crate::ui_assets::UiAssets,
    /// `HTTP_PROXY` / `HTTPS_PROXY` / `NO_PROXY` (key validation goes through them like the
    /// proxy's traffic).
    pub outbound: gateway_core::outbound_proxy::EnvProxies,
    /// Nudged after every successful write (publishes the new revision in a cluster).
    pub revisions: std::sync::Arc<crate::revision_announcer::RevisionAnnouncer>,
}
