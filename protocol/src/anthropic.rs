//! Anthropic Messages (`POST /v1/messages`): its request, answer and error decoded into the
//! canonical model and encoded from it. `max_tokens` is required there: a request without one is
//! sent with `DEFAULT_MAX_TOKENS` (raised above the thinking budget when thinking is on, as
//! Anthropic requires).

use serde_json::{Map, Value, json};

use crate::ConvertError;
use crate::canonical::{
    ChatRequest, ChatResponse, ErrorBody, ErrorKind, FinishReason, Image, Message, Part, Reasoning,
    ResponseFormat, Role, Tool, ToolCall, ToolChoice, ToolResult, Usage,
};
use crate::json_reading::{
    array, join, object, only_known, optional_bool, optional_f64, optional_text, optional_u32,
    parse_object, required_text, text,
};

/// The protocol's name in messages.
pub const NAME: &str = "Anthropic Messages";

/// `max_tokens` sent when the client named none.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// Decodes a Messages request.
pub fn decode_request(body: &[u8]) -> Result<ChatRequest, ConvertError> {
    let map = parse_object(body)?;
    for key in map.keys() {
        match key.as_str() {
            "model" | "messages" | "system" | "max_tokens" | "temperature" | "top_p" | "top_k"
            | "stop_sequences" | "stream" | "tools" | "tool_choice" | "thinking" | "metadata"
            | "service_tier" => {}
            "container" | "mcp_servers" | "context_management" => {
                return Err(ConvertError::unsupported(key.clone()));
            }
            other => return Err(ConvertError::malformed(format!("{other}: unknown field"))),
        }
    }
    let mut request = ChatRequest {
        model: required_text(&map, "model", "")?.to_owned(),
        max_tokens: Some(
            optional_u32(&map, "max_tokens")?
                .ok_or_else(|| ConvertError::malformed("max_tokens: is required"))?,
        ),
        temperature: optional_f64(&map, "temperature")?,
        top_p: optional_f64(&map, "top_p")?,
        top_k: optional_u32(&map, "top_k")?,
        stream: optional_bool(&map, "stream")?.unwrap_or(false),
        ..ChatRequest::default()
    };
    if let Some(stops) = map.get("stop_sequences").filter(|v| !v.is_null()) {
        request.stop = array(stops, "stop_sequences")?
            .iter()
            .enumerate()
            .map(|(i, s)| text(s, &format!("stop_sequences[{i}]")).map(str::to_owned))
            .collect::<Result<_, _>>()?;
    }
    match map.get("system") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => request.system.push(s.clone()),
        Some(v) => {
            for (i, block) in array(v, "system")?.iter().enumerate() {
                let path = format!("system[{i}]");
                let block = object(block, &path)?;
                only_known(
                    block,
                    &["type", "text", "cache_control", "citations"],
                    &path,
                )?;
                request
                    .system
                    .push(required_text(block, "text", &path)?.to_owned());
            }
        }
    }
    if let Some(metadata) = map.get("metadata").filter(|v| !v.is_null()) {
        let metadata = object(metadata, "metadata")?;
        only_known(metadata, &["user_id"], "metadata")?;
        request.user = optional_text(metadata, "user_id", "metadata")?.map(str::to_owned);
    }
    if let Some(thinking) = map.get("thinking").filter(|v| !v.is_null()) {
        let thinking = object(thinking, "thinking")?;
        if required_text(thinking, "type", "thinking")? == "enabled" {
            let budget = optional_u32(thinking, "budget_tokens")?
                .ok_or_else(|| ConvertError::malformed("thinking.budget_tokens: is required"))?;
            request.reasoning = Some(Reasoning::Budget(budget));
        }
    }
    if let Some(tools) = map.get("tools").filter(|v| !v.is_null()) {
        request.tools = decode_tools(tools)?;
    }
    if let Some(choice) = map.get("tool_choice").filter(|v| !v.is_null()) {
        let choice = object(choice, "tool_choice")?;
        request.tool_choice = Some(match required_text(choice, "type", "tool_choice")? {
            "auto" => ToolChoice::Auto,
            "any" => ToolChoice::Required,
            "none" => ToolChoice::None,
            "tool" => ToolChoice::Named(required_text(choice, "name", "tool_choice")?.to_owned()),
            other => {
                return Err(ConvertError::malformed(format!(
                    "tool_choice.type: must be auto, any, tool or none, got {other:?}"
                )));
            }
        });
        if optional_bool(choice, "disable_parallel_tool_use")? == Some(true) {
            request.parallel_tool_calls = Some(false);
        }
    }
    let messages = map
        .get("messages")
        .ok_or_else(|| ConvertError::malformed("messages: is required"))?;
    for (i, message) in array(messages, "messages")?.iter().enumerate() {
        let path = format!("messages[{i}]");
        let message = object(message, &path)?;
        only_known(message, &["role", "content"], &path)?;
        let role = match required_text(message, "role", &path)? {
            "user" => Role::User,
            "assistant" => Role::Assistant,
            other => {
                return Err(ConvertError::malformed(format!(
                    "{path}.role: must be user or assistant, got {other:?}"
                )));
            }
        };
        let parts = decode_blocks(message.get("content"), &join(&path, "content"))?;
        request.messages.push(Message { role, parts });
    }
    Ok(request)
}

