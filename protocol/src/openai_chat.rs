//! OpenAI Chat Completions (`POST /v1/chat/completions`): its request, answer and error decoded
//! into the canonical model and encoded from it. Fields the model cannot carry are refused when
//! they would change the answer (`n` above 1, `logprobs`, penalties, audio…) and dropped when
//! they only describe the call (`store`, `metadata`, `service_tier`, `prompt_cache_key`…).

use serde_json::{Map, Value, json};

use crate::ConvertError;
use crate::canonical::{
    ChatRequest, ChatResponse, Effort, ErrorBody, ErrorKind, FinishReason, Image, Message, Part,
    Reasoning, ResponseFormat, Role, Tool, ToolCall, ToolChoice, ToolResult, Usage,
};
use crate::json_reading::{
    array, join, object, only_known, optional_bool, optional_f64, optional_text, optional_u32,
    parse_object, required_text, text,
};

/// The protocol's name in messages.
pub const NAME: &str = "OpenAI Chat Completions";

/// Fields that only describe the call: accepted, not carried to another protocol.
const DESCRIPTIVE: &[&str] = &[
    "store",
    "metadata",
    "service_tier",
    "prompt_cache_key",
    "safety_identifier",
    "stream_options",
];

/// Fields the canonical model carries.
const CARRIED: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "stop",
    "stream",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "reasoning_effort",
    "user",
];

/// Fields another protocol cannot honour: refused unless they have their neutral value.
const UNCARRIED: &[&str] = &[
    "n",
    "logprobs",
    "top_logprobs",
    "logit_bias",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "audio",
    "modalities",
    "prediction",
    "web_search_options",
    "functions",
    "function_call",
    "verbosity",
];

/// Decodes a Chat Completions request.
pub fn decode_request(body: &[u8]) -> Result<ChatRequest, ConvertError> {
    let map = parse_object(body)?;
    for (key, value) in &map {
        if CARRIED.contains(&key.as_str()) || DESCRIPTIVE.contains(&key.as_str()) {
            continue;
        }
        if !UNCARRIED.contains(&key.as_str()) {
            return Err(ConvertError::malformed(format!("{key}: unknown field")));
        }
        let neutral = match (key.as_str(), value) {
            (_, Value::Null) => true,
            ("n", v) => v.as_u64() == Some(1),
            ("logprobs", v) => *v == Value::Bool(false),
            ("presence_penalty" | "frequency_penalty", v) => v.as_f64() == Some(0.0),
            _ => false,
        };
        if !neutral {
            return Err(ConvertError::unsupported(key.clone()));
        }
    }
    let mut request = ChatRequest {
        model: required_text(&map, "model", "")?.to_owned(),
        max_tokens: match optional_u32(&map, "max_completion_tokens")? {
            Some(n) => Some(n),
            None => optional_u32(&map, "max_tokens")?,
        },
        temperature: optional_f64(&map, "temperature")?,
        top_p: optional_f64(&map, "top_p")?,
        stream: optional_bool(&map, "stream")?.unwrap_or(false),
        parallel_tool_calls: optional_bool(&map, "parallel_tool_calls")?,
        user: optional_text(&map, "user", "")?.map(str::to_owned),
        ..ChatRequest::default()
    };
    request.stop = match map.get("stop") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(v) => array(v, "stop")?
            .iter()
            .enumerate()
            .map(|(i, s)| text(s, &format!("stop[{i}]")).map(str::to_owned))
            .collect::<Result<_, _>>()?,
    };
    if let Some(word) = optional_text(&map, "reasoning_effort", "")? {
        let effort = Effort::parse(word).ok_or_else(|| {
            ConvertError::malformed(format!(
                "reasoning_effort: must be minimal, low, medium or high, got {word:?}"
            ))
        })?;
        request.reasoning = Some(Reasoning::Effort(effort));
    }
    if let Some(tools) = map.get("tools").filter(|v| !v.is_null()) {
        request.tools = decode_tools(tools)?;
    }
    if let Some(choice) = map.get("tool_choice").filter(|v| !v.is_null()) {
        request.tool_choice = Some(decode_tool_choice(choice)?);
    }
    if let Some(format) = map.get("response_format").filter(|v| !v.is_null()) {
        request.response_format = Some(decode_response_format(format)?);
    }
    let messages = map
        .get("messages")
        .ok_or_else(|| ConvertError::malformed("messages: is required"))?;
    for (i, message) in array(messages, "messages")?.iter().enumerate() {
        decode_message(message, &format!("messages[{i}]"), &mut request)?;
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
            only_known(map, &["type", "function"], &path)?;
            match map.get("type").and_then(Value::as_str) {
                Some("function") => {}
                Some(other) => {
                    return Err(ConvertError::unsupported(format!("{other} tools")));
                }
                None => return Err(ConvertError::malformed(format!("{path}.type: is required"))),
            }
            let function_path = join(&path, "function");
            let function = object(map.get("function").unwrap_or(&Value::Null), &function_path)?;
            only_known(
                function,
                &["name", "description", "parameters", "strict"],
                &function_path,
            )?;
            Ok(Tool {
                name: required_text(function, "name", &function_path)?.to_owned(),
                description: optional_text(function, "description", &function_path)?
                    .map(str::to_owned),
                parameters: function
                    .get("parameters")
                    .cloned()
                    .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
            })
        })
        .collect()
}

