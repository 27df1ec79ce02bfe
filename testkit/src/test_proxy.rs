//! Real outbound proxies from Debian's packages, started for one test with a configuration in a
//! temporary folder and stopped when dropped: `tinyproxy` (HTTP CONNECT, optionally with basic
//! authentication), `microsocks` (SOCKS5, optionally with username/password) and `stunnel` in
//! front of a tinyproxy (an `https://` proxy: TLS to the proxy, then CONNECT). Each listens on
//! loopback. A missing program skips the test, unless `REQUIRE_SERVICES=1`
//! (`make deps` installs them).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;

use crate::free_port;
use crate::test_db::services_required;
use crate::test_tls::TestCa;

/// Which kind of proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyKind {
    /// `tinyproxy`: `http://`.
    Http,
    /// `microsocks`: `socks5://`.
    Socks5,
    /// `stunnel` → `tinyproxy`: `https://`.
    Https,
}

/// A running proxy.
#[derive(Debug)]
pub struct TestProxy {
    kind: ProxyKind,
    port: u16,
    credentials: Option<(String, String)>,
    child: Child,
    dir: tempfile::TempDir,
    /// The tinyproxy behind an stunnel.
    behind: Option<Box<TestProxy>>,
}

impl Drop for TestProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `Some(path)` of `program` on the PATH, `None` (test skipped) or an error under
/// `REQUIRE_SERVICES=1`.
fn program(name: &str) -> anyhow::Result<Option<PathBuf>> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    });
    match found {
        Some(p) => Ok(Some(p)),
        None if services_required() => {
            anyhow::bail!("{name} is not installed (REQUIRE_SERVICES=1): run `make deps`")
        }
        None => Ok(None),
    }
}

impl TestProxy {
    /// A tinyproxy on a free loopback port; with `credentials` it requires them (407 without).
    pub async fn http(credentials: Option<(&str, &str)>) -> anyhow::Result<Option<Self>> {
        Self::tinyproxy(credentials, "").await
    }

    /// A tinyproxy as Debian (and Squid's `SSL_ports`) configures one: `CONNECT` only to ports
    /// 443 and 563, so a plain-HTTP upstream on another port is reached only by forwarding.
    pub async fn http_connect_443_only(
        credentials: Option<(&str, &str)>,
    ) -> anyhow::Result<Option<Self>> {
        Self::tinyproxy(credentials, "ConnectPort 443\nConnectPort 563\n").await
    }