fn decode_tools(tools: &Value) -> Result<Vec<Tool>, ConvertError> {
    array(tools, "tools")?
        .iter()
        .enumerate()
        .map(|(i, tool)| {
            let path = format!("tools[{i}]");
            let map = object(tool, &path)?;
            match map.get("type").and_then(Value::as_str) {
                None | Some("custom") => {}
                Some(other) => return Err(ConvertError::unsupported(format!("{other} tools"))),
            }
            only_known(
                map,
                &[
                    "type",
                    "name",
                    "description",
                    "input_schema",
                    "cache_control",
                ],
                &path,
            )?;
            Ok(Tool {
                name: required_text(map, "name", &path)?.to_owned(),
                description: optional_text(map, "description", &path)?.map(str::to_owned),
                parameters: map.get("input_schema").cloned().ok_or_else(|| {
                    ConvertError::malformed(format!("{path}.input_schema: is required"))
                })?,
            })
        })
        .collect()
}

/// A message's `content`: a string or an array of content blocks.
fn decode_blocks(content: Option<&Value>, path: &str) -> Result<Vec<Part>, ConvertError> {
    let blocks = match content {
        None | Some(Value::Null) => {
            return Err(ConvertError::malformed(format!("{path}: is required")));
        }
        Some(Value::String(s)) => return Ok(vec![Part::Text(s.clone())]),
        Some(v) => array(v, path)?,
    };
    blocks
        .iter()
        .enumerate()
        .map(|(i, block)| decode_block(block, &format!("{path}[{i}]")))
        .collect()
}

fn decode_block(block: &Value, path: &str) -> Result<Part, ConvertError> {
    let map = object(block, path)?;
    match required_text(map, "type", path)? {
        "text" => {
            only_known(map, &["type", "text", "cache_control", "citations"], path)?;
            Ok(Part::Text(required_text(map, "text", path)?.to_owned()))
        }
        "image" => {
            only_known(map, &["type", "source", "cache_control"], path)?;
            let source_path = join(path, "source");
            let source = object(map.get("source").unwrap_or(&Value::Null), &source_path)?;
            Ok(Part::Image(
                match required_text(source, "type", &source_path)? {
                    "base64" => Image::Base64 {
                        media_type: required_text(source, "media_type", &source_path)?.to_owned(),
                        data: required_text(source, "data", &source_path)?.to_owned(),
                    },
                    "url" => Image::Url(required_text(source, "url", &source_path)?.to_owned()),
                    other => {
                        return Err(ConvertError::unsupported(format!("{other} image sources")));
                    }
                },
            ))
        }
        "tool_use" => {
            only_known(map, &["type", "id", "name", "input", "cache_control"], path)?;
            Ok(Part::ToolCall(ToolCall {
                id: required_text(map, "id", path)?.to_owned(),
                name: required_text(map, "name", path)?.to_owned(),
                arguments: map
                    .get("input")
                    .map_or_else(|| "{}".to_owned(), Value::to_string),
            }))
        }
        "tool_result" => {
            only_known(
                map,
                &[
                    "type",
                    "tool_use_id",
                    "content",
                    "is_error",
                    "cache_control",
                ],
                path,
            )?;
            let content = match map.get("content") {
                None | Some(Value::Null) => Vec::new(),
                content => decode_blocks(content, &join(path, "content"))?,
            };
            Ok(Part::ToolResult(ToolResult {
                call_id: required_text(map, "tool_use_id", path)?.to_owned(),
                content,
                is_error: optional_bool(map, "is_error")?.unwrap_or(false),
            }))
        }
        "thinking" => {
            only_known(map, &["type", "thinking", "signature"], path)?;
            Ok(Part::Thinking {
                text: required_text(map, "thinking", path)?.to_owned(),
                signature: optional_text(map, "signature", path)?.map(str::to_owned),
            })
        }
        other => Err(ConvertError::unsupported(format!("{other} content blocks"))),
    }
}

