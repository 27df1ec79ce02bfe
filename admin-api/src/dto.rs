//! Request and response bodies of the API (never the diesel rows themselves), with GPT-Load's
//! JSON field names, and the validation of group input.

use std::collections::BTreeMap;

use chrono::{NaiveDateTime, SecondsFormat};
use gateway_core::ChannelType;
use gateway_core::key_crypto::KeyCipher;
use gateway_core::outbound_proxy;
use gateway_core::settings_catalogue::{self, GroupConfig, SettingKind};
use gateway_schema::models::{ApiKey, Group, RequestLog};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiError;

/// RFC 3339 in UTC, as the API prints every time.
pub fn rfc3339(t: NaiveDateTime) -> String {
    t.and_utc().to_rfc3339_opts(SecondsFormat::Millis, true)
}

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

/// The JSON Schema of one setting's value: its type and bounds. Text with a grammar of its own
/// (status-code lists, URLs) is checked by the handler and described in the description.
pub fn setting_schema(def: &settings_catalogue::SettingDef) -> Value {
    let mut schema = match def.kind {
        SettingKind::Int { min } => serde_json::json!({"type": "integer", "minimum": min}),
        SettingKind::Bool => serde_json::json!({"type": "boolean"}),
        SettingKind::String { required: true } => {
            serde_json::json!({"type": "string", "pattern": "\\S"})
        }
        SettingKind::String { required: false } => serde_json::json!({"type": "string"}),
    };
    schema["description"] = def.description.into();
    schema
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

fn json_or(text: &str, fallback: Value) -> Value {
    serde_json::from_str(text).unwrap_or(fallback)
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

/// A key as `GET /api/keys` returns it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyResponse {
    id: i64,
    key_value: String,
    key_hash: String,
    group_id: i64,
    status: String,
    notes: String,
    request_count: i64,
    failure_count: i64,
    last_used_at: Option<String>,
    created_at: String,
    updated_at: String,
    /// End of a rate-limit cool-down while `status` is `cooling`.
    cooldown_until: Option<String>,
}

impl KeyResponse {
    /// The answer for a stored key (decrypted, or GPT-Load's `failed-to-decrypt`).
    pub fn new(k: ApiKey, cipher: &KeyCipher) -> Self {
        Self {
            id: k.id,
            key_value: crate::key_storage::shown(cipher, k.key_value),
            key_hash: k.key_hash,
            group_id: k.group_id,
            status: k.status,
            notes: k.notes,
            request_count: k.request_count,
            failure_count: k.failure_count,
            last_used_at: k.last_used_at.map(rfc3339),
            created_at: rfc3339(k.created_at),
            updated_at: rfc3339(k.updated_at),
            cooldown_until: k.cooldown_until.map(rfc3339),
        }
    }
}

/// A request log as `GET /api/logs` returns it (GPT-Load's fields, then ours: `retry_index`,
/// `ttfb_ms` and the token counts).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LogResponse {
    id: String,
    timestamp: String,
    group_id: i64,
    group_name: String,
    parent_group_id: i64,
    parent_group_name: String,
    key_value: String,
    key_hash: String,
    model: String,
    is_success: bool,
    source_ip: String,
    status_code: i32,
    request_path: String,
    duration_ms: i64,
    error_message: String,
    user_agent: String,
    /// `retry` (another attempt followed) or `final`.
    request_type: String,
    upstream_addr: String,
    is_stream: bool,
    request_body: String,
    /// 0 for a request's first attempt, 1 for the first retry, …
    retry_index: i32,
    /// Milliseconds from sending to the upstream's response header.
    ttfb_ms: i64,
    input_tokens: i64,
    output_tokens: i64,
    total_tokens: i64,
}

impl LogResponse {
    /// The answer for a stored log row; `live` is its key as `api_keys` stores it, while it
    /// exists (the key is shown decrypted, or `failed-to-decrypt`; a deleted key masked).
    pub fn new(r: RequestLog, cipher: &KeyCipher, live: Option<String>) -> Self {
        Self {
            id: r.id,
            timestamp: rfc3339(r.timestamp),
            group_id: r.group_id,
            group_name: r.group_name,
            parent_group_id: r.parent_group_id,
            parent_group_name: r.parent_group_name,
            key_value: crate::key_storage::logged(cipher, live, &r.key_value),
            key_hash: r.key_hash,
            model: r.model,
            is_success: r.is_success,
            source_ip: r.source_ip,
            status_code: r.status_code,
            request_path: r.request_path,
            duration_ms: r.duration,
            error_message: r.error_message,
            user_agent: r.user_agent,
            request_type: r.request_type,
            upstream_addr: r.upstream_addr,
            is_stream: r.is_stream,
            request_body: r.request_body,
            retry_index: r.retry_index,
            ttfb_ms: r.ttfb_ms,
            input_tokens: r.input_tokens,
            output_tokens: r.output_tokens,
            total_tokens: r.total_tokens,
        }
    }
}

// ---- validation --------------------------------------------------------------------------

fn invalid(msg: impl Into<String>) -> ApiError {
    ApiError::Validation(msg.into())
}

