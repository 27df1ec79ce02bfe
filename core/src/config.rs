//! Static configuration of both processes: `config/gateway.toml` < environment (GPT-Load's names,
//! plus a `.env` file that never overrides the real environment) < command-line flags.
//! Every value is validated here; an error names the key, where it came from and why.

use crate::client_address::TrustedProxies;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::outbound_proxy::{EnvProxies, ProxyUrl};
use crate::secret::Secret;

/// Flags both binaries accept (flattened into each binary's clap parser).
#[derive(Clone, Debug, Default, clap::Args)]
pub struct ConfigArgs {
    /// TOML configuration file (default: `config/gateway.toml` when it exists; env `GATEWAY_CONFIG`).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Validate the configuration, print a summary and exit (non-zero when invalid).
    #[arg(long)]
    pub check_config: bool,
    /// Listen address of the public port (overrides `HOST`).
    #[arg(long)]
    pub host: Option<String>,
    /// Public port (overrides `PORT`).
    #[arg(long)]
    pub port: Option<String>,
    /// Database DSN (overrides `DATABASE_DSN`).
    #[arg(long)]
    pub database_dsn: Option<String>,
    /// Loopback address of the admin process (overrides `ADMIN_LISTEN`).
    #[arg(long)]
    pub admin_listen: Option<String>,
    /// Log level: debug, info, warn, error (overrides `LOG_LEVEL`).
    #[arg(long)]
    pub log_level: Option<String>,
    /// Log format: text or json (overrides `LOG_FORMAT`).
    #[arg(long)]
    pub log_format: Option<String>,
}

/// One configurable value: its TOML path, its environment name and its default.
struct Field {
    path: &'static str,
    env: &'static str,
    default: &'static str,
}

const fn field(path: &'static str, env: &'static str, default: &'static str) -> Field {
    Field { path, env, default }
}

/// Every key of `config/gateway.toml` with its environment variable.
const FIELDS: &[Field] = &[
    field("server.host", "HOST", "0.0.0.0"),
    field("server.port", "PORT", "3001"),
    field("server.read_timeout", "SERVER_READ_TIMEOUT", "60"),
    field("server.write_timeout", "SERVER_WRITE_TIMEOUT", "600"),
    field("server.idle_timeout", "SERVER_IDLE_TIMEOUT", "120"),
    field(
        "server.graceful_shutdown_timeout",
        "SERVER_GRACEFUL_SHUTDOWN_TIMEOUT",
        "10",
    ),
    field("server.threads", "SERVER_THREADS", "0"),
    field(
        "server.max_concurrent_requests",
        "MAX_CONCURRENT_REQUESTS",
        "100",
    ),
    field("server.max_connections", "SERVER_MAX_CONNECTIONS", "10000"),
    field(
        "server.max_request_body_bytes",
        "MAX_REQUEST_BODY_BYTES",
        "33554432",
    ),
    field("server.trusted_proxies", "TRUSTED_PROXIES", ""),
    field("admin.listen", "ADMIN_LISTEN", "127.0.0.1:3002"),
    field("admin.upstream", "ADMIN_UPSTREAM", ""),
    field("admin.ui_dir", "UI_DIR", "admin-ui/dist"),
    field("metrics.listen", "METRICS_LISTEN", "127.0.0.1:9464"),
    field("auth.auth_key", "AUTH_KEY", ""),
    field("auth.encryption_key", "ENCRYPTION_KEY", ""),
    field("database.dsn", "DATABASE_DSN", "./data/gateway.db"),
    field("redis.dsn", "REDIS_DSN", ""),
    field("redis.key_prefix", "REDIS_KEY_PREFIX", "gateway:"),
    field("cluster.is_slave", "IS_SLAVE", "false"),
    field(
        "cluster.reload_poll_interval_ms",
        "RELOAD_POLL_INTERVAL_MS",
        "250",
    ),
    field("log.level", "LOG_LEVEL", "info"),
    field("log.format", "LOG_FORMAT", "text"),
    field("log.enable_file", "LOG_ENABLE_FILE", "false"),
    field("log.file_path", "LOG_FILE_PATH", "./data/logs/app.log"),
    field(
        "log.request_log_spool_dir",
        "REQUEST_LOG_SPOOL_DIR",
        "./data/request-log-spool",
    ),
    field("outbound.http_proxy", "HTTP_PROXY", ""),
    field("outbound.https_proxy", "HTTPS_PROXY", ""),
    field("outbound.no_proxy", "NO_PROXY", ""),
    field("cors.enabled", "ENABLE_CORS", "false"),
    field("cors.allowed_origins", "ALLOWED_ORIGINS", ""),
    field(
        "cors.allowed_methods",
        "ALLOWED_METHODS",
        "GET,POST,PUT,DELETE,OPTIONS",
    ),
    field("cors.allowed_headers", "ALLOWED_HEADERS", "*"),
    field("cors.allow_credentials", "ALLOW_CREDENTIALS", "false"),
];