    async fn tinyproxy(
        credentials: Option<(&str, &str)>,
        extra_conf: &str,
    ) -> anyhow::Result<Option<Self>> {
        let Some(bin) = program("tinyproxy")? else {
            return Ok(None);
        };
        let dir = tempfile::Builder::new().prefix("tinyproxy-").tempdir()?;
        let port = free_port();
        let d = dir.path().display();
        let mut conf = format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 60\nMaxClients 100\nLogFile \"{d}/proxy.log\"\n\
             LogLevel Info\nPidFile \"{d}/proxy.pid\"\nAllow 127.0.0.1\nDisableViaHeader Yes\n"
        );
        if let Some((user, pass)) = credentials {
            conf.push_str(&format!("BasicAuth {user} {pass}\n"));
        }
        conf.push_str(extra_conf);
        let path = dir.path().join("tinyproxy.conf");
        std::fs::write(&path, conf)?;
        let child = spawn(&bin, &["-d", "-c", &path.display().to_string()], dir.path())?;
        Self::ready(ProxyKind::Http, port, credentials, child, dir, None).await
    }

    /// A microsocks on a free loopback port; with `credentials` it requires them.
    pub async fn socks5(credentials: Option<(&str, &str)>) -> anyhow::Result<Option<Self>> {
        let Some(bin) = program("microsocks")? else {
            return Ok(None);
        };
        let dir = tempfile::Builder::new().prefix("microsocks-").tempdir()?;
        let port = free_port();
        let port_text = port.to_string();
        let mut args = vec!["-i", "127.0.0.1", "-p", &port_text];
        if let Some((user, pass)) = credentials {
            args.extend(["-u", user, "-P", pass]);
        }
        let child = spawn(&bin, &args, dir.path())?;
        Self::ready(ProxyKind::Socks5, port, credentials, child, dir, None).await
    }

    /// An `https://` proxy: stunnel presenting a certificate for `localhost` signed by `ca`,
    /// in front of a tinyproxy with `credentials`.
    pub async fn https(
        ca: &TestCa,
        credentials: Option<(&str, &str)>,
    ) -> anyhow::Result<Option<Self>> {
        let Some(bin) = program("stunnel4")? else {
            return Ok(None);
        };
        let Some(inner) = Self::http(credentials).await? else {
            return Ok(None);
        };
        let dir = tempfile::Builder::new().prefix("stunnel-").tempdir()?;
        let leaf = ca.leaf(&["localhost"])?;
        let cert = dir.path().join("proxy.pem");
        std::fs::write(&cert, format!("{}{}", leaf.cert_pem, leaf.key_pem))?;
        let port = free_port();
        let conf = format!(
            "foreground = yes\npid =\ndebug = 4\noutput = {d}/stunnel.log\n\n[proxy]\n\
             accept = 127.0.0.1:{port}\nconnect = 127.0.0.1:{inner}\ncert = {cert}\n",
            d = dir.path().display(),
            inner = inner.port,
            cert = cert.display(),
        );
        let path = dir.path().join("stunnel.conf");
        std::fs::write(&path, conf)?;
        let child = spawn(&bin, &[&path.display().to_string()], dir.path())?;
        Self::ready(
            ProxyKind::Https,
            port,
            credentials,
            child,
            dir,
            Some(Box::new(inner)),
        )
        .await
    }

    async fn ready(
        kind: ProxyKind,
        port: u16,
        credentials: Option<(&str, &str)>,
        mut child: Child,
        dir: tempfile::TempDir,
        behind: Option<Box<TestProxy>>,
    ) -> anyhow::Result<Option<Self>> {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            if let Some(status) = child.try_wait()? {
                anyhow::bail!(
                    "{kind:?} proxy exited at start ({status}); see {}",
                    dir.path().display()
                );
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                anyhow::bail!("{kind:?} proxy did not listen on port {port} within 10 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(Some(Self {
            kind,
            port,
            credentials: credentials.map(|(u, p)| (u.to_owned(), p.to_owned())),
            child,
            dir,
            behind,
        }))
    }

    /// The proxy URL with its credentials, e.g. `http://user:pass@127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.url_with(
            self.credentials
                .as_ref()
                .map(|(u, p)| (u.as_str(), p.as_str())),
        )
    }

    /// The proxy URL with other credentials (or none).
    pub fn url_with(&self, credentials: Option<(&str, &str)>) -> String {
        let scheme = match self.kind {
            ProxyKind::Http => "http",
            ProxyKind::Socks5 => "socks5",
            ProxyKind::Https => "https",
        };
        // stunnel's certificate names `localhost`.
        let host = if self.kind == ProxyKind::Https {
            "localhost"
        } else {
            "127.0.0.1"
        };
        let creds = credentials.map_or(String::new(), |(u, p)| format!("{u}:{p}@"));
        format!("{scheme}://{creds}{host}:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Requests the tinyproxy forwarded in absolute form (not `CONNECT`) so far.
    pub fn forwarded_requests(&self) -> usize {
        if let Some(inner) = &self.behind {
            return inner.forwarded_requests();
        }
        std::fs::read_to_string(self.log_path())
            .map(|log| {
                log.lines()
                    .filter(|l| l.contains("Request (file descriptor") && l.contains(" http://"))
                    .count()
            })
            .unwrap_or(0)
    }

    /// CONNECT requests the tinyproxy (itself, or behind the stunnel) received so far: one per
    /// tunnel opened. (Not available for microsocks, which keeps no log.)
    pub fn connect_requests(&self) -> usize {
        if let Some(inner) = &self.behind {
            return inner.connect_requests();
        }
        std::fs::read_to_string(self.log_path())
            .map(|log| {
                log.lines()
                    .filter(|l| l.contains("Request (file descriptor") && l.contains(": CONNECT "))
                    .count()
            })
            .unwrap_or(0)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("proxy.log")
    }

    /// Stops the proxy (a test of a proxy that went away).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(bin: &Path, args: &[&str], dir: &Path) -> anyhow::Result<Child> {
    let out = std::fs::File::create(dir.join("output.log"))?;
    Command::new(bin)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out.try_clone()?))
        .stderr(Stdio::from(out))
        .spawn()
        .with_context(|| format!("spawning {}", bin.display()))
}
