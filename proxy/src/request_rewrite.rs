//! Rewriting of the client's request by group rules before it goes upstream: `param_overrides`
//! (top-level JSON fields replaced), model redirect rules with strict mode (in the JSON body, or
//! in the path for Gemini's native API), and header rules applied after key injection.

use std::collections::HashMap;

use bytes::Bytes;
use gateway_core::ChannelType;
pub use gateway_core::header_variables::HeaderVariables;
use http::HeaderName;
use serde_json::{Map, Value};

/// What a group does to the requests it forwards.
#[derive(Debug, Default)]
pub struct RewriteRules {
    /// Top-level body fields set on every JSON request.
    pub param_overrides: Map<String, Value>,
    /// Requested model → model sent upstream.
    pub model_redirects: HashMap<String, String>,
    /// Reject models without a redirect rule (only when there are rules).
    pub strict: bool,
    /// Header rules, in order.
    pub header_rules: Vec<HeaderRule>,
}

/// One header rule of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderRule {
    /// Header to change.
    pub name: HeaderName,
    /// `set` (with this value, variables substituted) or `remove`.
    pub action: HeaderAction,
}

/// What a header rule does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderAction {
    /// Replace the header with this value (after variable substitution).
    Set(String),
    /// Delete the header.
    Remove,
}

/// The request after rewriting.
#[derive(Debug, PartialEq, Eq)]
pub struct Rewritten {
    /// The body to send.
    pub body: Bytes,
    /// The path after `/proxy/{group}` to send (changed only by a Gemini model redirect).
    pub rest: String,
}

impl RewriteRules {
    /// Builds the rules from a group's stored JSON columns; bad entries are reported.
    pub fn from_json(
        param_overrides: &str,
        redirects: &str,
        strict: bool,
        header_rules: &str,
    ) -> Result<Self, String> {
        let param_overrides =
            parse_or_empty::<Map<String, Value>>(param_overrides, "param_overrides")?;
        let model_redirects =
            parse_or_empty::<HashMap<String, String>>(redirects, "model_redirect_rules")?;
        #[derive(serde::Deserialize)]
        struct StoredRule {
            key: String,
            #[serde(default)]
            value: String,
            action: String,
        }
        let stored = parse_or_empty::<Vec<StoredRule>>(header_rules, "header_rules")?;
        let mut rules = Vec::with_capacity(stored.len());
        for r in stored {
            let name = HeaderName::from_bytes(r.key.trim().as_bytes())
                .map_err(|_| format!("header_rules: invalid header {:?}", r.key))?;
            let action = match r.action.as_str() {
                "set" => HeaderAction::Set(r.value),
                "remove" => HeaderAction::Remove,
                other => return Err(format!("header_rules: unknown action {other:?} for {name}")),
            };
            rules.push(HeaderRule { name, action });
        }
        Ok(Self {
            param_overrides,
            model_redirects,
            strict,
            header_rules: rules,
        })
    }

    /// Applies `param_overrides`, then the model redirect. `Err(model)` when strict mode rejects
    /// the requested model.
    pub fn apply(
        &self,
        channel: ChannelType,
        rest: &str,
        body: Bytes,
    ) -> Result<Rewritten, String> {
        let native_gemini = channel == ChannelType::Gemini && !rest.contains("v1beta/openai");
        let needs_json = !self.param_overrides.is_empty()
            || (!self.model_redirects.is_empty() && !native_gemini);
        let mut json: Option<Map<String, Value>> = if needs_json && body.first() == Some(&b'{') {
            serde_json::from_slice(&body).ok()
        } else {
            None
        };
        let mut changed = false;
        if let Some(obj) = json.as_mut().filter(|_| !self.param_overrides.is_empty()) {
            for (k, v) in &self.param_overrides {
                obj.insert(k.clone(), v.clone());
            }
            changed = true;
        }
        let mut rest = rest.to_owned();
        if !self.model_redirects.is_empty() {
            if native_gemini {
                if let Some(new_rest) = self.redirect_gemini_path(&rest)? {
                    rest = new_rest;
                }
            } else if let Some(obj) = json.as_mut()
                && let Some(model) = obj.get("model").and_then(Value::as_str).map(str::to_owned)
            {
                match self.model_redirects.get(&model) {
                    Some(target) => {
                        obj.insert("model".to_owned(), Value::String(target.clone()));
                        changed = true;
                    }
                    None if self.strict => return Err(model),
                    None => {}
                }
            }
        }
        let body = match json {
            Some(obj) if changed => serde_json::to_vec(&obj).map(Bytes::from).unwrap_or(body),
            _ => body,
        };
        Ok(Rewritten { body, rest })
    }

