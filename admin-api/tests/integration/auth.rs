//! Admin authentication: every protected route needs `AUTH_KEY`; login answers in GPT-Load's
//! `{success, message}` shape.

use axum::http::{Method, StatusCode};
use serde_json::json;

use super::{AUTH, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_is_required_and_login_answers_in_gpt_load_shape() {
    let app = TestApp::sqlite().await;
    let (status, body) = app.call_as(None, Method::GET, "/api/groups", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "UNAUTHORIZED");
    let (status, _) = app
        .call_as(Some("wrong"), Method::GET, "/api/groups", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app
        .call_as(None, Method::GET, &format!("/api/groups?key={AUTH}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = app
        .call_as(
            None,
            Method::POST,
            "/api/auth/login",
            Some(json!({"auth_key": AUTH}).to_string()),
        )
        .await;
    assert_eq!(
        (status, body["success"].clone()),
        (StatusCode::OK, json!(true))
    );
    let (status, body) = app
        .call_as(
            None,
            Method::POST,
            "/api/auth/login",
            Some(json!({"auth_key": "x"}).to_string()),
        )
        .await;
    assert_eq!(
        (status, body["success"].clone()),
        (StatusCode::UNAUTHORIZED, json!(false))
    );
    let (status, body) = app
        .call_as(None, Method::POST, "/api/auth/login", Some("{".to_owned()))
        .await;
    assert_eq!(
        (status, body["message"].clone()),
        (StatusCode::BAD_REQUEST, json!("Invalid request format"))
    );

    let (status, body) = app.call(Method::GET, "/api/channel-types", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["data"],
        json!(["openai", "openai-response", "anthropic", "gemini"])
    );
    let (status, body) = app.call(Method::GET, "/api/nope", None).await;
    assert_eq!(
        (status, body),
        (StatusCode::NOT_FOUND, json!({"error": "Not Found"}))
    );
}
