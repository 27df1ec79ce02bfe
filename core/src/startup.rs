//! What both binaries do before serving: load the configuration, answer `--check-config`,
//! install logging and report start-up warnings; and how a fatal error ends the process.

use std::io::Write;
use std::process::ExitCode;

use crate::config::{ConfigArgs, GatewayConfig};

/// Loads the configuration. With `--check-config`, prints the report and returns `None` (the
/// caller exits successfully); otherwise installs logging, logs the warnings and returns it.
pub fn prepare(args: &ConfigArgs) -> anyhow::Result<Option<GatewayConfig>> {
    let config = GatewayConfig::load(args)?;
    if args.check_config {
        let mut out = std::io::stdout();
        writeln!(out, "configuration OK\n{}", config.summary())?;
        for w in &config.warnings {
            writeln!(out, "warning: {w}")?;
        }
        return Ok(None);
    }
    crate::logging::init(&config.log)?;
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    Ok(Some(config))
}

/// The process exit code for `result`; an error is printed to stderr as `{binary}: {error}` with
/// its whole context chain.
pub fn exit_code(binary: &str, result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "{binary}: {e:#}");
            ExitCode::FAILURE
        }
    }
}
