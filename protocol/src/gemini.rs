//! Gemini `generateContent` (`POST /v1beta/models/{model}:generateContent`): its request, answer
//! and error decoded into the canonical model and encoded from it. The model and whether the
//! answer streams are in Gemini's URL, not its body: the decoder is given them and the encoder
//! leaves them to the caller's URL. Gemini matches a function's result to its call by name; ids
//! are made up (`call_{n}`) where Gemini gives none.

use serde_json::{Map, Value, json};

use crate::ConvertError;
use crate::canonical::{
    ChatRequest, ChatResponse, ErrorBody, ErrorKind, FinishReason, Image, Message, Part, Reasoning,
    ResponseFormat, Role, Tool, ToolCall, ToolChoice, ToolResult, Usage,
};
use crate::json_reading::{array, join, object, only_known, optional_text, parse_object, text};

/// The protocol's name in messages.
pub const NAME: &str = "Gemini generateContent";

/// Decodes a `generateContent` request for `model` (from its URL).
pub fn decode_request(body: &[u8], model: &str, stream: bool) -> Result<ChatRequest, ConvertError> {
    let map = parse_object(body)?;
    for key in map.keys() {
        match key.as_str() {
            "contents" | "systemInstruction" | "system_instruction" | "tools" | "toolConfig"
            | "generationConfig" | "safetySettings" => {}
            "cachedContent" => return Err(ConvertError::unsupported(key.clone())),
            other => return Err(ConvertError::malformed(format!("{other}: unknown field"))),
        }
    }
    let mut request = ChatRequest {
        model: model.to_owned(),
        stream,
        ..ChatRequest::default()
    };
    if let Some(system) = map
        .get("systemInstruction")
        .or_else(|| map.get("system_instruction"))
    {
        for part in decode_parts(system, "systemInstruction", &mut Vec::new())? {
            if let Part::Text(t) = part {
                request.system.push(t);
            }
        }
    }
    if let Some(config) = map.get("generationConfig") {
        decode_generation_config(object(config, "generationConfig")?, &mut request)?;
    }
    if let Some(tools) = map.get("tools") {
        for (i, tool) in array(tools, "tools")?.iter().enumerate() {
            let path = format!("tools[{i}]");
            let tool = object(tool, &path)?;
            if let Some(key) = tool.keys().find(|k| k.as_str() != "functionDeclarations") {
                return Err(ConvertError::unsupported(format!("{key} tools")));
            }
            let declarations = tool.get("functionDeclarations").unwrap_or(&Value::Null);
            for (j, f) in array(declarations, &join(&path, "functionDeclarations"))?
                .iter()
                .enumerate()
            {
                let fpath = format!("{path}.functionDeclarations[{j}]");
                let f = object(f, &fpath)?;
                only_known(
                    f,
                    &["name", "description", "parameters", "parametersJsonSchema"],
                    &fpath,
                )?;
                request.tools.push(Tool {
                    name: crate::json_reading::required_text(f, "name", &fpath)?.to_owned(),
                    description: optional_text(f, "description", &fpath)?.map(str::to_owned),
                    parameters: f
                        .get("parametersJsonSchema")
                        .or_else(|| f.get("parameters"))
                        .cloned()
                        .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
                });
            }
        }
    }
    if let Some(config) = map.get("toolConfig") {
        let calling = &config["functionCallingConfig"];
        let names = calling["allowedFunctionNames"].as_array();
        request.tool_choice = match calling["mode"].as_str() {
            None | Some("AUTO") => None,
            Some("NONE") => Some(ToolChoice::None),
            Some("ANY") => match names.map(Vec::as_slice) {
                Some([one]) => Some(ToolChoice::Named(
                    text(one, "allowedFunctionNames[0]")?.to_owned(),
                )),
                _ => Some(ToolChoice::Required),
            },
            Some(other) => {
                return Err(ConvertError::unsupported(format!(
                    "functionCallingConfig.mode {other}"
                )));
            }
        };
    }
    let contents = map
        .get("contents")
        .ok_or_else(|| ConvertError::malformed("contents: is required"))?;
    let mut calls = Vec::new();
    for (i, content) in array(contents, "contents")?.iter().enumerate() {
        let path = format!("contents[{i}]");
        let role = match content["role"].as_str() {
            None | Some("user") => Role::User,
            Some("model") => Role::Assistant,
            Some(other) => {
                return Err(ConvertError::malformed(format!(
                    "{path}.role: must be user or model, got {other:?}"
                )));
            }
        };
        let parts = decode_parts(content, &path, &mut calls)?;
        request.messages.push(Message { role, parts });
    }
    Ok(request)
}

