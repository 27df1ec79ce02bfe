//! The end of a proxy process: a zero-downtime upgrade (a new process started with `--upgrade`
//! takes the listening sockets, the old one gets SIGQUIT) under a steady load of requests and
//! streams fails nothing; SIGTERM lets a stream in flight finish, writes its request log and
//! exits without waiting out the grace period.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use gateway_testkit::{MockProvider, Reply};
use serde_json::json;

use crate::support::{Gateway, PROXY_KEY};

/// Requests and streams against one proxy port until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
    streams: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<Vec<String>>>,
}

impl Load {
    fn start(client: &reqwest::Client, port: u16) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let streams = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for worker in 0..6 {
            let client = client.clone();
            let (stop, requests, streams) = (
                Arc::clone(&stop),
                Arc::clone(&requests),
                Arc::clone(&streams),
            );
            let stream = worker % 3 == 0;
            let group = if stream { "life-sse" } else { "life" };
            let url = format!("http://127.0.0.1:{port}/proxy/{group}/v1/chat/completions");
            tasks.push(tokio::spawn(async move {
                let mut failures = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    match one(&client, &url, stream).await {
                        Ok(()) if stream => {
                            streams.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(()) => {
                            requests.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => failures.push(e),
                    }
                }
                failures
            }));
        }
        Load {
            stop,
            requests,
            streams,
            tasks,
        }
    }

    /// Stops the load; returns (requests, streams, failures).
    async fn finish(self) -> (usize, usize, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let mut failures = Vec::new();
        for t in self.tasks {
            failures.extend(t.await.expect("load task"));
        }
        (
            self.requests.load(Ordering::Relaxed),
            self.streams.load(Ordering::Relaxed),
            failures,
        )
    }
}

/// One request; a stream must arrive whole (its `[DONE]`).
async fn one(client: &reqwest::Client, url: &str, stream: bool) -> Result<(), String> {
    let r = client
        .post(url)
        .bearer_auth(PROXY_KEY)
        .json(&json!({"model": "gpt-4o", "messages": [], "stream": stream}))
        .send()
        .await
        .map_err(|e| format!("send: {e:?}"))?;
    if r.status() != 200 {
        return Err(format!("status {}", r.status()));
    }
    let body = r.bytes().await.map_err(|e| format!("body: {e:?}"))?;
    if stream && !String::from_utf8_lossy(&body).contains("[DONE]") {
        return Err("stream cut short".to_owned());
    }
    Ok(())
}

