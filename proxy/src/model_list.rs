//! Model-list interception (as GPT-Load's): a successful `GET …/models` answer of a group with
//! model redirect rules lists the models clients may ask for, i.e. the rules' source names. In
//! strict mode only those; otherwise the upstream's list plus the missing ones. Unlike GPT-Load,
//! only a 2xx answer is rewritten (an upstream error stays an error), the status is kept, the
//! added models come in name order, and a body that is not the expected JSON is passed on as it
//! came.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

/// True for the model-list routes of the four channels.
pub fn is_model_list_request(method: &http::Method, rest: &str) -> bool {
    method == http::Method::GET
        && (rest.ends_with("/v1/models")
            || rest.ends_with("/v1beta/models")
            || rest.ends_with("/v1beta/openai/models")
            || rest.ends_with("/v1beta/openai/v1/models"))
}

/// The rewritten list, or `None` when the body is not a model list we understand.
/// `first_page` is false for a Gemini request with a `pageToken` (later pages are not merged).
pub fn rewrite(
    body: &[u8],
    redirects: &HashMap<String, String>,
    strict: bool,
    first_page: bool,
) -> Option<Vec<u8>> {
    let mut doc: Map<String, Value> = serde_json::from_slice(body).ok()?;
    let mut sources: Vec<&str> = redirects.keys().map(String::as_str).collect();
    sources.sort_unstable();
    if let Some(Value::Array(models)) = doc.get_mut("models") {
        // Gemini native: {"models":[{"name":"models/…"}], "nextPageToken"}
        let configured = sources.iter().map(|src| {
            json!({
                "name": gemini_name(src),
                "displayName": src,
                "supportedGenerationMethods": ["generateContent"],
            })
        });
        if strict {
            *models = configured.collect();
            doc.remove("nextPageToken");
        } else if first_page {
            merge(models, configured, "name", gemini_name);
        }
    } else if let Some(Value::Array(data)) = doc.get_mut("data") {
        // OpenAI / Anthropic: {"data":[{"id":…}]}
        let configured = sources
            .iter()
            .map(|src| json!({"id": src, "object": "model", "created": 0, "owned_by": "system"}));
        if strict {
            *data = configured.collect();
        } else {
            merge(data, configured, "id", str::to_owned);
        }
    } else {
        return None;
    }
    serde_json::to_vec(&doc).ok()
}

/// Appends the configured entries whose `field` (normalised by `normal`) is not in `list` yet.
fn merge(
    list: &mut Vec<Value>,
    configured: impl Iterator<Item = Value>,
    field: &str,
    normal: fn(&str) -> String,
) {
    let present: Vec<String> = list
        .iter()
        .filter_map(|m| m.get(field).and_then(Value::as_str))
        .map(normal)
        .collect();
    let missing: Vec<Value> = configured
        .filter(|m| {
            m.get(field)
                .and_then(Value::as_str)
                .is_some_and(|v| !present.iter().any(|p| p == v))
        })
        .collect();
    list.extend(missing);
}

/// Gemini's model name: `models/<id>`.
fn gemini_name(id: &str) -> String {
    if id.starts_with("models/") {
        id.to_owned()
    } else {
        format!("models/{id}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> HashMap<String, String> {
        HashMap::from([
            ("gpt-fast".to_owned(), "gpt-4o-mini".to_owned()),
            ("gpt-4o".to_owned(), "gpt-4o-2024-11-20".to_owned()),
        ])
    }

    fn ids(body: &[u8], list: &str, field: &str) -> Vec<String> {
        let v: Value = serde_json::from_slice(body).unwrap();
        v[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m[field].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn routes() {
        let get = http::Method::GET;
        assert!(is_model_list_request(&get, "/v1/models"));
        assert!(is_model_list_request(&get, "/v1beta/models"));
        assert!(is_model_list_request(&get, "/v1beta/openai/models"));
        assert!(!is_model_list_request(&http::Method::POST, "/v1/models"));
        assert!(!is_model_list_request(&get, "/v1/models/gpt-4o"));
    }

    #[test]
    fn openai_loose_merges_and_strict_replaces() {
        let up = br#"{"object":"list","data":[{"id":"gpt-4o","object":"model"},{"id":"o1","object":"model"}]}"#;
        let loose = rewrite(up, &rules(), false, true).unwrap();
        assert_eq!(ids(&loose, "data", "id"), ["gpt-4o", "o1", "gpt-fast"]);
        let strict = rewrite(up, &rules(), true, true).unwrap();
        assert_eq!(ids(&strict, "data", "id"), ["gpt-4o", "gpt-fast"]);
        let v: Value = serde_json::from_slice(&strict).unwrap();
        assert_eq!(v["object"], "list");
        assert_eq!(v["data"][1]["owned_by"], "system");
    }

    #[test]
    fn gemini_native_pages() {
        let up = br#"{"models":[{"name":"models/gemini-2.0-flash"},{"name":"models/gpt-4o"}],"nextPageToken":"t"}"#;
        let loose = rewrite(up, &rules(), false, true).unwrap();
        assert_eq!(
            ids(&loose, "models", "name"),
            [
                "models/gemini-2.0-flash",
                "models/gpt-4o",
                "models/gpt-fast"
            ]
        );
        let later = rewrite(up, &rules(), false, false).unwrap();
        assert_eq!(ids(&later, "models", "name").len(), 2);
        let strict = rewrite(up, &rules(), true, true).unwrap();
        let v: Value = serde_json::from_slice(&strict).unwrap();
        assert!(v.get("nextPageToken").is_none());
        assert_eq!(v["models"][1]["displayName"], "gpt-fast");
    }

    #[test]
    fn unknown_bodies_are_left_alone() {
        assert!(rewrite(b"not json", &rules(), true, true).is_none());
        assert!(rewrite(br#"{"items":[]}"#, &rules(), true, true).is_none());
    }
}
