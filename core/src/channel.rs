//! Channel definitions: how each provider takes its key, which client credentials are stripped,
//! the default validation endpoint, stream detection and the shape of the errors we produce.
//! Pure data and functions: no I/O.

use std::fmt;
use std::str::FromStr;

/// The four channel types of GPT-Load, in the stable order `/api/channel-types` returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ChannelType {
    /// OpenAI chat completions and every OpenAI-compatible API.
    #[serde(rename = "openai")]
    OpenAi,
    /// OpenAI Responses API.
    #[serde(rename = "openai-response")]
    OpenAiResponse,
    /// Anthropic Messages API.
    #[serde(rename = "anthropic")]
    Anthropic,
    /// Google Gemini (native and its OpenAI-compatible surface).
    #[serde(rename = "gemini")]
    Gemini,
}

/// Where the upstream key goes on the request to the provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialPlacement {
    /// `Authorization: Bearer <key>`.
    Bearer,
    /// `x-api-key: <key>` (Anthropic).
    XApiKey,
    /// Query parameter `key=<key>` (Gemini native).
    QueryKey,
}

/// Request headers that carry the *client's* credential and never reach the provider.
pub const CLIENT_CREDENTIAL_HEADERS: [&str; 3] = ["authorization", "x-api-key", "x-goog-api-key"];

/// The `anthropic-version` sent when the client did not choose one.
pub const ANTHROPIC_DEFAULT_VERSION: &str = "2023-06-01";

/// What the gateway reads from a client request before forwarding it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestFacts {
    /// The client asked for a stream.
    pub stream: bool,
    /// The model the request names ("" when none).
    pub model: String,
}

/// A channel name that is not one of the four.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid channel type {0:?}; supported types: openai, openai-response, anthropic, gemini")]
pub struct UnknownChannel(pub String);

impl ChannelType {
    /// Every channel, in the order the API lists them.
    pub const ALL: [ChannelType; 4] = [
        ChannelType::OpenAi,
        ChannelType::OpenAiResponse,
        ChannelType::Anthropic,
        ChannelType::Gemini,
    ];

    /// The name used in the database and the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            ChannelType::OpenAi => "openai",
            ChannelType::OpenAiResponse => "openai-response",
            ChannelType::Anthropic => "anthropic",
            ChannelType::Gemini => "gemini",
        }
    }

    /// The path key validation posts to when the group sets no `validation_endpoint`.
    pub const fn default_validation_endpoint(self) -> &'static str {
        match self {
            ChannelType::OpenAi => "/v1/chat/completions",
            ChannelType::OpenAiResponse => "/v1/responses",
            ChannelType::Anthropic => "/v1/messages",
            ChannelType::Gemini => "/v1beta/models",
        }
    }

    /// How the key travels for a request to `upstream_path`. Gemini's OpenAI-compatible surface
    /// (`…/v1beta/openai/…`) takes a Bearer token; its native API takes `?key=`.
    pub fn credential_placement(self, upstream_path: &str) -> CredentialPlacement {
        match self {
            ChannelType::OpenAi | ChannelType::OpenAiResponse => CredentialPlacement::Bearer,
            ChannelType::Anthropic => CredentialPlacement::XApiKey,
            ChannelType::Gemini if upstream_path.contains("v1beta/openai") => {
                CredentialPlacement::Bearer
            }
            ChannelType::Gemini => CredentialPlacement::QueryKey,
        }
    }

    /// GPT-Load's stream detection (`Accept: text/event-stream`, `?stream=true`, a JSON body with
    /// `"stream": true`, and for Gemini a path ending in `:streamGenerateContent`) and the model
    /// the request names (GPT-Load's extractor: for Gemini the path segment after `models/` up to `:`,
    /// else the body's `model`), with the body parsed once.
    pub fn inspect_request(
        self,
        path: &str,
        accept: Option<&str>,
        query: Option<&str>,
        body: &[u8],
    ) -> RequestFacts {
        #[derive(serde::Deserialize)]
        struct BodyFacts {
            stream: Option<bool>,
            model: Option<serde_json::Value>,
        }
        let parsed = (body.first() == Some(&b'{'))
            .then(|| serde_json::from_slice::<BodyFacts>(body).ok())
            .flatten();
        let gemini_model = (self == ChannelType::Gemini)
            .then(|| {
                let after = path.split_once("models/")?.1;
                let name = after.split([':', '/']).next()?;
                (!name.is_empty()).then(|| name.to_owned())
            })
            .flatten();
        let stream = (self == ChannelType::Gemini && path.ends_with(":streamGenerateContent"))
            || accept.is_some_and(|a| a.contains("text/event-stream"))
            || query.is_some_and(|q| q.split('&').any(|kv| kv == "stream=true"))
            || parsed.as_ref().is_some_and(|p| p.stream == Some(true));
        RequestFacts {
            stream,
            model: gemini_model
                .or_else(|| {
                    parsed.and_then(|p| p.model.and_then(|m| m.as_str().map(str::to_owned)))
                })
                .unwrap_or_default(),
        }
    }

    /// An error body shaped like this provider's own errors, so SDKs show it properly.
    /// `code` is a short machine-readable reason such as `invalid_proxy_key`.
    pub fn error_body(self, status: u16, code: &str, message: &str) -> serde_json::Value {
        match self {
            ChannelType::OpenAi | ChannelType::OpenAiResponse => serde_json::json!({
                "error": {"message": message, "type": openai_error_type(status), "code": code}
            }),
            ChannelType::Anthropic => serde_json::json!({
                "type": "error",
                "error": {"type": anthropic_error_type(status), "message": message}
            }),
            ChannelType::Gemini => serde_json::json!({
                "error": {"code": status, "message": message, "status": google_rpc_status(status)}
            }),
        }
    }
}