/// Where a proxy reaches the admin process: a host (name or IP) and a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminUpstream {
    /// Host name or IP literal (without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
}

impl AdminUpstream {
    /// `host:port` or `[v6]:port`.
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        const EXPECTED: &str = "expected host:port, such as admin:3002 or 10.0.0.5:3002";
        let (host, port) = text.rsplit_once(':').ok_or(EXPECTED)?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let port: u16 = port.parse().map_err(|_| EXPECTED)?;
        let name_ok = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
        if !name_ok
            || port == 0
            || (host.contains(':') && host.parse::<std::net::IpAddr>().is_err())
        {
            return Err(EXPECTED);
        }
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }

    /// Where `ADMIN_LISTEN` is reached: its address, or loopback for a wildcard one.
    pub fn reaching(listen: SocketAddr) -> Self {
        let ip = match listen.ip() {
            std::net::IpAddr::V4(ip) if ip.is_unspecified() => {
                std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
            }
            std::net::IpAddr::V6(ip) if ip.is_unspecified() => {
                std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
            }
            ip => ip,
        };
        Self {
            host: ip.to_string(),
            port: listen.port(),
        }
    }
}

impl std::fmt::Display for AdminUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Logging settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// `debug`, `info`, `warn` or `error`.
    pub level: String,
    /// Text or JSON.
    pub format: LogFormat,
    /// Also append to `file_path`.
    pub enable_file: bool,
    /// Log file path (its folder is created).
    pub file_path: PathBuf,
}

/// CORS settings for the admin API (off by default).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorsConfig {
    /// Whether CORS headers are sent at all.
    pub enabled: bool,
    /// Origins echoed back; `*` allows any.
    pub allowed_origins: Vec<String>,
    /// `Access-Control-Allow-Methods`.
    pub allowed_methods: Vec<String>,
    /// `Access-Control-Allow-Headers`.
    pub allowed_headers: Vec<String>,
    /// `Access-Control-Allow-Credentials: true`.
    pub allow_credentials: bool,
}

/// The validated static configuration.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// Public listen host.
    pub host: String,
    /// Public port.
    pub port: u16,
    /// Time allowed to read a client request.
    pub read_timeout: Duration,
    /// Time allowed for a whole response (streams included).
    pub write_timeout: Duration,
    /// Idle keep-alive time of client connections.
    pub idle_timeout: Duration,
    /// How long in-flight requests may finish on stop.
    pub graceful_shutdown_timeout: Duration,
    /// Proxy worker threads (0 in the file = one per core).
    pub threads: usize,
    /// In-flight request cap.
    pub max_concurrent_requests: u32,
    /// Client connections open at once on the public port (503 and closed above it).
    pub max_connections: usize,
    /// Where a stopping proxy keeps request logs it could not write (the database was down).
    pub request_log_spool_dir: PathBuf,
    /// Largest request body accepted (413 above it).
    pub max_request_body_bytes: usize,
    /// Reverse proxies whose `X-Forwarded-For` / `X-Real-IP` name the client (none by default).
    pub trusted_proxies: TrustedProxies,
    /// Admin process address (loopback).
    pub admin_listen: SocketAddr,
    /// Where proxies forward the admin routes: `ADMIN_UPSTREAM`, a `host:port` whose host may be
    /// a name (resolved by the proxy, asynchronously, and again as it ages), or `ADMIN_LISTEN`
    /// when unset (a wildcard listen address reached on loopback).
    pub admin_upstream: AdminUpstream,
    /// The built admin UI (`admin-ui/dist`) the admin process serves at `/`.
    pub ui_dir: PathBuf,
    /// The proxy's Prometheus listener (`None`: off).
    pub metrics_listen: Option<SocketAddr>,
    /// Admin API key.
    pub auth_key: Secret<String>,
    /// Encryption key for keys at rest (None = plaintext).
    pub encryption_key: Option<Secret<String>>,
    /// Database DSN as GPT-Load parses it.
    pub database_dsn: Secret<String>,
    /// Redis URL (None = single node).
    pub redis_dsn: Option<Secret<String>>,
    /// Start of every Redis key and channel name (one cluster per prefix).
    pub redis_key_prefix: String,
    /// Follower node of a cluster: no migrations, no background jobs.
    pub is_slave: bool,
    /// How often the proxy checks `config_revision`.
    pub reload_poll_interval: Duration,
    /// Logging.
    pub log: LogConfig,
    /// CORS.
    pub cors: CorsConfig,
    /// `HTTP_PROXY` / `HTTPS_PROXY` / `NO_PROXY`: the outbound proxies of groups without a
    /// `proxy_url`.
    pub outbound: EnvProxies,
    /// Warnings found while loading (weak keys, raised minimums); log them at start.
    pub warnings: Vec<String>,
    /// The file that was read, if any.
    pub source_file: Option<PathBuf>,
}

