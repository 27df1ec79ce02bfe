//! Request logs as the proxy writes them (`Database::write_request_logs`), read back through the
//! logs, export, dashboard, chart, usage, group-stats and metrics routes, and trimmed by the
//! retention job, on every backend.

use axum::http::{Method, StatusCode};
use chrono::{Duration, NaiveDateTime, Utc};
use gateway_core::key_crypto::KeyCipher;

fn key_hash(key: &str) -> String {
    KeyCipher::plaintext().lookup_hash(key)
}
use gateway_schema::LogBatch;
use gateway_schema::models::RequestLog;
use serde_json::json;

use super::TestApp;

struct Attempt {
    key: &'static str,
    final_: bool,
    status: i32,
    at: NaiveDateTime,
    tokens: (i64, i64),
    error: &'static str,
}

fn record(group: (i64, &str), n: usize, a: &Attempt) -> RequestLog {
    RequestLog {
        id: format!("00000000-0000-4000-8000-{n:012x}"),
        timestamp: a.at,
        group_id: group.0,
        group_name: group.1.to_owned(),
        parent_group_id: 0,
        parent_group_name: String::new(),
        key_value: a.key.to_owned(),
        key_hash: key_hash(a.key),
        model: "gpt-4o".to_owned(),
        is_success: a.status < 400,
        source_ip: "10.0.0.7".to_owned(),
        status_code: a.status,
        request_path: "/proxy/logs-g/v1/chat/completions".to_owned(),
        duration: 12,
        error_message: a.error.to_owned(),
        user_agent: "it/1".to_owned(),
        request_type: if a.final_ { "final" } else { "retry" }.to_owned(),
        upstream_addr: "http://127.0.0.1:9".to_owned(),
        is_stream: false,
        request_body: String::new(),
        retry_index: i32::from(!a.final_),
        ttfb_ms: 5,
        input_tokens: a.tokens.0,
        output_tokens: a.tokens.1,
        total_tokens: a.tokens.0 + a.tokens.1,
    }
}

