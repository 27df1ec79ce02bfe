//! Prometheus metrics of the control plane (listed in docs/metrics.md), served at `GET /metrics`
//! on the admin process's own (loopback) address; the proxy does not forward `/metrics` from the
//! public port. HTTP requests are labelled by route template, never by a raw path or a key.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use gateway_core::prometheus_text::{self, register};
use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

/// The admin process's collectors.
pub struct AdminMetrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    /// Keys checked by the background validation job.
    pub validation_checked: IntCounter,
    /// Keys the background validation job returned to rotation.
    pub validation_restored: IntCounter,
    /// Request logs deleted by retention.
    pub retention_deleted: IntCounter,
    keys: IntGaugeVec,
    database_up: IntGauge,
}

impl std::fmt::Debug for AdminMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminMetrics")
    }
}

impl AdminMetrics {
    /// Collectors registered in a fresh registry (fails only if a definition here is wrong).
    pub fn new() -> prometheus::Result<Self> {
        let r = Registry::new();
        let counter = |name: &str, help: &str| register(&r, IntCounter::new(name, help));
        Ok(Self {
            http_requests: register(
                &r,
                IntCounterVec::new(
                    Opts::new(
                        "gateway_admin_http_requests_total",
                        "Admin API requests by method, route template and status",
                    ),
                    &["method", "route", "status"],
                ),
            )?,
            http_duration: register(
                &r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "gateway_admin_http_request_duration_seconds",
                        "Admin API request durations by route template",
                    ),
                    &["route"],
                ),
            )?,
            validation_checked: counter(
                "gateway_admin_validation_checked_total",
                "Invalid keys checked by the background validation job",
            )?,
            validation_restored: counter(
                "gateway_admin_validation_restored_total",
                "Keys the background validation job returned to rotation",
            )?,
            retention_deleted: counter(
                "gateway_admin_log_retention_deleted_total",
                "Request logs deleted by the retention job",
            )?,
            keys: register(
                &r,
                IntGaugeVec::new(
                    Opts::new(
                        "gateway_stored_keys",
                        "Keys stored in the database by group and status",
                    ),
                    &["group", "status"],
                ),
            )?,
            database_up: register(
                &r,
                IntGauge::new(
                    "gateway_admin_database_up",
                    "1 when the admin process reached the database at the last scrape",
                ),
            )?,
            registry: r,
        })
    }

    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.http_requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
        self.http_duration
            .with_label_values(&[route])
            .observe(seconds);
    }
}

/// Middleware: counts every request by its route template (`unmatched` for unknown paths).
pub async fn track(
    State(metrics): State<std::sync::Arc<AdminMetrics>>,
    req: Request,
    next: Next,
) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let resp = next.run(req).await;
    metrics.observe(
        &method,
        &route,
        resp.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    resp
}

/// `GET /metrics`: the text exposition, with key counts read from `db` first.
pub async fn render(m: &AdminMetrics, db: &gateway_schema::Database) -> Response {
    match (db.key_status_by_group().await, db.groups().await) {
        (Ok(counts), Ok(groups)) => {
            m.database_up.set(1);
            m.keys.reset();
            let names: std::collections::HashMap<i64, String> =
                groups.into_iter().map(|g| (g.id, g.name)).collect();
            for (group_id, status, n) in counts {
                if let Some(name) = names.get(&group_id) {
                    m.keys.with_label_values(&[name, &status]).set(n);
                }
            }
        }
        (Err(e), _) | (_, Err(e)) => {
            m.database_up.set(0);
            tracing::warn!("metrics: cannot read key counts: {e}");
        }
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            prometheus_text::CONTENT_TYPE,
        )],
        prometheus_text::render(&m.registry),
    )
        .into_response()
}
