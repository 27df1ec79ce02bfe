//! gateway-core: what the proxy and the admin process share. Configuration loading, the settings
//! catalogue and effective group configuration, channel definitions, the status-code matcher,
//! `Secret<T>`, key text parsing, key encryption and hashing, logging set-up.
//!
//! Must not depend on pingora or axum, and does no network or database I/O.

pub mod channel;
pub mod client_address;
pub mod client_credential;
pub mod config;
pub mod header_variables;
pub mod key_crypto;
pub mod key_policy;
pub mod key_text;
pub mod logging;
pub mod outbound_proxy;
pub mod prometheus_text;
pub mod secret;
pub mod settings_catalogue;
pub mod startup;
pub mod status_matcher;
pub mod token_usage;

pub use channel::ChannelType;
pub use config::{AdminUpstream, ConfigArgs, GatewayConfig};
pub use secret::Secret;
