//! `gateway-proxy`: loads the configuration, then runs the Pingora server until stopped.

use std::io::Write;

use anyhow::Context;
use clap::Parser;
use gateway_core::{ConfigArgs, GatewayConfig};

/// The gateway's data plane (public port: /proxy/{group}/…, /health, everything else to the admin process).
#[derive(Parser, Debug)]
#[command(name = "gateway-proxy", version)]
struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
    /// Take over the listening sockets of a running proxy (zero-downtime upgrade; then send it SIGQUIT).
    #[arg(long)]
    upgrade: bool,
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "gateway-proxy: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = GatewayConfig::load(&cli.config)?;
    if cli.config.check_config {
        let mut out = std::io::stdout();
        writeln!(out, "configuration OK\n{}", config.summary())?;
        for w in &config.warnings {
            writeln!(out, "warning: {w}")?;
        }
        return Ok(());
    }
    gateway_core::logging::init(&config.log)?;
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    let server = gateway_proxy::server::build_server(&config, cli.upgrade)
        .context("cannot start the proxy")?;
    tracing::info!(
        "gateway-proxy listening on http://{} (admin API forwarded to {})",
        config.public_listen(),
        config.admin_listen
    );
    server.run_forever()
}
