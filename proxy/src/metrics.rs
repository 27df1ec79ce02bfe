//! Prometheus metrics of the data plane (listed in docs/metrics.md; served by
//! `metrics_listener`). Labels carry group, channel and model names and
//! classes of outcomes, never a key or a proxy key; model names are capped so a client cannot
//! grow the series without bound.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, PoisonError};

use gateway_core::prometheus_text::{self, register};
use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

use crate::clock::now_ms;
use crate::rate_limit::RateScope;
use crate::routing_snapshot::SnapshotHandle;

/// Distinct `(group, model)` pairs counted by name; later ones count as model `other`.
const MAX_MODEL_SERIES: usize = 500;

/// Longest model name used as a label.
const MAX_MODEL_LABEL: usize = 100;

/// Latency buckets, seconds: 5 ms to 5 min (model answers are slow, streams long).
const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// How a client request ended, for `gateway_requests_total{outcome}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The upstream's successful answer was relayed in full.
    Success,
    /// The upstream's error answer was passed on (after any retries).
    UpstreamError,
    /// The gateway answered itself (no key, no upstream, timeout, bad proxy key, …).
    GatewayError,
    /// The client went away first (status 499).
    ClientClosed,
    /// The upstream broke off a response already being relayed.
    Interrupted,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::UpstreamError => "upstream_error",
            Outcome::GatewayError => "gateway_error",
            Outcome::ClientClosed => "client_closed",
            Outcome::Interrupted => "interrupted",
        }
    }
}

/// A key event counted by `gateway_key_events_total{event}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyEvent {
    /// Blacklisted (`invalid`).
    Blacklisted,
    /// Sent to cool down.
    Cooling,
}

/// What a rate limit did to a request, for `gateway_rate_limited_total{action}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateAction {
    /// A key at its limit was passed over for another key with room.
    Rerouted,
    /// The request waited for room.
    Waited,
    /// The request was answered 429.
    Rejected,
}

impl RateAction {
    fn label(self) -> &'static str {
        match self {
            RateAction::Rerouted => "rerouted",
            RateAction::Waited => "waited",
            RateAction::Rejected => "rejected",
        }
    }
}

/// The data plane's collectors.
pub struct ProxyMetrics {
    registry: Registry,
    traffic: TrafficCollectors,
    health: HealthCollectors,
    /// Records waiting in the request-log queue and the writer's buffer.
    pub log_queue: IntGauge,
    /// Records dropped because the buffer was full.
    pub log_dropped: IntCounter,
    /// 1 while the cluster subscription is live.
    pub cluster_linked: IntGauge,
    /// Cluster messages from other nodes applied here.
    pub cluster_received: IntCounter,
    /// Rate-limit usage other nodes reported, by unit (`requests`, `tokens`).
    pub remote_usage: IntCounterVec,
    /// Client connections open on the public port.
    pub client_connections: IntGauge,
    /// Client connections the gateway closed itself, by reason (`over_limit`, `header_timeout`).
    pub client_connections_closed: IntCounterVec,
    /// Records written to the database.
    pub log_written: IntCounter,
    /// Failed batch writes (each is retried).
    pub log_write_failures: IntCounter,
    models_seen: Mutex<HashSet<(String, String)>>,
}

impl std::fmt::Debug for ProxyMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProxyMetrics")
    }
}