fn decode_generation_config(
    config: &Map<String, Value>,
    request: &mut ChatRequest,
) -> Result<(), ConvertError> {
    for (key, value) in config {
        let path = format!("generationConfig.{key}");
        let number = || {
            value
                .as_f64()
                .ok_or_else(|| ConvertError::malformed(format!("{path}: must be a number")))
        };
        let count = || {
            value
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| {
                    ConvertError::malformed(format!("{path}: must be a non-negative integer"))
                })
        };
        match key.as_str() {
            "temperature" => request.temperature = Some(number()?),
            "topP" => request.top_p = Some(number()?),
            "topK" => request.top_k = Some(count()?),
            "maxOutputTokens" => request.max_tokens = Some(count()?),
            "stopSequences" => {
                request.stop = array(value, &path)?
                    .iter()
                    .enumerate()
                    .map(|(i, s)| text(s, &format!("{path}[{i}]")).map(str::to_owned))
                    .collect::<Result<_, _>>()?;
            }
            "candidateCount" if value.as_u64() == Some(1) => {}
            "responseMimeType" => match value.as_str() {
                Some("text/plain") => {}
                Some("application/json") => {
                    if request.response_format.is_none() {
                        request.response_format = Some(ResponseFormat::JsonObject);
                    }
                }
                _ => return Err(ConvertError::unsupported(format!("{path} {value}"))),
            },
            "responseSchema" | "responseJsonSchema" => {
                request.response_format = Some(ResponseFormat::JsonSchema {
                    name: "response".to_owned(),
                    schema: value.clone(),
                    strict: None,
                });
            }
            "thinkingConfig" => {
                if let Some(budget) = value["thinkingBudget"]
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    && budget > 0
                {
                    request.reasoning = Some(Reasoning::Budget(budget));
                }
            }
            _ => return Err(ConvertError::unsupported(path)),
        }
    }
    Ok(())
}

/// The `parts` of a content. `calls` collects the function calls seen so far (id, name), so a
/// function response finds the id of its call.
fn decode_parts(
    content: &Value,
    path: &str,
    calls: &mut Vec<(String, String)>,
) -> Result<Vec<Part>, ConvertError> {
    let parts = array(
        content.get("parts").unwrap_or(&Value::Null),
        &join(path, "parts"),
    )?;
    let mut out = Vec::with_capacity(parts.len());
    for (i, part) in parts.iter().enumerate() {
        let path = format!("{path}.parts[{i}]");
        let map = object(part, &path)?;
        if let Some(t) = map.get("text") {
            let t = text(t, &join(&path, "text"))?.to_owned();
            out.push(if map.get("thought") == Some(&Value::Bool(true)) {
                Part::Thinking {
                    text: t,
                    signature: optional_text(map, "thoughtSignature", &path)?.map(str::to_owned),
                }
            } else {
                Part::Text(t)
            });
        } else if let Some(data) = map.get("inlineData") {
            out.push(Part::Image(Image::Base64 {
                media_type: data["mimeType"].as_str().unwrap_or_default().to_owned(),
                data: data["data"].as_str().unwrap_or_default().to_owned(),
            }));
        } else if let Some(file) = map.get("fileData") {
            out.push(Part::Image(Image::Url(
                file["fileUri"].as_str().unwrap_or_default().to_owned(),
            )));
        } else if let Some(call) = map.get("functionCall") {
            let name = call["name"].as_str().unwrap_or_default().to_owned();
            let id = call["id"]
                .as_str()
                .map_or_else(|| format!("call_{}", calls.len()), str::to_owned);
            calls.push((id.clone(), name.clone()));
            out.push(Part::ToolCall(ToolCall {
                id,
                name,
                arguments: call
                    .get("args")
                    .map_or_else(|| "{}".to_owned(), Value::to_string),
            }));
        } else if let Some(response) = map.get("functionResponse") {
            let name = response["name"].as_str().unwrap_or_default();
            let id = match response["id"].as_str() {
                Some(id) => id.to_owned(),
                None => calls
                    .iter()
                    .rev()
                    .find(|(_, n)| n == name)
                    .map_or_else(|| format!("call_{name}"), |(id, _)| id.clone()),
            };
            out.push(Part::ToolResult(ToolResult {
                call_id: id,
                content: vec![Part::Text(response["response"].to_string())],
                is_error: false,
            }));
        } else {
            let kind = map.keys().next().map_or("empty", String::as_str);
            return Err(ConvertError::unsupported(format!("{kind} parts")));
        }
    }
    Ok(out)
}