/// `^[a-z0-9_-]{1,100}$`.
pub fn validate_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    let ok = !name.is_empty()
        && name.len() <= 100
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(name.to_owned())
    } else {
        Err(invalid(
            "name: invalid group name: use 1-100 lowercase letters, digits, '-' or '_'",
        ))
    }
}

/// A registered channel type.
pub fn validate_channel(channel: &str) -> Result<ChannelType, ApiError> {
    channel
        .trim()
        .parse::<ChannelType>()
        .map_err(|e| invalid(format!("channel_type: {e}")))
}

/// `[{"url": "http(s)://…", "weight": ≥0}]` with at least one weight above 0; returned
/// normalised as JSON text.
pub fn validate_upstreams(value: &Value) -> Result<String, ApiError> {
    #[derive(Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    struct Entry {
        url: String,
        #[serde(default)]
        weight: i64,
    }
    let bad = |m: &str| invalid(format!("upstreams: invalid upstreams configuration: {m}"));
    let mut entries: Vec<Entry> =
        serde_json::from_value(value.clone()).map_err(|e| bad(&e.to_string()))?;
    if entries.is_empty() {
        return Err(bad("at least one upstream is required"));
    }
    for e in &mut entries {
        e.url = e.url.trim().to_owned();
        if !(e.url.starts_with("http://") || e.url.starts_with("https://")) {
            return Err(bad(&format!(
                "url {:?} must start with http:// or https://",
                e.url
            )));
        }
        if url::Url::parse(&e.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .is_none()
        {
            return Err(bad(&format!("url {:?} is not a valid URL", e.url)));
        }
        if e.weight < 0 {
            return Err(bad("weight must be 0 or more"));
        }
    }
    if entries.iter().all(|e| e.weight == 0) {
        return Err(bad("at least one upstream needs a weight above 0"));
    }
    serde_json::to_string(&entries).map_err(|e| bad(&e.to_string()))
}

/// Empty, or a path starting with `/` and containing no `://`.
pub fn validate_validation_endpoint(v: &str) -> Result<String, ApiError> {
    let v = v.trim();
    if v.is_empty() || (v.starts_with('/') && !v.contains("://")) {
        Ok(v.to_owned())
    } else {
        Err(invalid(
            "validation_endpoint: must be empty or a path starting with '/'",
        ))
    }
}

/// A JSON object (null → `{}`), as text.
pub fn validate_object(field: &str, v: &Value) -> Result<String, ApiError> {
    match v {
        Value::Null => Ok("{}".to_owned()),
        Value::Object(_) => Ok(v.to_string()),
        _ => Err(invalid(format!("{field}: must be a JSON object"))),
    }
}

/// Source model → target model, both non-empty strings.
pub fn validate_redirect_rules(v: &Value) -> Result<String, ApiError> {
    if v.is_null() {
        return Ok("{}".to_owned());
    }
    let map: BTreeMap<String, Value> = serde_json::from_value(v.clone())
        .map_err(|_| invalid("model_redirect_rules: must be a JSON object"))?;
    let mut clean = BTreeMap::new();
    for (from, to) in map {
        let to = to.as_str().map(str::trim).unwrap_or("");
        if from.trim().is_empty() || to.is_empty() {
            return Err(invalid(
                "model_redirect_rules: source and target models must be non-empty strings",
            ));
        }
        clean.insert(from.trim().to_owned(), to.to_owned());
    }
    Ok(serde_json::to_string(&clean).unwrap_or_else(|_| "{}".to_owned()))
}

/// Group setting overrides, normalised (unknown keys and bad values rejected, nulls dropped).
pub fn validate_config(v: &Value, stored: &str) -> Result<String, ApiError> {
    if v.is_null() {
        return Ok("{}".to_owned());
    }
    let mut config = GroupConfig::validate(v).map_err(|e| {
        let detail = if e.key == "config" {
            e.reason
        } else {
            e.to_string()
        };
        invalid(format!("config: invalid config format: {detail}"))
    })?;
    if let Some(sent) = &config.proxy_url {
        // The client shows `proxy_url` masked; a masked password sent back keeps the stored one.
        let stored = GroupConfig::from_stored(stored)
            .ok()
            .and_then(|c| c.proxy_url)
            .unwrap_or_default();
        config.proxy_url = Some(
            outbound_proxy::unmask_setting(sent, &stored)
                .map_err(|e| invalid(format!("config: proxy_url: {e}")))?,
        );
    }
    serde_json::to_string(&config).map_err(|e| invalid(e.to_string()))
}

/// A validated `config` (JSON text) with its `proxy_url` password sealed under
/// `ENCRYPTION_KEY`, as it is stored.
pub fn sealed_config(config: String, cipher: &gateway_core::key_crypto::KeyCipher) -> String {
    let Ok(mut value) = serde_json::from_str::<Value>(&config) else {
        return config;
    };
    match value.get_mut("proxy_url") {
        Some(url) => {
            if let Some(text) = url.as_str() {
                *url = Value::String(outbound_proxy::seal_setting(text, cipher));
            }
            value.to_string()
        }
        None => config,
    }
}

