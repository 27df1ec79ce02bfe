//! Aggregate groups: members, weights, parents and what an aggregate may not hold, on every
//! backend.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::TestApp;

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
