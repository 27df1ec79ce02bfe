//! Rate limits as clients meet them: a key at its `key_rpm_limit` is passed over for a key with
//! room, and with no room left anywhere the request waits (within
//! `rate_limit_max_wait_seconds`) or gets 429 with `Retry-After` in the provider's error shape;
//! token limits count the usage providers report; an aggregate passes over a member at its
//! limit. (Across a cluster: `cluster.rs`.)

use std::time::{Duration, Instant};

use gateway_testkit::{MockProvider, Reply, free_port};
use serde_json::{Value, json};

use crate::aggregates::aggregate;
use crate::support::Gateway;

/// A group on `mock` with `keys`, served with the limits in `config` (set after it is served:
/// the readiness probes of `create_group` would count against them).
async fn limited_group(
    gw: &Gateway,
    name: &str,
    channel: &str,
    mock: &MockProvider,
    keys: &[&str],
    config: Value,
) -> i64 {
    let id = gw
        .create_group(name, channel, &[(&mock.base_url(), 1)], keys)
        .await;
    gw.configure_group(id, config).await;
    id
}

/// The value of the series `series` at `metrics` (0 when absent).
async fn metric(metrics: &str, series: &str) -> i64 {
    let text = reqwest::get(format!("http://{metrics}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = format!("{series} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&line))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Asserts `r` is the gateway's 429 naming `setting`; returns its `Retry-After` and body.
async fn refused(r: reqwest::Response, setting: &str) -> (u64, Value) {
    assert_eq!(r.status(), 429);
    let retry_after = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    let body: Value = r.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(setting), "{body}");
    (retry_after, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_at_their_limit_are_passed_over_then_the_client_gets_429_with_retry_after() {
    let metrics = format!("127.0.0.1:{}", free_port());
    let gw = Gateway::start_with(&[("METRICS_LISTEN", &metrics)]).await;
    gw.log_at_once().await;
    let mock = MockProvider::start().await.unwrap();
    let id = limited_group(
        &gw,
        "rl",
        "openai",
        &mock,
        &["sk-rl-1"],
        json!({"key_rpm_limit": 2, "rate_limit_max_wait_seconds": 0}),
    )
    .await;
    mock.clear();
    // Two requests a minute for each key: the first key takes two, then a second key comes.
    for _ in 0..2 {
        let (status, body) = gw.chat("rl", "gpt-4o").await;
        assert_eq!(status, 200, "{body}");
    }
    gw.api(
        reqwest::Method::POST,
        "/api/keys/add-multiple",
        Some(json!({"group_id": id, "keys_text": "sk-rl-2"})),
    )
    .await;
    gw.wait_synced().await;
    // Rotation comes back to the first key, which is passed over: both go to the new key.
    for _ in 0..2 {
        let (status, body) = gw.chat("rl", "gpt-4o").await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(mock.requests_for_key("sk-rl-1").len(), 2);
    assert_eq!(mock.requests_for_key("sk-rl-2").len(), 2);
    // The fifth finds no key with room: 429 at once, in OpenAI's shape, with the time until a
    // key has room again (one request's share of the minute: 30 s).
    let t = Instant::now();
    let r = gw
        .post(
            "rl",
            "/v1/chat/completions",
            json!({"model": "gpt-4o", "messages": []}),
        )
        .await;
    assert!(t.elapsed() < Duration::from_secs(1), "no wait was allowed");
    let (wait, body) = refused(r, "key_rpm_limit").await;
    assert!((25..=30).contains(&wait), "Retry-After {wait}");
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    assert_eq!(body["error"]["type"], "rate_limit_error", "{body}");
    assert_eq!(mock.requests().len(), 4, "nothing more was sent upstream");
    // Counted: the keys passed over for another, and the request refused.
    assert_eq!(
        metric(
            &metrics,
            r#"gateway_rate_limited_total{action="rerouted",group="rl",scope="key"}"#
        )
        .await,
        1
    );
    assert_eq!(
        metric(
            &metrics,
            r#"gateway_rate_limited_total{action="rejected",group="rl",scope="key"}"#
        )
        .await,
        1
    );
    // The refused request is in the request log with its status and reason.
    gw.wait_until(Duration::from_secs(5), || async {
        let logs = gw
            .api(
                reqwest::Method::GET,
                "/api/logs?group_name=rl&status_code=429",
                None,
            )
            .await;
        logs["data"]["items"][0]["error_message"]
            .as_str()
            .is_some_and(|e| e.contains("rate limit"))
    })
    .await;

    // Anthropic clients get Anthropic's shape; the group's own limit answers for the group.
    limited_group(
        &gw,
        "rl-claude",
        "anthropic",
        &mock,
        &["sk-ant-rl"],
        json!({"group_rpm_limit": 1, "rate_limit_max_wait_seconds": 0}),
    )
    .await;
    let ask = || {
        gw.post(
            "rl-claude",
            "/v1/messages",
            json!({"model": "claude-x", "max_tokens": 5, "messages": []}),
        )
    };
    assert_eq!(ask().await.status(), 200);
    let (wait, body) = refused(ask().await, "group_rpm_limit").await;
    assert!((55..=60).contains(&wait), "Retry-After {wait}");
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], "rate_limit_error", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_met_after_a_failed_attempt_is_the_logged_answer() {
    let gw = Gateway::start().await;
    gw.log_at_once().await;
    let mock = MockProvider::start().await.unwrap();
    mock.always("sk-rf-1", Reply::status(500));
    // One key, one request a minute: the retry after the 500 finds the key at its limit.
    limited_group(
        &gw,
        "rf",
        "openai",
        &mock,
        &["sk-rf-1"],
        json!({"key_rpm_limit": 1, "max_retries": 1, "rate_limit_max_wait_seconds": 0,
               "upstream_failure_threshold": 0}),
    )
    .await;
    mock.clear();
    let r = gw
        .post(
            "rf",
            "/v1/chat/completions",
            json!({"model": "gpt-4o", "messages": []}),
        )
        .await;
    refused(r, "key_rpm_limit").await;
    assert_eq!(mock.requests().len(), 1, "one attempt, no second");
    // The log: the failed attempt as a retry, then the 429 the client got as the final record.
    gw.wait_until(Duration::from_secs(5), || async {
        let logs = gw
            .api(
                reqwest::Method::GET,
                "/api/logs?group_name=rf&page_size=10",
                None,
            )
            .await;
        let items = logs["data"]["items"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let kinds: Vec<(String, i64)> = items
            .iter()
            .filter(|r| !r["request_path"].as_str().unwrap_or("").contains("__probe"))
            .map(|r| {
                (
                    r["request_type"].as_str().unwrap_or("").to_owned(),
                    r["status_code"].as_i64().unwrap_or(0),
                )
            })
            .collect();
        kinds.contains(&("retry".to_owned(), 500)) && kinds.contains(&("final".to_owned(), 429))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_over_the_limit_waits_for_room_when_it_comes_soon_enough() {
    let metrics = format!("127.0.0.1:{}", free_port());
    let gw = Gateway::start_with(&[("METRICS_LISTEN", &metrics)]).await;
    let mock = MockProvider::start().await.unwrap();
    // 30 a minute: a burst of 30, then room every 2 s; requests may wait up to 5 s.
    let id = limited_group(
        &gw,
        "rw",
        "openai",
        &mock,
        &["sk-rw-1"],
        json!({"group_rpm_limit": 30, "rate_limit_max_wait_seconds": 5}),
    )
    .await;
    let burst = Instant::now();
    for _ in 0..30 {
        assert_eq!(gw.chat("rw", "gpt-4o").await.0, 200);
    }
    let burst = burst.elapsed();
    // The 31st waits for the next slot (2 s after the burst began) and then goes through.
    let t = Instant::now();
    let (status, body) = gw.chat("rw", "gpt-4o").await;
    let waited = t.elapsed();
    assert_eq!(status, 200, "{body}");
    assert!(
        waited + burst >= Duration::from_millis(1_900) && waited < Duration::from_secs(5),
        "waited {waited:?} after a burst of {burst:?}"
    );
    assert_eq!(
        metric(
            &metrics,
            r#"gateway_rate_limited_total{action="waited",group="rw",scope="group"}"#
        )
        .await,
        1
    );
    // With no wait allowed, the next one is refused at once.
    gw.configure_group(
        id,
        json!({"group_rpm_limit": 30, "rate_limit_max_wait_seconds": 0}),
    )
    .await;
    assert_eq!(gw.chat("rw", "gpt-4o").await.0, 429);
    assert_eq!(
        mock.requests().len(),
        31 + 1,
        "31 served and one readiness probe"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_limits_count_the_usage_the_provider_reports() {
    let gw = Gateway::start().await;
    let mock = MockProvider::start().await.unwrap();
    // The mock reports 16 tokens (9 in, 7 out) per answer; 40 a minute: the third answer
    // still starts with room (32 used), the fourth finds it spent (48 used).
    limited_group(
        &gw,
        "rt",
        "openai",
        &mock,
        &["sk-rt-1"],
        json!({"group_tpm_limit": 40, "rate_limit_max_wait_seconds": 0}),
    )
    .await;
    for _ in 0..3 {
        assert_eq!(gw.chat("rt", "gpt-4o").await.0, 200);
    }
    let r = gw
        .post(
            "rt",
            "/v1/chat/completions",
            json!({"model": "gpt-4o", "messages": []}),
        )
        .await;
    // 48 used of 40: 9 tokens must refill (13.5 s at 40 a minute).
    let (wait, _) = refused(r, "group_tpm_limit").await;
    assert!((13..=15).contains(&wait), "Retry-After {wait}");
    // Streamed answers count too (their usage comes in the last events).
    // 10 a minute: the prompt alone (9 tokens) and the streamed answer spend them.
    limited_group(
        &gw,
        "rt-stream",
        "openai",
        &mock,
        &["sk-rt-2"],
        json!({"key_tpm_limit": 10, "rate_limit_max_wait_seconds": 0}),
    )
    .await;
    let stream = || {
        gw.post(
            "rt-stream",
            "/v1/chat/completions",
            json!({"model": "gpt-4o", "messages": [], "stream": true,
                   "stream_options": {"include_usage": true}}),
        )
    };
    let first = stream().await;
    assert_eq!(first.status(), 200);
    assert!(first.text().await.unwrap().contains("usage"));
    refused(stream().await, "key_tpm_limit").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aggregate_passes_over_a_member_at_its_limit() {
    let gw = Gateway::start().await;
    let (a_mock, b_mock) = (
        MockProvider::start().await.unwrap(),
        MockProvider::start().await.unwrap(),
    );
    let a = limited_group(
        &gw,
        "ra-a",
        "openai",
        &a_mock,
        &["sk-ra-a"],
        json!({"group_rpm_limit": 1, "rate_limit_max_wait_seconds": 0}),
    )
    .await;
    let b = gw
        .create_group("ra-b", "openai", &[(&b_mock.base_url(), 1)], &["sk-ra-b"])
        .await;
    aggregate(&gw, "ra-pool", &[(a, 1), (b, 1)], json!({})).await;
    a_mock.clear();
    b_mock.clear();
    for _ in 0..6 {
        let (status, body) = gw.chat("ra-pool", "gpt-4o").await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(
        a_mock.requests().len(),
        1,
        "member a's one request a minute"
    );
    assert_eq!(b_mock.requests().len(), 5);
}
