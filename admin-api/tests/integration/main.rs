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
use gateway_core::Secret;
use gateway_core::config::CorsConfig;
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
            $flow(&TestApp::sqlite().await).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $postgres() {
            if let Some(db) = TestDb::postgres().await.unwrap() {
                $flow(&TestApp::on(db).await).await;
            }
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $mysql() {
            if let Some(db) = TestDb::mysql().await.unwrap() {
                $flow(&TestApp::on(db).await).await;
            }
        }
    };
}

const AUTH: &str = "admin-test-key-0123456789abcdef";

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
        let state = AppState {
            db: database,
            auth_key: Secret::new(AUTH.to_owned()),
            default_app_url: "http://localhost:3001".to_owned(),
            cors: CorsConfig {
                enabled: false,
                allowed_origins: vec![],
                allowed_methods: vec![],
                allowed_headers: vec![],
                allow_credentials: false,
            },
            encryption_key: None,
            cipher: gateway_core::key_crypto::KeyCipher::plaintext(),
            throttle: std::sync::Arc::default(),
            revisions: std::sync::Arc::default(),
            outbound: gateway_core::outbound_proxy::EnvProxies::default(),
            trusted_proxies: gateway_core::client_address::TrustedProxies::default()
                .with_loopback(),
            metrics: std::sync::Arc::new(gateway_admin::metrics::AdminMetrics::new().unwrap()),
            ui: gateway_admin::ui_assets::UiAssets::load(std::path::Path::new("/nonexistent-ui")),
        };
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_validation_names_the_field_and_never_500s() {
    let app = TestApp::sqlite().await;
    let base = json!({"name": "ok", "channel_type": "openai", "upstreams": [{"url": "https://x.example", "weight": 1}], "test_model": "m"});
    let cases = [
        (json!({"name": "Bad Name"}), "VALIDATION_FAILED", "name"),
        (
            json!({"channel_type": "azure"}),
            "VALIDATION_FAILED",
            "channel_type",
        ),
        (json!({"upstreams": []}), "VALIDATION_FAILED", "upstreams"),
        (
            json!({"upstreams": [{"url": "ftp://x", "weight": 1}]}),
            "VALIDATION_FAILED",
            "upstreams",
        ),
        (
            json!({"upstreams": [{"url": "https://x", "weight": 0}]}),
            "VALIDATION_FAILED",
            "upstreams",
        ),
        (
            json!({"test_model": " "}),
            "VALIDATION_FAILED",
            "test_model",
        ),
        (
            json!({"validation_endpoint": "https://x"}),
            "VALIDATION_FAILED",
            "validation_endpoint",
        ),
        (
            json!({"config": {"unknown_setting": 1}}),
            "VALIDATION_FAILED",
            "unknown_setting",
        ),
        (
            json!({"config": {"max_retries": -1}}),
            "VALIDATION_FAILED",
            "max_retries",
        ),
        (
            json!({"header_rules": [{"key": "x-a", "value": "1", "action": "set"}, {"key": "X-A", "value": "2", "action": "set"}]}),
            "VALIDATION_FAILED",
            "X-A",
        ),
        (json!({"surprise": true}), "INVALID_JSON", "surprise"),
        (json!({"sort": "first"}), "INVALID_JSON", "sort"),
    ];
    for (patch, code, needle) in cases {
        let mut body = base.clone();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, resp) = app
            .call(Method::POST, "/api/groups", Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {resp}");
        assert_eq!(resp["code"], code, "{body} → {resp}");
        assert!(
            resp["message"].as_str().unwrap().contains(needle),
            "{body} → {resp}"
        );
    }
    let (status, resp) = app
        .call(Method::POST, "/api/groups", Some(base.clone()))
        .await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    let (status, resp) = app.call(Method::POST, "/api/groups", Some(base)).await;
    assert_eq!(
        (status, resp["code"].clone()),
        (StatusCode::CONFLICT, json!("DUPLICATE_RESOURCE"))
    );
    let (status, _) = app
        .call(Method::PUT, "/api/groups/abc", Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app
        .call(
            Method::PUT,
            "/api/groups/999",
            Some(json!({"display_name": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.call(Method::DELETE, "/api/groups/999", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn group_and_key_flow(app: &TestApp) {
    let r0 = app.revision().await;
    let group = app.create_group("flow").await;
    let id = group["id"].as_i64().unwrap();
    assert_eq!(group["endpoint"], "http://localhost:3001/proxy/flow");
    assert_eq!(group["proxy_keys"], "a,b");
    assert_eq!(group["config"], json!({"max_retries": 1}));
    assert_eq!(group["header_rules"][0]["key"], "X-Custom");
    assert_eq!(group["group_type"], "standard");
    let r1 = app.revision().await;
    assert!(r1 > r0, "create bumps the revision");

    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/api/groups/{id}"),
            Some(json!({"display_name": "Renamed", "test_model": ""})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["display_name"], "Renamed");
    assert_eq!(
        body["data"]["test_model"], "gpt-4o-mini",
        "an empty test_model leaves it unchanged"
    );
    let r2 = app.revision().await;
    assert!(r2 > r1, "update bumps the revision");

    let keys = "sk-1\nsk-2, sk-3;sk-2 sk-1";
    let (status, body) = app
        .call(
            Method::POST,
            "/api/keys/add-multiple",
            Some(json!({"group_id": id, "keys_text": keys})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"],
        json!({"added_count": 3, "ignored_count": 2, "total_in_group": 3})
    );
    let (_, body) = app
        .call(
            Method::POST,
            "/api/keys/add-multiple",
            Some(json!({"group_id": id, "keys_text": "[\"sk-3\", \"sk-4\"]"})),
        )
        .await;
    assert_eq!(
        body["data"],
        json!({"added_count": 1, "ignored_count": 1, "total_in_group": 4})
    );
    let r3 = app.revision().await;
    assert!(r3 > r2, "key import bumps the revision");

    let (status, body) = app
        .call(
            Method::GET,
            &format!("/api/keys?group_id={id}&page=1&page_size=3"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["data"]["pagination"],
        json!({"page": 1, "page_size": 3, "total_items": 4, "total_pages": 2})
    );
    assert_eq!(body["data"]["items"].as_array().unwrap().len(), 3);
    assert_eq!(body["data"]["items"][0]["status"], "active");
    let (_, body) = app
        .call(
            Method::GET,
            &format!("/api/keys?group_id={id}&key_value=sk-2"),
            None,
        )
        .await;
    assert_eq!(body["data"]["items"][0]["key_value"], "sk-2");
    assert_eq!(body["data"]["pagination"]["total_items"], 1);
    let (status, _) = app
        .call(
            Method::GET,
            &format!("/api/keys?group_id={id}&status=bogus"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = app.call(Method::GET, "/api/keys", None).await;
    assert_eq!(
        (status, body["message"].clone()),
        (
            StatusCode::BAD_REQUEST,
            json!("group_id query parameter is required")
        )
    );
    let (status, _) = app.call(Method::GET, "/api/keys?group_id=9999", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .call(
            Method::POST,
            "/api/keys/add-multiple",
            Some(json!({"group_id": id, "keys_text": "  "})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, body) = app.call(Method::GET, "/api/groups/list", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["data"],
        json!([{"id": id, "name": "flow", "display_name": "Renamed"}])
    );

    let (status, _) = app
        .call(Method::DELETE, &format!("/api/groups/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.state.db.count_keys(id).await.unwrap(), 0);
    assert!(app.revision().await > r3, "delete bumps the revision");
}

async fn key_management_flow(app: &TestApp) {
    let id = app.create_group("keys").await["id"].as_i64().unwrap();
    let post = |path: &'static str, body: Value| async move {
        app.call(Method::POST, &format!("/api/keys/{path}"), Some(body))
            .await
    };
    let (status, _) = post(
        "add-multiple",
        json!({"group_id": id, "keys_text": "sk-a sk-b sk-c sk-d sk-e sk-f"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // Restore: only invalid keys count; unknown and active ones are ignored.
    app.invalidate(id, &["sk-a", "sk-b", "sk-c"]).await;
    let r0 = app.revision().await;
    let (status, body) = post(
        "restore-multiple",
        json!({"group_id": id, "keys_text": "sk-a sk-d sk-zzz"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"],
        json!({"restored_count": 1, "ignored_count": 2, "total_in_group": 6})
    );
    assert!(app.revision().await > r0, "a restore reaches the proxy");
    let (_, body) = post("restore-all-invalid", json!({"group_id": id})).await;
    assert_eq!(body["message"], "2 keys restored");
    let (_, body) = app
        .call(
            Method::GET,
            &format!("/api/keys?group_id={id}&status=active"),
            None,
        )
        .await;
    assert_eq!(body["data"]["pagination"]["total_items"], 6);
    assert_eq!(
        body["data"]["items"][0]["failure_count"], 0,
        "restored keys start over"
    );

    // Clear the invalid ones, then delete by text.
    app.invalidate(id, &["sk-e", "sk-f"]).await;
    let (_, body) = post("clear-all-invalid", json!({"group_id": id})).await;
    assert_eq!(body["message"], "2 invalid keys cleared");
    let (status, body) = post(
        "delete-multiple",
        json!({"group_id": id, "keys_text": "sk-a\nsk-a\nsk-nope"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"],
        json!({"deleted_count": 1, "ignored_count": 2, "total_in_group": 3})
    );

    // Export: text, one key per line, as an attachment.
    let (status, disposition, text) = app
        .call_text(
            &format!("/api/keys/export?group_id={id}"),
            "content-disposition",
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(disposition, "attachment; filename=keys-keys-all.txt");
    assert_eq!(text, "sk-b\nsk-c\nsk-d\n");
    let (_, _, none) = app
        .call_text(
            &format!("/api/keys/export?group_id={id}&status=invalid"),
            "",
        )
        .await;
    assert_eq!(none, "");
    let (status, _) = app
        .call(
            Method::GET,
            &format!("/api/keys/export?group_id={id}&status=x"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Notes.
    let (_, body) = app
        .call(
            Method::GET,
            &format!("/api/keys?group_id={id}&key_value=sk-b"),
            None,
        )
        .await;
    let key_id = body["data"]["items"][0]["id"].as_i64().unwrap();
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/api/keys/{key_id}/notes"),
            Some(json!({"notes": "  team A  "})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = app
        .call(
            Method::GET,
            &format!("/api/keys?group_id={id}&key_value=sk-b"),
            None,
        )
        .await;
    assert_eq!(body["data"]["items"][0]["notes"], "team A");
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/api/keys/{key_id}/notes"),
            Some(json!({"notes": "x".repeat(256)})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = app
        .call(
            Method::PUT,
            "/api/keys/999999/notes",
            Some(json!({"notes": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Statistics.
    app.invalidate(id, &["sk-b"]).await;
    let (status, body) = app
        .call(Method::GET, &format!("/api/groups/{id}/stats"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"]["key_stats"],
        json!({"total_keys": 3, "active_keys": 2, "invalid_keys": 1, "cooling_keys": 0, "disabled_keys": 0})
    );
    assert_eq!(body["data"]["stats_24_hour"]["total_requests"], 0);

    // Clear all.
    let (_, body) = post("clear-all", json!({"group_id": id})).await;
    assert_eq!(body["message"], "3 keys cleared");
    let (status, body) = post("clear-all", json!({"group_id": 424242})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = post("clear-all", json!({"group": id})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"].as_str().unwrap().contains("group"),
        "{body}"
    );

    // Reorder.
    let other = app.create_group("other").await["id"].as_i64().unwrap();
    let (status, body) = app
        .call(
            Method::PUT,
            "/api/groups/reorder",
            Some(json!({"items": [{"id": id, "sort": 5}, {"id": other, "sort": 1}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body) = app.call(Method::GET, "/api/groups", None).await;
    assert_eq!(body["data"][0]["name"], "other");
    assert_eq!(body["data"][1]["sort"], 5);
    for (items, expected) in [
        (json!([]), StatusCode::BAD_REQUEST),
        (
            json!([{"id": id, "sort": 1}, {"id": id, "sort": 2}]),
            StatusCode::BAD_REQUEST,
        ),
        (json!([{"id": id, "sort": -1}]), StatusCode::BAD_REQUEST),
        (json!([{"id": 777777, "sort": 1}]), StatusCode::NOT_FOUND),
    ] {
        let (status, body) = app
            .call(
                Method::PUT,
                "/api/groups/reorder",
                Some(json!({"items": items})),
            )
            .await;
        assert_eq!(status, expected, "{items}: {body}");
    }
}

async fn key_task_flow(app: &TestApp) {
    let (_, body) = app.call(Method::GET, "/api/tasks/status", None).await;
    assert_eq!(
        body["data"],
        json!({"task_type": "", "is_running": false, "processed": 0, "total": 0,
               "started_at": "0001-01-01T00:00:00Z"})
    );
    let id = app.create_group("tasks").await["id"].as_i64().unwrap();
    let keys: Vec<String> = (0..1200).map(|i| format!("sk-task-{i:05}")).collect();
    let text = format!("{}\nsk-task-00001", keys.join("\n"));
    let r0 = app.revision().await;
    let (status, body) = app
        .call(
            Method::POST,
            "/api/keys/add-async",
            Some(json!({"group_id": id, "keys_text": text})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["task_type"], "KEY_IMPORT");
    assert_eq!(body["data"]["total"], 1201);
    let done = app.finished_task().await;
    assert_eq!(
        done["result"],
        json!({"added_count": 1200, "ignored_count": 1}),
        "{done}"
    );
    assert_eq!(done["processed"], 1201);
    assert_eq!(done["group_name"], "tasks");
    assert!(done["duration_seconds"].is_number(), "{done}");
    assert_eq!(app.state.db.count_keys(id).await.unwrap(), 1200);
    assert!(app.revision().await > r0, "the import reaches the proxy");

    // A .txt upload; any other file is refused.
    let boundary = "XbOuNdArY";
    let form = |file: &str, content: &str| {
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"group_id\"\r\n\r\n{id}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file}\"\r\n\
             Content-Type: text/plain\r\n\r\n{content}\r\n--{boundary}--\r\n"
        )
    };
    let multipart = format!("multipart/form-data; boundary={boundary}");
    let (status, body) = app
        .call_body(
            "/api/keys/add-async",
            &multipart,
            form("KEYS.TXT", "sk-up-1\nsk-up-2\nsk-task-00002"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let done = app.finished_task().await;
    assert_eq!(
        done["result"],
        json!({"added_count": 2, "ignored_count": 1}),
        "{done}"
    );
    let (status, body) = app
        .call_body("/api/keys/add-async", &multipart, form("keys.csv", "sk-x"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["message"].as_str().unwrap().contains(".txt"), "{body}");

    // Delete in the background.
    let (status, body) = app
        .call(
            Method::POST,
            "/api/keys/delete-async",
            Some(json!({"group_id": id, "keys_text": "sk-up-1 sk-up-2 sk-none"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let done = app.finished_task().await;
    assert_eq!(done["task_type"], "KEY_DELETE");
    assert_eq!(
        done["result"],
        json!({"deleted_count": 2, "ignored_count": 1})
    );

    // Another process holds the lock: 409 naming what runs.
    let ghost = gateway_schema::NewTask {
        owner: "another-admin",
        task_type: "KEY_IMPORT",
        group_name: "elsewhere",
        total: 10,
    };
    let far_past = chrono::Utc::now().naive_utc() - chrono::Duration::hours(1);
    assert!(
        app.state
            .db
            .try_start_task(ghost, far_past)
            .await
            .unwrap()
            .is_none()
    );
    let (status, body) = app
        .call(
            Method::POST,
            "/api/keys/add-async",
            Some(json!({"group_id": id, "keys_text": "sk-late"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "TASK_IN_PROGRESS");
    assert!(
        body["message"].as_str().unwrap().contains("elsewhere"),
        "{body}"
    );
    // Once its heartbeat is old enough, a crashed holder no longer blocks anyone.
    let future = chrono::Utc::now().naive_utc() + chrono::Duration::minutes(1);
    let takeover = gateway_schema::NewTask {
        owner: "rescuer",
        ..ghost
    };
    assert!(
        app.state
            .db
            .try_start_task(takeover, future)
            .await
            .unwrap()
            .is_none()
    );
    app.state
        .db
        .finish_task("rescuer", 0, "{}", "")
        .await
        .unwrap();
}

async fn copy_and_integration_flow(app: &TestApp) {
    let id = app.create_group("orig").await["id"].as_i64().unwrap();
    let (status, _) = app
        .call(
            Method::POST,
            "/api/keys/add-multiple",
            Some(json!({"group_id": id, "keys_text": "sk-1 sk-2 sk-3"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    app.invalidate(id, &["sk-3"]).await;

    let (status, body) = app
        .call(
            Method::POST,
            &format!("/api/groups/{id}/copy"),
            Some(json!({"copy_keys": "valid_only"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let copy = &body["data"]["group"];
    assert_eq!(copy["name"], "orig_copy");
    assert_eq!(copy["display_name"], "My Group Copy");
    assert_eq!(copy["config"], json!({"max_retries": 1}));
    assert_eq!(copy["header_rules"][0]["key"], "X-Custom");
    let done = app.finished_task().await;
    assert_eq!(done["result"]["added_count"], 2, "{done}");
    let copy_id = copy["id"].as_i64().unwrap();
    let (_, _, exported) = app
        .call_text(&format!("/api/keys/export?group_id={copy_id}"), "")
        .await;
    assert_eq!(exported, "sk-1\nsk-2\n");
    // Second copy: next free name; without keys no task is needed.
    let (_, body) = app
        .call(
            Method::POST,
            &format!("/api/groups/{id}/copy"),
            Some(json!({"copy_keys": "none"})),
        )
        .await;
    assert_eq!(body["data"]["group"]["name"], "orig_copy_2");
    assert!(body["data"].get("key_task").is_none());
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/api/groups/{id}/copy"),
            Some(json!({"copy_keys": "some"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // A running task: the copy with keys is refused before anything is created.
    let ghost = gateway_schema::NewTask {
        owner: "another-admin",
        task_type: "KEY_VALIDATION",
        group_name: "elsewhere",
        total: 1,
    };
    let past = chrono::Utc::now().naive_utc() - chrono::Duration::hours(1);
    app.state.db.try_start_task(ghost, past).await.unwrap();
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/api/groups/{id}/copy"),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("TASK_IN_PROGRESS"))
    );
    let (_, body) = app.call(Method::GET, "/api/groups", None).await;
    assert_eq!(
        body["data"].as_array().unwrap().len(),
        3,
        "no half-made copy"
    );
    app.state
        .db
        .finish_task("another-admin", 1, "{}", "")
        .await
        .unwrap();

    // Integration info: public, by proxy key ("a" is the group's own key; AUTH is global).
    let (status, body) = app
        .call_as(None, Method::GET, "/api/integration/info?key=a", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let names: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "{body}");
    assert_eq!(body["data"][0]["path"], format!("/proxy/{}", names[0]));
    assert_eq!(body["data"][0]["channel_type"], "openai");
    let (status, body) = app
        .call_as(
            None,
            Method::GET,
            "/proxy/orig/api/integration/info?key=a",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"],
        json!([{"name": "orig", "display_name": "My Group", "channel_type": "openai", "path": ""}])
    );
    for (uri, expected) in [
        ("/api/integration/info", StatusCode::BAD_REQUEST),
        ("/api/integration/info?key=wrong", StatusCode::BAD_REQUEST),
        (
            "/proxy/nope/api/integration/info?key=a",
            StatusCode::NOT_FOUND,
        ),
    ] {
        let (status, body) = app.call_as(None, Method::GET, uri, None).await;
        assert_eq!(status, expected, "{uri}: {body}");
    }
}

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

async fn aggregate_flow(app: &TestApp) {
    let a = app.create_group("member-a").await["id"].as_i64().unwrap();
    let b = app.create_group("member-b").await["id"].as_i64().unwrap();
    let (status, body) = app
        .call(
            Method::POST,
            "/api/groups",
            Some(
                json!({"name": "gemini-one", "channel_type": "gemini", "test_model": "m",
                        "upstreams": [{"url": "https://g.example", "weight": 1}]}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let gem = body["data"]["id"].as_i64().unwrap();
    let (status, body) = app
        .call(
            Method::POST,
            "/api/groups",
            Some(
                json!({"name": "all", "group_type": "aggregate", "channel_type": "openai",
                        "proxy_keys": "agg-key"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let agg = body["data"]["id"].as_i64().unwrap();
    assert_eq!(
        (
            body["data"]["upstreams"].clone(),
            body["data"]["test_model"].clone()
        ),
        (json!([]), json!("-"))
    );
    let (status, _) = app
        .call(
            Method::POST,
            "/api/groups",
            Some(
                json!({"name": "bad", "group_type": "aggregate", "channel_type": "openai",
                        "model_redirect_rules": {"a": "b"}}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Rate limits belong to the members: refused on an aggregate, on create and on update.
    let (status, body) = app
        .call(
            Method::POST,
            "/api/groups",
            Some(
                json!({"name": "limited-all", "group_type": "aggregate", "channel_type": "openai",
                        "config": {"group_rpm_limit": 10}}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("group_rpm_limit: aggregate groups have no rate limits"),
        "{body}"
    );
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/api/groups/{agg}"),
            Some(json!({"config": {"key_tpm_limit": 5, "sub_group_failover": false}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/api/groups/{agg}"),
            Some(json!({"config": {"sub_group_failover": false}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["config"], json!({"sub_group_failover": false}));

    let r0 = app.revision().await;
    let add = |members: Value| async move {
        app.call(
            Method::POST,
            &format!("/api/groups/{agg}/sub-groups"),
            Some(json!({"sub_groups": members})),
        )
        .await
    };
    let (status, body) =
        add(json!([{"group_id": a, "weight": 3}, {"group_id": b, "weight": 1}])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(app.revision().await > r0, "membership reaches the proxy");
    for (members, expected, why) in [
        (
            json!([{"group_id": a, "weight": 1}]),
            StatusCode::BAD_REQUEST,
            "already a member",
        ),
        (
            json!([{"group_id": gem, "weight": 1}]),
            StatusCode::BAD_REQUEST,
            "another channel",
        ),
        (
            json!([{"group_id": agg, "weight": 1}]),
            StatusCode::BAD_REQUEST,
            "an aggregate",
        ),
        (
            json!([{"group_id": 99999, "weight": 1}]),
            StatusCode::NOT_FOUND,
            "unknown group",
        ),
        (
            json!([{"group_id": gem, "weight": 1001}]),
            StatusCode::BAD_REQUEST,
            "weight too high",
        ),
        (json!([]), StatusCode::BAD_REQUEST, "nothing to add"),
    ] {
        let (status, body) = add(members).await;
        assert_eq!(status, expected, "{why}: {body}");
    }
    let (status, body) = app
        .call(Method::GET, &format!("/api/groups/{agg}/sub-groups"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let members = body["data"].as_array().unwrap();
    assert_eq!(members.len(), 2);
    assert_eq!(
        (
            members[0]["group"]["name"].clone(),
            members[0]["weight"].clone()
        ),
        (json!("member-a"), json!(3))
    );
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/api/groups/{agg}/sub-groups/{b}/weight"),
            Some(json!({"weight": 0})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = app
        .call(
            Method::GET,
            &format!("/api/groups/{b}/parent-aggregate-groups"),
            None,
        )
        .await;
    assert_eq!(
        body["data"],
        json!([{"group_id": agg, "name": "all", "display_name": "", "weight": 0}])
    );
    // A member cannot change its channel while it belongs to an aggregate.
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/api/groups/{a}"),
            Some(json!({"channel_type": "anthropic"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("1 aggregate"),
        "{body}"
    );
    let (status, _) = app
        .call(Method::GET, &format!("/api/groups/{a}/sub-groups"), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "not an aggregate");
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/groups/{agg}/sub-groups/{a}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/groups/{agg}/sub-groups/{a}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Deleting a member removes its membership.
    app.call(Method::DELETE, &format!("/api/groups/{b}"), None)
        .await;
    let (_, body) = app
        .call(Method::GET, &format!("/api/groups/{agg}/sub-groups"), None)
        .await;
    assert_eq!(body["data"], json!([]));
}

on_every_backend!(aggregate_flow: aggregates_on_sqlite, aggregates_on_postgres, aggregates_on_mysql);

on_every_backend!(key_task_flow: key_tasks_on_sqlite, key_tasks_on_postgres, key_tasks_on_mysql);

on_every_backend!(key_management_flow: key_management_on_sqlite, key_management_on_postgres, key_management_on_mysql);

on_every_backend!(group_and_key_flow: groups_and_keys_on_sqlite, groups_and_keys_on_postgres, groups_and_keys_on_mysql);

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_valid_and_matches_the_router() {
    let app = TestApp::sqlite().await;
    let (status, doc) = app
        .call_as(None, Method::GET, "/api/openapi.json", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    let parsed = oas3::from_json(doc.to_string());
    assert!(
        parsed.is_ok(),
        "not an OpenAPI 3 document: {:?}",
        parsed.err()
    );
    // Every $ref points at a component.
    let text = doc.to_string();
    for piece in text.split("\"$ref\":\"").skip(1) {
        let target = piece.split('"').next().unwrap();
        let name = target.trim_start_matches("#/components/schemas/");
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "dangling $ref {target}"
        );
    }
    let documented: std::collections::BTreeSet<(String, String)> =
        gateway_admin::openapi::documented_routes()
            .into_iter()
            .collect();
    for (method, path) in &documented {
        let op = &doc["paths"][path][method];
        assert!(op["responses"]["200"].is_object(), "{method} {path}");
        for name in path
            .split('{')
            .skip(1)
            .map(|p| p.split('}').next().unwrap())
        {
            let declared = op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == name && p["in"] == "path");
            assert!(
                declared,
                "{method} {path}: path parameter {name} not declared"
            );
        }
    }
    // Every route of the router is documented (read from the router's source).
    let source = include_str!("../../src/routes/mod.rs");
    let mut routed = std::collections::BTreeSet::new();
    for chunk in source.split(".route(").skip(1) {
        let path = chunk.split('"').nth(1).unwrap();
        let full = if ["/health", "/metrics", "/proxy"]
            .iter()
            .any(|p| path.starts_with(p))
        {
            path.to_owned()
        } else {
            format!("/api{path}")
        };
        for method in ["get", "post", "put", "delete"] {
            if chunk.contains(&format!("{method}(")) {
                routed.insert((method.to_owned(), full.clone()));
            }
        }
    }
    assert!(routed.len() > 30, "{routed:?}");
    let missing: Vec<_> = routed.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "routes without documentation: {missing:?}"
    );
    let extra: Vec<_> = documented.difference(&routed).collect();
    assert!(
        extra.is_empty(),
        "documented routes the router lacks: {extra:?}"
    );
    // And each documented route is served (not the fallback 404 or a 405).
    for (method, path) in &documented {
        let uri = path
            .replace("{id}", "1")
            .replace("{sub}", "2")
            .replace("{group}", "g");
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let (status, body) = app.call(m, &uri, Some(json!({}))).await;
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert!(
            body != json!({"error": "Not Found"}),
            "{method} {path} is not routed"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_follow_accept_language() {
    let app = TestApp::sqlite().await;
    let get = |lang: Option<&'static str>, uri: &'static str| {
        let app = &app;
        async move {
            let mut req = Request::builder()
                .uri(uri)
                .header("authorization", format!("Bearer {AUTH}"));
            if let Some(l) = lang {
                req = req.header("accept-language", l);
            }
            let resp = router(app.state.clone())
                .oneshot(req.body(Body::empty()).unwrap())
                .await
                .unwrap();
            let bytes = resp.into_body().collect().await.unwrap().to_bytes();
            serde_json::from_slice::<Value>(&bytes).unwrap()
        }
    };
    let zh = get(Some("zh-CN,zh;q=0.9"), "/api/settings").await;
    assert_eq!(zh["message"], "成功");
    assert_eq!(zh["data"][0]["category_name"], "基础设置");
    assert_eq!(zh["data"][0]["settings"][0]["name"], "项目地址");
    let ja = get(Some("ja"), "/api/settings").await;
    assert_eq!(ja["data"][2]["category_name"], "キー設定");
    let en = get(Some("fr-FR"), "/api/settings").await;
    assert_eq!(
        (
            en["message"].as_str(),
            en["data"][0]["category_name"].as_str()
        ),
        (Some("Success"), Some("Basic"))
    );
    assert_eq!(
        get(None, "/api/groups/config-options").await["data"][1]["name"],
        "Log request bodies"
    );
    assert_eq!(
        get(Some("ja-JP"), "/api/groups/config-options").await["data"][1]["name"],
        "リクエスト本文を記録"
    );
}

on_every_backend!(copy_and_integration_flow: copy_and_integration_info_on_sqlite, copy_and_integration_info_on_postgres, copy_and_integration_info_on_mysql);

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

mod gpt_load_import;
mod login_throttle;
mod logs;
mod manual_control;
mod silent_database;
mod ui;
use logs::logs_flow;
on_every_backend!(logs_flow: request_logs_dashboard_usage_and_retention_on_sqlite, request_logs_dashboard_usage_and_retention_on_postgres, request_logs_dashboard_usage_and_retention_on_mysql);

use manual_control::manual_control_flow;
on_every_backend!(manual_control_flow: keys_and_groups_switched_off_and_on_on_sqlite, keys_and_groups_switched_off_and_on_on_postgres, keys_and_groups_switched_off_and_on_on_mysql);
