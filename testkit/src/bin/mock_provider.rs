//! `mock-provider`: runs the scripted mock AI provider on `--port P` (default: any free port)
//! until Ctrl-C or SIGTERM, for manual `curl` sessions and the admin UI's browser tests. It answers
//! every key with the default replies, except keys named by `--revoke KEY`, which always get the
//! provider's 401 (a revoked key).

use std::io::Write;
use std::net::SocketAddr;

use anyhow::{Context, bail};
use gateway_testkit::{MockProvider, Reply};

const USAGE: &str = "mock-provider [--port P] [--revoke KEY]...";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut port: u16 = 0;
    let mut revoked = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" | "-p" => {
                let value = args.next().context("--port needs a value")?;
                port = value
                    .parse()
                    .with_context(|| format!("bad port {value:?}"))?;
            }
            "--revoke" => revoked.push(args.next().context("--revoke needs a key")?),
            "--help" | "-h" => {
                writeln!(std::io::stdout(), "usage: {USAGE}")?;
                return Ok(());
            }
            other => bail!("unknown argument {other:?} (usage: {USAGE})"),
        }
    }
    let mock = MockProvider::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    for key in &revoked {
        mock.always(key, Reply::status(401));
    }
    let mut out = std::io::stdout();
    writeln!(out, "listening on {}", mock.base_url())?;
    out.flush()?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    mock.shutdown().await;
    Ok(())
}