    /// Gemini native: the path segment after the first `models` segment names the model
    /// (`models/gemini-pro:generateContent`).
    fn redirect_gemini_path(&self, rest: &str) -> Result<Option<String>, String> {
        let segments: Vec<&str> = rest.split('/').collect();
        let Some(i) = segments.iter().position(|s| *s == "models") else {
            return Ok(None);
        };
        let Some(segment) = segments.get(i + 1) else {
            return Ok(None);
        };
        let (model, suffix) = match segment.split_once(':') {
            Some((m, s)) => (m, Some(s)),
            None => (*segment, None),
        };
        let Some(target) = self.model_redirects.get(model) else {
            return if self.strict {
                Err(model.to_owned())
            } else {
                Ok(None)
            };
        };
        let new_segment = match suffix {
            Some(s) => format!("{target}:{s}"),
            None => target.clone(),
        };
        let mut out: Vec<String> = segments.iter().map(|s| (*s).to_owned()).collect();
        out[i + 1] = new_segment;
        Ok(Some(out.join("/")))
    }
}

fn parse_or_empty<T: serde::de::DeserializeOwned + Default>(
    text: &str,
    field: &str,
) -> Result<T, String> {
    let t = text.trim();
    if t.is_empty() || t == "null" {
        return Ok(T::default());
    }
    serde_json::from_str(t).map_err(|e| format!("{field}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(overrides: &str, redirects: &str, strict: bool) -> RewriteRules {
        RewriteRules::from_json(overrides, redirects, strict, "[]").unwrap()
    }

    #[test]
    fn overrides_replace_top_level_fields_and_keep_integers() {
        let r = rules(
            r#"{"temperature": 0.1, "max_tokens": 9007199254740993}"#,
            "{}",
            false,
        );
        let out = r
            .apply(
                ChannelType::OpenAi,
                "/v1/chat/completions",
                Bytes::from(r#"{"model":"m","temperature":1}"#),
            )
            .unwrap();
        let v: Value = serde_json::from_slice(&out.body).unwrap();
        assert_eq!(v["temperature"], 0.1);
        assert_eq!(v["max_tokens"].as_u64(), Some(9_007_199_254_740_993));
        assert_eq!(v["model"], "m");
        // Not JSON: passed through unchanged.
        let out = r
            .apply(ChannelType::OpenAi, "/x", Bytes::from_static(b"not json"))
            .unwrap();
        assert_eq!(out.body, Bytes::from_static(b"not json"));
    }

    #[test]
    fn redirects_in_body_and_strict_mode() {
        let r = rules("{}", r#"{"alias": "real-model"}"#, true);
        let out = r
            .apply(
                ChannelType::Anthropic,
                "/v1/messages",
                Bytes::from(r#"{"model":"alias"}"#),
            )
            .unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&out.body).unwrap()["model"],
            "real-model"
        );
        assert_eq!(
            r.apply(
                ChannelType::OpenAi,
                "/v1/chat",
                Bytes::from(r#"{"model":"other"}"#)
            ),
            Err("other".to_owned())
        );
        // Loose mode lets unknown models through untouched, byte for byte.
        let loose = rules("{}", r#"{"alias": "real-model"}"#, false);
        let body = Bytes::from(r#"{"model":"other",  "x":1}"#);
        assert_eq!(
            loose
                .apply(ChannelType::OpenAi, "/v1/chat", body.clone())
                .unwrap()
                .body,
            body
        );
        // Strict without rules does nothing.
        assert!(
            rules("{}", "{}", true)
                .apply(
                    ChannelType::OpenAi,
                    "/v1/chat",
                    Bytes::from(r#"{"model":"x"}"#)
                )
                .is_ok()
        );
    }

    #[test]
    fn gemini_native_redirects_the_path() {
        let r = rules("{}", r#"{"flash": "gemini-2.5-flash"}"#, true);
        let out = r
            .apply(
                ChannelType::Gemini,
                "/v1beta/models/flash:streamGenerateContent",
                Bytes::new(),
            )
            .unwrap();
        assert_eq!(
            out.rest,
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
        );
        assert_eq!(
            r.apply(
                ChannelType::Gemini,
                "/v1beta/models/pro:generateContent",
                Bytes::new()
            ),
            Err("pro".to_owned())
        );
        // Gemini's OpenAI surface uses the body.
        let out = r
            .apply(
                ChannelType::Gemini,
                "/v1beta/openai/chat/completions",
                Bytes::from(r#"{"model":"flash"}"#),
            )
            .unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&out.body).unwrap()["model"],
            "gemini-2.5-flash"
        );
    }

    #[test]
    fn header_variables() {
        let v = HeaderVariables {
            client_ip: "1.2.3.4",
            group_name: "g",
            api_key: "sk-x",
            now_ms: 1_700_000_000_123,
        };
        assert_eq!(
            v.substitute("${CLIENT_IP}|${GROUP_NAME}|${API_KEY}|${TIMESTAMP_S}|${OTHER}"),
            "1.2.3.4|g|sk-x|1700000000|${OTHER}"
        );
        let r = RewriteRules::from_json(
            "{}",
            "{}",
            false,
            r#"[{"key":"X-A","value":"1","action":"set"},{"key":"x-b","action":"remove"}]"#,
        )
        .unwrap();
        assert_eq!(r.header_rules.len(), 2);
        assert_eq!(r.header_rules[1].action, HeaderAction::Remove);
    }
}
