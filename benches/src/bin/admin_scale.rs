//! `admin-scale`: the admin API at the scale GPT-Load's users reached (`make bench-admin`).
//!
//! On a fresh database of one backend it starts the real `gateway-admin` and `gateway-proxy`
//! (release binaries next to this one) and `bench-upstream`, then times through the API:
//! importing `--keys` keys into one group (async task, until the task reports done), listing page
//! 1 and page 5,000 of that group, exporting all of it, and clearing `--invalid` invalid keys of a
//! second group. Meanwhile a client sends 100 requests/s through the proxy to a third, small
//! group; its failures and slowest answer are reported, to show the data plane keeps serving.
//!
//! Usage: `admin-scale --backend sqlite|postgres|mysql [--keys N] [--invalid N]`. PostgreSQL and
//! MySQL come from `TEST_POSTGRES_DSN` / `TEST_MYSQL_DSN` (a fresh database is created and
//! dropped). Prints one markdown table row on stdout.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use gateway_schema::KeyHealthUpdate;
use gateway_schema::models::KeyStatus;
use gateway_testkit::{GatewayProcess, TestDb, free_port};
use serde_json::{Value, json};

const USAGE: &str = "usage: admin-scale --backend sqlite|postgres|mysql [--keys N (default 1000000)] [--invalid N (default 100000)]";
const AUTH_KEY: &str = "scale-auth-key-0123456789abcdef";
const PROXY_KEY: &str = "scale-proxy-key";

struct Options {
    backend: String,
    keys: usize,
    invalid: usize,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> anyhow::Result<Options> {
    let mut o = Options {
        backend: String::new(),
        keys: 1_000_000,
        invalid: 100_000,
    };
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .with_context(|| format!("{arg} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--backend" => o.backend = value()?,
            "--keys" => o.keys = value()?.parse().context("--keys")?,
            "--invalid" => o.invalid = value()?.parse().context("--invalid")?,
            _ => bail!("unknown argument {arg:?}\n{USAGE}"),
        }
    }
    if !matches!(o.backend.as_str(), "sqlite" | "postgres" | "mysql") {
        bail!("{USAGE}");
    }
    Ok(o)
}

/// The admin API over HTTP.
struct Admin {
    base: String,
    http: reqwest::Client,
}

impl Admin {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(AUTH_KEY);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let v: Value = resp.json().await?;
        if !status.is_success() {
            bail!("{path}: {status} {v}");
        }
        Ok(v)
    }

    async fn group(&self, name: &str, upstream: &str, keys: &str) -> anyhow::Result<i64> {
        let v = self
            .call(
                reqwest::Method::POST,
                "/api/groups",
                Some(
                    json!({"name": name, "channel_type": "openai", "test_model": "gpt-4o-mini",
                    "upstreams": [{"url": upstream, "weight": 1}], "proxy_keys": PROXY_KEY}),
                ),
            )
            .await?;
        let id = v["data"]["id"].as_i64().context("group id")?;
        if !keys.is_empty() {
            self.import(id, keys.to_owned()).await?;
        }
        Ok(id)
    }