/// Encodes a request body for a Gemini upstream (`request.model` and `request.stream` go in its
/// URL).
pub fn encode_request(request: &ChatRequest) -> Result<Value, ConvertError> {
    let mut names: Vec<(&str, &str)> = Vec::new();
    let mut contents = Vec::with_capacity(request.messages.len());
    for message in &request.messages {
        let mut parts = Vec::with_capacity(message.parts.len());
        for part in &message.parts {
            if let Part::ToolCall(call) = part {
                names.push((call.id.as_str(), call.name.as_str()));
            }
            parts.push(encode_part(part, &names));
        }
        contents.push(json!({
            "role": match message.role { Role::User => "user", Role::Assistant => "model" },
            "parts": parts,
        }));
    }
    let mut body = Map::new();
    body.insert("contents".into(), Value::Array(contents));
    if !request.system.is_empty() {
        body.insert(
            "systemInstruction".into(),
            json!({"parts": request.system.iter().map(|s| json!({"text": s})).collect::<Vec<_>>()}),
        );
    }
    let mut config = Map::new();
    if let Some(t) = request.temperature {
        config.insert("temperature".into(), json!(t));
    }
    if let Some(p) = request.top_p {
        config.insert("topP".into(), json!(p));
    }
    if let Some(k) = request.top_k {
        config.insert("topK".into(), json!(k));
    }
    if let Some(n) = request.max_tokens {
        config.insert("maxOutputTokens".into(), json!(n));
    }
    if !request.stop.is_empty() {
        config.insert("stopSequences".into(), json!(request.stop));
    }
    match &request.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(ResponseFormat::JsonObject) => {
            config.insert("responseMimeType".into(), json!("application/json"));
        }
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            config.insert("responseMimeType".into(), json!("application/json"));
            config.insert("responseJsonSchema".into(), schema.clone());
        }
    }
    if let Some(reasoning) = &request.reasoning {
        config.insert(
            "thinkingConfig".into(),
            json!({"thinkingBudget": reasoning.budget(), "includeThoughts": true}),
        );
    }
    if !config.is_empty() {
        body.insert("generationConfig".into(), Value::Object(config));
    }
    if !request.tools.is_empty() {
        let declarations: Vec<Value> = request
            .tools
            .iter()
            .map(|t| {
                let mut f = json!({"name": t.name, "parametersJsonSchema": t.parameters});
                if let Some(d) = &t.description {
                    f["description"] = json!(d);
                }
                f
            })
            .collect();
        body.insert(
            "tools".into(),
            json!([{"functionDeclarations": declarations}]),
        );
    }
    if let Some(choice) = &request.tool_choice {
        let calling = match choice {
            ToolChoice::Auto => json!({"mode": "AUTO"}),
            ToolChoice::None => json!({"mode": "NONE"}),
            ToolChoice::Required => json!({"mode": "ANY"}),
            ToolChoice::Named(name) => json!({"mode": "ANY", "allowedFunctionNames": [name]}),
        };
        body.insert(
            "toolConfig".into(),
            json!({"functionCallingConfig": calling}),
        );
    }
    Ok(Value::Object(body))
}

fn encode_part(part: &Part, names: &[(&str, &str)]) -> Value {
    match part {
        Part::Text(t) => json!({"text": t}),
        Part::Image(Image::Base64 { media_type, data }) => {
            json!({"inlineData": {"mimeType": media_type, "data": data}})
        }
        Part::Image(Image::Url(url)) => json!({"fileData": {"fileUri": url}}),
        Part::ToolCall(call) => json!({"functionCall": {"name": call.name,
            "args": serde_json::from_str::<Value>(&call.arguments).unwrap_or_else(|_| json!({}))}}),
        Part::ToolResult(result) => {
            let name = names
                .iter()
                .rev()
                .find(|(id, _)| *id == result.call_id)
                .map_or(result.call_id.as_str(), |(_, n)| n);
            let text = result.text();
            // A JSON object result is passed as it is; anything else is wrapped.
            let response = match serde_json::from_str::<Value>(&text) {
                Ok(v @ Value::Object(_)) => v,
                _ if result.is_error => json!({"error": text}),
                _ => json!({"result": text}),
            };
            json!({"functionResponse": {"name": name, "response": response}})
        }
        Part::Thinking { text, signature } => {
            let mut part = json!({"text": text, "thought": true});
            if let Some(s) = signature {
                part["thoughtSignature"] = json!(s);
            }
            part
        }
    }
}

