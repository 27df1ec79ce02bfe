//! The validation of group input: names, channels, upstreams, header and redirect rules, setting
//! overrides, and how a `config` is sealed, opened and shown.

use std::collections::BTreeMap;

use gateway_core::ChannelType;
use gateway_core::outbound_proxy;
use gateway_core::settings_catalogue::GroupConfig;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiError;

/// `text` parsed as JSON, or `fallback`.
pub(crate) fn json_or(text: &str, fallback: Value) -> Value {
    serde_json::from_str(text).unwrap_or(fallback)
}

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
