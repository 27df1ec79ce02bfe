//! `mock-provider`: runs the scripted mock AI provider (default replies only) on `--port P`
//! (default: any free port) until Ctrl-C, for manual `curl` sessions.

use std::io::Write;
use std::net::SocketAddr;

use anyhow::{Context, bail};
use gateway_testkit::MockProvider;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut port: u16 = 0;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" | "-p" => {
                let value = args.next().context("--port needs a value")?;
                port = value
                    .parse()
                    .with_context(|| format!("bad port {value:?}"))?;
            }
            "--help" | "-h" => {
                writeln!(std::io::stdout(), "usage: mock-provider [--port P]")?;
                return Ok(());
            }
            other => bail!("unknown argument {other:?} (usage: mock-provider [--port P])"),
        }
    }
    let mock = MockProvider::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    let mut out = std::io::stdout();
    writeln!(out, "listening on {}", mock.base_url())?;
    out.flush()?;
    tokio::signal::ctrl_c().await?;
    mock.shutdown().await;
    Ok(())
}