async fn gateway_with_groups(mock: &MockProvider) -> Gateway {
    let gw = Gateway::start().await;
    gw.create_group("life", "openai", &[(&mock.base_url(), 1)], &["sk-life"])
        .await;
    gw.create_group(
        "life-sse",
        "openai",
        &[(&mock.base_url(), 1)],
        &["sk-life-sse"],
    )
    .await;
    mock.always("sk-life", Reply::ok());
    mock.always("sk-life-sse", Reply::sse(6, Duration::from_millis(100)));
    gw
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_proxy_upgraded_under_load_of_requests_and_streams_fails_none() {
    let mock = MockProvider::start().await.unwrap();
    let gw = gateway_with_groups(&mock).await;
    let load = Load::start(&gw.client, gw.port);
    gw.wait_until(Duration::from_secs(10), || async {
        load.requests.load(Ordering::Relaxed) > 20 && load.streams.load(Ordering::Relaxed) > 2
    })
    .await;

    // The new process waits on the upgrade socket for the listening sockets; then the old one
    // is told to hand them over.
    let socket = std::path::PathBuf::from(format!("/tmp/gateway-proxy-{}.sock", gw.port));
    let _ = std::fs::remove_file(&socket);
    let new = gw.spawn_proxy(&["--upgrade"]);
    gw.wait_until(Duration::from_secs(20), || async { socket.exists() })
        .await;
    let before = (
        load.requests.load(Ordering::Relaxed),
        load.streams.load(Ordering::Relaxed),
    );
    gw.proxy.signal("QUIT").unwrap();
    let status = gw.proxy.wait_exit(Duration::from_secs(30)).await.unwrap();
    assert!(status.success(), "{}", gw.proxy.output_log());
    assert!(
        gw.proxy.output_log().contains("gateway-proxy stopped"),
        "{}",
        gw.proxy.output_log()
    );
    // Only the new process is left; it keeps serving.
    let after_exit = load.requests.load(Ordering::Relaxed);
    gw.wait_until(Duration::from_secs(10), || async {
        load.requests.load(Ordering::Relaxed) > after_exit + 20
    })
    .await;
    let (requests, streams, failures) = load.finish().await;
    assert!(
        failures.is_empty(),
        "{} failed of {requests} requests and {streams} streams: {:?}\nold log:\n{}\nnew log:\n{}",
        failures.len(),
        &failures[..failures.len().min(5)],
        gw.proxy.output_log(),
        new.output_log()
    );
    assert!(
        requests > before.0 + 20 && streams > before.1,
        "the load ran across the hand-over ({before:?} → {requests}, {streams})"
    );
    let health = gw
        .client
        .get(gw.url("/health"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(health, 200, "{}", new.output_log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_stream_in_flight_finish_and_writes_its_log() {
    let mock = MockProvider::start().await.unwrap();
    let gw = gateway_with_groups(&mock).await;
    mock.always("sk-life-sse", Reply::sse(8, Duration::from_millis(150)));
    let r = gw
        .post(
            "life-sse",
            "/v1/chat/completions",
            json!({"model": "gpt-4o", "stream": true}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let mut stream = r.bytes_stream();
    let mut text = String::from_utf8_lossy(&stream.next().await.unwrap().unwrap()).into_owned();
    let stopped = Instant::now();
    gw.proxy.signal("TERM").unwrap();
    while let Some(chunk) = stream.next().await {
        text.push_str(&String::from_utf8_lossy(
            &chunk.expect("the stream is not cut"),
        ));
    }
    assert!(text.contains("[DONE]"), "the stream finished: {text}");
    let status = gw.proxy.wait_exit(Duration::from_secs(15)).await.unwrap();
    assert!(status.success(), "{}", gw.proxy.output_log());
    let took = stopped.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "exited once drained, not after the whole grace period: {took:?}"
    );
    // The stream's request log was written before the exit (the write interval was not due).
    let logs = gw
        .client
        .get(format!(
            "http://{}/api/logs?group_name=life-sse",
            gw.admin_listen
        ))
        .bearer_auth(crate::support::AUTH_KEY)
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    let items = logs["data"]["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        items
            .iter()
            .any(|l| l["is_stream"] == true && l["status_code"] == 200),
        "{logs}\n{}",
        gw.proxy.output_log()
    );
}

/// Twenty pairs of processes started at the same moment, each pair on a new SQLite file: the
/// admin's migration and the proxy's first connections race for the file's first locks, and
/// every pair comes up (a lock is waited for, never fatal).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_fresh_sqlite_starts_at_once_all_come_up() {
    use gateway_testkit::{GatewayProcess, TestDb, free_port};
    let mut pairs = Vec::new();
    for _ in 0..20 {
        let db = TestDb::empty("sqlite").await.unwrap().unwrap();
        let port = free_port().to_string();
        let admin_listen = format!("127.0.0.1:{}", free_port());
        let dsn = db.dsn();
        let env = [
            ("AUTH_KEY", crate::support::AUTH_KEY),
            ("HOST", "127.0.0.1"),
            ("PORT", port.as_str()),
            ("ADMIN_LISTEN", admin_listen.as_str()),
            ("DATABASE_DSN", dsn.as_str()),
            ("METRICS_LISTEN", ""),
            ("SERVER_THREADS", "1"),
        ];
        let proxy = GatewayProcess::spawn("gateway-proxy", &env, &[]).unwrap();
        let admin = GatewayProcess::spawn("gateway-admin", &env, &[]).unwrap();
        pairs.push((db, port, admin_listen, admin, proxy));
    }
    for (_db, port, admin_listen, admin, proxy) in &pairs {
        admin
            .wait_http_ready(
                &format!("http://{admin_listen}/health"),
                Duration::from_secs(60),
            )
            .await
            .unwrap_or_else(|e| panic!("admin not ready: {e}\n{}", admin.output_log()));
        proxy
            .wait_http_ready(
                &format!("http://127.0.0.1:{port}/health"),
                Duration::from_secs(60),
            )
            .await
            .unwrap_or_else(|e| panic!("proxy not ready: {e}\n{}", proxy.output_log()));
        assert!(
            admin.try_exit_status().unwrap().is_none(),
            "{}",
            admin.output_log()
        );
        assert!(!admin.output_log().contains("cannot migrate"));
    }
    for (_, _, _, admin, proxy) in &pairs {
        proxy.kill();
        admin.kill();
    }
}
