//! `gateway-admin`: loads the configuration, prepares the database and serves the admin API on
//! its loopback address until SIGINT/SIGTERM.

use anyhow::Context;
use clap::Parser;
use gateway_core::key_crypto::KeyCipher;
use gateway_core::{ConfigArgs, GatewayConfig, startup};

/// The gateway's control plane (GPT-Load compatible /api), reached through the proxy's public port.
#[derive(Parser, Debug)]
#[command(name = "gateway-admin", version)]
struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Encrypt, decrypt or re-encrypt the stored upstream keys (api_keys and request_logs).
    /// Stop every gateway process first; then start them with ENCRYPTION_KEY set to the new key
    /// (or unset after --from alone).
    MigrateKeys(gateway_admin::migrate_keys::MigrateArgs),
    /// Import a GPT-Load 1.4 installation from its database: settings, groups, aggregate members
    /// and keys (decrypted with its ENCRYPTION_KEY, sealed with this gateway's). Running it again
    /// changes nothing; --dry-run only reports.
    ImportGptLoad(gateway_admin::gpt_load_import::ImportArgs),
}

fn main() -> std::process::ExitCode {
    startup::exit_code("gateway-admin", run())
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let Some(config) = startup::prepare(&cli.config)? else {
        return Ok(());
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Some(Command::MigrateKeys(args)) => {
            return runtime.block_on(gateway_admin::migrate_keys::run(&config, &args));
        }
        Some(Command::ImportGptLoad(args)) => {
            return runtime.block_on(gateway_admin::gpt_load_import::run(&config, &args));
        }
        None => {}
    }
    let cipher = KeyCipher::from_config(config.encryption_key.as_ref())?;
    runtime.block_on(serve(config, cipher))
}

async fn serve(config: GatewayConfig, cipher: KeyCipher) -> anyhow::Result<()> {
    let db = gateway_admin::bootstrap::prepare_database(&config).await?;
    gateway_admin::bootstrap::check_encryption(&db, &cipher).await?;
    let (stopped, stop) = tokio::sync::oneshot::channel::<()>();
    let registration = tokio::spawn(gateway_schema::stay_registered(
        db.clone(),
        gateway_schema::ProcessRow::this_process("admin"),
        async {
            let _ = stop.await;
        },
    ));
    let cluster = match &config.redis_dsn {
        Some(dsn) => {
            let link = gateway_cluster::ClusterLink::new(dsn.expose(), &config.redis_key_prefix)
                .context("REDIS_DSN")?;
            // A failure is logged by the link; the node starts anyway and catches up later.
            if link.ping().await.is_ok() {
                tracing::info!("cluster mode: Redis reachable");
            }
            Some(link)
        }
        None => None,
    };
    let state = gateway_admin::AppState::new(&config, db, cipher, cluster.clone())?;
    if config.is_slave {
        tracing::info!("IS_SLAVE: background key validation and log retention run on the master");
    } else {
        tokio::spawn(gateway_admin::validation_job::run_forever(
            state.db.clone(),
            state.cipher.clone(),
            config.outbound.clone(),
            std::sync::Arc::clone(&state.metrics),
        ));
        tokio::spawn(gateway_admin::retention_job::run_forever(
            state.db.clone(),
            std::sync::Arc::clone(&state.metrics),
        ));
    }
    if let Some(link) = cluster {
        tokio::spawn(gateway_admin::revision_announcer::run_forever(
            state.db.clone(),
            link,
            std::sync::Arc::clone(&state.revisions),
            config.reload_poll_interval,
        ));
    }
    let listener = tokio::net::TcpListener::bind(config.admin_listen)
        .await
        .with_context(|| format!("cannot listen on {} (ADMIN_LISTEN)", config.admin_listen))?;
    tracing::info!(
        "gateway-admin listening on http://{} (public through the proxy on port {})",
        config.admin_listen,
        config.port
    );
    let served = axum::serve(
        listener,
        gateway_admin::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("admin server failed");
    let _ = stopped.send(());
    let _ = registration.await;
    served
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    else {
        return ctrl_c.await.unwrap_or(());
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
    tracing::info!("gateway-admin stopping");
}