fn decode_tool_choice(choice: &Value) -> Result<ToolChoice, ConvertError> {
    match choice {
        Value::String(word) => match word.as_str() {
            "auto" => Ok(ToolChoice::Auto),
            "none" => Ok(ToolChoice::None),
            "required" => Ok(ToolChoice::Required),
            other => Err(ConvertError::malformed(format!(
                "tool_choice: must be auto, none, required or a function, got {other:?}"
            ))),
        },
        Value::Object(map) => {
            let function = object(
                map.get("function").unwrap_or(&Value::Null),
                "tool_choice.function",
            )?;
            Ok(ToolChoice::Named(
                required_text(function, "name", "tool_choice.function")?.to_owned(),
            ))
        }
        _ => Err(ConvertError::malformed(
            "tool_choice: must be a string or an object",
        )),
    }
}

fn decode_response_format(format: &Value) -> Result<ResponseFormat, ConvertError> {
    let map = object(format, "response_format")?;
    match required_text(map, "type", "response_format")? {
        "text" => Ok(ResponseFormat::Text),
        "json_object" => Ok(ResponseFormat::JsonObject),
        "json_schema" => {
            let schema = object(
                map.get("json_schema").unwrap_or(&Value::Null),
                "response_format.json_schema",
            )?;
            Ok(ResponseFormat::JsonSchema {
                name: required_text(schema, "name", "response_format.json_schema")?.to_owned(),
                schema: schema.get("schema").cloned().unwrap_or_else(|| json!({})),
                strict: optional_bool(schema, "strict")?,
            })
        }
        other => Err(ConvertError::malformed(format!(
            "response_format.type: must be text, json_object or json_schema, got {other:?}"
        ))),
    }
}

/// One message into the request: system text, a user or assistant turn, or a tool result (which
/// joins the user turn that follows the assistant's calls).
fn decode_message(
    message: &Value,
    path: &str,
    request: &mut ChatRequest,
) -> Result<(), ConvertError> {
    let map = object(message, path)?;
    let role = required_text(map, "role", path)?;
    match role {
        "system" | "developer" => {
            only_known(map, &["role", "content", "name"], path)?;
            let parts = decode_content(map.get("content"), &join(path, "content"), false)?;
            for part in parts {
                if let Part::Text(t) = part {
                    request.system.push(t);
                }
            }
        }
        "user" => {
            only_known(map, &["role", "content", "name"], path)?;
            let parts = decode_content(map.get("content"), &join(path, "content"), true)?;
            push_turn(request, Role::User, parts);
        }
        "assistant" => {
            only_known(
                map,
                &[
                    "role",
                    "content",
                    "name",
                    "tool_calls",
                    "refusal",
                    "reasoning_content",
                ],
                path,
            )?;
            let mut parts = Vec::new();
            if let Some(reasoning) = optional_text(map, "reasoning_content", path)? {
                parts.push(Part::Thinking {
                    text: reasoning.to_owned(),
                    signature: None,
                });
            }
            match map.get("content") {
                None | Some(Value::Null) => {}
                content => {
                    parts.extend(decode_content(content, &join(path, "content"), false)?);
                }
            }
            if let Some(calls) = map.get("tool_calls").filter(|v| !v.is_null()) {
                for (i, call) in array(calls, &join(path, "tool_calls"))?.iter().enumerate() {
                    parts.push(Part::ToolCall(decode_tool_call(
                        call,
                        &format!("{path}.tool_calls[{i}]"),
                    )?));
                }
            }
            push_turn(request, Role::Assistant, parts);
        }
        "tool" => {
            only_known(map, &["role", "content", "tool_call_id"], path)?;
            let call_id = required_text(map, "tool_call_id", path)?.to_owned();
            let content = decode_content(map.get("content"), &join(path, "content"), false)?;
            push_turn(
                request,
                Role::User,
                vec![Part::ToolResult(ToolResult {
                    call_id,
                    content,
                    is_error: false,
                })],
            );
        }
        other => {
            return Err(ConvertError::malformed(format!(
                "{path}.role: must be system, developer, user, assistant or tool, got {other:?}"
            )));
        }
    }
    Ok(())
}

