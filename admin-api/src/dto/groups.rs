//! Bodies of the group routes: creating, updating, listing, reordering and copying groups, and
//! the members of aggregates, with the schemas that say what the handlers accept.

use gateway_core::ChannelType;
use gateway_core::settings_catalogue;
use gateway_schema::models::Group;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::group_input::{json_or, masked_config};
use super::rfc3339;
use super::settings::setting_schema;

/// Body of `POST /api/groups`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroup {
    /// Unique name (`^[a-z0-9_-]{1,100}$`).
    #[schema(pattern = "^[a-z0-9_-]{1,100}$")]
    pub name: String,
    /// Display name.
    #[serde(default)]
    pub display_name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// `standard` (default) or `aggregate`.
    #[serde(default)]
    #[schema(schema_with = group_type_schema)]
    pub group_type: String,
    /// `[{"url","weight"}]`: at least one with a weight above 0 (none for an aggregate).
    #[serde(default)]
    #[schema(schema_with = upstreams_schema)]
    pub upstreams: Value,
    /// Channel type.
    #[serde(default)]
    #[schema(schema_with = channel_type_schema, required = true)]
    pub channel_type: String,
    /// Display order.
    #[serde(default)]
    pub sort: i32,
    /// Model used for validation.
    #[serde(default)]
    pub test_model: String,
    /// Validation path ("" = channel default).
    #[serde(default)]
    #[schema(pattern = "^(/.*)?$")]
    pub validation_endpoint: String,
    /// Body overrides.
    #[serde(default)]
    #[schema(schema_with = object_schema)]
    pub param_overrides: Value,
    /// Model redirects.
    #[serde(default)]
    #[schema(schema_with = redirect_rules_schema)]
    pub model_redirect_rules: Value,
    /// Strict redirects.
    #[serde(default)]
    pub model_redirect_strict: bool,
    /// Setting overrides.
    #[serde(default)]
    #[schema(schema_with = group_config_schema)]
    pub config: Value,
    /// Header rules.
    #[serde(default)]
    #[schema(schema_with = header_rules_schema)]
    pub header_rules: Value,
    /// Comma-separated proxy keys.
    #[serde(default)]
    pub proxy_keys: String,
    /// Ours: false creates the group switched off (its requests get 503, aggregates skip it).
    #[serde(default = "switched_on")]
    pub enabled: bool,
}

fn switched_on() -> bool {
    true
}

/// The schema of `POST /api/groups`'s body: `CreateGroup`'s fields, and what a standard group
/// needs (a test model, an upstream with a weight above 0) and an aggregate may not have
/// (upstreams, redirect rules, rate limits of its own), as `routes::groups::new_group` checks.
pub fn create_group_schema() -> Value {
    use utoipa::PartialSchema;
    let mut schema = serde_json::to_value(CreateGroup::schema()).unwrap_or_default();
    let no_rate_limits: serde_json::Map<String, Value> = settings_catalogue::RATE_LIMIT_KEYS
        .iter()
        .map(|k| ((*k).to_owned(), serde_json::json!({"type": "null"})))
        .collect();
    schema["oneOf"] = serde_json::json!([
        {"title": "standard", "required": ["test_model", "upstreams"], "properties": {
            "group_type": {"enum": ["", "standard"]},
            "test_model": {"pattern": "\\S"},
            "upstreams": {"minItems": 1, "contains": {
                "required": ["weight"], "properties": {"weight": {"minimum": 1}}}}}},
        {"title": "aggregate", "required": ["group_type"], "properties": {
            "group_type": {"const": "aggregate"},
            "upstreams": {"maxItems": 0},
            "model_redirect_rules": {"maxProperties": 0},
            "config": {"properties": no_rate_limits}}},
    ]);
    schema
}

/// A schema written as JSON (the shapes a `Value` field takes, which utoipa cannot derive).
fn json_schema(value: Value) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    serde_json::from_value(value).unwrap_or_default()
}

fn group_type_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    json_schema(serde_json::json!({"type": "string", "enum": ["", "standard", "aggregate"]}))
}

fn channel_type_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    let names: Vec<&str> = ChannelType::ALL.iter().map(|c| c.as_str()).collect();
    json_schema(serde_json::json!({"type": "string", "enum": names}))
}

fn upstreams_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    json_schema(serde_json::json!({"type": "array", "items": {
        "type": "object", "required": ["url"], "additionalProperties": false, "properties": {
            "url": {"type": "string", "pattern": "^https?://[^\\s/]+"},
            "weight": {"type": "integer", "minimum": 0}}}}))
}

fn object_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    json_schema(serde_json::json!({"type": "object"}))
}

fn redirect_rules_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    json_schema(
        serde_json::json!({"type": "object", "description": "Source model to target model",
        "additionalProperties": {"type": "string", "pattern": "\\S"}}),
    )
}

fn header_rules_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    json_schema(serde_json::json!({"type": "array", "items": {
        "type": "object", "required": ["key", "action"], "additionalProperties": false,
        "properties": {
            "key": {"type": "string", "pattern": "^[A-Za-z0-9-]+$"},
            "value": {"type": "string"},
            "action": {"type": "string", "enum": ["set", "remove"]}}}}))
}

