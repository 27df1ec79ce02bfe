//! gateway-proxy: the data plane. A Pingora service on the public port that serves
//! `/proxy/{group}/{path…}` to OpenAI, Anthropic and Gemini with per-group key rotation and
//! weighted upstreams, answers `/health`, and forwards every other path to the admin process.
//!
//! Crate map, top down (a module imports only modules below it):
//! - `main`, `server` — the process: configuration, the Pingora server and its services;
//! - `gateway_service` — the `ProxyHttp` phases, `/health`, admin forwarding;
//!   `client_connection` — connection cap and header deadlines in front of Pingora;
//! - `serve` — the `/proxy` request path, one file per step (admission, attempt loop, one
//!   attempt, blame, relaying, rate-limit waits, the gateway's own answers, records);
//! - `upstream_request` (the request sent upstream, the key injected), `request_rewrite`
//!   (group rules: parameters, model redirects, header rules), `upstream_exchange` (send,
//!   relay, drain; through `outbound_route` when an outbound proxy applies), `model_list`;
//! - background services: `routing_snapshot` (the immutable routing table and its
//!   refresher), `cluster_sync` (health, ejections and rate-limit usage shared through Redis),
//!   `key_health_writer` (key health saved in batches), `request_log` and `request_log_spool`
//!   (attempt records written in batches; spooled when a stopping proxy cannot write them),
//!   `graceful_stop` (drain, final writes, exit), `metrics` (collectors and `/metrics`);
//! - the routing table's parts: `group_runtime` (one group and its attempt settings),
//!   `aggregate_routing` (which member of an aggregate serves), `key_ring` (keys and their
//!   health), `upstream_selection` (weighted upstreams and ejection), `rate_limit`,
//!   `client_auth` (proxy keys), `cluster_outbox` (changes queued for the other nodes);
//! - leaves: `group_routing` (which surface a path is for), `request_context` (the per-request
//!   state), `error` (the errors we answer ourselves), `dns_cache`, `clock`.
//!
//! The key policy itself (who is at fault for an answer) is `gateway_core::key_policy`.
//!
//! Must not touch the database on the request path: only the snapshot refresher, the health
//! writer and the request-log writer do, in the background.

pub mod aggregate_routing;
pub mod client_auth;
pub mod client_connection;
pub mod client_response_header;
pub mod clock;
pub mod cluster_outbox;
pub mod cluster_sync;
pub mod dns_cache;
pub mod error;
pub mod gateway_service;
pub mod graceful_stop;
pub mod group_routing;
pub mod group_runtime;
pub mod key_health_writer;
pub mod key_ring;
pub mod metrics;
pub mod metrics_listener;
pub mod model_list;
pub mod outbound_route;
pub mod rate_limit;
pub mod request_context;
pub mod request_log;
pub mod request_log_spool;
pub mod request_log_writer;
pub mod request_rewrite;
pub mod routing_snapshot;
pub mod serve;
pub mod server;
pub mod upstream_exchange;
pub mod upstream_request;
pub mod upstream_selection;
