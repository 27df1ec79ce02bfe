//! gateway-admin: the control plane. GPT-Load compatible `/api` over the shared database (axum),
//! its own `/health`, and the start-up duties of the master (migrations, settings seed).
//!
//! Must not contain proxy logic; it meets the proxy only in the database, where every write bumps
//! `config_revision` in the same transaction.

pub mod admin_auth;
pub mod bootstrap;
pub mod dto;
pub mod error;
pub mod extract;
pub mod http_layers;
pub mod i18n;
pub mod key_tasks;
pub mod key_validation;
pub mod openapi;
pub mod routes;
pub mod state;
pub mod upstream_client;
pub mod validation_job;

pub use routes::router;
pub use state::AppState;
