//! Cluster mode on the machine's real servers: one admin (the master) and two proxies (A and B,
//! the second a follower) on PostgreSQL or MariaDB, linked through Redis (behind a relay the
//! test can cut). Changes, key health and rate-limit usage travel between the nodes within a
//! second; losing Redis fails no request, and the nodes converge again when it is back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gateway_testkit::{GatewayProcess, MockProvider, Reply, TestDb, TestRedis, free_port};
use serde_json::{Value, json};

use crate::support::{AUTH_KEY, Gateway, PROXY_KEY, poll_until};

/// How soon a change must be served by every node.
const CLUSTER_DEADLINE: Duration = Duration::from_secs(1);

/// The admin and proxy A (`gw`), proxy B, and the Redis relay.
struct Cluster {
    gw: Gateway,
    b: GatewayProcess,
    b_port: u16,
    a_metrics: String,
    b_metrics: String,
    b_env: Vec<(String, String)>,
    redis: TestRedis,
}

impl Cluster {
    async fn start(db: TestDb, redis: TestRedis) -> Cluster {
        let redis_dsn = redis.dsn();
        let a_metrics = format!("127.0.0.1:{}", free_port());
        let shared: Vec<(&str, &str)> = vec![
            ("REDIS_DSN", &redis_dsn),
            ("REDIS_KEY_PREFIX", redis.prefix()),
            ("RELOAD_POLL_INTERVAL_MS", "250"),
        ];
        let mut a_env = shared.clone();
        a_env.push(("METRICS_LISTEN", &a_metrics));
        let dsn = db.dsn();
        let gw = Gateway::start_on(db, &a_env).await;
        let b_port = free_port();
        let b_port_text = b_port.to_string();
        let b_metrics = format!("127.0.0.1:{}", free_port());
        let mut b_env: Vec<(&str, &str)> = vec![
            ("AUTH_KEY", AUTH_KEY),
            ("HOST", "127.0.0.1"),
            ("PORT", &b_port_text),
            ("ADMIN_LISTEN", &gw.admin_listen),
            ("DATABASE_DSN", &dsn),
            ("SERVER_THREADS", "2"),
            ("LOG_LEVEL", "info"),
            ("IS_SLAVE", "true"),
            ("METRICS_LISTEN", &b_metrics),
        ];
        b_env.extend_from_slice(&shared);
        let b_env: Vec<(String, String)> = b_env
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let b = spawn_ready(&b_env, b_port).await;
        let cluster = Cluster {
            gw,
            b,
            b_port,
            a_metrics,
            b_metrics,
            b_env,
            redis,
        };
        cluster.wait_subscribed().await;
        cluster
    }

    /// Proxy B crashes (SIGKILL) and is started again.
    async fn restart_b(&mut self) {
        self.b.kill();
        let _ = self.b.wait_exit(Duration::from_secs(10)).await;
        self.b = spawn_ready(&self.b_env, self.b_port).await;
    }

    fn ports(&self) -> [u16; 2] {
        [self.gw.port, self.b_port]
    }

    async fn health(&self, port: u16) -> Value {
        self.gw
            .client
            .get(format!("http://127.0.0.1:{port}/health"))
            .send()
            .await
            .expect("health")
            .json()
            .await
            .expect("health json")
    }

    /// Waits until both proxies hear the cluster channel.
    async fn wait_subscribed(&self) {
        self.until(Duration::from_secs(10), || async {
            for port in self.ports() {
                if self.health(port).await["cluster"]["redis"] != "subscribed" {
                    return false;
                }
            }
            true
        })
        .await;
    }

    /// The status of an unauthenticated probe of `group` on `port` (401 = the group is served).
    async fn probe(&self, port: u16, group: &str) -> u16 {
        self.gw
            .client
            .get(format!("http://127.0.0.1:{port}/proxy/{group}/__probe"))
            .send()
            .await
            .map_or(0, |r| r.status().as_u16())
    }

    /// Asserts both proxies serve `group` within [`CLUSTER_DEADLINE`] of `since`.
    async fn served_in_time(&self, group: &str, since: Instant) {
        let took = self.served_everywhere(group, since).await;
        assert!(
            took < CLUSTER_DEADLINE,
            "{group} served everywhere after {took:?}"
        );
    }

    /// Waits until both proxies serve `group`; returns how long that took.
    async fn served_everywhere(&self, group: &str, since: Instant) -> Duration {
        self.until(Duration::from_secs(10), || async {
            for port in self.ports() {
                if self.probe(port, group).await != 401 {
                    return false;
                }
            }
            true
        })
        .await;
        since.elapsed()
    }

    async fn chat(&self, port: u16, group: &str) -> u16 {
        self.gw
            .client
            .post(format!(
                "http://127.0.0.1:{port}/proxy/{group}/v1/chat/completions"
            ))
            .bearer_auth(PROXY_KEY)
            .json(&json!({"model": "gpt-4o", "messages": []}))
            .send()
            .await
            .map_or(0, |r| r.status().as_u16())
    }

