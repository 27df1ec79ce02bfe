//! Gemini as the third spoke: requests, answers, streams and errors to and from the other two, on
//! the shapes of the `generateContent` reference.

use serde_json::{Value, json};

use crate::canonical::Reasoning;
use crate::stream::SseReader;
use crate::stream_tests::{converted_byte_by_byte, messages_events};
use crate::{ConvertError, Protocol};

fn from_gemini(body: Value, target: Protocol) -> Result<Value, ConvertError> {
    let request = Protocol::Gemini.decode_request(
        body.to_string().as_bytes(),
        Some("gemini-2.5-pro"),
        true,
    )?;
    target
        .encode_request(&request)
        .map(|b| serde_json::from_slice(&b).unwrap())
}

#[test]
fn a_gemini_request_with_a_function_round_trip_becomes_anthropic_messages() {
    let converted = from_gemini(
        json!({
            "systemInstruction": {"parts": [{"text": "Answer in French."}]},
            "contents": [
                {"role": "user", "parts": [
                    {"text": "What is on this picture, and the weather in Lyon?"},
                    {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/4AAQ"}}
                ]},
                {"role": "model", "parts": [{"functionCall": {"name": "weather", "args": {"city": "Lyon"}}}]},
                {"role": "user", "parts": [{"functionResponse": {"name": "weather", "response": {"temp": 21}}}]}
            ],
            "tools": [{"functionDeclarations": [{"name": "weather", "description": "Weather now",
                "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}}}]}],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["weather"]}},
            "generationConfig": {"temperature": 0.3, "topK": 40, "maxOutputTokens": 2048,
                "stopSequences": ["FIN"], "thinkingConfig": {"thinkingBudget": 1024}},
            "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]
        }),
        Protocol::AnthropicMessages,
    )
    .unwrap();
    assert_eq!(
        converted,
        json!({
            "model": "gemini-2.5-pro",
            "max_tokens": 2048,
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "system": "Answer in French.",
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "What is on this picture, and the weather in Lyon?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"}}
                ]},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "call_0", "name": "weather", "input": {"city": "Lyon"}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "call_0",
                     "content": [{"type": "text", "text": "{\"temp\":21}"}]}
                ]}
            ],
            "temperature": 0.3,
            "top_k": 40,
            "stop_sequences": ["FIN"],
            "stream": true,
            "tools": [{"name": "weather", "description": "Weather now",
                "input_schema": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}}}],
            "tool_choice": {"type": "tool", "name": "weather"}
        })
    );
}

