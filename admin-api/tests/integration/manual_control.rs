//! Manual control (ours, GPT-Load users' #406 and #372): keys switched off and on through
//! `disable-multiple` / `enable-multiple`, kept out of validation meanwhile and never overwritten
//! by key health; groups switched off and on through `enabled`, on every backend.

use axum::http::{Method, StatusCode};
use gateway_schema::KeyHealthUpdate;
use gateway_schema::models::KeyStatus;
use serde_json::{Value, json};

use super::TestApp;

async fn statuses(app: &TestApp, group: i64) -> Vec<(String, String)> {
    let (_, body) = app
        .call(
            Method::GET,
            &format!("/api/keys?group_id={group}&page_size=100"),
            None,
        )
        .await;
    let mut out: Vec<(String, String)> = body["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["key_value"].as_str().unwrap().to_owned(),
                k["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, s)| ((*k).to_owned(), (*s).to_owned()))
        .collect()
}

pub(crate) async fn manual_control_flow(app: &TestApp) {
    let mock = gateway_testkit::MockProvider::start().await.unwrap();
    let (status, body) = app
        .call(
            Method::POST,
            "/api/groups",
            Some(
                json!({"name": "manual", "channel_type": "openai", "test_model": "gpt-test",
                "upstreams": [{"url": mock.base_url(), "weight": 1}]}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["enabled"], true, "groups start switched on");
    let id = body["data"]["id"].as_i64().unwrap();
    app.call(
        Method::POST,
        "/api/keys/add-multiple",
        Some(json!({"group_id": id, "keys_text": "sk-m1 sk-m2 sk-m3"})),
    )
    .await;
    app.invalidate(id, &["sk-m3"]).await;

    // Off: active and invalid keys alike; unknown keys are ignored; the proxies hear of it.
    let r0 = app.revision().await;
    let (status, body) = app
        .call(
            Method::POST,
            "/api/keys/disable-multiple",
            Some(json!({"group_id": id, "keys_text": "sk-m1\nsk-m3\nsk-unknown"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"],
        json!({"disabled_count": 2, "ignored_count": 1, "total_in_group": 3})
    );
    assert!(app.revision().await > r0, "the proxies reload");
    assert_eq!(
        statuses(app, id).await,
        pairs(&[
            ("sk-m1", "disabled"),
            ("sk-m2", "active"),
            ("sk-m3", "disabled")
        ])
    );
    let (_, body) = app
        .call(
            Method::GET,
            &format!("/api/keys?group_id={id}&status=disabled"),
            None,
        )
        .await;
    assert_eq!(body["data"]["pagination"]["total_items"], 2, "{body}");

    // Health written by a proxy that still held the key does not switch it back on.
    let m1 = app
        .state
        .db
        .keys_by_hash(id, &[app.state.cipher.lookup_hash("sk-m1")])
        .await
        .unwrap();
    app.state
        .db
        .save_key_health(&[KeyHealthUpdate {
            id: m1[0].id,
            status: KeyStatus::Invalid,
            failure_count: 3,
            cooldown_until: None,
        }])
        .await
        .unwrap();
    assert_eq!(
        statuses(app, id).await[0],
        pairs(&[("sk-m1", "disabled")])[0]
    );

    // Validation of the whole group leaves disabled keys alone (and does not ask about them).
    let (status, body) = app
        .call(
            Method::POST,
            "/api/keys/validate-group",
            Some(json!({"group_id": id})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let done = app.finished_task().await;
    assert_eq!(done["result"]["total_keys"], 1, "{done}");
    assert!(mock.requests_for_key("sk-m1").is_empty());
    assert!(mock.requests_for_key("sk-m3").is_empty());
    let (status, _) = app
        .call(
            Method::POST,
            "/api/keys/validate-group",
            Some(json!({"group_id": id, "status": "disabled"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "disabled keys are not validated"
    );

    // On again: active with no failures; only disabled keys count.
    let (status, body) = app
        .call(
            Method::POST,
            "/api/keys/enable-multiple",
            Some(json!({"group_id": id, "keys_text": "sk-m1 sk-m2 sk-m3"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"],
        json!({"enabled_count": 2, "ignored_count": 1, "total_in_group": 3})
    );
    assert_eq!(
        statuses(app, id).await,
        pairs(&[
            ("sk-m1", "active"),
            ("sk-m2", "active"),
            ("sk-m3", "active")
        ])
    );
    let (status, body) = app
        .call(
            Method::POST,
            "/api/keys/disable-multiple",
            Some(json!({"group_id": 999_999, "keys_text": "sk-m1"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // A group switched off and on keeps everything else.
    let r0 = app.revision().await;
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/api/groups/{id}"),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["enabled"], false);
    assert_eq!(body["data"]["test_model"], "gpt-test");
    assert!(app.revision().await > r0, "the proxies reload");
    let (_, body) = app.call(Method::GET, "/api/groups", None).await;
    let listed: Vec<&Value> = body["data"].as_array().unwrap().iter().collect();
    assert_eq!(listed[0]["enabled"], false);
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/api/groups/{id}"),
            Some(json!({"enabled": "no"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (_, body) = app
        .call(
            Method::PUT,
            &format!("/api/groups/{id}"),
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(body["data"]["enabled"], true);
    let (status, body) = app
        .call(
            Method::POST,
            "/api/groups",
            Some(
                json!({"name": "born-off", "channel_type": "openai", "test_model": "m",
                "upstreams": [{"url": mock.base_url(), "weight": 1}], "enabled": false}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["enabled"], false);
}

on_every_backend!(manual_control_flow: keys_and_groups_switched_off_and_on_on_sqlite, keys_and_groups_switched_off_and_on_on_postgres, keys_and_groups_switched_off_and_on_on_mysql);
