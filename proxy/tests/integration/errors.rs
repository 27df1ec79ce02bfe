//! The errors a user sees, shaped like the channel's provider errors.

use gateway_testkit::{MockProvider, free_port};
use serde_json::{Value, json};

use crate::support::{Gateway, PROXY_KEY};

async fn json_of(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_group_missing_or_wrong_key_and_no_active_key() {
    let gw = Gateway::start().await;
    let mock = MockProvider::start().await.unwrap();
    gw.create_group(
        "claude",
        "anthropic",
        &[(&mock.base_url(), 1)],
        &["sk-ant-e-1"],
    )
    .await;
    gw.create_group("empty", "gemini", &[(&mock.base_url(), 1)], &[])
        .await;

    let (status, body) = json_of(gw.post("nope", "/v1/chat/completions", json!({})).await).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "group_not_found");

    let r = gw
        .client
        .post(gw.url("/proxy/claude/v1/messages"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!(status, 401);
    assert_eq!(body["type"], "error", "anthropic-shaped: {body}");
    assert_eq!(body["error"]["type"], "authentication_error");

    let r = gw
        .client
        .post(gw.url("/proxy/claude/v1/messages"))
        .header("x-api-key", "wrong")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let r = gw
        .client
        .post(gw.url("/proxy/empty/v1beta/models/g:generateContent"))
        .header("x-goog-api-key", PROXY_KEY)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!(status, 503);
    assert_eq!(
        body["error"]["status"], "UNAVAILABLE",
        "gemini-shaped: {body}"
    );
    assert!(
        mock.requests()
            .iter()
            .all(|r| r.key.as_deref() != Some("wrong"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_upstream_is_502_naming_the_host_never_the_key() {
    let gw = Gateway::start().await;
    let dead = format!("http://127.0.0.1:{}", free_port());
    gw.create_group("dead", "gemini", &[(&dead, 1)], &["AIza-secret-dead-key-1"])
        .await;
    let r = gw
        .client
        .post(gw.url("/proxy/dead/v1beta/models/g:generateContent"))
        .header("x-goog-api-key", PROXY_KEY)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    assert_eq!(status, 502, "{text}");
    assert!(
        text.contains("127.0.0.1"),
        "names the upstream host: {text}"
    );
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .ends_with("ConnectRefused (Connection refused (os error 111))"),
        "one clean sentence: {text}"
    );
    assert!(
        !text.contains("AIza-secret-dead-key-1"),
        "leaks the key: {text}"
    );
    assert!(
        !gw.proxy.output_log().contains("AIza-secret-dead-key-1"),
        "key in the proxy's output"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_above_the_limit_get_413_before_any_upstream_call() {
    let gw = Gateway::start_with(&[("MAX_REQUEST_BODY_BYTES", "65536")]).await;
    let mock = MockProvider::start().await.unwrap();
    gw.create_group("lim", "openai", &[(&mock.base_url(), 1)], &["sk-lim-1"])
        .await;
    mock.clear();
    let r = gw
        .client
        .post(gw.url("/proxy/lim/v1/chat/completions"))
        .bearer_auth(PROXY_KEY)
        .body(vec![b'a'; 70_000])
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!(status, 413);
    assert_eq!(body["error"]["code"], "request_too_large");
    assert!(mock.requests().is_empty());
    let r = gw
        .post("lim", "/v1/chat/completions", json!({"model": "m"}))
        .await;
    assert_eq!(r.status(), 200, "a body under the limit still passes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_down_is_a_502_that_says_so() {
    let gw = Gateway::start().await;
    gw.admin.kill();
    gw.admin
        .wait_exit(std::time::Duration::from_secs(10))
        .await
        .unwrap();
    let r = gw
        .client
        .get(gw.url("/api/groups"))
        .bearer_auth(crate::support::AUTH_KEY)
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!(status, 502);
    assert_eq!(body["code"], "BAD_GATEWAY");
    assert!(
        body["message"].as_str().unwrap().contains("gateway-admin"),
        "{body}"
    );
    // The data plane keeps serving from its snapshot.
    let health = gw.client.get(gw.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_concurrency_cap_proxy_calls_get_429_while_health_and_admin_still_answer() {
    use futures_util::StreamExt;

    let gw = Gateway::start_with(&[("MAX_CONCURRENT_REQUESTS", "1")]).await;
    let mock = MockProvider::start().await.unwrap();
    gw.create_group("cap", "openai", &[(&mock.base_url(), 1)], &["sk-cap-1"])
        .await;
    mock.always(
        "sk-cap-1",
        gateway_testkit::Reply::sse(4, std::time::Duration::from_millis(300)),
    );
    // One stream holds the only slot until it ends.
    let first = gw
        .post(
            "cap",
            "/v1/chat/completions",
            json!({"model": "m", "stream": true}),
        )
        .await;
    assert_eq!(first.status(), 200);
    let mut stream = first.bytes_stream();
    assert!(stream.next().await.is_some(), "the first stream started");

    let r = gw
        .post("cap", "/v1/chat/completions", json!({"model": "m"}))
        .await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_requests");
    assert_eq!(
        gw.client
            .get(gw.url("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let types = gw
        .client
        .get(gw.url("/api/channel-types"))
        .bearer_auth(crate::support::AUTH_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(
        types.status(),
        200,
        "the admin API is not starved by proxy traffic"
    );

    while stream.next().await.is_some() {}
    let r = gw
        .post("cap", "/v1/chat/completions", json!({"model": "m"}))
        .await;
    assert_eq!(
        r.status(),
        200,
        "the slot is free again once the stream ended"
    );
}
