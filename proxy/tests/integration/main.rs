//! End-to-end tests of the data plane through real sockets: the real `gateway-admin` and
//! `gateway-proxy` binaries on a fresh SQLite database, talking to the scripted mock provider.

mod errors;
mod reload;
mod routing;
mod streaming;
mod support;
