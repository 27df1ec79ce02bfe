//! Admin API tests: the real router, called without a socket (`oneshot`), over a fresh database
//! per test. The group and key flow also runs on PostgreSQL and MySQL.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail the test loudly"
)]

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use gateway_admin::{AppState, router};
use gateway_testkit::TestDb;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

/// Three tests running `$flow` on SQLite, PostgreSQL and MySQL (the latter two on the machine's
/// servers; a missing one fails under `REQUIRE_SERVICES=1`).
macro_rules! on_every_backend {
    ($flow:ident: $sqlite:ident, $postgres:ident, $mysql:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $sqlite() {
            $flow(&crate::TestApp::sqlite().await).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $postgres() {
            if let Some(db) = gateway_testkit::TestDb::postgres().await.unwrap() {
                $flow(&crate::TestApp::on(db).await).await;
            }
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $mysql() {
            if let Some(db) = gateway_testkit::TestDb::mysql().await.unwrap() {
                $flow(&crate::TestApp::on(db).await).await;
            }
        }
    };
}

const AUTH: &str = "admin-test-key-0123456789abcdef";

/// The configuration of an admin process started with `AUTH_KEY` and no UI build, as `main.rs`
/// reads it from the environment.
fn test_config() -> gateway_core::GatewayConfig {
    let env = std::collections::HashMap::from([
        ("AUTH_KEY".to_owned(), AUTH.to_owned()),
        ("UI_DIR".to_owned(), "/nonexistent-ui".to_owned()),
        ("PORT".to_owned(), "3001".to_owned()),
        ("HOST".to_owned(), "localhost".to_owned()),
    ]);
    gateway_core::GatewayConfig::load_from(&gateway_core::ConfigArgs::default(), &env).unwrap()
}

struct TestApp {
    state: AppState,
    _db: TestDb,
}

impl TestApp {
    async fn on(db: TestDb) -> TestApp {
        let database = db.database().unwrap();
        let defaults: Vec<(String, String, String)> = gateway_core::settings_catalogue::CATALOGUE
            .iter()
            .map(|d| {
                (
                    d.key.to_owned(),
                    if d.key == "proxy_keys" {
                        AUTH.to_owned()
                    } else {
                        d.default.to_owned()
                    },
                    String::new(),
                )
            })
            .collect();
        database.seed_settings(&defaults).await.unwrap();
        let state = AppState::new(
            &test_config(),
            database,
            gateway_core::key_crypto::KeyCipher::plaintext(),
            None,
        )
        .unwrap();
        TestApp { state, _db: db }
    }

    async fn sqlite() -> TestApp {
        Self::on(TestDb::sqlite().await.unwrap()).await
    }

    async fn call(&self, method: Method, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call_as(Some(AUTH), method, uri, body.map(|b| b.to_string()))
            .await
    }

    async fn call_as(
        &self,
        key: Option<&str>,
        method: Method,
        uri: &str,
        body: Option<String>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(k) = key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b)),
            None => req.body(Body::empty()),
        }
        .unwrap();
        let resp = router(self.state.clone()).oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, value)
    }

    /// A raw call with its own content type.
    async fn call_body(&self, uri: &str, content_type: &str, body: String) -> (StatusCode, Value) {
        let req = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header("authorization", format!("Bearer {AUTH}"))
            .header("content-type", content_type)
            .body(Body::from(body))
            .unwrap();
        let resp = router(self.state.clone()).oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Waits for the running task to end and returns its status.
    async fn finished_task(&self) -> Value {
        for _ in 0..600 {
            let (_, body) = self.call(Method::GET, "/api/tasks/status", None).await;
            if body["data"]["is_running"] == false {
                return body["data"].clone();
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the task did not end within 30 s");
    }

    /// A call whose answer is not JSON: status, one header and the body text.
    async fn call_text(&self, uri: &str, header: &str) -> (StatusCode, String, String) {
        let req = Request::builder()
            .method(Method::GET)
            .uri(uri)
            .header("authorization", format!("Bearer {AUTH}"))
            .body(Body::empty())
            .unwrap();
        let resp = router(self.state.clone()).oneshot(req).await.unwrap();
        let status = resp.status();
        let value = resp
            .headers()
            .get(header)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, value, String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Marks keys of a group invalid, as the proxy's health writer does.
    async fn invalidate(&self, group_id: i64, keys: &[&str]) {
        let (_, body) = self
            .call(
                Method::GET,
                &format!("/api/keys?group_id={group_id}&page_size=1000"),
                None,
            )
            .await;
        let updates: Vec<gateway_schema::KeyHealthUpdate> = body["data"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|k| keys.contains(&k["key_value"].as_str().unwrap()))
            .map(|k| gateway_schema::KeyHealthUpdate {
                id: k["id"].as_i64().unwrap(),
                status: gateway_schema::models::KeyStatus::Invalid,
                failure_count: 3,
                cooldown_until: None,
            })
            .collect();
        assert_eq!(updates.len(), keys.len());
        self.state.db.save_key_health(&updates).await.unwrap();
    }

    async fn revision(&self) -> i64 {
        self.state.db.revision().await.unwrap()
    }

    async fn create_group(&self, name: &str) -> Value {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/groups",
                Some(json!({
                    "name": name, "display_name": "My Group", "channel_type": "openai",
                    "upstreams": [{"url": "https://api.openai.com", "weight": 1}],
                    "test_model": "gpt-4o-mini", "proxy_keys": " a, b ,,",
                    "config": {"max_retries": 1},
                    "header_rules": [{"key": "x-custom", "value": "v", "action": "set"}],
                })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["data"].clone()
    }
}

mod aggregates;
mod auth;
mod gpt_load_import;
mod groups;
mod key_validation;
mod keys;
mod languages;
mod login_throttle;
mod logs;
mod manual_control;
mod openapi;
mod settings;
mod silent_database;
mod ui;
