//! Aggregate groups: one `/proxy/{name}` over several standard groups, by weight, skipping a
//! member that has no usable key.

use std::time::Duration;

use gateway_testkit::{MockProvider, Reply};
use serde_json::{Value, json};

use crate::support::{AUTH_KEY, Gateway, PROXY_KEY};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aggregate_spreads_requests_over_its_members_by_weight() {
    let gw = Gateway::start().await;
    let (heavy, light) = (
        MockProvider::start().await.unwrap(),
        MockProvider::start().await.unwrap(),
    );
    let a = gw
        .create_group(
            "member-heavy",
            "openai",
            &[(&heavy.base_url(), 1)],
            &["sk-heavy-1"],
        )
        .await;
    let b = gw
        .create_group(
            "member-light",
            "openai",
            &[(&light.base_url(), 1)],
            &["sk-light-1"],
        )
        .await;
    let empty = gw
        .create_group("member-empty", "openai", &[(&light.base_url(), 1)], &[])
        .await;
    let created = gw
        .api(
            reqwest::Method::POST,
            "/api/groups",
            Some(
                json!({"name": "pool", "group_type": "aggregate", "channel_type": "openai",
                        "proxy_keys": "sk-aggregate-client"}),
            ),
        )
        .await;
    let agg = created["data"]["id"].as_i64().unwrap();
    gw.api(
        reqwest::Method::POST,
        &format!("/api/groups/{agg}/sub-groups"),
        Some(
            json!({"sub_groups": [{"group_id": a, "weight": 3}, {"group_id": b, "weight": 1},
                                   {"group_id": empty, "weight": 5}]}),
        ),
    )
    .await;
    heavy.clear();
    light.clear();
    let call = |key: &'static str| {
        gw.client
            .post(gw.url("/proxy/pool/v1/chat/completions"))
            .bearer_auth(key)
            .json(&json!({"model": "gpt-4o", "messages": []}))
            .send()
    };
    gw.wait_until(std::time::Duration::from_secs(5), || async {
        call("sk-aggregate-client")
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    heavy.clear();
    light.clear();
    for _ in 0..40 {
        let r = call("sk-aggregate-client").await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let (h, l) = (heavy.requests().len(), light.requests().len());
    assert_eq!(
        (h, l),
        (30, 10),
        "weights 3:1, the member without keys skipped"
    );
    assert_eq!(
        heavy.requests()[0].header("authorization"),
        Some("Bearer sk-heavy-1"),
        "the member's own key"
    );
    // The aggregate's proxy keys (and the global ones) call it; a member's do not.
    assert_eq!(
        call(AUTH_KEY).await.unwrap().status(),
        200,
        "the global proxy keys"
    );
    assert_eq!(
        call(PROXY_KEY).await.unwrap().status(),
        401,
        "a member's own proxy key does not open the aggregate"
    );
    // No member with a usable key: 503 in the provider's shape.
    gw.api(
        reqwest::Method::POST,
        "/api/keys/clear-all",
        Some(json!({"group_id": a})),
    )
    .await;
    gw.api(
        reqwest::Method::POST,
        "/api/keys/clear-all",
        Some(json!({"group_id": b})),
    )
    .await;
    gw.wait_until(std::time::Duration::from_secs(5), || async {
        call("sk-aggregate-client")
            .await
            .is_ok_and(|r| r.status() == 503)
    })
    .await;
    let r = call("sk-aggregate-client").await.unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "no_available_sub_groups", "{v}");
}

/// An aggregate over `members` (`(id, weight)`) with `config`; returns its id once it serves.
pub(crate) async fn aggregate(
    gw: &Gateway,
    name: &str,
    members: &[(i64, u32)],
    config: Value,
) -> i64 {
    let id = gw
        .api(
            reqwest::Method::POST,
            "/api/groups",
            Some(
                json!({"name": name, "group_type": "aggregate", "channel_type": "openai",
                        "proxy_keys": PROXY_KEY, "config": config}),
            ),
        )
        .await["data"]["id"]
        .as_i64()
        .unwrap();
    let subs: Vec<Value> = members
        .iter()
        .map(|(g, w)| json!({"group_id": g, "weight": w}))
        .collect();
    gw.api(
        reqwest::Method::POST,
        &format!("/api/groups/{id}/sub-groups"),
        Some(json!({ "sub_groups": subs })),
    )
    .await;
    gw.wait_synced().await;
    id
}

/// `total_requests` of the last 24 h of a group (`/api/groups/{id}/stats`).
async fn requests_24h(gw: &Gateway, id: i64) -> i64 {
    gw.api(
        reqwest::Method::GET,
        &format!("/api/groups/{id}/stats"),
        None,
    )
    .await["data"]["stats_24_hour"]["total_requests"]
        .as_i64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_sub_group_hands_the_request_to_another_and_statistics_count_it_once() {
    let gw = Gateway::start().await;
    gw.log_at_once().await;
    let (broken, healthy) = (
        MockProvider::start().await.unwrap(),
        MockProvider::start().await.unwrap(),
    );
    broken.always("sk-fo-a", Reply::status(500));
    let cfg = json!({"config": {"max_retries": 0, "upstream_failure_threshold": 0}});
    let a = gw
        .create_group_with(
            "fo-broken",
            "openai",
            &[(&broken.base_url(), 1)],
            &["sk-fo-a"],
            cfg.clone(),
        )
        .await;
    let b = gw
        .create_group_with(
            "fo-healthy",
            "openai",
            &[(&healthy.base_url(), 1)],
            &["sk-fo-b"],
            cfg,
        )
        .await;
    let agg = aggregate(&gw, "fo-pool", &[(a, 1), (b, 1)], json!({})).await;
    // The probes that waited for the members to be served are requests of their own.
    gw.wait_until(Duration::from_secs(5), || async {
        requests_24h(&gw, a).await >= 1 && requests_24h(&gw, b).await >= 1
    })
    .await;
    let before = [
        requests_24h(&gw, agg).await,
        requests_24h(&gw, a).await,
        requests_24h(&gw, b).await,
    ];
    broken.clear();
    healthy.clear();
    for _ in 0..6 {
        assert_eq!(gw.chat("fo-pool", "gpt-4o").await.0, 200);
    }
    assert_eq!(
        broken.requests().len(),
        3,
        "the broken member still gets its turn (weight 1 of 2): failovers do not shift the rotation"
    );
    assert_eq!(
        healthy.requests().len(),
        6,
        "and each time the healthy one took over"
    );
    // The records: a retry on the broken member, the final attempt on the healthy one, both
    // under the aggregate; hourly statistics count each request once.
    gw.wait_until(Duration::from_secs(5), || async {
        requests_24h(&gw, agg).await >= before[0] + 6
    })
    .await;
    let after = [
        requests_24h(&gw, agg).await,
        requests_24h(&gw, a).await,
        requests_24h(&gw, b).await,
    ];
    assert_eq!(
        after,
        [before[0] + 6, before[1], before[2] + 6],
        "aggregate and serving member count each request once; a retried attempt is no request"
    );
    let logs = gw
        .api(
            reqwest::Method::GET,
            "/api/logs?group_name=fo-broken&page_size=100",
            None,
        )
        .await;
    let retried = &logs["data"]["items"][0];
    assert_eq!(retried["request_type"], "retry", "{logs}");
    assert_eq!(retried["parent_group_name"], "fo-pool");

    // With sub_group_failover off (GPT-Load's behaviour) the broken member's error is answered.
    aggregate(
        &gw,
        "fo-strict",
        &[(a, 1), (b, 1)],
        json!({"sub_group_failover": false}),
    )
    .await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(gw.chat("fo-strict", "gpt-4o").await.0);
    }
    assert!(
        statuses.contains(&500) && statuses.contains(&200),
        "{statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_aware_aggregate_sends_each_model_to_the_sub_group_that_serves_it() {
    let gw = Gateway::start().await;
    let (x, y) = (
        MockProvider::start().await.unwrap(),
        MockProvider::start().await.unwrap(),
    );
    let strict = |model: &str| json!({"model_redirect_rules": {model: format!("real-{model}")}, "model_redirect_strict": true});
    let gx = gw
        .create_group_with(
            "ma-x",
            "openai",
            &[(&x.base_url(), 1)],
            &["sk-ma-x"],
            strict("model-x"),
        )
        .await;
    let gy = gw
        .create_group_with(
            "ma-y",
            "openai",
            &[(&y.base_url(), 1)],
            &["sk-ma-y"],
            strict("model-y"),
        )
        .await;
    aggregate(
        &gw,
        "ma-pool",
        &[(gx, 1), (gy, 1)],
        json!({"model_aware_routing": true}),
    )
    .await;
    x.clear();
    y.clear();
    for _ in 0..4 {
        assert_eq!(gw.chat("ma-pool", "model-x").await.0, 200);
        assert_eq!(gw.chat("ma-pool", "model-y").await.0, 200);
    }
    let sent = |m: &MockProvider| -> Vec<String> {
        m.requests()
            .iter()
            .map(|r| r.json().unwrap()["model"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        sent(&x),
        vec!["real-model-x"; 4],
        "no strict member is sent a model it lacks"
    );
    assert_eq!(sent(&y), vec!["real-model-y"; 4]);
    // A model no member names: strict members are skipped, so no member serves it.
    let (status, body) = gw.chat("ma-pool", "model-z").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("no_available_sub_groups"))
    );
}
