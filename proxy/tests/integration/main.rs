//! End-to-end tests of the data plane through real sockets: the real `gateway-admin` and

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail the test loudly"
)]
//! `gateway-proxy` binaries on a fresh SQLite database, talking to the scripted mock provider.

mod admin_hardening;
mod aggregates;
mod client_hardening;
mod cluster;
mod docs_examples;
mod encryption;
mod errors;
mod key_policy;
mod lifecycle;
mod manual_control;
mod outbound_proxies;
mod process_logs;
mod rate_limits;
mod reload;
mod request_logs;
mod rewrite;
mod routing;
mod secrets;
mod streaming;
mod support;
mod tls;
