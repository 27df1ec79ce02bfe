//! What both processes' Prometheus metrics share: registering a collector in a registry and
//! rendering a registry in the text exposition format.

use prometheus::{Encoder, Registry, TextEncoder};

/// Registers the collector `c` (as built) in `r` and returns it.
pub fn register<C: prometheus::core::Collector + Clone + 'static>(
    r: &Registry,
    c: prometheus::Result<C>,
) -> prometheus::Result<C> {
    let c = c?;
    r.register(Box::new(c.clone()))?;
    Ok(c)
}

/// The `Content-Type` of the text exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `r`'s metrics in the text exposition format (what encoded before an error, logged).
pub fn render(r: &Registry) -> Vec<u8> {
    let mut out = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&r.gather(), &mut out) {
        tracing::error!("cannot encode metrics: {e}");
    }
    out
}