/// Where a raw value came from, for error messages.
#[derive(Clone, Debug)]
enum Origin {
    Default,
    File(PathBuf),
    Env,
    Cli,
}

/// Reads `.env` (if present in the working directory) under the real environment: variables of the
/// real environment win, as GPT-Load does.
pub fn process_environment() -> anyhow::Result<HashMap<String, String>> {
    let mut env: HashMap<String, String> = HashMap::new();
    match dotenvy::from_path_iter(".env") {
        Ok(iter) => {
            for item in iter {
                let (k, v) = item.map_err(|e| anyhow::anyhow!(".env: {e}"))?;
                env.insert(k, v);
            }
        }
        Err(e) if e.not_found() => {}
        Err(e) => anyhow::bail!(".env: {e}"),
    }
    env.extend(std::env::vars());
    Ok(env)
}

impl GatewayConfig {
    /// Loads from the process: `.env`, the real environment, the TOML file and `args`.
    pub fn load(args: &ConfigArgs) -> anyhow::Result<Self> {
        Self::load_from(args, &process_environment()?)
    }

    /// Loads from an explicit environment map (tests pass their own).
    pub fn load_from(args: &ConfigArgs, env: &HashMap<String, String>) -> anyhow::Result<Self> {
        let explicit = args
            .config
            .clone()
            .or_else(|| env.get("GATEWAY_CONFIG").map(PathBuf::from));
        let file = match explicit {
            Some(path) => Some(path),
            None => Some(PathBuf::from("config/gateway.toml")).filter(|p| p.exists()),
        };
        let mut raw: BTreeMap<&'static str, (String, Origin)> = FIELDS
            .iter()
            .map(|f| (f.path, (f.default.to_owned(), Origin::Default)))
            .collect();
        if let Some(path) = &file {
            for (k, v) in read_toml(path)? {
                let f = FIELDS
                    .iter()
                    .find(|f| f.path == k)
                    .ok_or_else(|| anyhow::anyhow!("{}: unknown key `{k}`", path.display()))?;
                raw.insert(f.path, (v, Origin::File(path.clone())));
            }
        }
        for f in FIELDS {
            // The proxy variables are also read in lower case, as curl and most tools do.
            let lower = f
                .path
                .starts_with("outbound.")
                .then(|| env.get(&f.env.to_ascii_lowercase()))
                .flatten();
            if let Some(v) = env.get(f.env).or(lower) {
                raw.insert(f.path, (v.clone(), Origin::Env));
            }
        }
        let cli = [
            ("server.host", &args.host),
            ("server.port", &args.port),
            ("database.dsn", &args.database_dsn),
            ("admin.listen", &args.admin_listen),
            ("log.level", &args.log_level),
            ("log.format", &args.log_format),
        ];
        for (path, value) in cli {
            if let Some(v) = value {
                raw.insert(path, (v.clone(), Origin::Cli));
            }
        }
        let mut parser = Parser {
            raw,
            warnings: Vec::new(),
        };
        let mut config = parser.build()?;
        config.warnings = parser.warnings;
        config.source_file = file;
        Ok(config)
    }

