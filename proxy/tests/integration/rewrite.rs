//! Group rules applied to forwarded requests: param overrides, model redirects (strict mode), and
//! header rules with variables.

use gateway_testkit::MockProvider;
use serde_json::{Value, json};

use crate::support::{Gateway, PROXY_KEY};

async fn group_with_rules(
    gw: &Gateway,
    name: &str,
    channel: &str,
    base: &str,
    key: &str,
    rules: Value,
) {
    gw.create_group_with(name, channel, &[(base, 1)], &[key], rules)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overrides_redirects_and_header_rules_reach_the_upstream() {
    let gw = Gateway::start().await;
    let mock = MockProvider::start().await.unwrap();
    group_with_rules(
        &gw,
        "rw",
        "openai",
        &mock.base_url(),
        "sk-rw-upstream-1",
        json!({
            "param_overrides": {"temperature": 0.2, "max_tokens": 64},
            "model_redirect_rules": {"fast": "gpt-4o-mini"},
            "model_redirect_strict": true,
            "header_rules": [
                {"key": "x-group", "value": "${GROUP_NAME}/${CLIENT_IP}", "action": "set"},
                {"key": "x-upstream-key-copy", "value": "k=${API_KEY}", "action": "set"},
                {"key": "user-agent", "action": "remove"},
            ],
        }),
    )
    .await;
    mock.clear();
    let r = gw
        .client
        .post(gw.url("/proxy/rw/v1/chat/completions"))
        .bearer_auth(PROXY_KEY)
        .header("user-agent", "my-sdk/1.0")
        .json(&json!({"model": "fast", "temperature": 1.0, "messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let seen = mock.requests();
    let got = seen[0].json().unwrap();
    assert_eq!(got["model"], "gpt-4o-mini");
    assert_eq!(got["temperature"], 0.2);
    assert_eq!(got["max_tokens"], 64);
    assert_eq!(got["messages"], json!([]));
    assert_eq!(seen[0].header("x-group"), Some("rw/127.0.0.1"));
    assert_eq!(
        seen[0].header("x-upstream-key-copy"),
        Some("k=sk-rw-upstream-1")
    );
    assert_eq!(seen[0].header("user-agent"), None);
    assert_eq!(
        seen[0].header("content-length"),
        Some(seen[0].body_len.to_string().as_str())
    );

    // Strict mode: a model without a rule is refused with a 400 naming it, before any upstream call.
    mock.clear();
    let r = gw
        .post("rw", "/v1/chat/completions", json!({"model": "gpt-5"}))
        .await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "model_not_configured");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'gpt-5'"),
        "{body}"
    );
    assert!(mock.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_native_model_redirect_rewrites_the_path() {
    let gw = Gateway::start().await;
    let mock = MockProvider::start().await.unwrap();
    group_with_rules(
        &gw,
        "gr",
        "gemini",
        &mock.base_url(),
        "AIza-gr-1",
        json!({"model_redirect_rules": {"flash": "gemini-2.5-flash"}}),
    )
    .await;
    mock.clear();
    let r = gw
        .client
        .post(gw.url("/proxy/gr/v1beta/models/flash:generateContent"))
        .header("x-goog-api-key", PROXY_KEY)
        .json(&json!({"contents": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let seen = mock.requests();
    assert_eq!(
        seen[0].path,
        "/v1beta/models/gemini-2.5-flash:generateContent"
    );
    assert_eq!(seen[0].query_param("key").as_deref(), Some("AIza-gr-1"));
}