/// The settings a group may override, each with its type and bounds (`null` drops an override).
fn group_config_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    let properties: serde_json::Map<String, Value> = settings_catalogue::CATALOGUE
        .iter()
        .filter(|d| d.group_override)
        .map(|d| {
            let mut schema = setting_schema(d);
            schema["type"] = serde_json::json!([schema["type"].clone(), "null"]);
            (d.key.to_owned(), schema)
        })
        .collect();
    json_schema(
        serde_json::json!({"type": "object", "properties": properties,
        "additionalProperties": false}),
    )
}

/// Body of `PUT /api/groups/{id}`: every field optional.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateGroup {
    /// See [`CreateGroup`].
    #[schema(pattern = "^[a-z0-9_-]{1,100}$")]
    pub name: Option<String>,
    /// See [`CreateGroup`].
    pub display_name: Option<String>,
    /// See [`CreateGroup`].
    pub description: Option<String>,
    /// Ignored: a group's type cannot change.
    #[schema(schema_with = group_type_schema)]
    pub group_type: Option<String>,
    /// See [`CreateGroup`].
    #[schema(schema_with = upstreams_schema)]
    pub upstreams: Option<Value>,
    /// See [`CreateGroup`].
    #[schema(schema_with = channel_type_schema)]
    pub channel_type: Option<String>,
    /// See [`CreateGroup`].
    pub sort: Option<i32>,
    /// See [`CreateGroup`] (only a non-empty value changes it).
    pub test_model: Option<String>,
    /// See [`CreateGroup`].
    #[schema(pattern = "^(/.*)?$")]
    pub validation_endpoint: Option<String>,
    /// See [`CreateGroup`].
    #[schema(schema_with = object_schema)]
    pub param_overrides: Option<Value>,
    /// See [`CreateGroup`].
    #[schema(schema_with = redirect_rules_schema)]
    pub model_redirect_rules: Option<Value>,
    /// See [`CreateGroup`].
    pub model_redirect_strict: Option<bool>,
    /// See [`CreateGroup`].
    #[schema(schema_with = group_config_schema)]
    pub config: Option<Value>,
    /// See [`CreateGroup`].
    #[schema(schema_with = header_rules_schema)]
    pub header_rules: Option<Value>,
    /// See [`CreateGroup`].
    pub proxy_keys: Option<String>,
    /// See [`CreateGroup`]: switches the group off or on.
    pub enabled: Option<bool>,
}

/// `GroupResponse` of GPT-Load.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GroupResponse {
    id: i64,
    name: String,
    endpoint: String,
    display_name: String,
    description: String,
    group_type: String,
    upstreams: Value,
    channel_type: String,
    sort: i32,
    test_model: String,
    validation_endpoint: String,
    param_overrides: Value,
    model_redirect_rules: Value,
    model_redirect_strict: bool,
    config: Value,
    header_rules: Value,
    proxy_keys: String,
    enabled: bool,
    last_validated_at: Option<String>,
    created_at: String,
    updated_at: String,
}

impl GroupResponse {
    /// The response for `group`, whose proxy endpoint is `{app_url}/proxy/{name}`.
    pub fn new(group: Group, app_url: &str) -> Self {
        Self {
            endpoint: format!("{}/proxy/{}", app_url.trim_end_matches('/'), group.name),
            id: group.id,
            display_name: group.display_name,
            description: group.description,
            group_type: group.group_type,
            upstreams: json_or(&group.upstreams, Value::Array(vec![])),
            channel_type: group.channel_type,
            sort: group.sort,
            test_model: group.test_model,
            validation_endpoint: group.validation_endpoint,
            param_overrides: json_or(&group.param_overrides, Value::Object(Default::default())),
            model_redirect_rules: json_or(
                &group.model_redirect_rules,
                Value::Object(Default::default()),
            ),
            model_redirect_strict: group.model_redirect_strict,
            config: masked_config(&group.config),
            header_rules: json_or(&group.header_rules, Value::Array(vec![])),
            proxy_keys: group.proxy_keys,
            enabled: group.enabled,
            last_validated_at: group.last_validated_at.map(rfc3339),
            created_at: rfc3339(group.created_at),
            updated_at: rfc3339(group.updated_at),
            name: group.name,
        }
    }
}

/// One entry of `PUT /api/groups/reorder`.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReorderItem {
    #[schema(minimum = 1)]
    pub(crate) id: i64,
    #[schema(minimum = 0, maximum = 2147483647)]
    pub(crate) sort: i64,
}

/// Body of `PUT /api/groups/reorder`.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Reorder {
    /// Each group once.
    #[schema(inline, min_items = 1)]
    pub(crate) items: Vec<ReorderItem>,
}

/// Body of `POST /api/groups/{id}/copy`.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CopyGroup {
    /// `none`, `valid_only` or `all` (the default).
    #[serde(default)]
    #[schema(pattern = "^(|none|valid_only|all)$")]
    pub(crate) copy_keys: String,
}

/// One member to add.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewMember {
    #[schema(minimum = 1)]
    pub(crate) group_id: i64,
    #[schema(minimum = 0, maximum = 1000)]
    pub(crate) weight: i64,
}

/// Body of `POST /api/groups/{id}/sub-groups`.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddMembers {
    #[schema(inline, min_items = 1)]
    pub(crate) sub_groups: Vec<NewMember>,
}

/// Body of the weight update.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Weight {
    #[schema(minimum = 0, maximum = 1000)]
    pub(crate) weight: i64,
}