    /// The address the proxy listens on.
    pub fn public_listen(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// GPT-Load's default `app_url`: `http://{HOST or localhost}:{PORT}`.
    pub fn default_app_url(&self) -> String {
        let host = if self.host.is_empty() || self.host == "0.0.0.0" || self.host == "::" {
            "localhost"
        } else {
            &self.host
        };
        format!("http://{host}:{}", self.port)
    }

    /// A multi-line summary without secrets, for `--check-config` and the start-up log.
    pub fn summary(&self) -> String {
        let set = |b: bool| if b { "set" } else { "not set" };
        format!(
            "config file: {}\npublic listen: {}\nadmin listen: {}\nadmin upstream: {}\ndatabase: {}\nredis: {}\nrole: {}\nauth key: {}\nencryption: {}\nmax concurrent requests: {}\nmax request body: {} bytes\nlog: {} ({})\noutbound proxies (environment): {}",
            self.source_file
                .as_ref()
                .map_or("none (defaults + environment)".to_owned(), |p| p
                    .display()
                    .to_string()),
            self.public_listen(),
            self.admin_listen,
            self.admin_upstream,
            redact_dsn(self.database_dsn.expose()),
            self.redis_dsn
                .as_ref()
                .map_or("not set (single node)".to_owned(), |d| redact_dsn(
                    d.expose()
                )),
            if self.is_slave { "slave" } else { "master" },
            set(!self.auth_key.is_empty()),
            if self.encryption_key.is_some() {
                "enabled"
            } else {
                "disabled"
            },
            self.max_concurrent_requests,
            self.max_request_body_bytes,
            self.log.level,
            if self.log.format == LogFormat::Json {
                "json"
            } else {
                "text"
            },
            self.outbound.summary(),
        )
    }
}

/// Hides the password of a DSN (`user:****@host`) so it can be logged.
pub fn redact_dsn(dsn: &str) -> String {
    let Some(at) = dsn.rfind('@') else {
        return dsn.to_owned();
    };
    let head = &dsn[..at];
    let start = head.find("://").map_or(0, |i| i + 3);
    match head[start..].find(':') {
        Some(colon) => format!("{}:****{}", &dsn[..start + colon], &dsn[at..]),
        None => dsn.to_owned(),
    }
}

fn read_toml(path: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", path.display()))?;
    let table: toml::Table =
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    flatten("", &toml::Value::Table(table), path, &mut out)?;
    Ok(out)
}

fn flatten(
    prefix: &str,
    value: &toml::Value,
    path: &Path,
    out: &mut Vec<(String, String)>,
) -> anyhow::Result<()> {
    match value {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, path, out)?;
            }
        }
        toml::Value::String(s) => out.push((prefix.to_owned(), s.clone())),
        toml::Value::Integer(i) => out.push((prefix.to_owned(), i.to_string())),
        toml::Value::Boolean(b) => out.push((prefix.to_owned(), b.to_string())),
        toml::Value::Array(items) => {
            let mut parts = Vec::new();
            for item in items {
                match item {
                    toml::Value::String(s) => parts.push(s.clone()),
                    _ => anyhow::bail!("{}: `{prefix}` must be a list of strings", path.display()),
                }
            }
            out.push((prefix.to_owned(), parts.join(",")));
        }
        other => anyhow::bail!(
            "{}: `{prefix}` has an unsupported value type ({})",
            path.display(),
            other.type_str()
        ),
    }
    Ok(())
}

struct Parser {
    raw: BTreeMap<&'static str, (String, Origin)>,
    warnings: Vec<String>,
}

impl Parser {
    fn get(&self, path: &str) -> (&str, &Origin) {
        self.raw
            .get(path)
            .map_or(("", &Origin::Default), |(v, o)| (v.as_str(), o))
    }

