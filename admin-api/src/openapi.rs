//! The OpenAPI 3 document of the admin API, served at `GET /api/openapi.json`. Request and
//! response bodies are the handlers' own types (their schemas derived with utoipa); the operation
//! table below lists every route of `routes::router` (a test compares the two).

use serde_json::{Map, Value, json};
use utoipa::PartialSchema;

use crate::dto::{CreateGroup, GroupResponse, KeyResponse, LogResponse, UpdateGroup};
use crate::routes::{
    AddMembers, CopyGroup, GroupBody, KeysBody, Login, NotesBody, Reorder, ValidateGroup, Weight,
};

/// Where a parameter goes.
#[derive(Clone, Copy)]
enum In {
    Path,
    Query,
}

/// One parameter: place, name, JSON type, required, description.
type Param = (In, &'static str, &'static str, bool, &'static str);

/// One documented operation.
struct Op {
    method: &'static str,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    params: &'static [Param],
    body: Option<fn() -> Value>,
    /// The `data` of the success envelope (`None`: `data` is omitted or free-form).
    data: Option<fn() -> Value>,
    /// What a success looks like when it is not the JSON envelope.
    answer: Answer,
    public: bool,
}

/// The body of a successful answer.
#[derive(Clone, Copy)]
enum Answer {
    /// `{code: 0, message, data}`.
    Envelope,
    /// A file: `(content type, description)`.
    File(&'static str, &'static str),
    /// JSON of its own shape (not enveloped).
    Json(fn() -> Value),
    /// `POST /api/auth/login`: `{success, message}` for 200, 400 and 401.
    Login,
}

fn schema<T: PartialSchema>() -> Value {
    serde_json::to_value(T::schema()).unwrap_or(Value::Null)
}

fn list_of<T: PartialSchema>() -> Value {
    json!({"type": "array", "items": schema::<T>()})
}

const ID: Param = (In::Path, "id", "integer", true, "Group id");
const GROUP_ID_QUERY: Param = (In::Query, "group_id", "integer", true, "Group id");

fn task_status() -> Value {
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

fn key_page() -> Value {
    page_of(list_of::<KeyResponse>())
}

fn log_page() -> Value {
    page_of(list_of::<LogResponse>())
}

/// Filters of `/api/logs` and its export.
const LOG_FILTERS: &[Param] = &[
    (In::Query, "page", "integer", false, "Page, from 1"),
    (
        In::Query,
        "page_size",
        "integer",
        false,
        "Rows per page (15; at most 1000)",
    ),
    (
        In::Query,
        "parent_group_name",
        "string",
        false,
        "Aggregate name contains",
    ),
    (
        In::Query,
        "group_name",
        "string",
        false,
        "Group name contains",
    ),
    (
        In::Query,
        "key_value",
        "string",
        false,
        "Exactly this upstream key",
    ),
    (In::Query, "model", "string", false, "Model contains"),
    (
        In::Query,
        "is_success",
        "boolean",
        false,
        "Success or failure",
    ),
    (In::Query, "request_type", "string", false, "retry or final"),
    (
        In::Query,
        "status_code",
        "integer",
        false,
        "Exactly this status",
    ),
    (
        In::Query,
        "source_ip",
        "string",
        false,
        "Exactly this client address",
    ),
    (
        In::Query,
        "error_contains",
        "string",
        false,
        "Error message contains",
    ),
    (
        In::Query,
        "start_time",
        "string",
        false,
        "RFC 3339; from (inclusive)",
    ),
    (
        In::Query,
        "end_time",
        "string",
        false,
        "RFC 3339; to (inclusive)",
    ),
];

fn trend_card() -> Value {
    json!({"type": "object", "properties": {
        "value": {"type": "number"}, "sub_value": {"type": "number"},
        "sub_value_tip": {"type": "string"}, "trend": {"type": "number"},
        "trend_is_growth": {"type": "boolean"}}})
}

fn dashboard_stats() -> Value {
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

fn chart() -> Value {
    json!({"type": "object", "properties": {
        "labels": {"type": "array", "items": {"type": "string", "format": "date-time"}},
        "datasets": {"type": "array", "items": {"type": "object", "properties": {
            "label": {"type": "string"}, "color": {"type": "string"},
            "data": {"type": "array", "items": {"type": "integer"}}}}}}})
}

fn upstream_health() -> Value {
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

fn usage_report() -> Value {
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

fn counts(field: &'static str) -> Value {
    json!({"type": "object", "properties": {
        field: {"type": "integer"}, "ignored_count": {"type": "integer"},
        "total_in_group": {"type": "integer"}}})
}

/// Every operation of the admin API.
fn operations() -> Vec<Op> {
    let op = |method, path, tag, summary| Op {
        method,
        path,
        tag,
        summary,
        params: &[],
        body: None,
        data: None,
        answer: Answer::Envelope,
        public: false,
    };
    vec![
        Op {
            body: Some(schema::<Login>),
            answer: Answer::Login,
            public: true,
            ..op(
                "post",
                "/api/auth/login",
                "auth",
                "Check an admin key (answers {success, message}, not the envelope)",
            )
        },
        Op {
            data: Some(|| json!({"type": "array", "items": {"type": "string"}})),
            ..op(
                "get",
                "/api/channel-types",
                "groups",
                "Channel types, in a stable order",
            )
        },
        Op {
            data: Some(list_of::<GroupResponse>),
            ..op(
                "get",
                "/api/groups",
                "groups",
                "Every group, sort ASC, id DESC",
            )
        },
        Op {
            body: Some(schema::<CreateGroup>),
            data: Some(schema::<GroupResponse>),
            ..op(
                "post",
                "/api/groups",
                "groups",
                "Create a group (standard or aggregate)",
            )
        },
        Op {
            ..op(
                "get",
                "/api/groups/list",
                "groups",
                "id, name and display_name of every group",
            )
        },
        Op {
            ..op(
                "get",
                "/api/groups/config-options",
                "groups",
                "Settings a group may override, with their current system values",
            )
        },
        Op {
            body: Some(schema::<Reorder>),
            ..op(
                "put",
                "/api/groups/reorder",
                "groups",
                "Set the sort order of groups, all or nothing",
            )
        },
        Op {
            params: &[ID],
            body: Some(schema::<UpdateGroup>),
            data: Some(schema::<GroupResponse>),
            ..op(
                "put",
                "/api/groups/{id}",
                "groups",
                "Update a group (partial)",
            )
        },
        Op {
            params: &[ID],
            ..op(
                "delete",
                "/api/groups/{id}",
                "groups",
                "Delete a group, its keys and memberships",
            )
        },
        Op {
            params: &[ID],
            ..op(
                "get",
                "/api/groups/{id}/stats",
                "groups",
                "Keys by state and request totals over 24 h, 7 d, 30 d",
            )
        },
        Op {
            params: &[ID],
            body: Some(schema::<CopyGroup>),
            ..op(
                "post",
                "/api/groups/{id}/copy",
                "groups",
                "Copy a group, with none, the valid or all of its keys",
            )
        },
        Op {
            params: &[ID],
            ..op(
                "get",
                "/api/groups/{id}/sub-groups",
                "aggregates",
                "Members of an aggregate group",
            )
        },
        Op {
            params: &[ID],
            body: Some(schema::<AddMembers>),
            ..op(
                "post",
                "/api/groups/{id}/sub-groups",
                "aggregates",
                "Add members to an aggregate group",
            )
        },
        Op {
            params: &[ID, (In::Path, "sub", "integer", true, "Member group id")],
            body: Some(schema::<Weight>),
            ..op(
                "put",
                "/api/groups/{id}/sub-groups/{sub}/weight",
                "aggregates",
                "Set a member's weight (0-1000)",
            )
        },
        Op {
            params: &[ID, (In::Path, "sub", "integer", true, "Member group id")],
            ..op(
                "delete",
                "/api/groups/{id}/sub-groups/{sub}",
                "aggregates",
                "Remove a member",
            )
        },
        Op {
            params: &[ID],
            ..op(
                "get",
                "/api/groups/{id}/parent-aggregate-groups",
                "aggregates",
                "Aggregates a group belongs to",
            )
        },
        Op {
            params: &[
                GROUP_ID_QUERY,
                (In::Query, "page", "integer", false, "Page, from 1"),
                (
                    In::Query,
                    "page_size",
                    "integer",
                    false,
                    "Keys a page (default 15, at most 1000)",
                ),
                (
                    In::Query,
                    "status",
                    "string",
                    false,
                    "active, cooling, invalid or disabled",
                ),
                (In::Query, "key_value", "string", false, "Exact key"),
            ],
            data: Some(key_page),
            ..op(
                "get",
                "/api/keys",
                "keys",
                "A page of a group's keys, last used first",
            )
        },
        Op {
            body: Some(schema::<KeysBody>),
            data: Some(|| counts("added_count")),
            ..op(
                "post",
                "/api/keys/add-multiple",
                "keys",
                "Add up to 5000 keys now",
            )
        },
        Op {
            body: Some(schema::<KeysBody>),
            data: Some(task_status),
            ..op(
                "post",
                "/api/keys/add-async",
                "keys",
                "Import keys in the background (JSON, or multipart/form-data with group_id and a .txt file)",
            )
        },
        Op {
            body: Some(schema::<KeysBody>),
            data: Some(task_status),
            ..op(
                "post",
                "/api/keys/delete-async",
                "keys",
                "Delete keys in the background",
            )
        },
        Op {
            data: Some(task_status),
            ..op(
                "get",
                "/api/tasks/status",
                "keys",
                "The running or last key task",
            )
        },
        Op {
            body: Some(schema::<ValidateGroup>),
            data: Some(task_status),
            ..op(
                "post",
                "/api/keys/validate-group",
                "keys",
                "Validate a group's keys in the background",
            )
        },
        Op {
            body: Some(schema::<KeysBody>),
            ..op(
                "post",
                "/api/keys/test-multiple",
                "keys",
                "Validate the listed keys now",
            )
        },
        Op {
            body: Some(schema::<KeysBody>),
            data: Some(|| counts("deleted_count")),
            ..op(
                "post",
                "/api/keys/delete-multiple",
                "keys",
                "Delete the listed keys",
            )
        },
        Op {
            body: Some(schema::<KeysBody>),
            data: Some(|| counts("restored_count")),
            ..op(
                "post",
                "/api/keys/restore-multiple",
                "keys",
                "Return the listed invalid keys to rotation",
            )
        },
        Op {
            body: Some(schema::<KeysBody>),
            data: Some(|| counts("disabled_count")),
            ..op(
                "post",
                "/api/keys/disable-multiple",
                "keys",
                "Switch the listed keys off: out of rotation and validation until enabled (ours)",
            )
        },
        Op {
            body: Some(schema::<KeysBody>),
            data: Some(|| counts("enabled_count")),
            ..op(
                "post",
                "/api/keys/enable-multiple",
                "keys",
                "Switch the listed disabled keys back on, as active with no failures (ours)",
            )
        },
        Op {
            body: Some(schema::<GroupBody>),
            ..op(
                "post",
                "/api/keys/restore-all-invalid",
                "keys",
                "Return every invalid key of a group to rotation",
            )
        },
        Op {
            body: Some(schema::<GroupBody>),
            ..op(
                "post",
                "/api/keys/clear-all-invalid",
                "keys",
                "Delete every invalid key of a group",
            )
        },
        Op {
            body: Some(schema::<GroupBody>),
            ..op(
                "post",
                "/api/keys/clear-all",
                "keys",
                "Delete every key of a group",
            )
        },
        Op {
            params: &[
                GROUP_ID_QUERY,
                (
                    In::Query,
                    "status",
                    "string",
                    false,
                    "all (default), active, cooling, invalid or disabled",
                ),
            ],
            answer: Answer::File("text/plain", "The keys, one a line"),
            ..op(
                "get",
                "/api/keys/export",
                "keys",
                "Keys as a text file, one a line",
            )
        },
        Op {
            params: &[(In::Path, "id", "integer", true, "Key id")],
            body: Some(schema::<NotesBody>),
            ..op(
                "put",
                "/api/keys/{id}/notes",
                "keys",
                "Set a key's notes (at most 255 characters)",
            )
        },
        Op {
            ..op(
                "get",
                "/api/settings",
                "settings",
                "Every setting with value, default and description, by category",
            )
        },
        Op {
            body: Some(|| json!({"type": "object", "additionalProperties": true})),
            ..op(
                "put",
                "/api/settings",
                "settings",
                "Change settings (partial; validated)",
            )
        },
        Op {
            params: &[(In::Query, "key", "string", true, "A proxy key")],
            public: true,
            ..op(
                "get",
                "/api/integration/info",
                "integration",
                "Groups a proxy key may call, with their paths",
            )
        },
        Op {
            params: &[
                (In::Path, "group", "string", true, "Group name"),
                (In::Query, "key", "string", true, "A proxy key"),
            ],
            public: true,
            ..op(
                "get",
                "/proxy/{group}/api/integration/info",
                "integration",
                "The same for one group",
            )
        },
        Op {
            params: LOG_FILTERS,
            data: Some(log_page),
            ..op(
                "get",
                "/api/logs",
                "logs",
                "Request logs (one per upstream attempt), newest first; key_value is the key while it exists, masked once deleted",
            )
        },
        Op {
            params: LOG_FILTERS,
            answer: Answer::File("text/csv", "key_value,group_name,status_code rows"),
            ..op(
                "get",
                "/api/logs/export",
                "logs",
                "CSV key_value,group_name,status_code: the latest log of each key (not enveloped)",
            )
        },
        Op {
            data: Some(dashboard_stats),
            ..op(
                "get",
                "/api/dashboard/stats",
                "dashboard",
                "Keys, requests per minute, 24 h requests and error rate with trends, warnings",
            )
        },
        Op {
            params: &[(
                In::Query,
                "groupId",
                "integer",
                false,
                "Only this group (every standard group when absent)",
            )],
            data: Some(chart),
            ..op(
                "get",
                "/api/dashboard/chart",
                "dashboard",
                "Successes and failures of the last 24 hours",
            )
        },
        Op {
            data: Some(|| {
                json!({"type": "object", "properties": {
                    "has_mismatch": {"type": "boolean"}, "scenario_type": {"type": "string"},
                    "message": {"type": "string"}, "suggestion": {"type": "string"}}})
            }),
            ..op(
                "get",
                "/api/dashboard/encryption-status",
                "dashboard",
                "Whether the stored keys match ENCRYPTION_KEY",
            )
        },
        Op {
            data: Some(upstream_health),
            ..op(
                "get",
                "/api/dashboard/upstreams",
                "dashboard",
                "Every upstream's attempts, failures and latency over the last hour",
            )
        },
        Op {
            params: &[
                (
                    In::Query,
                    "period",
                    "string",
                    false,
                    "24h (default), 7d or 30d",
                ),
                (In::Query, "group_id", "integer", false, "Only this group"),
            ],
            data: Some(usage_report),
            ..op(
                "get",
                "/api/usage",
                "usage",
                "Requests and tokens by group and model over a period",
            )
        },
        Op {
            public: true,
            ..op("get", "/api/openapi.json", "meta", "This document")
        },
        Op {
            public: true,
            answer: Answer::File("text/plain", "Prometheus text format 0.0.4"),
            ..op(
                "get",
                "/metrics",
                "meta",
                "Prometheus metrics of the admin process (text format; loopback only)",
            )
        },
        Op {
            public: true,
            answer: Answer::Json(|| {
                json!({"type": "object", "required": ["status", "database"], "properties": {
                    "status": {"type": "string", "enum": ["healthy", "unhealthy"]},
                    "database": {"type": "string", "enum": ["sqlite", "postgres", "mysql"]},
                    "config_revision": {"type": "integer"},
                    "error": {"type": "string"}}})
            }),
            ..op(
                "get",
                "/health",
                "meta",
                "Health of the admin process and its database (not enveloped)",
            )
        },
    ]
}

/// The `(method, path)` of every documented operation.
pub fn documented_routes() -> Vec<(String, String)> {
    operations()
        .iter()
        .map(|o| (o.method.to_owned(), o.path.to_owned()))
        .collect()
}

/// The whole document.
pub fn document() -> Value {
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
    for op in operations() {
        let params: Vec<Value> = op
            .params
            .iter()
            .map(|(place, name, ty, required, description)| {
                json!({"name": name, "in": match place { In::Path => "path", In::Query => "query" },
                       "required": required, "description": description, "schema": {"type": ty}})
            })
            .collect();
        let mut responses = json!({
            "200": success(&op),
            "400": error_response("Bad input; the message names the field"),
            "500": error_response("Database error"),
        });
        if !op.public {
            responses["401"] = error_response("Missing or wrong admin key");
            responses["429"] = throttled.clone();
        }
        let names_group = op.params.iter().any(|p| p.1 == "group_id" && p.3);
        if op.path.contains('{') || op.body.is_some() || names_group {
            responses["404"] = error_response("Unknown group or key");
        }
        if op.method == "post" || (op.method == "put" && op.path == "/api/groups/{id}") {
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
                responses = json!({"200": success(&op)});
                if op.path == "/health" {
                    responses["503"] = success(&op);
                }
            }
            _ => {}
        }
        let mut operation = json!({
            "tags": [op.tag], "summary": op.summary, "operationId": operation_id(op.method, op.path),
            "parameters": params, "responses": responses,
        });
        if let Some(body) = op.body {
            operation["requestBody"] =
                json!({"required": true, "content": {"application/json": {"schema": body()}}});
        }
        if op.public {
            operation["security"] = json!([]);
        }
        if let Some(item) = paths
            .entry(op.path.to_owned())
            .or_insert_with(|| json!({}))
            .as_object_mut()
        {
            item.insert(op.method.to_owned(), operation);
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
fn success(op: &Op) -> Value {
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
