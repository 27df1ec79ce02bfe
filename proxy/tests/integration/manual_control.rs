//! Manual control through the admin API, as the proxy serves it: a disabled key leaves rotation
//! and an enabled one returns; a disabled group answers 503 in its provider's error shape; an
//! aggregate skips a disabled member.

use std::time::{Duration, Instant};

use gateway_testkit::MockProvider;
use serde_json::{Value, json};

use crate::support::{Gateway, PROXY_KEY};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_key_leaves_rotation_at_once_and_returns_when_enabled() {
    let gw = Gateway::start().await;
    let mock = MockProvider::start().await.unwrap();
    let id = gw
        .create_group(
            "switch",
            "openai",
            &[(&mock.base_url(), 1)],
            &["sk-sw-1", "sk-sw-2"],
        )
        .await;
    gw.api(
        reqwest::Method::POST,
        "/api/keys/disable-multiple",
        Some(json!({"group_id": id, "keys_text": "sk-sw-1"})),
    )
    .await;
    let off = Instant::now();
    // Live within a second (the proxy polls every 100 ms in tests): from then on only sk-sw-2.
    gw.wait_until(Duration::from_secs(1), || async {
        mock.clear();
        for _ in 0..4 {
            gw.chat("switch", "gpt-4o").await;
        }
        mock.requests_for_key("sk-sw-1").is_empty()
    })
    .await;
    assert!(off.elapsed() < Duration::from_secs(1));
    assert_eq!(mock.requests_for_key("sk-sw-2").len(), 4);

    gw.api(
        reqwest::Method::POST,
        "/api/keys/enable-multiple",
        Some(json!({"group_id": id, "keys_text": "sk-sw-1"})),
    )
    .await;
    gw.wait_until(Duration::from_secs(1), || async {
        gw.chat("switch", "gpt-4o").await;
        !mock.requests_for_key("sk-sw-1").is_empty()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_group_answers_503_in_its_providers_shape_and_aggregates_skip_it() {
    let gw = Gateway::start().await;
    let (a_mock, b_mock) = (
        MockProvider::start().await.unwrap(),
        MockProvider::start().await.unwrap(),
    );
    let a = gw
        .create_group("off-a", "openai", &[(&a_mock.base_url(), 1)], &["sk-off-a"])
        .await;
    let b = gw
        .create_group("off-b", "openai", &[(&b_mock.base_url(), 1)], &["sk-off-b"])
        .await;
    let claude = gw
        .create_group(
            "off-claude",
            "anthropic",
            &[(&a_mock.base_url(), 1)],
            &["sk-ant-off"],
        )
        .await;
    let agg = gw
        .api(
            reqwest::Method::POST,
            "/api/groups",
            Some(json!({"name": "off-pool", "group_type": "aggregate",
                        "channel_type": "openai", "proxy_keys": PROXY_KEY})),
        )
        .await["data"]["id"]
        .as_i64()
        .unwrap();
    gw.api(
        reqwest::Method::POST,
        &format!("/api/groups/{agg}/sub-groups"),
        Some(json!({"sub_groups": [{"group_id": a, "weight": 1}, {"group_id": b, "weight": 1}]})),
    )
    .await;
    let switch = |id: i64, on: bool| {
        let path = format!("/api/groups/{id}");
        let gw = &gw;
        async move {
            gw.api(reqwest::Method::PUT, &path, Some(json!({"enabled": on})))
                .await
        }
    };
    switch(a, false).await;
    gw.wait_until(Duration::from_secs(2), || async {
        gw.chat("off-a", "gpt-4o").await.0 == 503
    })
    .await;
    let (status, body) = gw.chat("off-a", "gpt-4o").await;
    assert_eq!(status, 503);
    assert_eq!(body["error"]["code"], "group_disabled", "{body}");
    assert_eq!(body["error"]["message"], "group 'off-a' is disabled");

    // The aggregate sends everything to the member that is still on.
    a_mock.clear();
    b_mock.clear();
    for _ in 0..4 {
        assert_eq!(gw.chat("off-pool", "gpt-4o").await.0, 200);
    }
    assert!(
        a_mock.requests().is_empty(),
        "the disabled member is skipped"
    );
    assert_eq!(b_mock.requests().len(), 4);
    switch(b, false).await;
    gw.wait_until(Duration::from_secs(2), || async {
        gw.chat("off-pool", "gpt-4o").await.0 == 503
    })
    .await;
    assert_eq!(
        gw.chat("off-pool", "gpt-4o").await.1["error"]["code"],
        "no_available_sub_groups"
    );

    // Switched on again: served as before.
    switch(a, true).await;
    gw.wait_until(Duration::from_secs(2), || async {
        gw.chat("off-a", "gpt-4o").await.0 == 200 && gw.chat("off-pool", "gpt-4o").await.0 == 200
    })
    .await;

    // An aggregate switched off, and a group of another provider: the provider's error shape.
    switch(agg, false).await;
    gw.wait_until(Duration::from_secs(2), || async {
        gw.chat("off-pool", "gpt-4o").await.1["error"]["code"] == "group_disabled"
    })
    .await;
    switch(claude, false).await;
    gw.wait_until(Duration::from_secs(2), || async {
        let r = gw
            .post(
                "off-claude",
                "/v1/messages",
                json!({"model": "claude", "max_tokens": 1, "messages": []}),
            )
            .await;
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        status == 503 && body["type"] == "error" && body["error"]["type"].is_string()
    })
    .await;
}
