//! The proxy's metrics listener (`METRICS_LISTEN`): a Pingora app that answers `GET /metrics`
//! with the collectors of `metrics`, and the gauges read at scrape time from the routing snapshot
//! and the in-flight count.

use std::sync::Arc;
use std::sync::atomic::AtomicU32;

use async_trait::async_trait;
use gateway_core::prometheus_text;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;

use crate::metrics::ProxyMetrics;
use crate::routing_snapshot::SnapshotHandle;

/// The Pingora app of the metrics listener: `GET /metrics`.
pub struct MetricsApp {
    metrics: Arc<ProxyMetrics>,
    snapshot: SnapshotHandle,
    inflight: Arc<AtomicU32>,
}

impl MetricsApp {
    /// Serves `metrics` with gauges read from `snapshot` and `inflight`.
    pub fn new(
        metrics: Arc<ProxyMetrics>,
        snapshot: SnapshotHandle,
        inflight: Arc<AtomicU32>,
    ) -> Self {
        Self {
            metrics,
            snapshot,
            inflight,
        }
    }
}

#[async_trait]
impl ServeHttp for MetricsApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let (status, ct, body) = if session.req_header().uri.path() == "/metrics" {
            (
                200,
                prometheus_text::CONTENT_TYPE,
                self.metrics.render(&self.snapshot, &self.inflight),
            )
        } else {
            (
                404,
                "text/plain; charset=utf-8",
                b"not found: metrics are at /metrics\n".to_vec(),
            )
        };
        Response::builder()
            .status(status)
            .header(http::header::CONTENT_TYPE, ct)
            .header(http::header::CONTENT_LENGTH, body.len())
            .body(body)
            .unwrap_or_default()
    }
}