fn counter_vec(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntCounterVec> {
    register(r, IntCounterVec::new(Opts::new(name, help), labels))
}

fn histogram_vec(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<HistogramVec> {
    let opts = HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec());
    register(r, HistogramVec::new(opts, labels))
}

/// Requests, attempts, their durations and tokens.
struct TrafficCollectors {
    requests: IntCounterVec,
    attempts: IntCounterVec,
    retries: IntCounterVec,
    upstream_duration: HistogramVec,
    ttfb: HistogramVec,
    inflight: IntGauge,
    streaming: IntGauge,
    tokens: IntCounterVec,
}

impl TrafficCollectors {
    fn new(r: &Registry) -> prometheus::Result<Self> {
        let gauge = |name: &str, help: &str| register(r, IntGauge::new(name, help));
        Ok(Self {
            requests: counter_vec(
                r,
                "gateway_requests_total",
                "Client requests on /proxy by group, channel, status class and outcome",
                &["group", "channel", "status_class", "outcome"],
            )?,
            attempts: counter_vec(
                r,
                "gateway_upstream_attempts_total",
                "Upstream attempts by group and result (success, failure)",
                &["group", "result"],
            )?,
            retries: counter_vec(
                r,
                "gateway_retries_total",
                "Attempts that were retries of a failed attempt, by group",
                &["group"],
            )?,
            upstream_duration: histogram_vec(
                r,
                "gateway_upstream_duration_seconds",
                "Duration of upstream attempts, from sending to the end of the response, by group",
                &["group"],
            )?,
            ttfb: histogram_vec(
                r,
                "gateway_upstream_ttfb_seconds",
                "Time from sending an upstream request to its response header, by group",
                &["group"],
            )?,
            inflight: gauge(
                "gateway_inflight_requests",
                "Proxy requests in progress (bounded by MAX_CONCURRENT_REQUESTS)",
            )?,
            streaming: gauge(
                "gateway_streaming_responses",
                "Streamed responses being relayed now",
            )?,
            tokens: counter_vec(
                r,
                "gateway_tokens_total",
                "Tokens providers reported, by group, model and direction (input, output)",
                &["group", "model", "direction"],
            )?,
        })
    }
}

/// Keys and upstreams: states, blacklisting, ejections, failovers, rate limits.
struct HealthCollectors {
    key_events: IntCounterVec,
    ejections: IntCounterVec,
    failovers: IntCounterVec,
    rate_limited: IntCounterVec,
    keys: IntGaugeVec,
}

impl HealthCollectors {
    fn new(r: &Registry) -> prometheus::Result<Self> {
        let keys = register(
            r,
            IntGaugeVec::new(
                Opts::new(
                    "gateway_keys",
                    "Keys in the proxy's rotation by state (active, cooling, invalid)",
                ),
                &["group", "state"],
            ),
        )?;
        Ok(Self {
            key_events: counter_vec(
                r,
                "gateway_key_events_total",
                "Keys blacklisted or sent to cool down, by group and event",
                &["group", "event"],
            )?,
            ejections: counter_vec(
                r,
                "gateway_upstream_ejections_total",
                "Upstreams taken out of rotation after consecutive failures, by group",
                &["group"],
            )?,
            failovers: counter_vec(
                r,
                "gateway_sub_group_failovers_total",
                "Requests an aggregate moved to another sub-group after one's attempts all failed",
                &["group"],
            )?,
            rate_limited: counter_vec(
                r,
                "gateway_rate_limited_total",
                "Requests a rate limit acted on, by group, scope (group, key) and action (rerouted to another key, waited, rejected with 429)",
                &["group", "scope", "action"],
            )?,
            keys,
        })
    }
}

impl ProxyMetrics {
    /// Collectors registered in a fresh registry. Fails only if a definition of this file is
    /// wrong (a unit test renders them all).
    pub fn new() -> prometheus::Result<Self> {
        let r = Registry::new();
        let gauge = |name: &str, help: &str| register(&r, IntGauge::new(name, help));
        let counter = |name: &str, help: &str| register(&r, IntCounter::new(name, help));
        Ok(Self {
            traffic: TrafficCollectors::new(&r)?,
            health: HealthCollectors::new(&r)?,
            log_queue: gauge(
                "gateway_request_log_queue_depth",
                "Request-log records waiting to be written",
            )?,
            cluster_linked: gauge(
                "gateway_cluster_linked",
                "1 while this proxy hears the cluster's Redis channel, else 0 (also without REDIS_DSN)",
            )?,
            cluster_received: counter(
                "gateway_cluster_messages_received_total",
                "Messages from other nodes received on the cluster channel",
            )?,
            remote_usage: counter_vec(
                &r,
                "gateway_rate_limit_remote_usage_total",
                "Requests and tokens other nodes admitted under rate limits and reported, charged to this node's limits, by unit",
                &["unit"],
            )?,
            log_dropped: counter(
                "gateway_request_log_dropped_total",
                "Request-log records dropped because the bounded buffer was full",
            )?,
            client_connections: gauge(
                "gateway_client_connections",
                "Client connections open on the public port (bounded by SERVER_MAX_CONNECTIONS)",
            )?,
            client_connections_closed: counter_vec(
                &r,
                "gateway_client_connections_closed_total",
                "Client connections the gateway closed itself, by reason (over_limit: 503 above SERVER_MAX_CONNECTIONS; header_timeout: 408, the header did not arrive within SERVER_READ_TIMEOUT)",
                &["reason"],
            )?,
            log_written: counter(
                "gateway_request_log_written_total",
                "Request-log records written to the database",
            )?,
            log_write_failures: counter(
                "gateway_request_log_write_failures_total",
                "Request-log batch writes that failed (the batch is kept and retried)",
            )?,
            registry: r,
            models_seen: Mutex::default(),
        })
    }

    /// Counts a finished client request.
    pub fn request(&self, group: &str, channel: &str, status: u16, outcome: Outcome) {
        self.traffic
            .requests
            .with_label_values(&[group, channel, status_class(status), outcome.label()])
            .inc();
    }

    /// Counts one upstream attempt: its result, whether it was a retry, its time to the
    /// response header and its whole duration.
    pub fn attempt(&self, group: &str, ok: bool, retry: bool, ttfb_s: Option<f64>, total_s: f64) {
        self.traffic
            .attempts
            .with_label_values(&[group, if ok { "success" } else { "failure" }])
            .inc();
        if retry {
            self.traffic.retries.with_label_values(&[group]).inc();
        }
        if let Some(t) = ttfb_s {
            self.traffic.ttfb.with_label_values(&[group]).observe(t);
        }
        self.traffic
            .upstream_duration
            .with_label_values(&[group])
            .observe(total_s);
    }

    /// Counts a key event.
    pub fn key_event(&self, group: &str, event: KeyEvent) {
        let label = match event {
            KeyEvent::Blacklisted => "blacklisted",
            KeyEvent::Cooling => "cooling",
        };
        self.health
            .key_events
            .with_label_values(&[group, label])
            .inc();
    }

    /// Counts an upstream ejection.
    pub fn ejection(&self, group: &str) {
        self.health.ejections.with_label_values(&[group]).inc();
    }

    /// Counts a request the aggregate `group` moved to another sub-group.
    pub fn failover(&self, group: &str) {
        self.health.failovers.with_label_values(&[group]).inc();
    }

    /// Counts what a rate limit did to a request.
    pub fn rate_limited(&self, group: &str, scope: RateScope, action: RateAction) {
        self.health
            .rate_limited
            .with_label_values(&[group, scope.label(), action.label()])
            .inc();
    }

    /// Adds reported tokens.
    pub fn tokens(&self, group: &str, model: &str, input: i64, output: i64) {
        let model = self.model_label(group, model);
        for (direction, n) in [("input", input), ("output", output)] {
            if let Ok(n) = u64::try_from(n)
                && n > 0
            {
                self.traffic
                    .tokens
                    .with_label_values(&[group, model.as_str(), direction])
                    .inc_by(n);
            }
        }
    }

    fn model_label(&self, group: &str, model: &str) -> String {
        let model: String = model.chars().take(MAX_MODEL_LABEL).collect();
        let mut seen = self
            .models_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let pair = (group.to_owned(), model);
        if seen.contains(&pair) {
            return pair.1;
        }
        if seen.len() >= MAX_MODEL_SERIES {
            return "other".to_owned();
        }
        let model = pair.1.clone();
        seen.insert(pair);
        model
    }

    /// A guard counting one streamed response while it lives.
    pub fn streaming(&self) -> StreamingGuard {
        self.traffic.streaming.inc();
        StreamingGuard(self.traffic.streaming.clone())
    }

    /// The text exposition, with gauges read from `snapshot` and `inflight` first.
    pub fn render(&self, snapshot: &SnapshotHandle, inflight: &AtomicU32) -> Vec<u8> {
        self.traffic
            .inflight
            .set(i64::from(inflight.load(Ordering::Relaxed)));
        self.health.keys.reset();
        let snap = snapshot.load();
        let now = now_ms();
        for group in snap.groups.values() {
            let (mut active, mut cooling, mut invalid) = (0_i64, 0_i64, 0_i64);
            for key in group.keys.keys() {
                if key.health.is_invalid() {
                    invalid += 1;
                } else if key.health.cooling_until_ms() > now {
                    cooling += 1;
                } else {
                    active += 1;
                }
            }
            for (state, n) in [
                ("active", active),
                ("cooling", cooling),
                ("invalid", invalid),
            ] {
                self.health
                    .keys
                    .with_label_values(&[&group.name, state])
                    .set(n);
            }
        }
        prometheus_text::render(&self.registry)
    }
}

/// Decrements the streaming gauge when dropped.
pub struct StreamingGuard(IntGauge);

impl Drop for StreamingGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// `2xx`, `4xx`, … (`499` stays in `4xx`).
fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_with_labels_and_caps_models() {
        let m = ProxyMetrics::new().unwrap();
        m.request("g", "openai", 200, Outcome::Success);
        m.attempt("g", true, false, Some(0.01), 0.02);
        m.key_event("g", KeyEvent::Cooling);
        m.ejection("g");
        m.failover("agg");
        m.rate_limited("g", RateScope::Key, RateAction::Rerouted);
        m.tokens("g", "gpt-x", 3, 4);
        m.log_dropped.inc();
        let _s = m.streaming();
        for i in 0..MAX_MODEL_SERIES + 5 {
            m.tokens("g", &format!("m{i}"), 1, 0);
        }
        let text = String::from_utf8(m.render(&SnapshotHandle::default(), &AtomicU32::new(2)))
            .unwrap_or_default();
        for line in [
            r#"gateway_requests_total{channel="openai",group="g",outcome="success",status_class="2xx"} 1"#,
            r#"gateway_tokens_total{direction="output",group="g",model="gpt-x"} 4"#,
            r#"gateway_tokens_total{direction="input",group="g",model="other"} 6"#,
            "gateway_inflight_requests 2",
            "gateway_streaming_responses 1",
            "gateway_request_log_dropped_total 1",
            r#"gateway_upstream_ttfb_seconds_count{group="g"} 1"#,
            r#"gateway_sub_group_failovers_total{group="agg"} 1"#,
            r#"gateway_rate_limited_total{action="rerouted",group="g",scope="key"} 1"#,
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
    }
}
