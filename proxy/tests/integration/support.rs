//! A running gateway (admin + proxy on free ports over a fresh SQLite file) and helpers to
//! create groups and keys through the API and wait until the proxy serves them.

use std::time::{Duration, Instant};

use gateway_testkit::{GatewayProcess, TestDb, free_port};
use serde_json::{Value, json};

pub(crate) const AUTH_KEY: &str = "it-auth-key-0123456789abcdef";
pub(crate) const PROXY_KEY: &str = "it-proxy-key-0123456789";

pub(crate) struct Gateway {
    pub(crate) port: u16,
    pub(crate) admin_listen: String,
    pub(crate) client: reqwest::Client,
    pub(crate) proxy: GatewayProcess,
    pub(crate) admin: GatewayProcess,
    pub(crate) db: TestDb,
    /// The environment both processes were started with.
    pub(crate) env: Vec<(String, String)>,
}

/// Checks `check` until it holds; after `timeout` fails the test with what `context` says (the
/// processes' logs).
pub(crate) async fn poll_until<F, Fut>(
    timeout: Duration,
    mut check: F,
    context: impl FnOnce() -> String,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < timeout {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not met within {timeout:?}\n{}", context());
}

impl Gateway {
    pub(crate) async fn start() -> Gateway {
        Self::start_with(&[]).await
    }

    /// Starts both processes with extra environment variables.
    pub(crate) async fn start_with(extra_env: &[(&str, &str)]) -> Gateway {
        let db = TestDb::sqlite().await.expect("sqlite test db");
        Self::start_on(db, extra_env).await
    }

    /// Starts both processes on `db` with extra environment variables.
    pub(crate) async fn start_on(db: TestDb, extra_env: &[(&str, &str)]) -> Gateway {
        let port = free_port().to_string();
        let admin_listen = format!("127.0.0.1:{}", free_port());
        let dsn = db.dsn();
        let mut env: Vec<(&str, &str)> = vec![
            ("AUTH_KEY", AUTH_KEY),
            ("HOST", "127.0.0.1"),
            ("PORT", &port),
            ("ADMIN_LISTEN", &admin_listen),
            ("DATABASE_DSN", &dsn),
            ("SERVER_THREADS", "2"),
            ("LOG_LEVEL", "info"),
            ("RELOAD_POLL_INTERVAL_MS", "100"),
        ];
        env.extend_from_slice(extra_env);
        let admin = GatewayProcess::spawn("gateway-admin", &env, &[]).expect("spawn admin");
        admin
            .wait_http_ready(
                &format!("http://{admin_listen}/health"),
                Duration::from_secs(20),
            )
            .await
            .expect("admin ready");
        let proxy = GatewayProcess::spawn("gateway-proxy", &env, &[]).expect("spawn proxy");
        let port: u16 = port.parse().expect("port");
        proxy
            .wait_http_ready(
                &format!("http://127.0.0.1:{port}/health"),
                Duration::from_secs(20),
            )
            .await
            .expect("proxy ready");
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(16)
            .build()
            .expect("client");
        let env = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let gw = Gateway {
            port,
            admin_listen,
            client,
            proxy,
            admin,
            db,
            env,
        };
        // The proxy has loaded a snapshot when /health says healthy.
        gw.wait_healthy().await;
        gw
    }

    /// Waits until the proxy's `/health` answers 200.
    pub(crate) async fn wait_healthy(&self) {
        self.wait_until(Duration::from_secs(10), || async {
            self.client
                .get(self.url("/health"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        })
        .await;
    }

    /// Stops both processes (SIGTERM, so the proxy writes its buffered logs) and hands back the
    /// database.
    pub(crate) async fn stop(self) -> TestDb {
        for p in [&self.proxy, &self.admin] {
            p.signal("TERM").expect("signal");
            let status = p.wait_exit(Duration::from_secs(20)).await.expect("exit");
            assert!(status.success(), "{}", p.output_log());
        }
        self.db
    }

    /// Starts another proxy process with the same environment (and `args`).
    pub(crate) fn spawn_proxy(&self, args: &[&str]) -> GatewayProcess {
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        GatewayProcess::spawn("gateway-proxy", &env, args).expect("spawn proxy")
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Calls the admin API through the proxy's public port (which forwards it).
    pub(crate) async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let (status, v) = self.api_answer(method, path, body).await;
        assert!(status.is_success(), "{path}: {status} {v}");
        v
    }

    /// Creates a group with `upstreams` (`[(url, weight)]`) and `keys`; returns its id once the
    /// proxy serves it.
    pub(crate) async fn create_group(
        &self,
        name: &str,
        channel: &str,
        upstreams: &[(&str, u32)],
        keys: &[&str],
    ) -> i64 {
        self.create_group_with(name, channel, upstreams, keys, json!({}))
            .await
    }

    /// [`Gateway::create_group`] with more fields of the group (`config`, rules…) in `extra`.
    pub(crate) async fn create_group_with(
        &self,
        name: &str,
        channel: &str,
        upstreams: &[(&str, u32)],
        keys: &[&str],
        extra: Value,
    ) -> i64 {
        let ups: Vec<Value> = upstreams
            .iter()
            .map(|(u, w)| json!({"url": u, "weight": w}))
            .collect();
        let mut body = json!({"name": name, "channel_type": channel, "upstreams": ups,
                              "test_model": "test-model", "proxy_keys": PROXY_KEY});
        if let Some(fields) = extra.as_object() {
            for (k, v) in fields {
                body[k] = v.clone();
            }
        }
        let created = self
            .api(reqwest::Method::POST, "/api/groups", Some(body))
            .await;
        let id = created["data"]["id"].as_i64().expect("group id");
        if !keys.is_empty() {
            self.api(
                reqwest::Method::POST,
                "/api/keys/add-multiple",
                Some(json!({"group_id": id, "keys_text": keys.join("\n")})),
            )
            .await;
        }
        self.wait_served(name, keys.len()).await;
        id
    }

    /// The keys of a group as `GET /api/keys` lists them, by key value.
    pub(crate) async fn keys(&self, group_id: i64) -> std::collections::HashMap<String, Value> {
        let v = self
            .api(
                reqwest::Method::GET,
                &format!("/api/keys?group_id={group_id}&page_size=1000"),
                None,
            )
            .await;
        v["data"]["items"]
            .as_array()
            .expect("key items")
            .iter()
            .map(|k| (k["key_value"].as_str().unwrap_or("").to_owned(), k.clone()))
            .collect()
    }

    /// Waits until the proxy's snapshot has the group with `keys` keys (reads /health's revision
    /// indirectly: a request that is not 404/503 proves the group and a key are loaded).
    pub(crate) async fn wait_served(&self, name: &str, keys: usize) {
        let url = self.url(&format!("/proxy/{name}/__probe"));
        self.wait_until(Duration::from_secs(10), || async {
            let status = self
                .client
                .get(&url)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0);
            // 401: group known (no key sent). With keys expected, also check the key is usable.
            if status != 401 {
                return false;
            }
            if keys == 0 {
                return true;
            }
            let s = self
                .client
                .get(&url)
                .bearer_auth(PROXY_KEY)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0);
            s != 503 && s != 0
        })
        .await;
    }

    pub(crate) async fn wait_until<F, Fut>(&self, timeout: Duration, check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        poll_until(timeout, check, || {
            format!(
                "proxy log:\n{}\nadmin log:\n{}",
                self.proxy.output_log(),
                self.admin.output_log()
            )
        })
        .await;
    }

    /// Calls the admin API through the public port; the status and the JSON body, whatever they are.
    pub(crate) async fn api_answer(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (reqwest::StatusCode, Value) {
        let mut req = self
            .client
            .request(method, self.url(path))
            .bearer_auth(AUTH_KEY);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("api call");
        let status = resp.status();
        (status, resp.json().await.expect("api json"))
    }

    /// Waits until the proxy serves every change written so far: its routing revision (`/health`)
    /// has reached the database's (the admin's `/health`).
    pub(crate) async fn wait_synced(&self) {
        let admin: Value = self
            .client
            .get(format!("http://{}/health", self.admin_listen))
            .send()
            .await
            .expect("admin health")
            .json()
            .await
            .expect("admin health json");
        let wanted = admin["config_revision"].as_i64().expect("config_revision");
        self.wait_until(Duration::from_secs(10), || async {
            let proxy: Value = match self.client.get(self.url("/health")).send().await {
                Ok(r) => r.json().await.unwrap_or(Value::Null),
                Err(_) => Value::Null,
            };
            proxy["routing_revision"]
                .as_i64()
                .is_some_and(|r| r >= wanted)
        })
        .await;
    }

    /// Replaces the `config` of group `id` and waits until the proxy serves it.
    pub(crate) async fn configure_group(&self, id: i64, config: Value) {
        self.api(
            reqwest::Method::PUT,
            &format!("/api/groups/{id}"),
            Some(json!({ "config": config })),
        )
        .await;
        self.wait_synced().await;
    }

    /// Makes the proxy write request logs at once (`request_log_write_interval_minutes` = 0).
    pub(crate) async fn log_at_once(&self) {
        self.api(
            reqwest::Method::PUT,
            "/api/settings",
            Some(json!({"request_log_write_interval_minutes": 0})),
        )
        .await;
    }

    /// A chat completion for `model` through `/proxy/{group}`: the status and the JSON body.
    pub(crate) async fn chat(&self, group: &str, model: &str) -> (u16, Value) {
        let r = self
            .post(
                group,
                "/v1/chat/completions",
                json!({"model": model, "messages": []}),
            )
            .await;
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// POST to `/proxy/{group}{path}` with the proxy key as a Bearer token.
    pub(crate) async fn post(&self, group: &str, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(self.url(&format!("/proxy/{group}{path}")))
            .bearer_auth(PROXY_KEY)
            .json(&body)
            .send()
            .await
            .expect("proxy request")
    }
}