    fn error(&self, path: &str, reason: &str) -> anyhow::Error {
        let (value, origin) = self.get(path);
        let env = FIELDS.iter().find(|f| f.path == path).map_or("", |f| f.env);
        let shown = if path.starts_with("auth.") || path.ends_with("dsn") {
            "*****".to_owned()
        } else if path.starts_with("outbound.") {
            format!("{:?}", crate::outbound_proxy::mask_setting(value))
        } else {
            format!("{value:?}")
        };
        let name = match origin {
            Origin::Env => env.to_owned(),
            Origin::File(file) => format!("{path} (in {})", file.display()),
            Origin::Cli => format!(
                "--{}",
                path.rsplit('.').next().unwrap_or(path).replace('_', "-")
            ),
            Origin::Default => format!("{path} / {env}"),
        };
        anyhow::anyhow!("invalid configuration: {name} = {shown}: {reason}")
    }

    fn string(&self, path: &str) -> String {
        self.get(path).0.trim().to_owned()
    }

    fn list(&self, path: &str) -> Vec<String> {
        self.get(path)
            .0
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    fn int<T: std::str::FromStr + PartialOrd + std::fmt::Display>(
        &self,
        path: &str,
        min: T,
        max: T,
    ) -> anyhow::Result<T> {
        let v = self.get(path).0.trim();
        match v.parse::<T>() {
            Ok(n) if n >= min && n <= max => Ok(n),
            _ => Err(self.error(
                path,
                &format!("expected a whole number from {min} to {max}"),
            )),
        }
    }

    fn bool(&self, path: &str) -> anyhow::Result<bool> {
        match self.get(path).0.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" | "" => Ok(false),
            _ => Err(self.error(path, "expected true/false (also 1/0, yes/no, on/off)")),
        }
    }

    fn secs(&self, path: &str) -> anyhow::Result<Duration> {
        Ok(Duration::from_secs(self.int::<u64>(path, 1, 86_400 * 7)?))
    }

