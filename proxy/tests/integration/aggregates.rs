//! Aggregate groups: one `/proxy/{name}` over several standard groups, by weight, skipping a
//! member that has no usable key.

use gateway_testkit::MockProvider;
use serde_json::json;

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