#[test]
fn an_openai_conversation_becomes_a_gemini_request_with_results_matched_by_name() {
    let request = Protocol::OpenAiChat
        .decode_request(
            json!({
                "model": "gemini-2.5-flash",
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Weather in Oslo?"},
                    {"role": "assistant", "content": null, "tool_calls": [{"id": "call_x",
                        "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Oslo\"}"}}]},
                    {"role": "tool", "tool_call_id": "call_x", "content": "4 C"}
                ],
                "tools": [{"type": "function", "function": {"name": "weather",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
                "tool_choice": "required",
                "response_format": {"type": "json_object"},
                "reasoning_effort": "medium",
                "max_tokens": 500
            })
            .to_string()
            .as_bytes(),
            None,
            false,
        )
        .unwrap();
    assert_eq!(
        request.reasoning,
        Some(Reasoning::Effort(crate::canonical::Effort::Medium))
    );
    let body: Value =
        serde_json::from_slice(&Protocol::Gemini.encode_request(&request).unwrap()).unwrap();
    assert_eq!(
        body,
        json!({
            "systemInstruction": {"parts": [{"text": "Be brief."}]},
            "contents": [
                {"role": "user", "parts": [{"text": "Weather in Oslo?"}]},
                {"role": "model", "parts": [{"functionCall": {"name": "weather", "args": {"city": "Oslo"}}}]},
                {"role": "user", "parts": [{"functionResponse": {"name": "weather", "response": {"result": "4 C"}}}]}
            ],
            "generationConfig": {"maxOutputTokens": 500, "responseMimeType": "application/json",
                "thinkingConfig": {"thinkingBudget": 8192, "includeThoughts": true}},
            "tools": [{"functionDeclarations": [{"name": "weather",
                "parametersJsonSchema": {"type": "object", "properties": {"city": {"type": "string"}}}}]}],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY"}}
        })
    );
}

#[test]
fn gemini_requests_refuse_what_cannot_be_carried() {
    let user = json!([{"role": "user", "parts": [{"text": "hi"}]}]);
    let cases = [
        (
            json!({"contents": user, "cachedContent": "cachedContents/1"}),
            "cachedContent cannot be converted to another protocol",
        ),
        (
            json!({"contents": user, "tools": [{"googleSearch": {}}]}),
            "googleSearch tools cannot be converted to another protocol",
        ),
        (
            json!({"contents": user, "generationConfig": {"candidateCount": 2}}),
            "generationConfig.candidateCount cannot be converted to another protocol",
        ),
        (
            json!({"contents": [{"role": "user", "parts": [{"executableCode": {"code": "1"}}]}]}),
            "executableCode parts cannot be converted to another protocol",
        ),
        (
            json!({"contents": user, "colour": 1}),
            "colour: unknown field",
        ),
    ];
    for (body, message) in cases {
        assert_eq!(
            from_gemini(body, Protocol::OpenAiChat)
                .unwrap_err()
                .to_string(),
            message
        );
    }
    assert_eq!(
        Protocol::Gemini
            .decode_request(
                json!({"contents": user}).to_string().as_bytes(),
                None,
                false
            )
            .unwrap_err()
            .to_string(),
        "the model is named in the URL: /v1beta/models/{model}:generateContent"
    );
    // top_k reaches Anthropic but not Chat Completions.
    let top_k = json!({"contents": user, "generationConfig": {"topK": 3}});
    assert_eq!(
        from_gemini(top_k, Protocol::OpenAiChat)
            .unwrap_err()
            .to_string(),
        "top_k is not supported by OpenAI Chat Completions"
    );
}

#[test]
fn a_gemini_answer_becomes_a_chat_completion_and_an_anthropic_answer_a_gemini_one() {
    let answer = json!({
        "candidates": [{"content": {"role": "model", "parts": [
            {"text": "Let me think.", "thought": true},
            {"text": "Calling."},
            {"functionCall": {"name": "weather", "args": {"city": "Rome"}}}
        ]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 100, "candidatesTokenCount": 20,
            "thoughtsTokenCount": 30, "totalTokenCount": 150, "cachedContentTokenCount": 60},
        "modelVersion": "gemini-2.5-pro", "responseId": "resp-1"
    });
    let completion: Value = serde_json::from_slice(
        &Protocol::Gemini
            .convert_response(Protocol::OpenAiChat, answer.to_string().as_bytes(), 5)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        completion,
        json!({"id": "resp-1", "object": "chat.completion", "created": 5, "model": "gemini-2.5-pro",
            "choices": [{"index": 0, "logprobs": null, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": "Calling.", "reasoning_content": "Let me think.",
                "tool_calls": [{"id": "call_0", "type": "function",
                    "function": {"name": "weather", "arguments": "{\"city\":\"Rome\"}"}}]}}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150,
                "prompt_tokens_details": {"cached_tokens": 60}}})
    );
    let message = json!({"id": "msg_2", "type": "message", "role": "assistant", "model": "claude",
        "content": [{"type": "text", "text": "Bonjour"}], "stop_reason": "max_tokens",
        "stop_sequence": null, "usage": {"input_tokens": 8, "output_tokens": 4,
        "cache_read_input_tokens": 2, "cache_creation_input_tokens": 0}});
    let gemini: Value = serde_json::from_slice(
        &Protocol::AnthropicMessages
            .convert_response(Protocol::Gemini, message.to_string().as_bytes(), 0)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        gemini,
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Bonjour"}]},
            "finishReason": "MAX_TOKENS", "index": 0}],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 4,
                "totalTokenCount": 14, "cachedContentTokenCount": 2},
            "modelVersion": "claude", "responseId": "msg_2"})
    );
}

