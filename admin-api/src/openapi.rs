//! The OpenAPI 3 document of the admin API, served at `GET /api/openapi.json`: built from the
//! one list of operations it is given (`routes::operations`). Request and response bodies are the handlers'
//! own types (their schemas derived with utoipa, carrying the handlers' validation); the answers
//! that are built as JSON have their schemas here.

use serde_json::{Map, Value, json};
use utoipa::PartialSchema;

use crate::dto::{KeyResponse, LogResponse};
use crate::operation::{Answer, In, Operation, Verb};

/// The schema utoipa derives for `T`.
pub(crate) fn schema<T: PartialSchema>() -> Value {
    serde_json::to_value(T::schema()).unwrap_or(Value::Null)
}

/// An array of `T`.
pub(crate) fn list_of<T: PartialSchema>() -> Value {
    json!({"type": "array", "items": schema::<T>()})
}

pub(crate) fn task_status() -> Value {
    json!({"type": "object", "properties": {
        "task_type": {"type": "string", "enum": ["", "KEY_IMPORT", "KEY_DELETE", "KEY_VALIDATION"]},
        "is_running": {"type": "boolean"}, "group_name": {"type": "string"},
        "processed": {"type": "integer"}, "total": {"type": "integer"},
        "result": {"type": "object"}, "error": {"type": "string"},
        "started_at": {"type": "string", "format": "date-time"},
        "finished_at": {"type": "string", "format": "date-time"},
        "duration_seconds": {"type": "number"}}})
}

/// GPT-Load's page: `{items, pagination}`.
fn page_of(items: Value) -> Value {
    json!({"type": "object", "properties": {
        "items": items,
        "pagination": {"type": "object", "properties": {
            "page": {"type": "integer"}, "page_size": {"type": "integer"},
            "total_items": {"type": "integer"}, "total_pages": {"type": "integer"}}}}})
}

pub(crate) fn key_page() -> Value {
    page_of(list_of::<KeyResponse>())
}

pub(crate) fn log_page() -> Value {
    page_of(list_of::<LogResponse>())
}

fn trend_card() -> Value {
    json!({"type": "object", "properties": {
        "value": {"type": "number"}, "sub_value": {"type": "number"},
        "sub_value_tip": {"type": "string"}, "trend": {"type": "number"},
        "trend_is_growth": {"type": "boolean"}}})
}

pub(crate) fn dashboard_stats() -> Value {
    json!({"type": "object", "properties": {
        "key_states": {"type": "object", "description": "Keys of every group by status",
            "properties": {"active": {"type": "integer"}, "cooling": {"type": "integer"},
                "invalid": {"type": "integer"}, "disabled": {"type": "integer"}}},
        "key_count": trend_card(), "rpm": trend_card(), "request_count": trend_card(),
        "error_rate": trend_card(),
        "security_warnings": {"type": "array", "items": {"type": "object", "properties": {
            "type": {"type": "string"}, "message": {"type": "string"},
            "severity": {"type": "string", "enum": ["high", "medium"]},
            "suggestion": {"type": "string"}}}}}})
}

pub(crate) fn chart() -> Value {
    json!({"type": "object", "properties": {
        "labels": {"type": "array", "items": {"type": "string", "format": "date-time"}},
        "datasets": {"type": "array", "items": {"type": "object", "properties": {
            "label": {"type": "string"}, "color": {"type": "string"},
            "data": {"type": "array", "items": {"type": "integer"}}}}}}})
}

pub(crate) fn upstream_health() -> Value {
    json!({"type": "array", "items": {"type": "object", "properties": {
        "group_id": {"type": "integer"}, "group_name": {"type": "string"},
        "upstream": {"type": "string"},
        "weight": {"type": ["integer", "null"], "description": "null: no longer configured"},
        "requests": {"type": "integer"}, "failures": {"type": "integer"},
        "failure_rate": {"type": "number", "minimum": 0, "maximum": 1},
        "avg_duration_ms": {"type": ["integer", "null"], "description": "Average of the newest 100 attempts"},
        "last_status_code": {"type": ["integer", "null"]},
        "last_error": {"type": "string"},
        "last_seen_at": {"type": ["string", "null"], "format": "date-time"}}}})
}

pub(crate) fn usage_report() -> Value {
    let tokens = json!({"type": "object", "properties": {
        "requests": {"type": "integer"}, "input_tokens": {"type": "integer"},
        "output_tokens": {"type": "integer"}, "total_tokens": {"type": "integer"}}});
    json!({"type": "object", "properties": {
        "period": {"type": "string", "enum": ["24h", "7d", "30d"]},
        "from": {"type": "string", "format": "date-time"},
        "items": {"type": "array", "items": {"type": "object", "properties": {
            "group_id": {"type": "integer"}, "group_name": {"type": "string"},
            "model": {"type": "string"}, "requests": {"type": "integer"},
            "input_tokens": {"type": "integer"}, "output_tokens": {"type": "integer"},
            "total_tokens": {"type": "integer"}}}},
        "totals": tokens}})
}

/// `{<field>, ignored_count, total_in_group}` of the key batch routes.
pub(crate) fn counts(field: &'static str) -> Value {
    json!({"type": "object", "properties": {
        field: {"type": "integer"}, "ignored_count": {"type": "integer"},
        "total_in_group": {"type": "integer"}}})
}

/// An array of strings.
pub(crate) fn string_list() -> Value {
    json!({"type": "array", "items": {"type": "string"}})
}