/// Encodes a request for a Messages upstream.
pub fn encode_request(request: &ChatRequest) -> Result<Value, ConvertError> {
    let mut body = Map::new();
    body.insert("model".into(), json!(request.model));
    let budget = request.reasoning.as_ref().map(Reasoning::budget);
    let mut max_tokens = request.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
    if let Some(budget) = budget {
        if max_tokens <= budget {
            max_tokens = budget.saturating_add(DEFAULT_MAX_TOKENS);
        }
        body.insert(
            "thinking".into(),
            json!({"type": "enabled", "budget_tokens": budget}),
        );
    }
    body.insert("max_tokens".into(), json!(max_tokens));
    if !request.system.is_empty() {
        body.insert("system".into(), json!(request.system.join("\n\n")));
    }
    let mut messages = Vec::with_capacity(request.messages.len());
    for message in &request.messages {
        messages.push(json!({
            "role": match message.role { Role::User => "user", Role::Assistant => "assistant" },
            "content": message.parts.iter().map(encode_block).collect::<Vec<_>>(),
        }));
    }
    body.insert("messages".into(), Value::Array(messages));
    if let Some(t) = request.temperature {
        if !(0.0..=1.0).contains(&t) {
            return Err(ConvertError::unsupported_by("temperature above 1", NAME));
        }
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = request.top_p {
        body.insert("top_p".into(), json!(p));
    }
    if let Some(k) = request.top_k {
        body.insert("top_k".into(), json!(k));
    }
    if !request.stop.is_empty() {
        body.insert("stop_sequences".into(), json!(request.stop));
    }
    if request.stream {
        body.insert("stream".into(), json!(true));
    }
    if !request.tools.is_empty() {
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|t| {
                let mut tool = json!({"name": t.name, "input_schema": t.parameters});
                if let Some(d) = &t.description {
                    tool["description"] = json!(d);
                }
                tool
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    let mut choice = match &request.tool_choice {
        None if request.parallel_tool_calls == Some(false) && !request.tools.is_empty() => {
            Some(json!({"type": "auto"}))
        }
        None => None,
        Some(ToolChoice::Auto) => Some(json!({"type": "auto"})),
        Some(ToolChoice::None) => Some(json!({"type": "none"})),
        Some(ToolChoice::Required) => Some(json!({"type": "any"})),
        Some(ToolChoice::Named(name)) => Some(json!({"type": "tool", "name": name})),
    };
    if let Some(choice) = &mut choice {
        if request.parallel_tool_calls == Some(false) && choice["type"] != "none" {
            choice["disable_parallel_tool_use"] = json!(true);
        }
        body.insert("tool_choice".into(), choice.clone());
    }
    match &request.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(_) => return Err(ConvertError::unsupported_by("response_format", NAME)),
    }
    if let Some(user) = &request.user {
        body.insert("metadata".into(), json!({"user_id": user}));
    }
    Ok(Value::Object(body))
}

fn encode_block(part: &Part) -> Value {
    match part {
        Part::Text(t) => json!({"type": "text", "text": t}),
        Part::Image(Image::Base64 { media_type, data }) => json!({"type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data}}),
        Part::Image(Image::Url(url)) => {
            json!({"type": "image", "source": {"type": "url", "url": url}})
        }
        Part::ToolCall(call) => json!({"type": "tool_use", "id": call.id, "name": call.name,
            "input": serde_json::from_str::<Value>(&call.arguments).unwrap_or_else(|_| json!({}))}),
        Part::ToolResult(result) => {
            let mut block = json!({"type": "tool_result", "tool_use_id": result.call_id,
                "content": result.content.iter().map(encode_block).collect::<Vec<_>>()});
            if result.is_error {
                block["is_error"] = json!(true);
            }
            block
        }
        Part::Thinking { text, signature } => {
            json!({"type": "thinking", "thinking": text, "signature": signature.clone().unwrap_or_default()})
        }
    }
}

/// Decodes a Messages answer.
pub fn decode_response(body: &[u8]) -> Result<ChatResponse, ConvertError> {
    let map = parse_object(body)?;
    let content = map.get("content");
    let mut parts = Vec::new();
    if let Some(blocks) = content.filter(|v| !v.is_null()) {
        for (i, block) in array(blocks, "content")?.iter().enumerate() {
            let path = format!("content[{i}]");
            match object(block, &path)?.get("type").and_then(Value::as_str) {
                // Redacted thinking cannot be shown to another protocol's client.
                Some("redacted_thinking") => {}
                _ => parts.push(decode_block(block, &path)?),
            }
        }
    }
    let finish = match map.get("stop_reason").and_then(Value::as_str) {
        Some("max_tokens") => FinishReason::Length,
        Some("tool_use") => FinishReason::ToolCalls,
        Some("stop_sequence") => {
            FinishReason::StopSequence(optional_text(&map, "stop_sequence", "")?.map(str::to_owned))
        }
        Some("refusal") => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    };
    Ok(ChatResponse {
        id: optional_text(&map, "id", "")?
            .unwrap_or_default()
            .to_owned(),
        model: optional_text(&map, "model", "")?
            .unwrap_or_default()
            .to_owned(),
        parts,
        finish,
        usage: map.get("usage").map(decode_usage).unwrap_or_default(),
    })
}

/// Messages' `usage`: its `input_tokens` leave out the cached ones, the canonical count holds
/// them.
pub fn decode_usage(usage: &Value) -> Usage {
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    let read = n(&usage["cache_read_input_tokens"]);
    let written = n(&usage["cache_creation_input_tokens"]);
    Usage {
        input_tokens: n(&usage["input_tokens"]) + read + written,
        output_tokens: n(&usage["output_tokens"]),
        cached_input_tokens: read,
        cache_write_tokens: written,
    }
}

/// Messages' `usage` of `usage`.
pub fn encode_usage(usage: &Usage) -> Value {
    json!({
        "input_tokens": usage
            .input_tokens
            .saturating_sub(usage.cached_input_tokens + usage.cache_write_tokens),
        "output_tokens": usage.output_tokens,
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "cache_read_input_tokens": usage.cached_input_tokens,
    })
}

/// Messages' word for why the model stopped.
pub fn stop_reason(finish: &FinishReason) -> &'static str {
    match finish {
        FinishReason::Stop => "end_turn",
        FinishReason::StopSequence(_) => "stop_sequence",
        FinishReason::Length => "max_tokens",
        FinishReason::ToolCalls => "tool_use",
        FinishReason::ContentFilter => "refusal",
    }
}

/// Encodes an answer for a Messages client.
pub fn encode_response(response: &ChatResponse) -> Value {
    let stop_sequence = match &response.finish {
        FinishReason::StopSequence(Some(s)) => json!(s),
        _ => Value::Null,
    };
    json!({
        "id": response.id,
        "type": "message",
        "role": "assistant",
        "model": response.model,
        "content": response.parts.iter().map(encode_block).collect::<Vec<_>>(),
        "stop_reason": stop_reason(&response.finish),
        "stop_sequence": stop_sequence,
        "usage": encode_usage(&response.usage),
    })
}

/// An error answer of a Messages upstream.
pub fn decode_error(status: u16, body: &[u8]) -> ErrorBody {
    ErrorBody {
        kind: ErrorKind::for_status(status),
        message: crate::json_reading::error_message(body),
    }
}

/// An error in Messages' shape.
pub fn encode_error(error: &ErrorBody) -> Value {
    let kind = match error.kind {
        ErrorKind::InvalidRequest => "invalid_request_error",
        ErrorKind::Authentication => "authentication_error",
        ErrorKind::Permission => "permission_error",
        ErrorKind::NotFound => "not_found_error",
        ErrorKind::RateLimit => "rate_limit_error",
        ErrorKind::Overloaded => "overloaded_error",
        ErrorKind::Server => "api_error",
    };
    json!({"type": "error", "error": {"type": kind, "message": error.message}})
}