#[test]
fn errors_cross_into_and_out_of_gemini_shape() {
    let gemini_error =
        br#"{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED"}}"#;
    assert_eq!(
        serde_json::from_slice::<Value>(&Protocol::Gemini.convert_error(
            Protocol::AnthropicMessages,
            429,
            gemini_error
        ))
        .unwrap(),
        json!({"type": "error", "error": {"type": "rate_limit_error", "message": "Quota exceeded"}})
    );
    let openai_error = br#"{"error":{"message":"No such model","type":"invalid_request_error","param":"model","code":"model_not_found"}}"#;
    assert_eq!(
        serde_json::from_slice::<Value>(&Protocol::OpenAiChat.convert_error(
            Protocol::Gemini,
            404,
            openai_error
        ))
        .unwrap(),
        json!({"error": {"code": 404, "message": "No such model", "status": "NOT_FOUND"}})
    );
}

fn gemini_stream() -> String {
    let chunk = |parts: Value, finish: Option<&str>, usage: Value| {
        let mut candidate = json!({"content": {"role": "model", "parts": parts}, "index": 0});
        if let Some(f) = finish {
            candidate["finishReason"] = json!(f);
        }
        format!(
            "data: {}\r\n\r\n",
            json!({"candidates": [candidate], "usageMetadata": usage,
                   "modelVersion": "gemini-2.5-flash", "responseId": "r-9"})
        )
    };
    [
        chunk(
            json!([{"text": "Hel"}]),
            None,
            json!({"promptTokenCount": 7}),
        ),
        chunk(
            json!([{"text": "lo"}]),
            None,
            json!({"promptTokenCount": 7}),
        ),
        chunk(
            json!([{"functionCall": {"name": "lookup", "args": {"q": "x"}}}]),
            Some("STOP"),
            json!({"promptTokenCount": 7, "candidatesTokenCount": 9, "totalTokenCount": 16}),
        ),
    ]
    .concat()
}

#[test]
fn a_gemini_stream_becomes_a_messages_stream() {
    let out = converted_byte_by_byte(
        Protocol::Gemini,
        Protocol::AnthropicMessages,
        &gemini_stream(),
        true,
    );
    let events = messages_events(&out);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(
        events[5].1["content_block"],
        json!({"type": "tool_use", "id": "call_0", "name": "lookup", "input": {}})
    );
    assert_eq!(
        events[6].1["delta"],
        json!({"type": "input_json_delta", "partial_json": "{\"q\":\"x\"}"})
    );
    assert_eq!(events[8].1["delta"]["stop_reason"], "tool_use");
    assert_eq!(events[8].1["usage"]["output_tokens"], 9);
    assert_eq!(events[8].1["usage"]["input_tokens"], 7);
}

#[test]
fn a_chat_completions_stream_becomes_a_gemini_stream_with_whole_function_calls() {
    let chunk = |delta: Value, finish: Value| {
        format!(
            "data: {}\n\n",
            json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt",
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        )
    };
    let input = [
        chunk(json!({"role": "assistant", "content": "Hi"}), Value::Null),
        chunk(
            json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                   "function": {"name": "f", "arguments": "{\"a\""}}]}),
            Value::Null,
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": ":1}"}}]}),
            Value::Null,
        ),
        chunk(json!({}), json!("tool_calls")),
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4,\"total_tokens\":7}}\n\n".to_owned(),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    let out = converted_byte_by_byte(Protocol::OpenAiChat, Protocol::Gemini, &input, true);
    let chunks: Vec<Value> = SseReader::default()
        .feed(&out)
        .into_iter()
        .map(|e| serde_json::from_str(&e.data).unwrap())
        .collect();
    let parts: Vec<&Value> = chunks
        .iter()
        .map(|c| &c["candidates"][0]["content"]["parts"][0])
        .collect();
    assert_eq!(
        parts,
        [
            &json!({"text": "Hi"}),
            &json!({"functionCall": {"name": "f", "args": {"a": 1}}}),
            &json!({"text": ""}),
        ]
    );
    let last = chunks.last().unwrap();
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(
        last["usageMetadata"],
        json!({"promptTokenCount": 3, "candidatesTokenCount": 4, "totalTokenCount": 7,
               "cachedContentTokenCount": 0})
    );
    assert!(
        chunks
            .iter()
            .all(|c| c["responseId"] == "c1" && c["modelVersion"] == "gpt")
    );
}
