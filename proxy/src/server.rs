//! Wiring of the Pingora server from the static configuration: server settings, the public
//! listener with `GatewayService`, and the background services (snapshot refresher, health and
//! log writers, process registration, cluster sync, graceful stop).

use anyhow::Context;
use gateway_core::GatewayConfig;
use gateway_core::key_crypto::KeyCipher;
use gateway_schema::{Database, DatabaseUrl, ProcessRow, SqliteCache};
use pingora::connectors::ConnectorOptions;
use pingora::connectors::http::Connector;
use pingora::proxy::http_proxy;
use pingora::server::Server;
use pingora::server::configuration::{Opt, ServerConf};
use pingora::services::background::background_service;

use std::sync::Arc;

use pingora::services::listening::Service;
use tokio::sync::mpsc;

use crate::client_connection::{ClientConnections, ConnectionLimits};
use crate::cluster_outbox::{ClusterOutbox, Outgoing};
use crate::cluster_sync::ClusterSync;
use crate::gateway_service::GatewayService;
use crate::graceful_stop::{FinalWrite, FinalWrites, GracefulStop};
use crate::key_health_writer::{HealthJournal, KeyHealthWriter, Queued};
use crate::metrics::ProxyMetrics;
use crate::metrics_listener::MetricsApp;
use crate::outbound_route::OutboundProxies;
use crate::request_log::LogSink;
use crate::request_log_spool::Spool;
use crate::request_log_writer::RequestLogWriter;
use crate::routing_snapshot::{BuildContext, RefreshTrigger, SnapshotHandle, SnapshotRefresher};
use crate::serve::{ProxyLimits, ProxyPath, SharedState};
use crate::upstream_exchange::UpstreamExchange;

/// How often changed key health is written to the database.
const KEY_HEALTH_WRITE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Pingora's server settings for our configuration.
pub fn server_conf(config: &GatewayConfig) -> ServerConf {
    let threads = if config.threads == 0 {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    } else {
        config.threads
    };
    ServerConf {
        threads,
        // `GracefulStop` exits as soon as the process is drained; these are Pingora's backstop.
        grace_period_seconds: Some(config.graceful_shutdown_timeout.as_secs() + 10),
        graceful_shutdown_timeout_seconds: Some(5),
        upgrade_sock: format!("/tmp/gateway-proxy-{}.sock", config.port),
        pid_file: format!("/tmp/gateway-proxy-{}.pid", config.port),
        ..ServerConf::default()
    }
}

/// Builds the server with its services, ready for `run_forever`.
pub fn build_server(config: &GatewayConfig, upgrade: bool) -> anyhow::Result<Server> {
    let url = DatabaseUrl::parse(config.database_dsn.expose()).context("DATABASE_DSN")?;
    // 4 connections with a small SQLite page cache each (see `SqliteCache`).
    let db = Database::connect_with(&url, 4, SqliteCache::Small).context("database pool")?;
    let context = build_context(config)?;
    let snapshot = SnapshotHandle::default();
    load_first_snapshot(&url, &context, &snapshot)?;
    let cluster = config
        .redis_dsn
        .as_ref()
        .map(|dsn| gateway_cluster::ClusterLink::new(dsn.expose(), &config.redis_key_prefix))
        .transpose()
        .context("REDIS_DSN")?;
    let opt = Opt {
        upgrade,
        ..Opt::default()
    };
    let mut server = Server::new_with_opt_and_conf(opt, server_conf(config));
    server.bootstrap();
    let (outbox, outbox_rx) = ClusterOutbox::new();
    let outbox = cluster.is_some().then_some(outbox);
    let (journal, journal_rx) = HealthJournal::new(outbox.clone());
    let metrics = Arc::new(ProxyMetrics::new().context("metrics")?);
    let shared = SharedState {
        metrics: Arc::clone(&metrics),
        logs: LogSink::new(Arc::clone(&metrics)),
        inflight: Arc::default(),
        stopping: Arc::default(),
        cluster,
        outbox,
    };
    add_public_services(&mut server, config, &snapshot, journal.clone(), &shared);
    let background = Background {
        db,
        context,
        snapshot,
        journal,
        journal_rx,
        outbox_rx,
    };
    add_background_services(&mut server, config, background, shared);
    Ok(server)
}

/// What snapshots are built with: the key cipher and the outbound proxies.
fn build_context(config: &GatewayConfig) -> anyhow::Result<BuildContext> {
    let cipher = KeyCipher::from_config(config.encryption_key.as_ref())?;
    let tunneler = match gateway_tunnel::native_tls_config() {
        Ok(tls) => Some(gateway_tunnel::Tunneler::new(tls)),
        Err(e) => {
            tracing::warn!("https:// outbound proxies cannot be used: {e}");
            None
        }
    };
    if !config.outbound.is_empty() {
        tracing::info!(
            "outbound proxies from the environment: {}",
            config.outbound.summary()
        );
    }
    Ok(BuildContext {
        cipher,
        outbound: OutboundProxies::new(config.outbound.clone(), tunneler),
    })
}

