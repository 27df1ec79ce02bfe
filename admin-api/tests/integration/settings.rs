//! System settings: listed by category, validated field by field.

use axum::http::{Method, StatusCode};
use serde_json::json;

use super::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_are_listed_by_category_and_validated() {
    let app = TestApp::sqlite().await;
    let (status, body) = app.call(Method::GET, "/api/settings", None).await;
    assert_eq!(status, StatusCode::OK);
    let cats: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["category_name"].as_str().unwrap())
        .collect();
    assert_eq!(cats, ["Basic", "Request Settings", "Key Configuration"]);
    let retries = body["data"][2]["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "max_retries")
        .unwrap()
        .clone();
    assert_eq!(retries["value"], 3);
    assert_eq!(retries["type"], "int");
    assert_eq!(retries["min_value"], 0);

    for (bad, needle) in [
        (json!({"max_retries": -1}), "max_retries"),
        (json!({"max_retries": "3"}), "max_retries"),
        (
            json!({"failover_status_codes": "abc"}),
            "failover_status_codes",
        ),
        (json!({"no_such_setting": 1}), "no_such_setting"),
        (json!({"app_url": ""}), "app_url"),
    ] {
        let (status, resp) = app
            .call(Method::PUT, "/api/settings", Some(bad.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad} → {resp}");
        assert_eq!(resp["code"], "VALIDATION_FAILED");
        assert!(resp["message"].as_str().unwrap().contains(needle), "{resp}");
    }
    let before = app.revision().await;
    let (status, _) = app
        .call(
            Method::PUT,
            "/api/settings",
            Some(json!({"max_retries": 5, "proxy_keys": " x , y,"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(app.revision().await > before);
    let settings = app.state.db.settings().await.unwrap();
    assert!(settings.contains(&("max_retries".to_owned(), "5".to_owned())));
    assert!(settings.contains(&("proxy_keys".to_owned(), "x,y".to_owned())));
    let (_, body) = app
        .call(Method::GET, "/api/groups/config-options", None)
        .await;
    let opt = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["key"] == "max_retries")
        .unwrap()
        .clone();
    assert_eq!(
        opt["default_value"], 5,
        "config options show the current system value"
    );
}