    fn build(&mut self) -> anyhow::Result<GatewayConfig> {
        let host = self.string("server.host");
        if host.parse::<std::net::IpAddr>().is_err() && host != "localhost" {
            return Err(self.error(
                "server.host",
                "expected an IP address such as 0.0.0.0, 127.0.0.1 or ::",
            ));
        }
        let port = self.int::<u16>("server.port", 1, 65535)?;
        let mut graceful = self.secs("server.graceful_shutdown_timeout")?;
        if graceful < Duration::from_secs(10) {
            self.warnings.push(format!(
                "SERVER_GRACEFUL_SHUTDOWN_TIMEOUT of {}s is below the 10s minimum; using 10s",
                graceful.as_secs()
            ));
            graceful = Duration::from_secs(10);
        }
        let admin_listen: SocketAddr = self.string("admin.listen").parse().map_err(|_| {
            self.error("admin.listen", "expected an address such as 127.0.0.1:3002")
        })?;
        let admin_upstream = match self.string("admin.upstream").trim() {
            "" => AdminUpstream::reaching(admin_listen),
            text => AdminUpstream::parse(text).map_err(|why| self.error("admin.upstream", why))?,
        };
        let metrics_listen = match self.string("metrics.listen").trim() {
            "" => None,
            text => Some(text.parse::<SocketAddr>().map_err(|_| {
                self.error(
                    "metrics.listen",
                    "expected an address such as 127.0.0.1:9464, or empty to turn metrics off",
                )
            })?),
        };
        let auth_key = self.string("auth.auth_key");
        if auth_key.is_empty() {
            anyhow::bail!(
                "AUTH_KEY is not set: the admin API and the default proxy key need it.\n\
                 Set it in the environment (export AUTH_KEY=$(openssl rand -hex 24)), in a .env file \
                 (AUTH_KEY=...), or as auth.auth_key in config/gateway.toml."
            );
        }
        if let Some(reason) = weak_key_reason(&auth_key) {
            self.warnings.push(format!(
                "AUTH_KEY is weak ({reason}); use at least 16 random characters"
            ));
        }
        let encryption_key = Some(self.string("auth.encryption_key")).filter(|k| !k.is_empty());
        if let Some(reason) = encryption_key.as_deref().and_then(weak_key_reason) {
            self.warnings.push(format!(
                "ENCRYPTION_KEY is weak ({reason}); use at least 32 random characters"
            ));
        }
        let database_dsn = self.string("database.dsn");
        if database_dsn.is_empty() {
            return Err(self.error("database.dsn", "must not be empty"));
        }
        let redis_dsn = Some(self.string("redis.dsn")).filter(|d| !d.is_empty());
        if let Some(dsn) = &redis_dsn
            && !(dsn.starts_with("redis://") || dsn.starts_with("rediss://"))
        {
            return Err(self.error("redis.dsn", "expected a redis:// or rediss:// URL"));
        }
        let redis_key_prefix = self.string("redis.key_prefix");
        if redis_key_prefix.is_empty() || redis_key_prefix.chars().any(char::is_whitespace) {
            return Err(self.error(
                "redis.key_prefix",
                "must be a non-empty name without spaces, such as \"gateway:\"",
            ));
        }
        let level = self.string("log.level").to_ascii_lowercase();
        if !["debug", "info", "warn", "error"].contains(&level.as_str()) {
            return Err(self.error("log.level", "expected debug, info, warn or error"));
        }
        let format = match self.string("log.format").to_ascii_lowercase().as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            _ => return Err(self.error("log.format", "expected text or json")),
        };
        let cors = CorsConfig {
            enabled: self.bool("cors.enabled")?,
            allowed_origins: self.list("cors.allowed_origins"),
            allowed_methods: self.list("cors.allowed_methods"),
            allowed_headers: self.list("cors.allowed_headers"),
            allow_credentials: self.bool("cors.allow_credentials")?,
        };
        if cors.enabled && cors.allowed_origins.is_empty() {
            return Err(self.error(
                "cors.allowed_origins",
                "CORS is enabled (ENABLE_CORS) but no origin is allowed",
            ));
        }
        if cors.enabled && cors.allowed_origins.iter().any(|o| o == "*") {
            self.warnings.push(
                "ALLOWED_ORIGINS contains `*`: any web page may call the admin API".to_owned(),
            );
        }
        let proxy = |path: &str| -> anyhow::Result<Option<ProxyUrl>> {
            match self.string(path).as_str() {
                "" => Ok(None),
                text => ProxyUrl::parse(text)
                    .map(Some)
                    .map_err(|e| self.error(path, &e)),
            }
        };
        let outbound = EnvProxies {
            http: proxy("outbound.http_proxy")?,
            https: proxy("outbound.https_proxy")?,
            no_proxy: crate::outbound_proxy::NoProxy::parse(&self.string("outbound.no_proxy")),
        };
        Ok(GatewayConfig {
            outbound,
            host,
            port,
            read_timeout: self.secs("server.read_timeout")?,
            write_timeout: self.secs("server.write_timeout")?,
            idle_timeout: self.secs("server.idle_timeout")?,
            graceful_shutdown_timeout: graceful,
            threads: self.int::<usize>("server.threads", 0, 1024)?,
            max_concurrent_requests: self.int::<u32>(
                "server.max_concurrent_requests",
                1,
                10_000_000,
            )?,
            max_connections: self.int::<usize>("server.max_connections", 1, 10_000_000)?,
            request_log_spool_dir: PathBuf::from(self.string("log.request_log_spool_dir")),
            max_request_body_bytes: self.int::<usize>(
                "server.max_request_body_bytes",
                1024,
                1 << 30,
            )?,
            trusted_proxies: TrustedProxies::parse(&self.string("server.trusted_proxies"))
                .map_err(|e| self.error("server.trusted_proxies", &e))?,
            admin_listen,
            admin_upstream,
            ui_dir: PathBuf::from(self.string("admin.ui_dir")),
            metrics_listen,
            auth_key: Secret::new(auth_key),
            encryption_key: encryption_key.map(Secret::new),
            database_dsn: Secret::new(database_dsn),
            redis_dsn: redis_dsn.map(Secret::new),
            redis_key_prefix,
            is_slave: self.bool("cluster.is_slave")?,
            reload_poll_interval: Duration::from_millis(self.int::<u64>(
                "cluster.reload_poll_interval_ms",
                50,
                60_000,
            )?),
            log: LogConfig {
                level,
                format,
                enable_file: self.bool("log.enable_file")?,
                file_path: PathBuf::from(self.string("log.file_path")),
            },
            cors,
            warnings: Vec::new(),
            source_file: None,
        })
    }
}

