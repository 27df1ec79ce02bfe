//! `gateway-proxy`: loads the configuration, then runs the Pingora server until stopped.

use anyhow::Context;
use clap::Parser;
use gateway_core::{ConfigArgs, startup};

/// mimalloc instead of glibc's allocator: the request path allocates many small, short-lived
/// buffers and headers, and glibc's malloc/free showed up at about 7% of the proxy's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    startup::exit_code("gateway-proxy", run())
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let Some(config) = startup::prepare(&cli.config)? else {
        return Ok(());
    };
    let server = gateway_proxy::server::build_server(&config, cli.upgrade)
        .context("cannot start the proxy")?;
    tracing::info!(
        "gateway-proxy listening on http://{} (admin API forwarded to {})",
        config.public_listen(),
        config.admin_upstream
    );
    server.run_forever()
}
