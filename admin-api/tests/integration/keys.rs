//! Keys: listing, adding, deleting, restoring, switching off and on, exporting, and the
//! background key tasks, on every backend.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::TestApp;

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

on_every_backend!(key_management_flow: key_management_on_sqlite, key_management_on_postgres, key_management_on_mysql);

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

on_every_backend!(key_task_flow: key_tasks_on_sqlite, key_tasks_on_postgres, key_tasks_on_mysql);
