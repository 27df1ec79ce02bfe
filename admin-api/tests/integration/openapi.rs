//! The OpenAPI document: valid OpenAPI 3, and every route of the router documented.

use axum::http::{Method, StatusCode};
use serde_json::json;

use super::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_valid_describes_validation_and_every_route_is_served() {
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
        gateway_admin::routes::documented_routes()
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
    assert!(documented.len() > 40, "{documented:?}");
    // The schemas carry the handlers' validation, so generated requests reach the handlers.
    let create = &doc["paths"]["/api/groups"]["post"]["requestBody"]["content"]["application/json"]
        ["schema"]["properties"];
    assert_eq!(create["name"]["pattern"], "^[a-z0-9_-]{1,100}$");
    assert_eq!(
        create["channel_type"]["enum"],
        json!(["openai", "openai-response", "anthropic", "gemini"])
    );
    assert_eq!(
        create["config"]["properties"]["max_retries"]["minimum"],
        json!(0)
    );
    assert_eq!(create["config"]["additionalProperties"], false);
    let weight = &doc["paths"]["/api/groups/{id}/sub-groups/{sub}/weight"]["put"];
    assert_eq!(weight["parameters"][0]["schema"]["minimum"], 1);
    let keys = &doc["paths"]["/api/keys"]["get"]["parameters"];
    let page_size = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "page_size")
        .unwrap();
    assert_eq!(page_size["schema"]["maximum"], 1000);
    let required = &doc["paths"]["/api/groups"]["post"]["requestBody"]["content"]["application/json"]
        ["schema"]["required"];
    assert!(
        required
            .as_array()
            .unwrap()
            .contains(&json!("channel_type")),
        "{required}"
    );
    let settings = &doc["paths"]["/api/settings"]["put"]["requestBody"]["content"]["application/json"]
        ["schema"];
    assert_eq!(settings["additionalProperties"], false);
    assert_eq!(
        settings["properties"]["request_log_retention_days"]["type"],
        "integer"
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