    /// `gateway_keys{group,state}` on the proxy whose metrics listen on `metrics`.
    async fn keys(&self, metrics: &str, group: &str, state: &str) -> Option<i64> {
        self.metric(
            metrics,
            &format!("gateway_keys{{group=\"{group}\",state=\"{state}\"}}"),
        )
        .await
    }

    /// The value of the series `series` on the proxy whose metrics listen on `metrics`.
    async fn metric(&self, metrics: &str, series: &str) -> Option<i64> {
        let text = self
            .gw
            .client
            .get(format!("http://{metrics}/metrics"))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        let line = format!("{series} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&line))
            .and_then(|v| v.trim().parse().ok())
    }

    async fn until<F, Fut>(&self, timeout: Duration, check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        poll_until(timeout, check, || {
            format!(
                "proxy A log:\n{}\nproxy B log:\n{}\nadmin log:\n{}",
                self.gw.proxy.output_log(),
                self.b.output_log(),
                self.gw.admin.output_log()
            )
        })
        .await;
    }

    async fn create_group(&self, name: &str, upstream: &str, keys: &[&str], config: Value) -> i64 {
        let created = self
            .gw
            .api(
                reqwest::Method::POST,
                "/api/groups",
                Some(json!({"name": name, "channel_type": "openai",
                    "upstreams": [{"url": upstream, "weight": 1}], "test_model": "gpt-4o",
                    "proxy_keys": PROXY_KEY, "config": config})),
            )
            .await;
        let id = created["data"]["id"].as_i64().expect("group id");
        if !keys.is_empty() {
            self.gw
                .api(
                    reqwest::Method::POST,
                    "/api/keys/add-multiple",
                    Some(json!({"group_id": id, "keys_text": keys.join("\n")})),
                )
                .await;
        }
        id
    }
}

/// Starts a proxy with `env` and waits for its `/health` on `port`.
async fn spawn_ready(env: &[(String, String)], port: u16) -> GatewayProcess {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let p = GatewayProcess::spawn("gateway-proxy", &env, &[]).expect("spawn proxy");
    p.wait_http_ready(
        &format!("http://127.0.0.1:{port}/health"),
        Duration::from_secs(20),
    )
    .await
    .expect("proxy ready");
    p
}

/// A steady load on both proxies until stopped: (requests, failures as "port status").
struct Load {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<Vec<String>>>,
}

impl Load {
    fn start(client: &reqwest::Client, ports: [u16; 2], group: &str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicUsize::new(0));
        let tasks = (0..4)
            .map(|i| {
                let (client, stop, done) = (client.clone(), Arc::clone(&stop), Arc::clone(&done));
                let url = format!(
                    "http://127.0.0.1:{}/proxy/{group}/v1/chat/completions",
                    ports[i % 2]
                );
                tokio::spawn(async move {
                    let mut failures = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let status = client
                            .post(&url)
                            .bearer_auth(PROXY_KEY)
                            .json(&json!({"model": "gpt-4o", "messages": []}))
                            .send()
                            .await
                            .map_or_else(|e| e.to_string(), |r| r.status().to_string());
                        if status != "200 OK" {
                            failures.push(format!("{url}: {status}"));
                        }
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    failures
                })
            })
            .collect();
        Load { stop, done, tasks }
    }

    /// Stops the load; returns (requests, failures).
    async fn finish(self) -> (usize, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let mut failures = Vec::new();
        for t in self.tasks {
            failures.extend(t.await.expect("load task"));
        }
        (self.done.load(Ordering::Relaxed), failures)
    }
}

