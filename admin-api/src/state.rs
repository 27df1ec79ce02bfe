//! `AppState`: what every handler shares (database handle and the static settings it needs),
//! built from the configuration by one function that `main.rs` and the tests both call.

use std::sync::Arc;

use gateway_core::key_crypto::KeyCipher;
use gateway_core::{GatewayConfig, Secret};
use gateway_schema::Database;

use crate::login_throttle::LoginThrottle;
use crate::metrics::AdminMetrics;
use crate::revision_announcer::RevisionAnnouncer;
use crate::ui_assets::UiAssets;

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
    pub cipher: KeyCipher,
    /// Wrong `AUTH_KEY`s per client address.
    pub throttle: Arc<LoginThrottle>,
    /// Whose `X-Forwarded-For` names the client: loopback (our proxy) and `TRUSTED_PROXIES`.
    pub trusted_proxies: gateway_core::client_address::TrustedProxies,
    /// The admin process's Prometheus collectors.
    pub metrics: Arc<AdminMetrics>,
    /// The built admin UI served at `/`.
    pub ui: UiAssets,
    /// `HTTP_PROXY` / `HTTPS_PROXY` / `NO_PROXY` (key validation goes through them like the
    /// proxy's traffic).
    pub outbound: gateway_core::outbound_proxy::EnvProxies,
    /// Nudged after every successful write (publishes the new revision in a cluster).
    pub revisions: Arc<RevisionAnnouncer>,
}

impl AppState {
    /// The state of an admin process configured by `config`, over `db` (prepared by
    /// `bootstrap::prepare_database`, or a test's fresh database). `cluster` shares the login
    /// throttle through Redis; the UI is read from `UI_DIR` (a missing build is logged and the
    /// API works without it).
    pub fn new(
        config: &GatewayConfig,
        db: Database,
        cipher: KeyCipher,
        cluster: Option<gateway_cluster::ClusterLink>,
    ) -> anyhow::Result<AppState> {
        let ui = UiAssets::load(&config.ui_dir);
        match ui.problem() {
            Some(problem) => tracing::warn!("{problem}"),
            None => tracing::info!(
                "admin UI: {} files from {}",
                ui.len(),
                config.ui_dir.display()
            ),
        }
        Ok(AppState {
            db,
            auth_key: config.auth_key.clone(),
            default_app_url: config.default_app_url(),
            cors: config.cors.clone(),
            encryption_key: config.encryption_key.clone(),
            cipher,
            throttle: Arc::new(LoginThrottle::new(cluster)),
            trusted_proxies: config.trusted_proxies.clone().with_loopback(),
            metrics: Arc::new(AdminMetrics::new()?),
            ui,
            outbound: config.outbound.clone(),
            revisions: Arc::default(),
        })
    }
}