pub(super) async fn logs_flow(app: &TestApp) {
    let group = app.create_group("logs-g").await;
    let gid = group["id"].as_i64().unwrap();
    let (status, body) = app
        .call(
            Method::POST,
            "/api/keys/add-multiple",
            Some(json!({"group_id": gid, "keys_text": "sk-log-1\nsk-log-2"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let now = Utc::now().naive_utc();
    // Whole milliseconds, so what the API prints can be compared exactly on every backend.
    let now = now
        - Duration::nanoseconds(i64::from(
            now.and_utc().timestamp_subsec_nanos() % 1_000_000,
        ));
    let recent_success = now - Duration::minutes(2);
    let attempts = [
        Attempt {
            key: "sk-log-1",
            final_: false,
            status: 500,
            at: now - Duration::minutes(3),
            tokens: (0, 0),
            error: "upstream answered 500",
        },
        Attempt {
            key: "sk-log-2",
            final_: true,
            status: 200,
            at: recent_success,
            tokens: (10, 5),
            error: "",
        },
        Attempt {
            key: "sk-log-1",
            final_: true,
            status: 429,
            at: now - Duration::minutes(1),
            tokens: (0, 0),
            error: "upstream answered 429: rate limited",
        },
        Attempt {
            key: "sk-log-2",
            final_: true,
            status: 200,
            at: now - Duration::days(10),
            tokens: (7, 3),
            error: "",
        },
    ];
    // Written in two batches, the older success last: last_used_at must not move backwards.
    let rows: Vec<RequestLog> = attempts
        .iter()
        .enumerate()
        .map(|(n, a)| record((gid, "logs-g"), n, a))
        .collect();
    app.state
        .db
        .write_request_logs(&LogBatch::new(rows[..3].to_vec()))
        .await
        .unwrap();
    app.state
        .db
        .write_request_logs(&LogBatch::new(rows[3..].to_vec()))
        .await
        .unwrap();

    let list = |q: &str| format!("/api/logs?{q}");
    let (status, body) = app.call(Method::GET, &list("page_size=10"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["pagination"]["total_items"], 4);
    let items = body["data"]["items"].as_array().unwrap();
    assert_eq!(items[0]["status_code"], 429, "newest first");
    assert_eq!(items[0]["key_value"], "sk-log-1");
    assert_eq!(items[1]["total_tokens"], 15);
    assert_eq!(items[1]["duration_ms"], 12);
    for (query, expected) in [
        ("is_success=false", 2),
        ("request_type=retry", 1),
        ("status_code=429", 1),
        ("key_value=sk-log-2", 2),
        ("model=gpt", 4),
        ("group_name=logs", 4),
        ("error_contains=rate%20limited", 1),
        ("source_ip=10.0.0.7", 4),
        (
            &format!(
                "start_time={}",
                (now - Duration::hours(1))
                    .and_utc()
                    .to_rfc3339()
                    .replace('+', "%2B")
            ),
            3,
        ),
    ] {
        let (status, body) = app.call(Method::GET, &list(query), None).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        assert_eq!(
            body["data"]["pagination"]["total_items"], expected,
            "{query}"
        );
    }
    let (status, body) = app.call(Method::GET, &list("status_code=abc"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"].as_str().unwrap().contains("status_code"),
        "{body}"
    );

    // Key counters: successes only, last_used_at the latest success.
    let (_, keys) = app
        .call(Method::GET, &format!("/api/keys?group_id={gid}"), None)
        .await;
    let key = |v: &str| {
        keys["data"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["key_value"] == v)
            .cloned()
            .unwrap()
    };
    assert_eq!(key("sk-log-2")["request_count"], 2);
    assert_eq!(
        key("sk-log-2")["last_used_at"],
        gateway_admin::dto::rfc3339(recent_success)
    );
    assert_eq!(key("sk-log-1")["request_count"], 0);

    // Export: the latest log of each key.
    let (status, ct, csv) = app.call_text("/api/logs/export", "content-type").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ct, "text/csv; charset=utf-8");
    let mut expected = [
        (key_hash("sk-log-1"), "sk-log-1,logs-g,429"),
        (key_hash("sk-log-2"), "sk-log-2,logs-g,200"),
    ];
    expected.sort();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "key_value,group_name,status_code");
    assert_eq!(
        lines[1..],
        expected.iter().map(|e| e.1).collect::<Vec<_>>()[..],
        "{csv}"
    );

    // Dashboard: final attempts of the last 24 h (the retry and the 10-day-old one excluded).
    let (_, stats) = app.call(Method::GET, "/api/dashboard/stats", None).await;
    let d = &stats["data"];
    assert_eq!(d["request_count"]["value"], 2, "{d}");
    assert_eq!(d["error_rate"]["value"], 50.0);
    assert_eq!(d["rpm"]["value"], 0.2);
    assert_eq!(d["key_count"]["value"], 2);
    assert_eq!(
        d["key_states"],
        json!({"active": 2, "cooling": 0, "invalid": 0, "disabled": 0})
    );
    // Upstream health over the last hour: the configured upstream without traffic, and the one
    // the attempts went to (no longer configured, so no weight), newest attempt first.
    let (_, ups) = app
        .call(Method::GET, "/api/dashboard/upstreams", None)
        .await;
    let ups = ups["data"].as_array().unwrap().clone();
    let of = |url: &str| ups.iter().find(|u| u["upstream"] == url).cloned().unwrap();
    let idle = of("https://api.openai.com");
    assert_eq!(
        (
            &idle["group_name"],
            &idle["weight"],
            &idle["requests"],
            &idle["last_status_code"]
        ),
        (&json!("logs-g"), &json!(1), &json!(0), &json!(null)),
        "{idle}"
    );
    let used = of("http://127.0.0.1:9");
    assert_eq!(used["weight"], json!(null), "{used}");
    assert_eq!(
        (&used["requests"], &used["failures"]),
        (&json!(3), &json!(2)),
        "{used}"
    );
    assert_eq!(used["failure_rate"], 0.6667);
    assert_eq!(used["avg_duration_ms"], 12);
    assert_eq!(used["last_status_code"], 429);
    assert_eq!(used["last_error"], "upstream answered 429: rate limited");
    assert!(used["last_seen_at"].as_str().is_some(), "{used}");
    assert!(
        d["security_warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["type"] == "encryption_key" && w["severity"] == "high"),
        "{d}"
    );
    let (_, chart) = app
        .call(
            Method::GET,
            &format!("/api/dashboard/chart?groupId={gid}"),
            None,
        )
        .await;
    let sets = chart["data"]["datasets"].as_array().unwrap();
    assert_eq!(chart["data"]["labels"].as_array().unwrap().len(), 24);
    let sum = |i: usize| -> i64 {
        sets[i]["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .sum()
    };
    assert_eq!((sum(0), sum(1)), (1, 1));
    let (_, gstats) = app
        .call(Method::GET, &format!("/api/groups/{gid}/stats"), None)
        .await;
    assert_eq!(gstats["data"]["stats_24_hour"]["total_requests"], 2);
    assert_eq!(gstats["data"]["stats_30_day"]["total_requests"], 3);

    // Usage per group and model.
    let (_, usage) = app.call(Method::GET, "/api/usage?period=24h", None).await;
    assert_eq!(usage["data"]["totals"]["total_tokens"], 15, "{usage}");
    assert_eq!(usage["data"]["items"][0]["group_name"], "logs-g");
    assert_eq!(usage["data"]["items"][0]["model"], "gpt-4o");
    assert_eq!(usage["data"]["items"][0]["requests"], 1);
    let (_, usage) = app.call(Method::GET, "/api/usage?period=30d", None).await;
    assert_eq!(usage["data"]["totals"]["requests"], 2);
    assert_eq!(usage["data"]["totals"]["input_tokens"], 17);
    let (status, _) = app.call(Method::GET, "/api/usage?period=1y", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Retention removes only logs older than the setting; statistics stay.
    let (status, body) = app
        .call(
            Method::PUT,
            "/api/settings",
            Some(json!({"request_log_retention_days": 7})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        gateway_admin::retention_job::run_once(&app.state.db)
            .await
            .unwrap(),
        1
    );
    let (_, body) = app.call(Method::GET, &list(""), None).await;
    assert_eq!(body["data"]["pagination"]["total_items"], 3);
    let (_, usage) = app.call(Method::GET, "/api/usage?period=30d", None).await;
    assert_eq!(usage["data"]["totals"]["requests"], 2);

    // The admin's metrics: stored keys by group and status, API requests by route.
    let (status, ct, text) = app.call_text("/metrics", "content-type").await;
    assert_eq!(status, StatusCode::OK);
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    for line in [
        r#"gateway_stored_keys{group="logs-g",status="active"} 2"#,
        r#"gateway_admin_http_requests_total{method="GET",route="/api/logs",status="200"}"#,
        "gateway_admin_database_up 1",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
}

on_every_backend!(logs_flow: request_logs_dashboard_usage_and_retention_on_sqlite, request_logs_dashboard_usage_and_retention_on_postgres, request_logs_dashboard_usage_and_retention_on_mysql);
