//! The request-log pipeline and the metrics, end to end: after a scripted scenario and a graceful
//! stop the stored logs, counters, hourly statistics and token usage equal what the mock served;
//! the metrics say the same and pass `promtool check metrics`; a database that goes away in the
//! middle of traffic loses no request and no log record.

use std::time::{Duration, Instant};

use gateway_schema::models::RequestLog;
use gateway_schema::{Database, LogFilter};
use gateway_testkit::{MockProvider, Reply, TestDb, free_port, services_required};
use serde_json::{Value, json};

use crate::support::Gateway;

/// Logs of the scenario: every row but the readiness probes of the setup.
async fn scenario_logs(db: &Database) -> Result<Vec<RequestLog>, gateway_schema::DbError> {
    let (rows, _) = db.list_logs(&LogFilter::default(), 1, 100_000).await?;
    Ok(rows
        .into_iter()
        .filter(|r| !r.request_path.contains("__probe"))
        .collect())
}

async fn send(gw: &Gateway, group: &str, path: &str, body: Value) -> String {
    let r = gw.post(group, path, body).await;
    assert_eq!(r.status(), 200, "{group}{path}");
    r.text().await.unwrap()
}

async fn metrics_text(url: &str) -> String {
    let r = reqwest::get(url).await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    r.text().await.unwrap()
}