/// Appends `parts` as a turn, joining the previous turn of the same role (several tool results,
/// or a tool result and the user's next words, make one user turn).
fn push_turn(request: &mut ChatRequest, role: Role, parts: Vec<Part>) {
    match request.messages.last_mut() {
        Some(last) if last.role == role => last.parts.extend(parts),
        _ => request.messages.push(Message { role, parts }),
    }
}

fn decode_tool_call(call: &Value, path: &str) -> Result<ToolCall, ConvertError> {
    let map = object(call, path)?;
    only_known(map, &["id", "type", "function"], path)?;
    let function_path = join(path, "function");
    let function = object(map.get("function").unwrap_or(&Value::Null), &function_path)?;
    Ok(ToolCall {
        id: required_text(map, "id", path)?.to_owned(),
        name: required_text(function, "name", &function_path)?.to_owned(),
        arguments: required_text(function, "arguments", &function_path)?.to_owned(),
    })
}

/// A message's `content`: a string or an array of parts (`images` says whether image parts may
/// appear there).
fn decode_content(
    content: Option<&Value>,
    path: &str,
    images: bool,
) -> Result<Vec<Part>, ConvertError> {
    let parts = match content {
        None | Some(Value::Null) => {
            return Err(ConvertError::malformed(format!("{path}: is required")));
        }
        Some(Value::String(s)) => return Ok(vec![Part::Text(s.clone())]),
        Some(v) => array(v, path)?,
    };
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            let path = format!("{path}[{i}]");
            let map = object(part, &path)?;
            match required_text(map, "type", &path)? {
                "text" => {
                    only_known(map, &["type", "text"], &path)?;
                    Ok(Part::Text(required_text(map, "text", &path)?.to_owned()))
                }
                "image_url" if images => {
                    only_known(map, &["type", "image_url"], &path)?;
                    let image_path = join(&path, "image_url");
                    let image = object(map.get("image_url").unwrap_or(&Value::Null), &image_path)?;
                    only_known(image, &["url", "detail"], &image_path)?;
                    Ok(Part::Image(image_from_url(required_text(
                        image,
                        "url",
                        &image_path,
                    )?)))
                }
                "refusal" => {
                    only_known(map, &["type", "refusal"], &path)?;
                    Ok(Part::Text(required_text(map, "refusal", &path)?.to_owned()))
                }
                other => Err(ConvertError::unsupported(format!("{other} content parts"))),
            }
        })
        .collect()
}

/// An `image_url`: a `data:` URL becomes inline bytes, anything else stays a URL.
fn image_from_url(url: &str) -> Image {
    if let Some(rest) = url.strip_prefix("data:")
        && let Some((media_type, data)) = rest.split_once(";base64,")
    {
        return Image::Base64 {
            media_type: media_type.to_owned(),
            data: data.to_owned(),
        };
    }
    Image::Url(url.to_owned())
}