/// The listeners: the public port (client connections → `GatewayService`) and, with
/// `METRICS_LISTEN`, the metrics listener.
fn add_public_services(
    server: &mut Server,
    config: &GatewayConfig,
    snapshot: &SnapshotHandle,
    journal: HealthJournal,
    shared: &SharedState,
) {
    if let Some(addr) = config.metrics_listen {
        let app = MetricsApp::new(
            Arc::clone(&shared.metrics),
            snapshot.clone(),
            Arc::clone(&shared.inflight),
        );
        let mut listener = Service::new("metrics".to_owned(), app);
        listener.add_tcp(&addr.to_string());
        server.add_service(listener);
    }
    let connector = Connector::new(Some(ConnectorOptions::from_server_conf(
        &server.configuration,
    )));
    let path = ProxyPath::new(
        snapshot.clone(),
        UpstreamExchange::new(connector),
        config.trusted_proxies.clone(),
        ProxyLimits {
            max_concurrent_requests: config.max_concurrent_requests,
            max_request_body_bytes: config.max_request_body_bytes,
            read_timeout: config.read_timeout,
            write_timeout: config.write_timeout,
            idle_timeout: config.idle_timeout,
        },
        journal,
        shared.clone(),
    );
    let service = GatewayService::new(path, config.admin_upstream.clone());
    let connections = ClientConnections::new(
        http_proxy(&server.configuration, service),
        ConnectionLimits {
            max_connections: config.max_connections,
            header_timeout: config.read_timeout,
            idle_timeout: config.idle_timeout,
        },
        Arc::clone(&shared.metrics),
    );
    let mut proxy = Service::new("gateway proxy".to_owned(), connections);
    proxy.add_tcp(&config.public_listen());
    server.add_service(proxy);
}

/// What the background services are built from, besides the configuration and the shared
/// state.
struct Background {
    db: Database,
    context: BuildContext,
    snapshot: SnapshotHandle,
    journal: HealthJournal,
    journal_rx: mpsc::UnboundedReceiver<Queued>,
    outbox_rx: mpsc::Receiver<Outgoing>,
}

/// The background services: cluster sync, the key-health and request-log writers, the process
/// registration, the snapshot refresher and the graceful stop.
fn add_background_services(
    server: &mut Server,
    config: &GatewayConfig,
    b: Background,
    shared: SharedState,
) {
    let final_writes = Arc::new(FinalWrites::default());
    let trigger = Arc::new(RefreshTrigger::default());
    if let Some(link) = &shared.cluster {
        let sync = ClusterSync::new(
            link.clone(),
            b.snapshot.clone(),
            Arc::clone(&trigger),
            b.journal,
            b.outbox_rx,
            Arc::clone(&shared.metrics),
        );
        server.add_service(background_service("cluster sync", sync));
    }
    let writer = KeyHealthWriter::new(
        b.db.clone(),
        b.journal_rx,
        KEY_HEALTH_WRITE_INTERVAL,
        final_writes.register(),
    );
    server.add_service(background_service("key health writer", writer));
    let spool = Spool::new(config.request_log_spool_dir.clone());
    let log_writer = RequestLogWriter::new(b.db.clone(), shared.logs, b.snapshot.clone(), spool);
    server.add_service(background_service("request log writer", log_writer));
    let registration = ProcessRegistration {
        db: b.db.clone(),
        me: ProcessRow::this_process("proxy"),
        final_write: final_writes.register(),
    };
    server.add_service(background_service("process registration", registration));
    let refresher = SnapshotRefresher::new(
        b.db,
        b.context,
        b.snapshot,
        config.reload_poll_interval,
        trigger,
        shared.cluster,
    );
    server.add_service(background_service("routing snapshot refresher", refresher));
    let stop = GracefulStop {
        inflight: shared.inflight,
        stopping: shared.stopping,
        metrics: shared.metrics,
        final_writes,
        timeout: config.graceful_shutdown_timeout,
    };
    server.add_service(background_service("graceful stop", stop));
}

/// Refuses to start when the stored keys do not match `ENCRYPTION_KEY`, then loads the first
/// routing snapshot, so the proxy (or the new process of an upgrade) serves from its first
/// request. A database that cannot be read yet (not reachable, not migrated) is left to the
/// snapshot refresher, which makes the same check before it serves anything; until then the
/// proxy answers 503.
fn load_first_snapshot(
    url: &DatabaseUrl,
    context: &BuildContext,
    snapshot: &SnapshotHandle,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let db = Database::connect(url, 1)?;
        let samples = match db.encryption_samples().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("database not readable yet; serving 503 until it is: {e}");
                return Ok(());
            }
        };
        context
            .cipher
            .verify(samples.iter().map(|(v, h)| (v.as_str(), h.as_str())))?;
        if let Err(e) = crate::routing_snapshot::refresh(&db, context, snapshot, true).await {
            tracing::warn!("routing snapshot not loaded yet (retried in the background): {e}");
        }
        Ok(())
    })
}

/// Keeps this proxy's `gateway_processes` row fresh while it runs (see `migrate-keys`).
struct ProcessRegistration {
    db: Database,
    me: ProcessRow,
    /// Finished once the row is removed at a stop.
    final_write: FinalWrite,
}

#[async_trait::async_trait]
impl pingora::services::background::BackgroundService for ProcessRegistration {
    async fn start(&self, mut shutdown: pingora::server::ShutdownWatch) {
        let stop = async move {
            let _ = shutdown.changed().await;
        };
        gateway_schema::stay_registered(self.db.clone(), self.me.clone(), stop).await;
        self.final_write.finish();
    }
}