/// `data` of `GET /api/dashboard/encryption-status`.
pub(crate) fn encryption_status() -> Value {
    json!({"type": "object", "properties": {
        "has_mismatch": {"type": "boolean"}, "scenario_type": {"type": "string"},
        "message": {"type": "string"}, "suggestion": {"type": "string"}}})
}

/// The answer of `GET /health` (200 healthy, 503 unhealthy).
pub(crate) fn health_answer() -> Value {
    json!({"type": "object", "required": ["status", "database"], "properties": {
        "status": {"type": "string", "enum": ["healthy", "unhealthy"]},
        "database": {"type": "string", "enum": ["sqlite", "postgres", "mysql"]},
        "config_revision": {"type": "integer"},
        "error": {"type": "string"}}})
}

/// The whole document of `operations`.
pub fn document(operations: &[Operation]) -> Value {
    let error = json!({"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string", "example": "VALIDATION_FAILED"},
        "message": {"type": "string", "example": "name: is required"}}});
    let error_response = |what: &str| json!({"description": what, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let mut throttled = error_response(
        "Too many wrong admin keys from this client address: wait Retry-After seconds",
    );
    throttled["headers"] = json!({"Retry-After": {"schema": {"type": "integer"},
        "description": "Seconds until the address may try again"}});
    let mut paths: Map<String, Value> = Map::new();
    for op in operations {
        let params: Vec<Value> = op
            .params
            .iter()
            .map(|p| {
                json!({"name": p.name, "in": match p.place { In::Path => "path", In::Query => "query" },
                       "required": p.required, "description": p.description, "schema": p.values.schema()})
            })
            .collect();
        let public = op.access == crate::operation::Access::Public;
        let mut responses = json!({
            "200": success(op),
            "400": error_response("Bad input; the message names the field"),
            "500": error_response("Database error"),
        });
        if !public {
            responses["401"] = error_response("Missing or wrong admin key");
            responses["429"] = throttled.clone();
        }
        let names_group = op.params.iter().any(|p| p.name == "group_id" && p.required);
        if op.path.contains('{') || op.body.is_some() || names_group {
            responses["404"] = error_response("Unknown group or key");
        }
        if op.verb == Verb::Post || (op.verb == Verb::Put && op.path == "/api/groups/{id}") {
            responses["409"] = error_response("Duplicate name, or another key task is running");
        }
        if op.body.is_some() {
            responses["413"] = error_response("Body larger than the route accepts");
        }
        match op.answer {
            Answer::Login => {
                let login = json!({"type": "object", "required": ["success", "message"],
                    "properties": {"success": {"type": "boolean"}, "message": {"type": "string"}}});
                let answer = |what: &str| {
                    json!({"description": what,
                    "content": {"application/json": {"schema": login.clone()}}})
                };
                responses = json!({
                    "200": answer("Right key"),
                    "400": answer("Not a login body"),
                    "401": answer("Wrong key"),
                    "413": error_response("Body larger than the route accepts"),
                    "429": throttled.clone(),
                });
            }
            Answer::File(..) | Answer::Json(_) if op.path == "/health" || op.path == "/metrics" => {
                responses = json!({"200": success(op)});
                if op.path == "/health" {
                    responses["503"] = success(op);
                }
            }
            _ => {}
        }
        let mut operation = json!({
            "tags": [op.tag], "summary": op.summary, "operationId": operation_id(op.verb.as_str(), op.path),
            "parameters": params, "responses": responses,
        });
        if let Some(body) = op.body {
            operation["requestBody"] =
                json!({"required": true, "content": {"application/json": {"schema": body()}}});
        }
        if public {
            operation["security"] = json!([]);
        }
        if let Some(item) = paths
            .entry(op.path.to_owned())
            .or_insert_with(|| json!({}))
            .as_object_mut()
        {
            item.insert(op.verb.as_str().to_owned(), operation);
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "gateway admin API", "version": env!("CARGO_PKG_VERSION"),
                 "description": "GPT-Load compatible management API: {code, message, data} envelope, errors as {code, message}. Authenticate with one of the schemes: when a request carries several, the query `key` is read first (GPT-Load's order). Five wrong keys in a minute lock the client address out for the rest of the minute (429)."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"query_key": []}],
        "paths": paths,
        "components": {
            "schemas": {"Error": error},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "AUTH_KEY"},
                "query_key": {"type": "apiKey", "in": "query", "name": "key"},
            },
        },
    })
}

/// The 200 answer of an operation.
fn success(op: &Operation) -> Value {
    match op.answer {
        Answer::Envelope | Answer::Login => {
            let data = op.data.map_or_else(|| json!({}), |f| f());
            json!({"description": "Success", "content": {"application/json": {"schema": {
                "type": "object", "required": ["code", "message"], "properties": {
                    "code": {"type": "integer", "example": 0},
                    "message": {"type": "string", "example": "Success"},
                    "data": data}}}}})
        }
        Answer::File(content_type, what) => json!({"description": what,
            "content": {content_type: {"schema": {"type": "string"}}}}),
        Answer::Json(schema) => json!({"description": "Success",
            "content": {"application/json": {"schema": schema()}}}),
    }
}

fn operation_id(method: &str, path: &str) -> String {
    let mut id = method.to_owned();
    for part in path
        .split(['/', '-', '.'])
        .filter(|p| !p.is_empty() && *p != "api")
    {
        id.push('_');
        id.push_str(part.trim_matches(|c| c == '{' || c == '}'));
    }
    id
}
