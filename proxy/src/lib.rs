//! gateway-proxy: the data plane. A Pingora service on the public port that serves
//! `/proxy/{group}/{path…}` to OpenAI, Anthropic and Gemini with per-group key rotation and
//! weighted upstreams, answers `/health`, and forwards every other path to the admin process.
//!
//! Crate map: `client_connection` (connection cap and header deadlines in front of Pingora);
//! `gateway_service` (the `ProxyHttp` phases) delegates to `group_routing`,
//! `aggregate_routing` (which member of an aggregate group serves a request),
//! `client_auth`, `key_ring`, `rate_limit` (group and key rate limits), `upstream_selection`, `header_rewrite`, `request_rewrite`,
//! `upstream_exchange` (through `outbound_route` when an outbound proxy applies) and
//! `model_list`; the key policy itself (who is at fault) is
//! `gateway_core::key_policy`; `routing_snapshot` holds the immutable routing table and its
//! refresher; `key_health_writer` saves key health in batches; `request_log` records every
//! attempt and writes the records in batches; `metrics` counts what happens and serves
//! `/metrics`; `cluster_sync` shares key and upstream health and rate-limit usage with the other nodes
//! through Redis;
//! `graceful_stop` drains and ends the process; `error` the errors we answer ourselves; `server` wires the Pingora server from
//! the static configuration.
//!
//! Must not touch the database on the request path: only the snapshot refresher, the health
//! writer and the request-log writer do, in the background.

pub mod aggregate_routing;
pub mod client_auth;
pub mod client_connection;
pub mod clock;
pub mod cluster_sync;
pub mod dns_cache;
pub mod error;
pub mod gateway_service;
pub mod graceful_stop;
pub mod group_routing;
pub mod header_rewrite;
pub mod key_health_writer;
pub mod key_ring;
pub mod metrics;
pub mod model_list;
pub mod outbound_route;
pub mod rate_limit;
pub mod request_context;
pub mod request_log;
pub mod request_log_spool;
pub mod request_rewrite;
pub mod routing_snapshot;
pub mod server;
pub mod upstream_exchange;
pub mod upstream_selection;