/// Why a key is weak (GPT-Load's rules: shorter than 16 characters or a common word), if it is.
pub fn weak_key_reason(key: &str) -> Option<&'static str> {
    if key.chars().count() < 16 {
        return Some("shorter than 16 characters");
    }
    let lower = key.to_ascii_lowercase();
    ["password", "sk-123456", "123456", "admin", "secret"]
        .iter()
        .any(|w| lower.contains(w))
        .then_some("contains a common word")
}

/// The environment variable of every TOML key, for the documentation test.
pub fn documented_keys() -> impl Iterator<Item = (&'static str, &'static str)> {
    FIELDS.iter().map(|f| (f.path, f.env))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn admin_upstream_defaults_to_admin_listen_and_takes_names() {
        let c = load(
            "",
            &[("AUTH_KEY", "k-0123456789abcdef")],
            ConfigArgs::default(),
        )
        .unwrap();
        assert_eq!(c.admin_upstream.to_string(), "127.0.0.1:3002");
        let c = load(
            "",
            &[
                ("AUTH_KEY", "k-0123456789abcdef"),
                ("ADMIN_LISTEN", "0.0.0.0:4002"),
            ],
            ConfigArgs::default(),
        )
        .unwrap();
        assert_eq!(c.admin_upstream.to_string(), "127.0.0.1:4002");
        let c = load(
            "",
            &[
                ("AUTH_KEY", "k-0123456789abcdef"),
                ("ADMIN_UPSTREAM", "gateway-admin.internal:3002"),
            ],
            ConfigArgs::default(),
        )
        .unwrap();
        assert_eq!(c.admin_upstream.host, "gateway-admin.internal");
        assert_eq!(
            AdminUpstream::parse("[::1]:3").unwrap().to_string(),
            "[::1]:3"
        );
        for bad in [
            "admin",
            "admin:",
            "admin:0",
            ":3002",
            "a b:1",
            "admin:99999",
        ] {
            assert!(AdminUpstream::parse(bad).is_err(), "{bad}");
        }
        let err = load(
            "",
            &[
                ("AUTH_KEY", "k-0123456789abcdef"),
                ("ADMIN_UPSTREAM", "admin"),
            ],
            ConfigArgs::default(),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("ADMIN_UPSTREAM"), "{err:#}");
    }

    fn args() -> ConfigArgs {
        ConfigArgs {
            config: Some(PathBuf::from("/nonexistent-never")),
            ..ConfigArgs::default()
        }
    }

    fn load(file: &str, e: &[(&str, &str)], cli: ConfigArgs) -> anyhow::Result<GatewayConfig> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.toml");
        std::fs::write(&path, file).unwrap();
        GatewayConfig::load_from(
            &ConfigArgs {
                config: Some(path),
                ..cli
            },
            &env(e),
        )
    }

    #[test]
    fn missing_auth_key_says_how_to_set_it() {
        let err = load("", &[], ConfigArgs::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("AUTH_KEY is not set"), "{err}");
        assert!(err.contains("export AUTH_KEY="), "{err}");
    }

    #[test]
    fn file_then_env_then_cli() {
        let file = "[server]\nport = 4000\nhost = \"127.0.0.1\"\n[auth]\nauth_key = \"file-key-a1b2c3d4e5f6g7h8\"\n";
        let c = load(file, &[], ConfigArgs::default()).unwrap();
        assert_eq!(c.port, 4000);
        let c = load(file, &[("PORT", "5000")], ConfigArgs::default()).unwrap();
        assert_eq!(c.port, 5000);
        let c = load(
            file,
            &[("PORT", "5000")],
            ConfigArgs {
                port: Some("6000".into()),
                ..ConfigArgs::default()
            },
        )
        .unwrap();
        assert_eq!(c.port, 6000);
        assert_eq!(c.auth_key.expose(), "file-key-a1b2c3d4e5f6g7h8");
        assert!(c.warnings.is_empty());
    }

    #[test]
    fn invalid_values_name_the_key_and_reason() {
        let e = load(
            "",
            &[("AUTH_KEY", "k-0123456789abcdefgh"), ("PORT", "70000")],
            ConfigArgs::default(),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid configuration: PORT = \"70000\": expected a whole number from 1 to 65535"
        );
        let e = load(
            "[log]\nformat = \"xml\"\n[auth]\nauth_key=\"k-0123456789abcdefgh\"",
            &[],
            ConfigArgs::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("log.format (in "), "{e}");
        let e = load("[server]\nprot = 1\n", &[], ConfigArgs::default()).unwrap_err();
        assert!(e.to_string().contains("unknown key `server.prot`"), "{e}");
        let e = load(
            "",
            &[("AUTH_KEY", "k-0123456789abcdefgh"), ("IS_SLAVE", "maybe")],
            ConfigArgs::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("IS_SLAVE"), "{e}");
    }

    #[test]
    fn weak_keys_are_warned_about_and_secrets_not_printed() {
        let c = load("", &[("AUTH_KEY", "admin123")], ConfigArgs::default()).unwrap();
        assert!(c.warnings.iter().any(|w| w.contains("AUTH_KEY is weak")));
        assert!(!format!("{c:?}").contains("admin123"));
        assert!(!c.summary().contains("admin123"));
    }

    #[test]
    fn missing_explicit_file_is_an_error() {
        assert!(GatewayConfig::load_from(&args(), &env(&[("AUTH_KEY", "x")])).is_err());
    }

    #[test]
    fn shipped_config_file_is_valid_and_documents_every_key() {
        let path = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../config/gateway.toml"
        ));
        let text = std::fs::read_to_string(&path).unwrap();
        let c = GatewayConfig::load_from(
            &ConfigArgs {
                config: Some(path),
                ..ConfigArgs::default()
            },
            &env(&[("AUTH_KEY", "k-a1b2c3d4e5f6g7h8i9")]),
        )
        .unwrap();
        assert_eq!(c.port, 3001);
        for (key, env_name) in documented_keys() {
            let leaf = key.rsplit('.').next().unwrap();
            assert!(
                text.contains(&format!("{leaf} =")),
                "config/gateway.toml does not show `{key}`"
            );
            assert!(
                text.contains(env_name),
                "config/gateway.toml does not name {env_name}"
            );
        }
    }

    #[test]
    fn redacts_dsn_passwords() {
        assert_eq!(
            redact_dsn("postgres://u:pw@h:5432/db"),
            "postgres://u:****@h:5432/db"
        );
        assert_eq!(
            redact_dsn("root:pw@tcp(h:3306)/db"),
            "root:****@tcp(h:3306)/db"
        );
        assert_eq!(redact_dsn("./data/gateway.db"), "./data/gateway.db");
    }

    #[test]
    fn weak_encryption_key_is_warned_about_and_never_printed() {
        let c = load(
            "",
            &[
                ("AUTH_KEY", "k-a1b2c3d4e5f6g7h8i9"),
                ("ENCRYPTION_KEY", "short-enc-key"),
            ],
            ConfigArgs::default(),
        )
        .unwrap();
        assert_eq!(c.encryption_key.as_ref().unwrap().expose(), "short-enc-key");
        let w = c.warnings.join("\n");
        assert!(w.contains("ENCRYPTION_KEY is weak"), "{w}");
        assert!(!w.contains("short-enc-key") && !c.summary().contains("short-enc-key"));
        let c = load(
            "",
            &[
                ("AUTH_KEY", "k-a1b2c3d4e5f6g7h8i9"),
                ("REDIS_DSN", "redis://:redis-pass-42@127.0.0.1:6379"),
            ],
            ConfigArgs::default(),
        )
        .unwrap();
        assert_eq!(c.redis_key_prefix, "gateway:");
        assert!(!c.summary().contains("redis-pass-42"), "{}", c.summary());
        let e = load(
            "",
            &[
                ("AUTH_KEY", "k-a1b2c3d4e5f6g7h8i9"),
                ("REDIS_KEY_PREFIX", "two words"),
            ],
            ConfigArgs::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("REDIS_KEY_PREFIX"), "{e}");
    }

    #[test]
    fn cors_needs_origins() {
        let e = load(
            "",
            &[
                ("AUTH_KEY", "k-0123456789abcdefgh"),
                ("ENABLE_CORS", "true"),
            ],
            ConfigArgs::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("no origin is allowed"), "{e}");
    }
}
