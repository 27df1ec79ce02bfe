//! gateway-admin: the control plane. GPT-Load compatible `/api` over the shared database (axum),
//! its own `/health` and `/metrics`, the start-up duties of the master (migrations, settings
//! seed) and its background jobs (`validation_job`, `retention_job`); in a cluster,
//! `revision_announcer` tells the proxies about changes through Redis.
//!
//! Must not contain proxy logic; it meets the proxy only in the database, where every write bumps
//! `config_revision` in the same transaction. Commands besides serving: `migrate_keys`
//! (`gateway-admin migrate-keys`) and `gpt_load_import` (`gateway-admin import-gpt-load`).

pub mod admin_auth;
pub mod bootstrap;
pub mod dto;
pub mod error;
pub mod extract;
pub mod gpt_load_import;
pub mod http_layers;
pub mod i18n;
pub mod key_storage;
pub mod key_tasks;
pub mod key_validation;
pub mod login_throttle;
pub mod metrics;
pub mod migrate_keys;
pub mod openapi;
pub mod operation;
pub mod retention_job;
pub mod revision_announcer;
pub mod routes;
pub mod state;
pub mod ui_assets;
pub mod upstream_client;
pub mod validation_job;

pub use routes::router;
pub use state::AppState;
