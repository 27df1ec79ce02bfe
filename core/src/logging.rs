//! Logging set-up for both binaries: `tracing` with text or JSON output, optional file copy, and
//! the `log` crate (Pingora's logs) bridged in.

use std::sync::Arc;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::MakeWriterExt;

use crate::config::{LogConfig, LogFormat};

/// The filter for `LOG_LEVEL`: that level for everything, but Pingora's crates stop at `info`
/// (their debug output dumps request and response bodies, keys included). `RUST_LOG` can still
/// open them for debugging Pingora itself.
fn default_directives(level: &str) -> String {
    if matches!(level, "debug" | "trace") {
        format!("{level},pingora=info,pingora_core=info,pingora_proxy=info,pingora_pool=info")
    } else {
        level.to_owned()
    }
}

/// Installs the global subscriber. `RUST_LOG` refines the level when set. JSON lines carry the
/// target (`access` for the proxy's access lines).
pub fn init(config: &LogConfig) -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(default_directives(&config.level)));
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
        (LogFormat::Json, None) => builder
            .json()
            .with_target(true)
            .with_writer(std::io::stdout)
            .try_init(),
        (LogFormat::Text, Some(f)) => builder.with_writer(std::io::stdout.and(f)).try_init(),
        (LogFormat::Json, Some(f)) => builder
            .json()
            .with_target(true)
            .with_writer(std::io::stdout.and(f))
            .try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("cannot install the logger: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_keeps_pingora_at_info() {
        assert_eq!(default_directives("warn"), "warn");
        assert!(default_directives("debug").contains("pingora_proxy=info"));
    }
}