/// A stored `config` with its `proxy_url` password opened (to compare it with a plain one).
pub fn opened_config(stored: &str, cipher: &gateway_core::key_crypto::KeyCipher) -> String {
    let Ok(mut value) = serde_json::from_str::<Value>(stored) else {
        return stored.to_owned();
    };
    match value.get_mut("proxy_url") {
        Some(url) => {
            if let Some(Ok(Some(opened))) = url
                .as_str()
                .map(|text| outbound_proxy::open_setting(text, cipher))
            {
                *url = Value::String(opened.expose());
            }
            value.to_string()
        }
        None => stored.to_owned(),
    }
}

/// Refuses rate-limit settings in an aggregate's `config` as sent: they would do nothing there.
/// (`null` values are dropped by [`validate_config`], so they are no setting.)
pub fn reject_aggregate_rate_limits(config: &Value) -> Result<(), ApiError> {
    match gateway_core::settings_catalogue::RATE_LIMIT_KEYS
        .iter()
        .find(|k| config.get(**k).is_some_and(|v| !v.is_null()))
    {
        Some(key) => Err(invalid(format!(
            "config: {key}: aggregate groups have no rate limits of their own; set them on the sub-groups"
        ))),
        None => Ok(()),
    }
}

/// A group's `config` as the API shows it: `proxy_url`'s password masked.
pub fn masked_config(stored: &str) -> Value {
    let mut config = json_or(stored, Value::Object(Default::default()));
    if let Some(url) = config.get_mut("proxy_url")
        && let Some(text) = url.as_str()
    {
        *url = Value::String(outbound_proxy::mask_setting(text));
    }
    config
}

/// `[{key, value, action}]`: keys trimmed and canonicalised (`X-Foo-Bar`), empty keys dropped,
/// duplicates rejected, `action` one of `set` / `remove`.
pub fn validate_header_rules(v: &Value) -> Result<String, ApiError> {
    #[derive(Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    struct Rule {
        key: String,
        #[serde(default)]
        value: String,
        action: String,
    }
    if v.is_null() {
        return Ok("[]".to_owned());
    }
    let rules: Vec<Rule> =
        serde_json::from_value(v.clone()).map_err(|e| invalid(format!("header_rules: {e}")))?;
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for mut r in rules {
        let key = canonical_header(r.key.trim());
        if key.is_empty() {
            continue;
        }
        if http::HeaderName::from_bytes(key.as_bytes()).is_err() {
            return Err(invalid(format!(
                "header_rules: invalid header name {key:?}"
            )));
        }
        if !seen.insert(key.to_ascii_lowercase()) {
            return Err(invalid(format!("header_rules: duplicate header: {key}")));
        }
        if r.action != "set" && r.action != "remove" {
            return Err(invalid(format!(
                "header_rules: action for {key} must be 'set' or 'remove'"
            )));
        }
        r.key = key;
        out.push(r);
    }
    serde_json::to_string(&out).map_err(|e| invalid(e.to_string()))
}

fn canonical_header(key: &str) -> String {
    key.split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => {
                    first.to_ascii_uppercase().to_string() + &chars.as_str().to_ascii_lowercase()
                }
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names() {
        assert!(validate_name("my-group_1").is_ok());
        assert!(validate_name("My").is_err());
        assert!(validate_name("").is_err());
        assert!(validate_name(&"a".repeat(101)).is_err());
    }

    #[test]
    fn upstreams() {
        assert!(
            validate_upstreams(&json!([{"url": "https://api.openai.com", "weight": 1}])).is_ok()
        );
        let e = validate_upstreams(&json!([{"url": "ftp://x", "weight": 1}])).unwrap_err();
        assert!(e.to_string().starts_with("upstreams:"), "{e}");
        assert!(validate_upstreams(&json!([])).is_err());
        assert!(validate_upstreams(&json!([{"url": "http://a", "weight": 0}])).is_err());
        assert!(validate_upstreams(&json!([{"url": "http://a", "weight": -1}])).is_err());
        assert!(validate_upstreams(&json!("x")).is_err());
    }

    #[test]
    fn header_rules_are_canonical_and_unique() {
        let v =
            validate_header_rules(&json!([{"key": " x-foo-bar ", "value": "1", "action": "set"}]))
                .unwrap();
        assert!(v.contains("X-Foo-Bar"));
        let e = validate_header_rules(&json!([
            {"key": "x-a", "value": "1", "action": "set"},
            {"key": "X-A", "value": "2", "action": "set"}
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("duplicate header: X-A"));
    }

    #[test]
    fn config_and_redirects() {
        assert!(validate_config(&json!({"max_retries": 2}), "").is_ok());
        assert!(
            validate_config(&json!({"nope": 2}), "")
                .unwrap_err()
                .to_string()
                .contains("unknown config field: 'nope'")
        );
        assert!(validate_redirect_rules(&json!({"a": ""})).is_err());
        assert_eq!(
            validate_redirect_rules(&json!({"a": "b"})).unwrap(),
            r#"{"a":"b"}"#
        );
        assert!(validate_validation_endpoint("http://x").is_err());
    }
}