/// Encodes a request for a Chat Completions upstream.
pub fn encode_request(request: &ChatRequest) -> Result<Value, ConvertError> {
    if request.top_k.is_some() {
        return Err(ConvertError::unsupported_by("top_k", NAME));
    }
    let mut messages: Vec<Value> = request
        .system
        .iter()
        .map(|s| json!({"role": "system", "content": s}))
        .collect();
    for message in &request.messages {
        encode_message(message, &mut messages);
    }
    let mut body = Map::new();
    body.insert("model".into(), json!(request.model));
    body.insert("messages".into(), Value::Array(messages));
    if let Some(n) = request.max_tokens {
        body.insert("max_completion_tokens".into(), json!(n));
    }
    if let Some(t) = request.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = request.top_p {
        body.insert("top_p".into(), json!(p));
    }
    if !request.stop.is_empty() {
        body.insert("stop".into(), json!(request.stop));
    }
    if request.stream {
        body.insert("stream".into(), json!(true));
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    if !request.tools.is_empty() {
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|t| {
                let mut function = json!({"name": t.name, "parameters": t.parameters});
                if let Some(d) = &t.description {
                    function["description"] = json!(d);
                }
                json!({"type": "function", "function": function})
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(choice) = &request.tool_choice {
        body.insert(
            "tool_choice".into(),
            match choice {
                ToolChoice::Auto => json!("auto"),
                ToolChoice::None => json!("none"),
                ToolChoice::Required => json!("required"),
                ToolChoice::Named(name) => json!({"type": "function", "function": {"name": name}}),
            },
        );
    }
    if let Some(parallel) = request.parallel_tool_calls {
        body.insert("parallel_tool_calls".into(), json!(parallel));
    }
    if let Some(format) = &request.response_format {
        body.insert(
            "response_format".into(),
            match format {
                ResponseFormat::Text => json!({"type": "text"}),
                ResponseFormat::JsonObject => json!({"type": "json_object"}),
                ResponseFormat::JsonSchema {
                    name,
                    schema,
                    strict,
                } => {
                    let mut spec = json!({"name": name, "schema": schema});
                    if let Some(s) = strict {
                        spec["strict"] = json!(s);
                    }
                    json!({"type": "json_schema", "json_schema": spec})
                }
            },
        );
    }
    if let Some(reasoning) = &request.reasoning {
        body.insert(
            "reasoning_effort".into(),
            json!(reasoning.effort().as_str()),
        );
    }
    if let Some(user) = &request.user {
        body.insert("user".into(), json!(user));
    }
    Ok(Value::Object(body))
}

/// One canonical turn as Chat Completions messages: a user turn's tool results become `tool`
/// messages (before its other parts), an assistant turn's calls its `tool_calls`. Thinking is not
/// sent back (Chat Completions takes none).
fn encode_message(message: &Message, out: &mut Vec<Value>) {
    let mut content: Vec<Value> = Vec::new();
    let mut calls: Vec<Value> = Vec::new();
    for part in &message.parts {
        match part {
            Part::Text(t) => content.push(json!({"type": "text", "text": t})),
            Part::Image(image) => {
                content.push(json!({"type": "image_url", "image_url": {"url": image_url(image)}}));
            }
            Part::ToolCall(call) => calls.push(json!({
                "id": call.id, "type": "function",
                "function": {"name": call.name, "arguments": call.arguments}})),
            Part::ToolResult(result) => out.push(json!({
                "role": "tool", "tool_call_id": result.call_id,
                "content": result.text()})),
            Part::Thinking { .. } => {}
        }
    }
    let role = match message.role {
        Role::User => "user",
        Role::Assistant => "assistant",
    };
    if content.is_empty() && calls.is_empty() {
        return;
    }
    let mut value = json!({"role": role});
    value["content"] = match (message.role, content.as_slice()) {
        (_, []) => Value::Null,
        (_, [one]) if one["type"] == "text" => one["text"].clone(),
        (Role::Assistant, parts) => json!(
            parts
                .iter()
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join("")
        ),
        (Role::User, _) => Value::Array(content),
    };
    if !calls.is_empty() {
        value["tool_calls"] = Value::Array(calls);
    }
    out.push(value);
}

fn image_url(image: &Image) -> String {
    match image {
        Image::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
        Image::Url(url) => url.clone(),
    }
}

/// Decodes a Chat Completions answer (its first choice).
pub fn decode_response(body: &[u8]) -> Result<ChatResponse, ConvertError> {
    let map = parse_object(body)?;
    let choices = array(map.get("choices").unwrap_or(&Value::Null), "choices")?;
    let choice = object(
        choices
            .first()
            .ok_or_else(|| ConvertError::malformed("choices: is empty"))?,
        "choices[0]",
    )?;
    let message = object(
        choice.get("message").unwrap_or(&Value::Null),
        "choices[0].message",
    )?;
    let mut parts = Vec::new();
    if let Some(reasoning) = optional_text(message, "reasoning_content", "")? {
        parts.push(Part::Thinking {
            text: reasoning.to_owned(),
            signature: None,
        });
    }
    if let Some(content) = optional_text(message, "content", "choices[0].message")? {
        parts.push(Part::Text(content.to_owned()));
    }
    if let Some(refusal) = optional_text(message, "refusal", "choices[0].message")? {
        parts.push(Part::Text(refusal.to_owned()));
    }
    if let Some(calls) = message.get("tool_calls").filter(|v| !v.is_null()) {
        for (i, call) in array(calls, "choices[0].message.tool_calls")?
            .iter()
            .enumerate()
        {
            parts.push(Part::ToolCall(decode_tool_call(
                call,
                &format!("choices[0].message.tool_calls[{i}]"),
            )?));
        }
    }
    let finish = match choice.get("finish_reason").and_then(Value::as_str) {
        Some("length") => FinishReason::Length,
        Some("tool_calls" | "function_call") => FinishReason::ToolCalls,
        Some("content_filter") => FinishReason::ContentFilter,
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

/// Chat Completions' `usage`.
pub fn decode_usage(usage: &Value) -> Usage {
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    Usage {
        input_tokens: n(&usage["prompt_tokens"]),
        output_tokens: n(&usage["completion_tokens"]),
        cached_input_tokens: n(&usage["prompt_tokens_details"]["cached_tokens"]),
        cache_write_tokens: 0,
    }
}

/// Chat Completions' `usage` of `usage`.
pub fn encode_usage(usage: &Usage) -> Value {
    json!({
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_input_tokens},
    })
}

/// Encodes an answer for a Chat Completions client. `created` is the Unix time to report.
pub fn encode_response(response: &ChatResponse, created: u64) -> Value {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    for part in &response.parts {
        match part {
            Part::Text(t) => text.push_str(t),
            Part::Thinking { text: t, .. } => reasoning.push_str(t),
            Part::ToolCall(call) => calls.push(json!({
                "id": call.id, "type": "function",
                "function": {"name": call.name, "arguments": call.arguments}})),
            Part::Image(_) | Part::ToolResult(_) => {}
        }
    }
    let mut message = json!({"role": "assistant", "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { json!(text) }});
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    if !reasoning.is_empty() {
        message["reasoning_content"] = json!(reasoning);
    }
    json!({
        "id": response.id,
        "object": "chat.completion",
        "created": created,
        "model": response.model,
        "choices": [{"index": 0, "message": message, "logprobs": null,
                     "finish_reason": finish_word(&response.finish)}],
        "usage": encode_usage(&response.usage),
    })
}

/// Chat Completions' word for why the model stopped.
pub fn finish_word(finish: &FinishReason) -> &'static str {
    match finish {
        FinishReason::Stop | FinishReason::StopSequence(_) => "stop",
        FinishReason::Length => "length",
        FinishReason::ToolCalls => "tool_calls",
        FinishReason::ContentFilter => "content_filter",
    }
}

/// An error answer of a Chat Completions upstream.
pub fn decode_error(status: u16, body: &[u8]) -> ErrorBody {
    ErrorBody {
        kind: ErrorKind::for_status(status),
        message: crate::json_reading::error_message(body),
    }
}

/// An error in Chat Completions' shape.
pub fn encode_error(error: &ErrorBody) -> Value {
    let kind = match error.kind {
        ErrorKind::InvalidRequest | ErrorKind::NotFound => "invalid_request_error",
        ErrorKind::Authentication => "authentication_error",
        ErrorKind::Permission => "permission_error",
        ErrorKind::RateLimit => "rate_limit_error",
        ErrorKind::Overloaded | ErrorKind::Server => "server_error",
    };
    json!({"error": {"message": error.message, "type": kind, "param": null, "code": null}})
}