    /// Imports through the async task and waits for it to end.
    async fn import(&self, group_id: i64, text: String) -> anyhow::Result<Value> {
        self.call(
            reqwest::Method::POST,
            "/api/keys/add-async",
            Some(json!({"group_id": group_id, "keys_text": text})),
        )
        .await?;
        loop {
            let v = self
                .call(reqwest::Method::GET, "/api/tasks/status", None)
                .await?;
            if v["data"]["is_running"] == false {
                if let Some(e) = v["data"]["error"].as_str() {
                    bail!("import failed: {e}");
                }
                return Ok(v["data"]["result"].clone());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn keys_text(prefix: &str, n: usize) -> String {
    let mut text = String::with_capacity(n * 52);
    for i in 0..n {
        text.push_str(&format!(
            "sk-{prefix}-{i:010}-abcdefghijklmnopqrstuvwxyz0123\n"
        ));
    }
    text
}

fn secs(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let o = parse_args(std::env::args().skip(1))?;
    let db = match o.backend.as_str() {
        "sqlite" => TestDb::sqlite().await?,
        "postgres" => TestDb::postgres()
            .await?
            .context("TEST_POSTGRES_DSN is not set")?,
        _ => TestDb::mysql()
            .await?
            .context("TEST_MYSQL_DSN is not set")?,
    };
    let dsn = db.dsn();
    let (port, admin_port) = (free_port().to_string(), free_port());
    let admin_listen = format!("127.0.0.1:{admin_port}");
    let env = [
        ("AUTH_KEY", AUTH_KEY),
        ("HOST", "127.0.0.1"),
        ("PORT", port.as_str()),
        ("ADMIN_LISTEN", admin_listen.as_str()),
        ("DATABASE_DSN", dsn.as_str()),
        ("LOG_LEVEL", "warn"),
    ];
    let admin_proc = GatewayProcess::spawn("gateway-admin", &env, &[])?;
    admin_proc
        .wait_http_ready(
            &format!("http://{admin_listen}/health"),
            Duration::from_secs(60),
        )
        .await?;
    let proxy_proc = GatewayProcess::spawn("gateway-proxy", &env, &[])?;
    proxy_proc
        .wait_http_ready(
            &format!("http://127.0.0.1:{port}/health"),
            Duration::from_secs(60),
        )
        .await?;
    let upstream = GatewayProcess::spawn("bench-upstream", &[], &["--port", "0"])?;
    let upstream_addr = upstream
        .wait_for_log("listening on ", Duration::from_secs(10))
        .await?
        .lines()
        .find_map(|l| l.strip_prefix("listening on "))
        .context("bench-upstream address")?
        .trim()
        .to_owned();
    let admin = Admin {
        base: format!("http://{admin_listen}"),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(600))
            .build()?,
    };
    let upstream_url = format!("http://{upstream_addr}");
    admin.group("probe", &upstream_url, "sk-probe-1").await?;

    // The data plane under constant use while the admin works (once it serves the group).
    let probe_url = format!("http://127.0.0.1:{port}/proxy/probe/v1/chat/completions");
    let ready = Instant::now();
    while !admin
        .http
        .post(&probe_url)
        .bearer_auth(PROXY_KEY)
        .json(&json!({"model": "gpt-4o-mini", "messages": []}))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
    {
        if ready.elapsed() > Duration::from_secs(10) {
            bail!("the proxy never served the probe group");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (served, failed, slowest_us) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let probe = {
        let (stop, served, failed, slowest_us) = (
            stop.clone(),
            served.clone(),
            failed.clone(),
            slowest_us.clone(),
        );
        let url = probe_url.clone();
        let http = reqwest::Client::new();
        tokio::spawn(async move {
            let started = Instant::now();
            // A steady 100 requests/s: enough to see any stall, not enough to compete for the CPU.
            let mut pace = tokio::time::interval(Duration::from_millis(10));
            while !stop.load(Ordering::Relaxed) {
                pace.tick().await;
                let t = Instant::now();
                let ok = http
                    .post(&url)
                    .bearer_auth(PROXY_KEY)
                    .json(&json!({"model": "gpt-4o-mini", "messages": []}))
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200);
                let us = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
                // the first second warms connections up
                if started.elapsed() > Duration::from_secs(1) {
                    slowest_us.fetch_max(us, Ordering::Relaxed);
                }
                if ok { &served } else { &failed }.fetch_add(1, Ordering::Relaxed);
            }
        })
    };

    let big = admin.group("scale", &upstream_url, "").await?;
    let text = keys_text("scale", o.keys);
    let t = Instant::now();
    let result = admin.import(big, text).await?;
    let import = t.elapsed();
    if result["added_count"] != o.keys {
        bail!("import added {result}, expected {}", o.keys);
    }
    let t = Instant::now();
    let page1 = admin
        .call(
            reqwest::Method::GET,
            &format!("/api/keys?group_id={big}&page=1"),
            None,
        )
        .await?;
    let list1 = t.elapsed();
    let t = Instant::now();
    let page5000 = admin
        .call(
            reqwest::Method::GET,
            &format!("/api/keys?group_id={big}&page=5000"),
            None,
        )
        .await?;
    let list5000 = t.elapsed();
    if page1["data"]["items"].as_array().map(Vec::len) != Some(15)
        || page5000["data"]["items"].as_array().map(Vec::len) != Some(15)
    {
        bail!("pages are not full: {page5000}");
    }
    let t = Instant::now();
    let exported = admin
        .http
        .get(format!("{}/api/keys/export?group_id={big}", admin.base))
        .bearer_auth(AUTH_KEY)
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    let export = t.elapsed();
    if exported.lines().count() != o.keys {
        bail!(
            "export has {} lines, expected {}",
            exported.lines().count(),
            o.keys
        );
    }

    let bad = admin.group("invalid", &upstream_url, "").await?;
    admin.import(bad, keys_text("invalid", o.invalid)).await?;
    let store = db.database()?;
    let mut after = 0;
    loop {
        let page = store.key_values_page(bad, None, after, 5000).await?;
        let Some((last, _)) = page.last() else { break };
        after = *last;
        let updates: Vec<KeyHealthUpdate> = page
            .iter()
            .map(|(id, _)| KeyHealthUpdate {
                id: *id,
                status: KeyStatus::Invalid,
                failure_count: 3,
                cooldown_until: None,
            })
            .collect();
        store.save_key_health(&updates).await?;
    }
    let t = Instant::now();
    let cleared = admin
        .call(
            reqwest::Method::POST,
            "/api/keys/clear-all-invalid",
            Some(json!({"group_id": bad})),
        )
        .await?;
    let clear = t.elapsed();
    if cleared["message"] != format!("{} invalid keys cleared", o.invalid) {
        bail!("clear-all-invalid: {cleared}");
    }

    stop.store(true, Ordering::Relaxed);
    probe.await?;
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} |",
        o.backend,
        o.keys,
        secs(import),
        (list1.as_secs_f64() * 1000.0).round(),
        (list5000.as_secs_f64() * 1000.0).round(),
        secs(export),
        o.invalid,
        secs(clear),
        format_args!(
            "{} / {}",
            served.load(Ordering::Relaxed),
            failed.load(Ordering::Relaxed)
        ),
        slowest_us.load(Ordering::Relaxed) as f64 / 1000.0,
    )?;
    drop((admin_proc, proxy_proc, upstream));
    Ok(())
}