/// The parts of one Gemini answer (or stream chunk) as canonical parts, with ids for its calls.
pub(crate) fn answer_parts(candidate: &Value, first_call: usize) -> Vec<Part> {
    let mut calls = (0..first_call)
        .map(|i| (format!("call_{i}"), String::new()))
        .collect();
    decode_parts(&candidate["content"], "candidates[0].content", &mut calls).unwrap_or_default()
}

/// Gemini's `finishReason`.
pub(crate) fn decode_finish(word: &str, has_calls: bool) -> FinishReason {
    match word {
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" => {
            FinishReason::ContentFilter
        }
        _ if has_calls => FinishReason::ToolCalls,
        _ => FinishReason::Stop,
    }
}

/// Decodes a `generateContent` answer (its first candidate).
pub fn decode_response(body: &[u8]) -> Result<ChatResponse, ConvertError> {
    let map = parse_object(body)?;
    let candidate = array(map.get("candidates").unwrap_or(&Value::Null), "candidates")?
        .first()
        .cloned()
        .unwrap_or(Value::Null);
    let parts = answer_parts(&candidate, 0);
    let has_calls = parts.iter().any(|p| matches!(p, Part::ToolCall(_)));
    Ok(ChatResponse {
        id: optional_text(&map, "responseId", "")?
            .unwrap_or_default()
            .to_owned(),
        model: optional_text(&map, "modelVersion", "")?
            .unwrap_or_default()
            .to_owned(),
        finish: decode_finish(
            candidate["finishReason"].as_str().unwrap_or("STOP"),
            has_calls,
        ),
        parts,
        usage: map
            .get("usageMetadata")
            .map(decode_usage)
            .unwrap_or_default(),
    })
}

/// Gemini's `usageMetadata` (thinking tokens count as output).
pub fn decode_usage(usage: &Value) -> Usage {
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    Usage {
        input_tokens: n(&usage["promptTokenCount"]),
        output_tokens: n(&usage["candidatesTokenCount"]) + n(&usage["thoughtsTokenCount"]),
        cached_input_tokens: n(&usage["cachedContentTokenCount"]),
        cache_write_tokens: 0,
    }
}

/// Gemini's `usageMetadata` of `usage`.
pub fn encode_usage(usage: &Usage) -> Value {
    json!({
        "promptTokenCount": usage.input_tokens,
        "candidatesTokenCount": usage.output_tokens,
        "totalTokenCount": usage.input_tokens + usage.output_tokens,
        "cachedContentTokenCount": usage.cached_input_tokens,
    })
}

/// Gemini's word for why the model stopped.
pub fn finish_word(finish: &FinishReason) -> &'static str {
    match finish {
        FinishReason::Stop | FinishReason::StopSequence(_) | FinishReason::ToolCalls => "STOP",
        FinishReason::Length => "MAX_TOKENS",
        FinishReason::ContentFilter => "SAFETY",
    }
}

/// Encodes an answer for a Gemini client.
pub fn encode_response(response: &ChatResponse) -> Value {
    json!({
        "candidates": [{
            "content": {"role": "model", "parts": response.parts.iter().map(|p| encode_part(p, &[])).collect::<Vec<_>>()},
            "finishReason": finish_word(&response.finish),
            "index": 0,
        }],
        "usageMetadata": encode_usage(&response.usage),
        "modelVersion": response.model,
        "responseId": response.id,
    })
}

/// An error answer of a Gemini upstream.
pub fn decode_error(status: u16, body: &[u8]) -> ErrorBody {
    ErrorBody {
        kind: ErrorKind::for_status(status),
        message: crate::json_reading::error_message(body),
    }
}

/// An error in Gemini's shape.
pub fn encode_error(error: &ErrorBody) -> Value {
    let (code, status) = match error.kind {
        ErrorKind::InvalidRequest => (400, "INVALID_ARGUMENT"),
        ErrorKind::Authentication => (401, "UNAUTHENTICATED"),
        ErrorKind::Permission => (403, "PERMISSION_DENIED"),
        ErrorKind::NotFound => (404, "NOT_FOUND"),
        ErrorKind::RateLimit => (429, "RESOURCE_EXHAUSTED"),
        ErrorKind::Overloaded => (503, "UNAVAILABLE"),
        ErrorKind::Server => (500, "INTERNAL"),
    };
    json!({"error": {"code": code, "message": error.message, "status": status}})
}