async fn scenario(db: TestDb) {
    let Some(redis) = TestRedis::start().await.expect("test redis") else {
        return;
    };
    let mock = MockProvider::start().await.expect("mock");
    let mut cluster = Cluster::start(db, redis).await;

    // 1. A group created through the admin serves on both proxies within a second (their
    // database poll is 5 s while subscribed: the revision message did it), and so does a change.
    let t = Instant::now();
    let id = cluster
        .create_group("c1", &mock.base_url(), &["sk-c1-a"], json!({}))
        .await;
    cluster.served_in_time("c1", t).await;
    let t = Instant::now();
    cluster
        .gw
        .api(
            reqwest::Method::PUT,
            &format!("/api/groups/{id}"),
            Some(json!({"name": "c1-renamed"})),
        )
        .await;
    cluster.served_in_time("c1-renamed", t).await;

    // 2. A key blacklisted through proxy A leaves rotation on proxy B within a second.
    let (good, bad) = ("sk-bl-good", "sk-bl-bad");
    mock.always(bad, Reply::status(401));
    let bl = cluster
        .create_group(
            "bl",
            &mock.base_url(),
            &[good, bad],
            json!({"blacklist_threshold": 1, "max_retries": 0}),
        )
        .await;
    cluster.served_everywhere("bl", Instant::now()).await;
    cluster
        .until(Duration::from_secs(5), || async {
            cluster.keys(&cluster.a_metrics, "bl", "active").await == Some(2)
                && cluster.keys(&cluster.b_metrics, "bl", "active").await == Some(2)
        })
        .await;
    let mut blacklisted_at = None;
    let mut seen = Vec::new();
    for _ in 0..4 {
        let status = cluster.chat(cluster.gw.port, "bl").await;
        seen.push(status);
        if status == 401 {
            blacklisted_at = Some(Instant::now());
            break;
        }
    }
    let blacklisted_at =
        blacklisted_at.unwrap_or_else(|| panic!("proxy A never tried the bad key: {seen:?}"));
    cluster
        .until(Duration::from_secs(5), || async {
            cluster.keys(&cluster.b_metrics, "bl", "invalid").await == Some(1)
        })
        .await;
    let took = blacklisted_at.elapsed();
    assert!(
        took < CLUSTER_DEADLINE,
        "blacklist reached B after {took:?}"
    );
    mock.clear();
    for _ in 0..6 {
        assert_eq!(cluster.chat(cluster.b_port, "bl").await, 200);
    }
    assert!(
        mock.requests_for_key(bad).is_empty(),
        "proxy B never sends the key A blacklisted"
    );
    let b_metric = |series: &'static str| cluster.metric(&cluster.b_metrics, series);
    assert_eq!(b_metric("gateway_cluster_linked").await, Some(1));
    assert!(b_metric("gateway_cluster_messages_received_total").await > Some(0));

    // An upstream ejected through proxy A is skipped by proxy B too.
    let broken = MockProvider::start().await.expect("mock");
    broken.always("sk-ej-1", Reply::status(503));
    let ej = cluster
        .gw
        .api(
            reqwest::Method::POST,
            "/api/groups",
            Some(
                json!({"name": "ej", "channel_type": "openai", "test_model": "gpt-4o",
                "upstreams": [{"url": broken.base_url(), "weight": 1},
                              {"url": mock.base_url(), "weight": 1}],
                "proxy_keys": PROXY_KEY,
                "config": {"upstream_failure_threshold": 1, "upstream_ejection_seconds": 60,
                           "max_retries": 1}}),
            ),
        )
        .await["data"]["id"]
        .as_i64()
        .expect("group id");
    cluster
        .gw
        .api(
            reqwest::Method::POST,
            "/api/keys/add-multiple",
            Some(json!({"group_id": ej, "keys_text": "sk-ej-1"})),
        )
        .await;
    cluster.served_everywhere("ej", Instant::now()).await;
    cluster
        .until(Duration::from_secs(5), || async {
            cluster.keys(&cluster.a_metrics, "ej", "active").await == Some(1)
                && cluster.keys(&cluster.b_metrics, "ej", "active").await == Some(1)
        })
        .await;
    let mut ejected_at = None;
    for _ in 0..4 {
        assert_eq!(
            cluster.chat(cluster.gw.port, "ej").await,
            200,
            "retried on the healthy one"
        );
        if !broken.requests().is_empty() {
            ejected_at = Some(Instant::now());
            break;
        }
    }
    let ejected_at = ejected_at.expect("proxy A tried the broken upstream");
    cluster
        .b
        .wait_for_log("upstream ejected by another node", Duration::from_secs(5))
        .await
        .expect("B hears of the ejection");
    let took = ejected_at.elapsed();
    assert!(took < CLUSTER_DEADLINE, "ejection reached B after {took:?}");
    broken.clear();
    for _ in 0..6 {
        assert_eq!(cluster.chat(cluster.b_port, "ej").await, 200);
    }
    assert!(
        broken.requests().is_empty(),
        "proxy B skips the upstream A ejected"
    );

    // 3. Redis stops under load: no request fails, each node logs the outage once, changes
    // still arrive (by the database poll), and when Redis is back the nodes are linked again.
    let load = Load::start(&cluster.gw.client, cluster.ports(), "c1-renamed");
    cluster.redis.stop();
    for p in [&cluster.gw.proxy, &cluster.b] {
        p.wait_for_log("Redis unreachable", Duration::from_secs(10))
            .await
            .expect("outage logged");
    }
    cluster
        .create_group("during", &mock.base_url(), &["sk-during"], json!({}))
        .await;
    cluster.served_everywhere("during", Instant::now()).await;
    cluster.redis.restart().await.expect("redis back");
    cluster.wait_subscribed().await;
    for p in [&cluster.gw.proxy, &cluster.b] {
        p.wait_for_log("Redis reachable again", Duration::from_secs(10))
            .await
            .expect("return logged");
        let log = p.output_log();
        assert_eq!(
            log.matches("Redis unreachable").count(),
            1,
            "the outage is logged once:\n{log}"
        );
    }
    let t = Instant::now();
    cluster
        .create_group("after", &mock.base_url(), &["sk-after"], json!({}))
        .await;
    cluster.served_in_time("after", t).await;
    let (requests, failures) = load.finish().await;
    assert!(requests > 20, "the load ran ({requests} requests)");
    assert!(
        failures.is_empty(),
        "{} of {requests} requests failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );

    // 4. A proxy that crashes and starts again rejoins by itself: it serves everything, leaves
    // out the key A blacklisted (saved in the database) and hears the channel again.
    // (health reaches the database within a second: wait for that first)
    cluster
        .until(Duration::from_secs(5), || async {
            let keys = cluster
                .gw
                .api(
                    reqwest::Method::GET,
                    &format!("/api/keys?group_id={bl}&status=invalid"),
                    None,
                )
                .await;
            keys["data"]["items"][0]["key_value"] == bad
        })
        .await;
    cluster.restart_b().await;
    cluster.wait_subscribed().await;
    assert_eq!(cluster.probe(cluster.b_port, "after").await, 401);
    // (snapshots hold the keys in rotation: the invalid one is not loaded at all)
    assert_eq!(
        cluster.keys(&cluster.b_metrics, "bl", "active").await,
        Some(1),
        "{}",
        cluster.b.output_log()
    );
    mock.clear();
    for _ in 0..4 {
        assert_eq!(cluster.chat(cluster.b_port, "bl").await, 200);
    }
    assert!(mock.requests_for_key(bad).is_empty());
    let t = Instant::now();
    cluster
        .create_group("rejoined", &mock.base_url(), &["sk-rejoined"], json!({}))
        .await;
    cluster.served_in_time("rejoined", t).await;

    // 5. Rate limits hold for the cluster: what proxy A admitted is charged on proxy B, which
    // hears of it within a report interval and refuses what would go over the key's limit.
    cluster
        .create_group(
            "rl",
            &mock.base_url(),
            &["sk-rl-cluster"],
            json!({"key_rpm_limit": 3, "rate_limit_max_wait_seconds": 0}),
        )
        .await;
    cluster.served_everywhere("rl", Instant::now()).await;
    cluster
        .until(Duration::from_secs(5), || async {
            cluster.keys(&cluster.a_metrics, "rl", "active").await == Some(1)
                && cluster.keys(&cluster.b_metrics, "rl", "active").await == Some(1)
        })
        .await;
    mock.clear();
    for _ in 0..3 {
        assert_eq!(cluster.chat(cluster.gw.port, "rl").await, 200);
    }
    let used_on_a = Instant::now();
    let reported = r#"gateway_rate_limit_remote_usage_total{unit="requests"}"#;
    cluster
        .until(CLUSTER_DEADLINE, || async {
            cluster.metric(&cluster.b_metrics, reported).await == Some(3)
        })
        .await;
    assert!(used_on_a.elapsed() < CLUSTER_DEADLINE);
    assert_eq!(cluster.chat(cluster.b_port, "rl").await, 429);
    assert_eq!(cluster.chat(cluster.gw.port, "rl").await, 429);
    assert_eq!(
        mock.requests_for_key("sk-rl-cluster").len(),
        3,
        "three requests a minute for the key, whichever node sends them"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_started_while_its_database_is_down_comes_up_when_it_returns() {
    let Some(db) = TestDb::postgres().await.expect("postgres") else {
        return;
    };
    db.set_reachable(false).await.expect("refuse connections");
    let listen = format!("127.0.0.1:{}", free_port());
    let dsn = db.dsn();
    let env = [
        ("AUTH_KEY", AUTH_KEY),
        ("ADMIN_LISTEN", listen.as_str()),
        ("DATABASE_DSN", dsn.as_str()),
        ("LOG_LEVEL", "info"),
    ];
    let admin = GatewayProcess::spawn("gateway-admin", &env, &[]).expect("spawn admin");
    admin
        .wait_for_log("trying again every", Duration::from_secs(20))
        .await
        .expect("waits for the database");
    db.set_reachable(true).await.expect("allow connections");
    admin
        .wait_http_ready(&format!("http://{listen}/health"), Duration::from_secs(20))
        .await
        .expect("admin up once the database is back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_proxies_on_postgres_and_redis_share_changes_and_key_health() {
    let Some(db) = TestDb::postgres().await.expect("postgres") else {
        return;
    };
    scenario(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_proxies_on_mariadb_and_redis_share_changes_and_key_health() {
    let Some(db) = TestDb::mysql().await.expect("mysql") else {
        return;
    };
    scenario(db).await;
}
