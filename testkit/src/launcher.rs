//! Starting the workspace's real binaries for end-to-end tests: locating them under `target/`,
//! picking free ports, capturing their output to a log file, waiting for them to answer HTTP,
//! and killing them when the handle is dropped.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tempfile::TempDir;

/// Interval between readiness polls.
const POLL: Duration = Duration::from_millis(20);

/// Path of the workspace binary `name` in the profile folder of the running test executable
/// (`target/<profile>/<name>`; test executables live in `target/<profile>/deps/`).
pub fn binary_path(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the test executable")?;
    let file = format!("{name}{}", std::env::consts::EXE_SUFFIX);
    for dir in exe.ancestors().skip(1).take(4) {
        let candidate = dir.join(&file);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!(
        "binary `{name}` not found near {} (looked in target/<profile>/); run `cargo build --workspace` first",
        exe.display()
    )
}

/// A TCP port on `127.0.0.1` that was free a moment ago (bound to port 0, then released).
#[expect(
    clippy::expect_used,
    reason = "test helper: without a free port the test cannot run at all"
)]
pub fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("cannot bind 127.0.0.1:0 to find a free port")
}

/// A running binary whose stdout and stderr go to a log file; killed when dropped.
#[derive(Debug)]
pub struct GatewayProcess {
    name: String,
    child: Mutex<Child>,
    log_path: PathBuf,
    dir: TempDir,
}

/// The outbound-proxy variables, which a spawned gateway does not inherit.
const PROXY_VARIABLES: [&str; 8] = [
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
];

impl GatewayProcess {
    /// Spawns `binary` (a workspace binary name resolved by [`binary_path`], or a path) with
    /// the extra `env` variables and `args`, in a fresh temporary working folder (so relative
    /// paths such as `./data` land there).
    pub fn spawn(binary: &str, env: &[(&str, &str)], args: &[&str]) -> anyhow::Result<Self> {
        let path = if binary.contains(std::path::MAIN_SEPARATOR) || binary.contains('/') {
            PathBuf::from(binary)
        } else {
            binary_path(binary)?
        };
        let name = path
            .file_name()
            .map_or_else(|| binary.to_owned(), |n| n.to_string_lossy().into_owned());
        let dir = tempfile::Builder::new().prefix("gw-proc-").tempdir()?;
        let log_path = dir.path().join(format!("{name}.log"));
        let log =
            File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
        // Several gateways run side by side in tests: the proxy's metrics listener (a fixed
        // default port) is off unless a test asks for it.
        // Tests talk to loopback only: an outbound proxy of the machine's environment must not
        // reach the gateways they start (a test that wants one sets it).
        let mut command = Command::new(&path);
        for name in PROXY_VARIABLES {
            command.env_remove(name);
        }
        let child = command
            .args(args)
            .env("METRICS_LISTEN", "")
            .envs(env.iter().copied())
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("spawning {}", path.display()))?;
        Ok(Self {
            name,
            child: Mutex::new(child),
            log_path,
            dir,
        })
    }

    fn child(&self) -> MutexGuard<'_, Child> {
        self.child.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The OS process id.
    pub fn pid(&self) -> u32 {
        self.child().id()
    }

    /// The working folder (a temporary folder removed on drop).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Path of the combined stdout/stderr log.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Everything the process wrote to stdout and stderr so far.
    pub fn output_log(&self) -> String {
        std::fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The exit status if the process has exited.
    pub fn try_exit_status(&self) -> anyhow::Result<Option<ExitStatus>> {
        Ok(self.child().try_wait()?)
    }

    /// Polls `url` every 20 ms until any HTTP response arrives. Fails, with the captured log, if
    /// the process exits or `timeout` passes.
    pub async fn wait_http_ready(&self, url: &str, timeout: Duration) -> anyhow::Result<()> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(1))
            .build()?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_exit_status()? {
                bail!(
                    "{} exited with {status} before {url} answered; log:\n{}",
                    self.name,
                    self.output_log()
                );
            }
            if client.get(url).send().await.is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} did not answer {url} within {timeout:?}; log:\n{}",
                    self.name,
                    self.output_log()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Polls the log every 20 ms until it contains `needle`; returns the log.
    pub async fn wait_for_log(&self, needle: &str, timeout: Duration) -> anyhow::Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let log = self.output_log();
            if log.contains(needle) {
                return Ok(log);
            }
            if let Some(status) = self.try_exit_status()? {
                bail!(
                    "{} exited with {status} before logging {needle:?}; log:\n{log}",
                    self.name
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} did not log {needle:?} within {timeout:?}; log:\n{log}",
                    self.name
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Sends `signal` (e.g. `TERM`, `INT`, `HUP`, `QUIT`) with `kill(1)`.
    pub fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()?;
        if !status.success() {
            bail!("kill -{signal} {} failed: {status}", self.pid());
        }
        Ok(())
    }

    /// Waits for the process to exit (polling every 20 ms), failing after `timeout`.
    pub async fn wait_exit(&self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_exit_status()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} still running after {timeout:?}; log:\n{}",
                    self.name,
                    self.output_log()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub fn kill(&self) {
        let mut child = self.child();
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_bindable() {
        let port = free_port();
        assert_ne!(port, 0);
        std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    }

    #[test]
    fn missing_binary_says_how_to_build() {
        let err = binary_path("no-such-binary-xyz").unwrap_err().to_string();
        assert!(err.contains("cargo build --workspace"), "{err}");
    }

    #[tokio::test]
    async fn captures_output_and_reports_exit() {
        let p = GatewayProcess::spawn(
            "/bin/sh",
            &[("GREETING", "hi")],
            &["-c", "echo \"$GREETING out\"; echo err >&2"],
        )
        .unwrap();
        let status = p.wait_exit(Duration::from_secs(10)).await.unwrap();
        assert!(status.success());
        let log = p.output_log();
        assert!(log.contains("hi out") && log.contains("err"), "{log}");
        let err = p
            .wait_http_ready("http://127.0.0.1:1/", Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("exited"), "{err}");
    }
}