fn openai_error_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        _ => "server_error",
    }
}

fn anthropic_error_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}

fn google_rpc_status(status: u16) -> &'static str {
    match status {
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        400..=499 => "INVALID_ARGUMENT",
        503 | 502 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "INTERNAL",
    }
}

impl fmt::Display for ChannelType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ChannelType {
    type Err = UnknownChannel;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ChannelType::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownChannel(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_model_from_gemini_path_or_body() {
        let g = ChannelType::Gemini.inspect_request(
            "v1beta/models/gemini-2.5-pro:streamGenerateContent",
            None,
            None,
            br#"{"model":"ignored"}"#,
        );
        assert_eq!((g.stream, g.model.as_str()), (true, "gemini-2.5-pro"));
        let o = ChannelType::OpenAi.inspect_request(
            "v1/chat/completions",
            None,
            None,
            br#"{"model":"gpt-4o","stream":false}"#,
        );
        assert_eq!((o.stream, o.model.as_str()), (false, "gpt-4o"));
        assert_eq!(
            ChannelType::Anthropic.inspect_request("v1/messages", None, None, b"not json"),
            RequestFacts::default()
        );
    }

    #[test]
    fn names_round_trip_in_stable_order() {
        let names: Vec<&str> = ChannelType::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names, ["openai", "openai-response", "anthropic", "gemini"]);
        for c in ChannelType::ALL {
            assert_eq!(c.as_str().parse::<ChannelType>().unwrap(), c);
        }
        assert!("azure".parse::<ChannelType>().is_err());
    }

    #[test]
    fn gemini_openai_surface_takes_bearer() {
        let g = ChannelType::Gemini;
        assert_eq!(
            g.credential_placement("/v1beta/models/x:generateContent"),
            CredentialPlacement::QueryKey
        );
        assert_eq!(
            g.credential_placement("/v1beta/openai/chat/completions"),
            CredentialPlacement::Bearer
        );
    }

    #[test]
    fn detects_streams() {
        let stream = |c: ChannelType, path, accept, query, body: &[u8]| {
            c.inspect_request(path, accept, query, body).stream
        };
        let o = ChannelType::OpenAi;
        assert!(stream(
            o,
            "/v1/chat/completions",
            None,
            None,
            br#"{"stream":true}"#
        ));
        assert!(!stream(
            o,
            "/v1/chat/completions",
            None,
            None,
            br#"{"stream":"yes"}"#
        ));
        assert!(stream(o, "/x", Some("text/event-stream"), None, b""));
        assert!(stream(o, "/x", None, Some("a=1&stream=true"), b""));
        assert!(stream(
            ChannelType::Gemini,
            "/v1beta/models/g:streamGenerateContent",
            None,
            None,
            b""
        ));
    }

    #[test]
    fn error_bodies_follow_the_provider() {
        let a = ChannelType::Anthropic.error_body(401, "invalid_proxy_key", "bad key");
        assert_eq!(a["type"], "error");
        assert_eq!(a["error"]["type"], "authentication_error");
        let g = ChannelType::Gemini.error_body(503, "no_active_keys", "none");
        assert_eq!(g["error"]["status"], "UNAVAILABLE");
        assert_eq!(g["error"]["code"], 503);
        let o = ChannelType::OpenAi.error_body(404, "group_not_found", "x");
        assert_eq!(o["error"]["code"], "group_not_found");
    }
}
