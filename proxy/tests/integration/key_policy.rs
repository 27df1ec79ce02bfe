//! The key policy seen from outside: who is blamed for which failure, what the client gets, and
//! what the admin API shows a few seconds later.

use std::time::{Duration, Instant};

use gateway_testkit::{MockProvider, Reply};
use serde_json::{Value, json};

use crate::support::{Gateway, PROXY_KEY};

async fn chat(gw: &Gateway, group: &str) -> (u16, Value, reqwest::header::HeaderMap) {
    let r = gw
        .post(
            group,
            "/v1/chat/completions",
            json!({"model": "gpt-4o", "messages": []}),
        )
        .await;
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, r.json().await.unwrap_or(Value::Null), headers)
}

/// Waits until the admin API lists `key` of `group_id` with `status` (the health writer saves
/// in batches, so this takes up to a second or two).
async fn wait_key_status(gw: &Gateway, group_id: i64, key: &str, status: &str) -> Value {
    let start = Instant::now();
    loop {
        let keys = gw.keys(group_id).await;
        let row = keys.get(key).cloned().unwrap_or(Value::Null);
        if row["status"] == status {
            return row;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "key {key} never became {status}: {row}\nproxy log:\n{}",
            gw.proxy.output_log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consecutive_auth_failures_blacklist_a_key_and_a_success_resets_the_count() {
    let gw = Gateway::start().await;
    let mock = MockProvider::start().await.unwrap();
    let key = "sk-policy-single-1";
    let id = gw
        .create_group_with(
            "auth",
            "openai",
            &[(&mock.base_url(), 1)],
            &[key],
            json!({"config": {"blacklist_threshold": 2, "max_retries": 0}}),
        )
        .await;
    mock.clear();
    // 401, success, 401, success: never two in a row, so the key stays.
    for reply in [401, 200, 401, 200] {
        mock.script(key, Reply::status(reply));
        let (status, body, _) = chat(&gw, "auth").await;
        assert_eq!(status, reply, "{body}");
    }
    // Let the writer save the state, then prove the key is still active with no failures.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let row = wait_key_status(&gw, id, key, "active").await;
    assert_eq!(row["failure_count"], 0, "a success reset the count: {row}");
    // Two in a row: invalid, out of rotation at once.
    mock.script(key, Reply::status(401));
    mock.script(key, Reply::status(401));
    let (first, body, _) = chat(&gw, "auth").await;
    assert_eq!(first, 401);
    assert_eq!(
        body["error"]["code"], "invalid_api_key",
        "the upstream's own error is passed on"
    );
    assert_eq!(chat(&gw, "auth").await.0, 401);
    let seen = mock.requests().len();
    let (status, body, _) = chat(&gw, "auth").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("no_active_keys"))
    );
    assert_eq!(
        mock.requests().len(),
        seen,
        "a blacklisted key is not tried again"
    );
    let row = wait_key_status(&gw, id, key, "invalid").await;
    assert_eq!(row["failure_count"], 2);
    // A person restores it: the proxy takes the stored state over its memory and serves again
    // within a second.
    gw.api(
        reqwest::Method::POST,
        "/api/keys/restore-all-invalid",
        Some(json!({"group_id": id})),
    )
    .await;
    let restored = Instant::now();
    gw.wait_until(Duration::from_secs(3), || async {
        chat(&gw, "auth").await.0 == 200
    })
    .await;
    assert!(
        restored.elapsed() < Duration::from_secs(2),
        "{:?}",
        restored.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_whose_keys_all_answer_429_blacklists_none_and_serves_after_the_cool_down() {
    let gw = Gateway::start().await;
    let mock = MockProvider::start().await.unwrap();
    let keys = ["sk-policy-rl-1", "sk-policy-rl-2"];
    let id = gw
        .create_group_with(
            "rl",
            "openai",
            &[(&mock.base_url(), 1)],
            &keys,
            // Even the strictest blacklisting never fires for 429.
            json!({"config": {"blacklist_threshold": 1, "max_retries": 3}}),
        )
        .await;
    mock.clear();
    for key in keys {
        mock.script(key, Reply::status(429).retry_after(2));
    }
    let (status, body, headers) = chat(&gw, "rl").await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(
        headers.get("retry-after").and_then(|v| v.to_str().ok()),
        Some("2"),
        "the upstream's Retry-After reaches the client"
    );
    assert_eq!(mock.requests().len(), 2, "each key tried once, none twice");
    // Both keys rest: the gateway answers by itself, with the time to come back.
    let (status, body, headers) = chat(&gw, "rl").await;
    assert_eq!(status, 429);
    assert_eq!(body["error"]["code"], "all_keys_rate_limited", "{body}");
    let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "retry-after {wait}");
    assert_eq!(
        mock.requests().len(),
        2,
        "no upstream call while every key cools"
    );
    for key in keys {
        let row = wait_key_status(&gw, id, key, "cooling").await;
        assert!(row["cooldown_until"].is_string(), "{row}");
    }
    // After the cool-down the keys serve again, by themselves.
    gw.wait_until(Duration::from_secs(5), || async {
        chat(&gw, "rl").await.0 == 200
    })
    .await;
    for key in keys {
        let row = wait_key_status(&gw, id, key, "active").await;
        assert_eq!(row["failure_count"], 0, "{row}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_error_is_passed_through_without_retry_and_punishes_no_key() {
    let gw = Gateway::start().await;
    let mock = MockProvider::start().await.unwrap();
    let keys = ["sk-policy-client-1", "sk-policy-client-2"];
    let id = gw
        .create_group_with(
            "client",
            "openai",
            &[(&mock.base_url(), 1)],
            &keys,
            json!({"config": {"blacklist_threshold": 1}}),
        )
        .await;
    mock.clear();
    // A bad request body: 400 from the upstream, no key signal in it.
    mock.script_default(Reply::status(400));
    let (status, body, _) = chat(&gw, "client").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(mock.requests().len(), 1, "a client error is not retried");
    // A wrong path: 404, passed through, not retried.
    mock.clear();
    let r = gw.post("client", "/v1/no/such/endpoint", json!({})).await;
    assert_eq!(r.status(), 404);
    assert_eq!(mock.requests().len(), 1);
    // Both keys still serve.
    mock.clear();
    for _ in 0..4 {
        assert_eq!(chat(&gw, "client").await.0, 200);
    }
    for key in keys {
        assert_eq!(
            mock.requests_for_key(key).len(),
            2,
            "{key} still in rotation"
        );
        let row = &gw.keys(id).await[key];
        assert_eq!(
            (row["status"].as_str(), row["failure_count"].as_i64()),
            (Some("active"), Some(0))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gemini_400_that_says_the_key_is_invalid_is_the_keys_fault_and_retried() {
    let gw = Gateway::start().await;
    let mock = MockProvider::start().await.unwrap();
    let (bad, good) = ("AIza-policy-bad-key-1", "AIza-policy-good-key-2");
    let id = gw
        .create_group_with(
            "gem",
            "gemini",
            &[(&mock.base_url(), 1)],
            &[bad, good],
            json!({"config": {"blacklist_threshold": 1}}),
        )
        .await;
    mock.clear();
    mock.always(
        bad,
        Reply::status(400).body(json!({"error": {"code": 400,
            "message": "API key not valid. Please pass a valid API key.",
            "status": "INVALID_ARGUMENT",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]}})),
    );
    for _ in 0..4 {
        let r = gw
            .post(
                "gem",
                "/v1beta/models/gemini-pro:generateContent",
                json!({"contents": []}),
            )
            .await;
        assert_eq!(r.status(), 200);
    }
    assert_eq!(
        mock.requests_for_key(bad).len(),
        1,
        "out of rotation after one"
    );
    wait_key_status(&gw, id, bad, "invalid").await;
    wait_key_status(&gw, id, good, "active").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_out_of_quota_leaves_rotation_at_once_unless_blacklisting_is_off() {
    let gw = Gateway::start().await;
    let mock = MockProvider::start().await.unwrap();
    let quota = Reply::status(429).body(
        json!({"error": {"message": "You exceeded your current quota",
        "type": "insufficient_quota", "param": null, "code": "insufficient_quota"}}),
    );
    let (spent, spare) = ("sk-policy-spent-1", "sk-policy-spare-2");
    let id = gw
        .create_group_with(
            "quota",
            "openai",
            &[(&mock.base_url(), 1)],
            &[spent, spare],
            json!({}),
        )
        .await;
    // With blacklisting off, the same key only rests (key_cooldown_seconds, 60 s by default).
    let (lenient_spent, lenient_spare) = ("sk-policy-spent-3", "sk-policy-spare-4");
    let lenient = gw
        .create_group_with(
            "quota-lenient",
            "openai",
            &[(&mock.base_url(), 1)],
            &[lenient_spent, lenient_spare],
            json!({"config": {"blacklist_threshold": 0}}),
        )
        .await;
    mock.clear();
    mock.always(spent, quota.clone());
    mock.always(lenient_spent, quota);
    for group in ["quota", "quota-lenient"] {
        for _ in 0..4 {
            assert_eq!(chat(&gw, group).await.0, 200);
        }
    }
    assert_eq!(
        mock.requests_for_key(spent).len(),
        1,
        "no second try of a spent key"
    );
    assert_eq!(mock.requests_for_key(lenient_spent).len(), 1);
    wait_key_status(&gw, id, spent, "invalid").await;
    wait_key_status(&gw, lenient, lenient_spent, "cooling").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_answering_500_is_ejected_while_the_keys_stay_active() {
    let gw = Gateway::start().await;
    let broken = MockProvider::start().await.unwrap();
    let healthy = MockProvider::start().await.unwrap();
    let keys = ["sk-policy-up-1", "sk-policy-up-2"];
    for key in keys {
        broken.always(key, Reply::status(500));
    }
    let id = gw
        .create_group_with(
            "eject",
            "openai",
            &[(&broken.base_url(), 1), (&healthy.base_url(), 1)],
            &keys,
            json!({"config": {"blacklist_threshold": 1, "upstream_failure_threshold": 2,
                              "upstream_ejection_seconds": 60}}),
        )
        .await;
    // (the readiness probe may have met the broken upstream already)
    broken.clear();
    healthy.clear();
    for _ in 0..20 {
        let (status, body, _) = chat(&gw, "eject").await;
        assert_eq!(status, 200, "{body}");
    }
    assert!(
        broken.requests().len() <= 2,
        "ejected after two consecutive failures, then skipped: {} calls",
        broken.requests().len()
    );
    assert_eq!(healthy.requests().len(), 20);
    let log = gw
        .proxy
        .wait_for_log("upstream ejected", Duration::from_secs(5))
        .await
        .unwrap();
    assert!(log.contains(&broken.base_url()), "{log}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for key in keys {
        let row = &gw.keys(id).await[key];
        assert_eq!(
            (row["status"].as_str(), row["failure_count"].as_i64()),
            (Some("active"), Some(0)),
            "an upstream's 500 is not the key's fault"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_lists_carry_the_redirect_sources_and_errors_stay_errors() {
    let gw = Gateway::start().await;
    let mock = MockProvider::start().await.unwrap();
    let key = "sk-policy-models-1";
    gw.create_group_with(
        "models",
        "openai",
        &[(&mock.base_url(), 1)],
        &[key],
        json!({"model_redirect_rules": {"fast": "gpt-4o-mini"}, "config": {"max_retries": 0}}),
    )
    .await;
    let list = || {
        gw.client
            .get(gw.url("/proxy/models/v1/models"))
            .bearer_auth(PROXY_KEY)
            .header("accept-encoding", "gzip")
            .send()
    };
    let r = list().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert!(ids.contains(&"fast"), "{v}");
    assert!(ids.len() > 1, "the upstream's models are kept: {v}");
    assert!(
        mock.requests()
            .last()
            .unwrap()
            .header("accept-encoding")
            .is_none(),
        "the list is asked for uncompressed"
    );
    // An upstream error is not turned into a 200 list.
    mock.script(key, Reply::status(503));
    let r = list().await.unwrap();
    assert_eq!(r.status(), 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_cuts_its_bodies_is_ejected_while_the_keys_stay_active() {
    let gw = Gateway::start().await;
    gw.log_at_once().await;
    for (group, cut, stream) in [
        ("cut-json", Reply::cut_body(), false),
        (
            "cut-sse",
            Reply::sse(5, Duration::ZERO).abort_after(2),
            true,
        ),
    ] {
        let cutting = MockProvider::start().await.unwrap();
        let healthy = MockProvider::start().await.unwrap();
        let key = format!("sk-{group}-1");
        cutting.always(&key, cut);
        let id = gw
            .create_group_with(
                group,
                "openai",
                &[(&cutting.base_url(), 1), (&healthy.base_url(), 1)],
                &[&key],
                json!({"config": {"blacklist_threshold": 1, "upstream_failure_threshold": 2,
                                  "upstream_ejection_seconds": 60}}),
            )
            .await;
        cutting.clear();
        healthy.clear();
        let mut broken = 0;
        for _ in 0..12 {
            let r = gw
                .post(
                    group,
                    "/v1/chat/completions",
                    json!({"model": "gpt-4o", "messages": [], "stream": stream}),
                )
                .await;
            assert_eq!(r.status(), 200);
            if r.bytes().await.is_err() {
                broken += 1;
            }
        }
        let cut_calls = cutting.requests().len();
        assert!(
            (1..=2).contains(&cut_calls),
            "{group}: ejected after two broken bodies, then skipped: {cut_calls} calls"
        );
        assert_eq!(
            broken, cut_calls,
            "{group}: each cut reached the client as a cut"
        );
        assert_eq!(healthy.requests().len(), 12 - cut_calls);
        let row = wait_key_status(&gw, id, &key, "active").await;
        assert_eq!(
            row["failure_count"], 0,
            "{group}: not the key's fault: {row}"
        );
    }
    let log = gw
        .proxy
        .wait_for_log("upstream ejected", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(log.matches("upstream ejected").count(), 2, "{log}");
    // The request log records the broken attempts as failures.
    gw.wait_until(Duration::from_secs(10), || async {
        let v = gw
            .api(reqwest::Method::GET, "/api/logs?page_size=100", None)
            .await;
        let failed = v["data"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| {
                l["is_success"] == false
                    && l["error_message"]
                        .as_str()
                        .is_some_and(|m| m.starts_with("upstream response ended early"))
            })
            .count();
        failed >= 2
    })
    .await;
}
