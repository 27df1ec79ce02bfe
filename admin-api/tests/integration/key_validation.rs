//! Key validation, now and in the background, judged by the key policy, on every backend.

use axum::http::{Method, StatusCode};
use serde_json::json;

use super::TestApp;

async fn validation_flow(app: &TestApp) {
    let mock = gateway_testkit::MockProvider::start().await.unwrap();
    let (status, body) = app
        .call(
            Method::POST,
            "/api/groups",
            Some(
                json!({"name": "val", "channel_type": "openai", "test_model": "gpt-test",
                "upstreams": [{"url": mock.base_url(), "weight": 1}],
                "config": {"blacklist_threshold": 1},
                "header_rules": [{"key": "x-team", "value": "${GROUP_NAME}:${API_KEY}", "action": "set"},
                                 {"key": "user-agent", "action": "remove"}]}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = body["data"]["id"].as_i64().unwrap();
    let keys = ["sk-good", "sk-bad", "sk-limited", "sk-down"];
    app.call(
        Method::POST,
        "/api/keys/add-multiple",
        Some(json!({"group_id": id, "keys_text": keys.join(" ")})),
    )
    .await;
    mock.always("sk-bad", gateway_testkit::Reply::status(401));
    mock.always(
        "sk-limited",
        gateway_testkit::Reply::status(429).retry_after(30),
    );
    mock.always("sk-down", gateway_testkit::Reply::status(500));
    let r0 = app.revision().await;
    let (status, body) = app
        .call(
            Method::POST,
            "/api/keys/test-multiple",
            Some(json!({"group_id": id, "keys_text": "sk-good sk-bad sk-limited sk-down sk-missing"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let results = body["data"]["results"].as_array().unwrap();
    let valid: Vec<bool> = results
        .iter()
        .map(|r| r["is_valid"].as_bool().unwrap())
        .collect();
    assert_eq!(valid, [true, false, false, false, false], "{body}");
    assert!(
        results[1]["error"]
            .as_str()
            .unwrap()
            .starts_with("[status 401]"),
        "{body}"
    );
    assert_eq!(
        results[4]["error"],
        "Key does not exist in this group or has been removed."
    );
    let seen = mock.requests_for_key("sk-good");
    assert_eq!(seen[0].path, "/v1/chat/completions");
    assert_eq!(seen[0].json().unwrap()["model"], "gpt-test");
    assert_eq!(
        seen[0].header("x-team"),
        Some("val:sk-good"),
        "header rules apply to validation too"
    );
    let state = |key: &'static str| async move {
        let (_, body) = app
            .call(
                Method::GET,
                &format!("/api/keys?group_id={id}&key_value={key}"),
                None,
            )
            .await;
        let k = body["data"]["items"][0].clone();
        (
            k["status"].as_str().unwrap().to_owned(),
            k["failure_count"].as_i64().unwrap(),
        )
    };
    assert_eq!(
        state("sk-bad").await,
        ("invalid".to_owned(), 1),
        "a rejected key, threshold 1"
    );
    assert_eq!(
        state("sk-limited").await.0,
        "cooling",
        "a rate limit only cools"
    );
    assert_eq!(
        state("sk-down").await,
        ("active".to_owned(), 0),
        "an upstream 500 proves nothing"
    );
    assert!(app.revision().await > r0, "status changes reach the proxy");

    // The key works again: validating the invalid keys restores it.
    mock.clear_scripts();
    let (status, body) = app
        .call(
            Method::POST,
            "/api/keys/validate-group",
            Some(json!({"group_id": id, "status": "invalid"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["task_type"], "KEY_VALIDATION");
    let done = app.finished_task().await;
    assert_eq!(
        done["result"],
        json!({"total_keys": 1, "valid_keys": 1, "invalid_keys": 0}),
        "{done}"
    );
    assert_eq!(state("sk-bad").await, ("active".to_owned(), 0));
    let (status, _) = app
        .call(
            Method::POST,
            "/api/keys/validate-group",
            Some(json!({"group_id": id, "status": "invalid"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "no invalid key left to validate"
    );
    let (status, _) = app
        .call(
            Method::POST,
            "/api/keys/validate-group",
            Some(json!({"group_id": id, "status": "bogus"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

on_every_backend!(validation_flow: keys_are_validated_and_judged_by_the_key_policy_on_sqlite, keys_are_validated_and_judged_by_the_key_policy_on_postgres, keys_are_validated_and_judged_by_the_key_policy_on_mysql);

async fn background_validation_flow(app: &TestApp) {
    let mock = gateway_testkit::MockProvider::start().await.unwrap();
    let (status, body) = app
        .call(
            Method::POST,
            "/api/groups",
            Some(
                json!({"name": "recover", "channel_type": "openai", "test_model": "gpt-test",
                "upstreams": [{"url": mock.base_url(), "weight": 1}]}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = body["data"]["id"].as_i64().unwrap();
    app.call(
        Method::POST,
        "/api/keys/add-multiple",
        Some(json!({"group_id": id, "keys_text": "sk-back sk-dead sk-fine"})),
    )
    .await;
    app.invalidate(id, &["sk-back", "sk-dead"]).await;
    mock.always("sk-dead", gateway_testkit::Reply::status(401));
    let http = gateway_admin::upstream_client::UpstreamClient::new(Default::default()).unwrap();
    let r0 = app.revision().await;
    let summary = gateway_admin::validation_job::run_once(&app.state.db, &app.state.cipher, &http)
        .await
        .unwrap();
    assert_eq!(
        summary,
        gateway_admin::validation_job::RunSummary {
            groups: 1,
            checked: 2,
            restored: 1
        },
        "only the invalid keys are checked"
    );
    assert!(mock.requests_for_key("sk-fine").is_empty());
    let (_, body) = app
        .call(
            Method::GET,
            &format!("/api/keys?group_id={id}&status=invalid"),
            None,
        )
        .await;
    assert_eq!(body["data"]["items"][0]["key_value"], "sk-dead");
    assert_eq!(body["data"]["pagination"]["total_items"], 1);
    assert!(
        app.revision().await > r0,
        "the restored key reaches the proxies"
    );
    // Not due again before key_validation_interval_minutes.
    let again = gateway_admin::validation_job::run_once(&app.state.db, &app.state.cipher, &http)
        .await
        .unwrap();
    assert_eq!(again.groups, 0);
}

on_every_backend!(
    background_validation_flow: background_validation_on_sqlite,
    background_validation_on_postgres,
    background_validation_on_mysql
);
