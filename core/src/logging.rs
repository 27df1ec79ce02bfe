//! Logging set-up for both binaries: `tracing` with text or JSON output, optional file copy, and
//! the `log` crate (Pingora's logs) bridged in.

use std::sync::Arc;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::MakeWriterExt;

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber. `RUST_LOG` refines the level when set.
pub fn init(config: &LogConfig) -> anyhow::Result<()> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.level));
    let file = if config.enable_file {
        if let Some(dir) = config
            .file_path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| anyhow::anyhow!("cannot create log folder {}: {e}", dir.display()))?;
        }
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&config.file_path)
            .map_err(|e| {
                anyhow::anyhow!("cannot open log file {}: {e}", config.file_path.display())
            })?;
        Some(Arc::new(f))
    } else {
        None
    };
    // Colours only on a terminal, and never in the log file.
    let ansi = file.is_none() && std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi);
    let result = match (config.format, file) {
        (LogFormat::Text, None) => builder.with_writer(std::io::stdout).try_init(),
        (LogFormat::Json, None) => builder.json().with_writer(std::io::stdout).try_init(),
        (LogFormat::Text, Some(f)) => builder.with_writer(std::io::stdout.and(f)).try_init(),
        (LogFormat::Json, Some(f)) => builder
            .json()
            .with_writer(std::io::stdout.and(f))
            .try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("cannot install the logger: {e}"))
}