/// `promtool check metrics` on `text` (promtool from Debian's `prometheus` package; a missing
/// promtool skips the check unless REQUIRE_SERVICES=1).
#[expect(clippy::print_stderr, reason = "a skipped check says why")]
async fn promtool_check(name: &str, text: &str) {
    let run = tokio::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match run {
        Ok(c) => c,
        Err(e) if !services_required() => {
            eprintln!("skipping promtool check of {name}: {e} (install the prometheus package)");
            return;
        }
        Err(e) => panic!("promtool not found ({e}); `make deps` installs it"),
    };
    use tokio::io::AsyncWriteExt;
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(text.as_bytes()).await.unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed on the {name} metrics:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The value of the sample `line_start` (metric name with labels) in a text exposition (0 when
/// the series does not exist yet).
fn sample(text: &str, line_start: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(line_start).map(str::trim))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_counters_usage_and_metrics_match_what_the_mock_served() {
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let gw = Gateway::start_with(&[("METRICS_LISTEN", &metrics_addr)]).await;
    let mock = MockProvider::start().await.unwrap();
    let up = [(mock.base_url(), 1)];
    let ups: Vec<(&str, u32)> = up.iter().map(|(u, w)| (u.as_str(), *w)).collect();
    let lo = gw
        .create_group_with(
            "lo",
            "openai",
            &ups,
            &["sk-lo-bad", "sk-lo-good"],
            json!({"config": {"blacklist_threshold": 0, "max_retries": 2}}),
        )
        .await;
    gw.create_group("la", "anthropic", &ups, &["sk-la-1"]).await;
    gw.create_group("lg", "gemini", &ups, &["sk-lg-1"]).await;
    gw.create_group("lr", "openai-response", &ups, &["sk-lr-1"])
        .await;
    mock.always("sk-lo-bad", Reply::status(500));
    mock.clear();
    // The readiness probes of the setup are counted too: compare the metrics' growth.
    let metrics_url = format!("http://{metrics_addr}/metrics");
    let before = metrics_text(&metrics_url).await;

    let chat = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]});
    // SDKs ask for compressed answers; the gateway asks the upstream for plain ones, so it can
    // read the usage (and redact keys in error bodies).
    let r = gw
        .client
        .post(gw.url("/proxy/lo/v1/chat/completions"))
        .bearer_auth(crate::support::PROXY_KEY)
        .header("accept-encoding", "gzip, br")
        .json(&chat)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap();
    for _ in 0..5 {
        send(&gw, "lo", "/v1/chat/completions", chat.clone()).await;
    }
    let mut stream = chat.clone();
    stream["stream"] = json!(true);
    for _ in 0..2 {
        let text = send(&gw, "lo", "/v1/chat/completions", stream.clone()).await;
        assert!(text.contains("[DONE]"));
    }
    send(
        &gw,
        "la",
        "/v1/messages",
        json!({"model": "claude-x", "max_tokens": 5, "stream": true, "messages": []}),
    )
    .await;
    let r = gw
        .client
        .post(gw.url("/proxy/lg/v1beta/models/gemini-pro:streamGenerateContent?alt=sse"))
        .bearer_auth(crate::support::PROXY_KEY)
        .json(&json!({"contents": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap();
    send(
        &gw,
        "lr",
        "/v1/responses",
        json!({"model": "gpt-5", "input": "hi", "stream": true}),
    )
    .await;

    assert!(
        mock.requests()
            .iter()
            .all(|r| r.header("accept-encoding").is_none())
    );
    let attempts = mock.requests().len();
    let bad_attempts = mock.requests_for_key("sk-lo-bad").len();
    assert_eq!(attempts, 11 + bad_attempts);
    assert!(bad_attempts > 0, "rotation never picked the failing key");

    // Metrics while the proxy runs.
    // A request is counted in Pingora's logging phase, just after its last byte went out.
    let success = r#"gateway_requests_total{channel="openai",group="lo",outcome="success",status_class="2xx"}"#;
    let counted = Instant::now();
    let proxy_metrics = loop {
        let text = metrics_text(&metrics_url).await;
        let settled = sample(&text, success) - sample(&before, success) >= 8.0
            && sample(&text, "gateway_streaming_responses") == 0.0;
        if settled || counted.elapsed() > Duration::from_secs(5) {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let grew = |series: &str| sample(&proxy_metrics, series) - sample(&before, series);
    assert_eq!(grew(success), 8.0);
    assert_eq!(
        grew(r#"gateway_upstream_attempts_total{group="lo",result="failure"}"#),
        bad_attempts as f64
    );
    assert_eq!(
        grew(r#"gateway_retries_total{group="lo"}"#),
        bad_attempts as f64
    );
    // 6 answers of 9 + 7 tokens, 2 streams of 9 + 3.
    assert_eq!(
        grew(r#"gateway_tokens_total{direction="input",group="lo",model="gpt-4o"}"#),
        72.0
    );
    assert_eq!(
        grew(r#"gateway_tokens_total{direction="output",group="lo",model="gpt-4o"}"#),
        48.0
    );
    assert_eq!(
        sample(&proxy_metrics, r#"gateway_keys{group="lo",state="active"}"#),
        2.0
    );
    assert_eq!(sample(&proxy_metrics, "gateway_streaming_responses"), 0.0);
    assert!(
        !proxy_metrics.contains("sk-lo"),
        "a key leaked into metrics"
    );
    promtool_check("proxy", &proxy_metrics).await;
    let admin_metrics = metrics_text(&format!("http://{}/metrics", gw.admin_listen)).await;
    assert!(admin_metrics.contains(r#"gateway_stored_keys{group="lo",status="active"} 2"#));
    promtool_check("admin", &admin_metrics).await;
    let public = gw.client.get(gw.url("/metrics")).send().await.unwrap();
    assert_eq!(public.status(), 404, "metrics must not be public");

    // Graceful stop: every buffered record is written (the write interval is 1 minute).
    gw.proxy.signal("TERM").unwrap();
    let status = gw.proxy.wait_exit(Duration::from_secs(40)).await.unwrap();
    assert!(status.success(), "{}", gw.proxy.output_log());
    let db = gw.db.database().unwrap();
    let logs = scenario_logs(&db).await.unwrap();
    assert_eq!(logs.len(), attempts, "one log row per attempt");
    let retries = logs.iter().filter(|l| l.request_type == "retry").count();
    assert_eq!(retries, bad_attempts);
    assert!(
        logs.iter()
            .all(|l| l.request_type == "retry" || l.is_success)
    );
    assert!(
        logs.iter()
            .filter(|l| l.key_value == "sk-lo-bad")
            .all(|l| l.status_code == 500 && l.request_type == "retry")
    );
    let tokens: i64 = logs.iter().map(|l| l.total_tokens).sum();
    // lo: 6 × 16 + 2 × 12; la, lg, lr: one stream of 9 + 3 each.
    assert_eq!(tokens, 96 + 24 + 36);
    for l in logs.iter().filter(|l| l.is_success) {
        assert!(l.ttfb_ms <= l.duration, "{l:?}");
        assert!(l.request_path.starts_with("/proxy/"), "{l:?}");
    }
    let streams = logs.iter().filter(|l| l.is_stream && l.is_success).count();
    assert_eq!(streams, 5);

    // Counters, hourly statistics and usage, through the admin API (on its own address: the
    // public port closed with the proxy).
    let admin = |path: String| {
        let url = format!("http://{}{path}", gw.admin_listen);
        let client = gw.client.clone();
        async move {
            let r = client
                .get(url)
                .bearer_auth(crate::support::AUTH_KEY)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    let keys = admin(format!("/api/keys?group_id={lo}")).await;
    let count = |key: &str| {
        keys["data"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["key_value"] == key)
            .map(|k| k["request_count"].clone())
            .unwrap_or(Value::Null)
    };
    assert_eq!(count("sk-lo-good"), 8);
    assert_eq!(count("sk-lo-bad"), 0);
    let stats = admin(format!("/api/groups/{lo}/stats")).await;
    let finals_of_lo = db
        .list_logs(
            &LogFilter {
                group_name: Some("lo".into()),
                request_type: Some("final".into()),
                ..LogFilter::default()
            },
            1,
            1000,
        )
        .await
        .unwrap()
        .1;
    assert_eq!(
        stats["data"]["stats_24_hour"]["total_requests"],
        finals_of_lo
    );
    let usage = admin("/api/usage?period=24h".to_owned()).await;
    let item = |group: &str, model: &str| {
        usage["data"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["group_name"] == group && i["model"] == model)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(item("lo", "gpt-4o")["requests"], 8, "{usage}");
    assert_eq!(item("lo", "gpt-4o")["input_tokens"], 72);
    assert_eq!(item("lo", "gpt-4o")["output_tokens"], 48);
    assert_eq!(item("la", "claude-x")["total_tokens"], 12);
    assert_eq!(item("lg", "gemini-pro")["total_tokens"], 12);
    assert_eq!(item("lr", "gpt-5")["total_tokens"], 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_loses_no_request_and_no_log_record() {
    let Some(test_db) = TestDb::postgres().await.unwrap() else {
        return;
    };
    let gw = Gateway::start_on(test_db, &[]).await;
    let mock = MockProvider::start().await.unwrap();
    gw.log_at_once().await;
    gw.create_group("outage", "openai", &[(&mock.base_url(), 1)], &["sk-out-1"])
        .await;
    mock.clear();
    let db = gw.db.database().unwrap();
    let body = json!({"model": "gpt-4o", "messages": []});
    // A NUL in a logged field would make PostgreSQL refuse the whole batch.
    send(
        &gw,
        "outage",
        "/v1/chat/completions",
        json!({"model": "gpt\u{0}-4o", "messages": []}),
    )
    .await;
    for _ in 0..9 {
        send(&gw, "outage", "/v1/chat/completions", body.clone()).await;
    }
    let wait_rows = |n: usize| {
        let db = db.clone();
        async move {
            let start = Instant::now();
            loop {
                // The pool may still hold connections from before the outage: retry.
                if let Ok(rows) = scenario_logs(&db).await
                    && rows.len() >= n
                {
                    return rows.len();
                }
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "only some of {n} rows were written"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert_eq!(wait_rows(10).await, 10);

    gw.db.set_reachable(false).await.unwrap();
    for _ in 0..30 {
        send(&gw, "outage", "/v1/chat/completions", body.clone()).await;
    }
    gw.proxy
        .wait_for_log("cannot write request logs", Duration::from_secs(10))
        .await
        .unwrap();
    // Meanwhile the admin API says what is wrong, with 503 (a pooled connection that broke
    // under the outage answers the same).
    for _ in 0..3 {
        let (status, body) = gw
            .api_answer(reqwest::Method::GET, "/api/groups", None)
            .await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["code"], "DATABASE_UNAVAILABLE", "{body}");
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("database unavailable")),
            "{body}"
        );
    }
    gw.db.set_reachable(true).await.unwrap();
    assert_eq!(wait_rows(40).await, 40, "{}", gw.proxy.output_log());
    assert_eq!(mock.requests().len(), 40);
    let log = gw.proxy.output_log();
    assert!(
        log.contains("database reachable again; request logs written"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_bodies_are_cut_with_a_marker_and_logging_can_be_off_per_group() {
    let gw = Gateway::start().await;
    let mock = MockProvider::start().await.unwrap();
    gw.api(
        reqwest::Method::PUT,
        "/api/settings",
        Some(json!({"request_log_write_interval_minutes": 0, "request_body_log_max_bytes": 40})),
    )
    .await;
    let base = mock.base_url();
    let up = [(base.as_str(), 1)];
    gw.create_group_with(
        "bodies",
        "openai",
        &up,
        &["sk-body-1"],
        json!({"config": {"enable_request_body_logging": true}}),
    )
    .await;
    gw.create_group_with(
        "quiet",
        "openai",
        &up,
        &["sk-quiet-1"],
        json!({"config": {"enable_request_logging": false}}),
    )
    .await;
    mock.clear();
    let body =
        json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "x".repeat(100)}]});
    let sent = body.to_string();
    for group in ["quiet", "bodies"] {
        let r = gw
            .client
            .post(gw.url(&format!("/proxy/{group}/v1/chat/completions")))
            .bearer_auth(crate::support::PROXY_KEY)
            .header("user-agent", "body-test/1.0")
            .body(sent.clone())
            .header("content-type", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let db = gw.db.database().unwrap();
    let start = Instant::now();
    let row = loop {
        let rows = scenario_logs(&db).await.unwrap();
        if let Some(r) = rows.iter().find(|r| r.group_name == "bodies") {
            break r.clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no log row for group bodies"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        row.request_body,
        format!(
            "{}…[truncated {} of {} bytes]",
            &sent[..40],
            sent.len() - 40,
            sent.len()
        )
    );
    assert_eq!(row.user_agent, "body-test/1.0");
    assert_eq!(row.model, "gpt-4o");
    // The quiet group's request went first and was answered, but left no row.
    let rows = scenario_logs(&db).await.unwrap();
    assert!(rows.iter().all(|r| r.group_name != "quiet"), "{rows:?}");
    assert_eq!(mock.requests_for_key("sk-quiet-1").len(), 1);
}

/// A proxy stopped while the database is down keeps its unwritten request logs in the spool
/// folder (`REQUEST_LOG_SPOOL_DIR`), and the next proxy started with that folder writes them:
/// every record of every request reaches the database, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_during_an_outage_spools_the_logs_and_the_next_start_writes_them() {
    let Some(test_db) = TestDb::postgres().await.unwrap() else {
        return;
    };
    let spool = tempfile::tempdir().unwrap();
    let spool_dir = spool.path().join("spool");
    let spool_env = spool_dir.to_str().unwrap().to_owned();
    let gw = Gateway::start_on(test_db, &[("REQUEST_LOG_SPOOL_DIR", &spool_env)]).await;
    let mock = MockProvider::start().await.unwrap();
    gw.create_group("spool", "openai", &[(&mock.base_url(), 1)], &["sk-spool-1"])
        .await;
    // Written every 60 minutes: the records wait in the proxy's memory.
    gw.api(
        reqwest::Method::PUT,
        "/api/settings",
        Some(json!({"request_log_write_interval_minutes": 60})),
    )
    .await;
    gw.wait_synced().await;
    let db = gw.db.database().unwrap();
    let body = json!({"model": "gpt-4o", "messages": []});
    for _ in 0..12 {
        send(&gw, "spool", "/v1/chat/completions", body.clone()).await;
    }
    gw.db.set_reachable(false).await.unwrap();
    gw.proxy.signal("TERM").unwrap();
    let status = gw.proxy.wait_exit(Duration::from_secs(30)).await.unwrap();
    let log = gw.proxy.output_log();
    assert!(status.success(), "{log}");
    assert!(log.contains("request logs spooled"), "{log}");
    let files: Vec<_> = std::fs::read_dir(&spool_dir).unwrap().collect();
    assert_eq!(files.len(), 1, "{files:?}");

    gw.db.set_reachable(true).await.unwrap();
    let next = gw.spawn_proxy(&[]);
    let start = Instant::now();
    loop {
        if let Ok(rows) = scenario_logs(&db).await
            && rows.len() >= 12
        {
            assert_eq!(rows.len(), 12, "each record once");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "spooled records not written\n{}",
            next.output_log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let start = Instant::now();
    while std::fs::read_dir(&spool_dir).unwrap().count() > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the spool file stays"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(next.output_log().contains("found in the spool"));
    next.kill();
}
