//! Groups: validation that names the field, the group and key flow, copying and the
//! integration info, on every backend.

use axum::http::{Method, StatusCode};
use serde_json::json;

use super::TestApp;

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

on_every_backend!(group_and_key_flow: groups_and_keys_on_sqlite, groups_and_keys_on_postgres, groups_and_keys_on_mysql);

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

on_every_backend!(copy_and_integration_flow: copy_and_integration_info_on_sqlite, copy_and_integration_info_on_postgres, copy_and_integration_info_on_mysql);
