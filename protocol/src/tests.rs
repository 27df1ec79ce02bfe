//! Conversion pairs on the shapes of the providers' API references: requests each way, complete
//! answers each way, errors, and what is refused.

use serde_json::{Value, json};

use crate::canonical::{Effort, ErrorBody, ErrorKind, Reasoning};
use crate::{ConvertError, Protocol, anthropic, openai_chat};

fn to_anthropic(openai: Value) -> Result<Value, ConvertError> {
    Protocol::OpenAiChat
        .convert_request(Protocol::AnthropicMessages, openai.to_string().as_bytes())
        .map(|b| serde_json::from_slice(&b).unwrap())
}

fn to_openai(anthropic: Value) -> Result<Value, ConvertError> {
    Protocol::AnthropicMessages
        .convert_request(Protocol::OpenAiChat, anthropic.to_string().as_bytes())
        .map(|b| serde_json::from_slice(&b).unwrap())
}

#[test]
fn an_openai_conversation_with_images_and_parallel_tool_calls_becomes_anthropic_messages() {
    let converted = to_anthropic(json!({
        "model": "claude-sonnet-4-5",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Use metric units."}]},
            {"role": "user", "content": [
                {"type": "text", "text": "Weather in these two places?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                {"type": "image_url", "image_url": {"url": "https://example.com/map.jpg", "detail": "low"}}
            ]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Oslo\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18 C"},
            {"role": "tool", "tool_call_id": "call_2", "content": "4 C"},
            {"role": "user", "content": "And tomorrow?"}
        ],
        "tools": [{"type": "function", "function": {"name": "weather", "description": "Current weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
        "tool_choice": {"type": "function", "function": {"name": "weather"}},
        "parallel_tool_calls": false,
        "max_completion_tokens": 300,
        "temperature": 0.5,
        "stop": "END",
        "user": "u-42",
        "store": false,
        "stream": true,
        "stream_options": {"include_usage": true}
    }))
    .unwrap();
    assert_eq!(
        converted,
        json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 300,
            "system": "Be brief.\n\nUse metric units.",
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "Weather in these two places?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/map.jpg"}}
                ]},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "call_2", "name": "weather", "input": {"city": "Oslo"}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "call_1", "content": [{"type": "text", "text": "18 C"}]},
                    {"type": "tool_result", "tool_use_id": "call_2", "content": [{"type": "text", "text": "4 C"}]},
                    {"type": "text", "text": "And tomorrow?"}
                ]}
            ],
            "temperature": 0.5,
            "stop_sequences": ["END"],
            "stream": true,
            "tools": [{"name": "weather", "description": "Current weather",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}],
            "tool_choice": {"type": "tool", "name": "weather", "disable_parallel_tool_use": true},
            "metadata": {"user_id": "u-42"}
        })
    );
}

#[test]
fn an_anthropic_conversation_with_thinking_and_tool_results_becomes_chat_completions() {
    let converted = to_openai(json!({
        "model": "gpt-4.1",
        "max_tokens": 1024,
        "system": [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}],
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "messages": [
            {"role": "user", "content": "What is 6 times 7?"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "Multiply.", "signature": "sig"},
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_1", "name": "calc", "input": {"expr": "6*7"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "42"}
            ]}
        ],
        "tools": [{"name": "calc", "input_schema": {"type": "object", "properties": {"expr": {"type": "string"}}}}],
        "tool_choice": {"type": "any"},
        "stop_sequences": ["\n\nHuman:"],
        "metadata": {"user_id": "abc"}
    }))
    .unwrap();
    assert_eq!(
        converted,
        json!({
            "model": "gpt-4.1",
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": "What is 6 times 7?"},
                {"role": "assistant", "content": "Let me check.", "tool_calls": [
                    {"id": "toolu_1", "type": "function", "function": {"name": "calc", "arguments": "{\"expr\":\"6*7\"}"}}
                ]},
                {"role": "tool", "tool_call_id": "toolu_1", "content": "42"}
            ],
            "max_completion_tokens": 1024,
            "stop": ["\n\nHuman:"],
            "tools": [{"type": "function", "function": {"name": "calc",
                "parameters": {"type": "object", "properties": {"expr": {"type": "string"}}}}}],
            "tool_choice": "required",
            "reasoning_effort": "low",
            "user": "abc"
        })
    );
}

#[test]
fn anthropic_needs_max_tokens_above_the_thinking_budget() {
    let plain =
        to_anthropic(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
            .unwrap();
    assert_eq!(plain["max_tokens"], anthropic::DEFAULT_MAX_TOKENS);
    let thinking = to_anthropic(
        json!({"model": "m", "max_tokens": 100, "reasoning_effort": "high",
        "messages": [{"role": "user", "content": "hi"}]}),
    )
    .unwrap();
    assert_eq!(
        thinking["thinking"],
        json!({"type": "enabled", "budget_tokens": Effort::High.budget()})
    );
    assert!(thinking["max_tokens"].as_u64().unwrap() > u64::from(Effort::High.budget()));
}

#[test]
fn what_the_target_cannot_do_is_refused_naming_it() {
    let user = json!([{"role": "user", "content": "hi"}]);
    for (field, value) in [
        ("n", json!(2)),
        ("logprobs", json!(true)),
        ("presence_penalty", json!(0.5)),
        ("seed", json!(7)),
        ("audio", json!({"voice": "alloy", "format": "wav"})),
    ] {
        let mut body = json!({"model": "m", "messages": user});
        body[field] = value;
        let err = to_anthropic(body).unwrap_err();
        assert_eq!(
            err,
            ConvertError::Unsupported {
                feature: field.to_owned(),
                target: None
            },
            "{field}"
        );
        assert_eq!(
            err.to_string(),
            format!("{field} cannot be converted to another protocol")
        );
    }
    // Their neutral values are fine.
    to_anthropic(
        json!({"model": "m", "messages": user, "n": 1, "logprobs": false,
        "presence_penalty": 0, "frequency_penalty": 0.0, "seed": null}),
    )
    .unwrap();
    let hot =
        to_anthropic(json!({"model": "m", "messages": user, "temperature": 1.5})).unwrap_err();
    assert_eq!(
        hot.to_string(),
        "temperature above 1 is not supported by Anthropic Messages"
    );
    let schema = to_anthropic(json!({"model": "m", "messages": user, "response_format":
        {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}}))
    .unwrap_err();
    assert_eq!(
        schema.to_string(),
        "response_format is not supported by Anthropic Messages"
    );
    let top_k = to_openai(json!({"model": "m", "max_tokens": 5, "top_k": 3,
        "messages": [{"role": "user", "content": "hi"}]}))
    .unwrap_err();
    assert_eq!(
        top_k.to_string(),
        "top_k is not supported by OpenAI Chat Completions"
    );
    let error = top_k.to_error_body();
    assert_eq!(error.kind, ErrorKind::InvalidRequest);
}

#[test]
fn malformed_requests_name_the_field() {
    let cases = [
        (json!({"messages": []}), "model: is required"),
        (
            json!({"model": "m", "messages": [], "temprature": 1}),
            "temprature: unknown field",
        ),
        (
            json!({"model": "m", "messages": [{"role": "robot", "content": "x"}]}),
            "messages[0].role: must be system, developer, user, assistant or tool, got \"robot\"",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "text"}]}]}),
            "messages[0].content[0].text: is required",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": "x", "colour": 1}]}),
            "messages[0].colour: unknown field",
        ),
        (
            json!({"model": "m", "messages": [], "max_tokens": -1}),
            "max_tokens: must be a non-negative integer",
        ),
    ];
    for (body, message) in cases {
        assert_eq!(
            to_anthropic(body).unwrap_err(),
            ConvertError::Malformed(message.to_owned())
        );
    }
    assert_eq!(
        to_openai(json!({"model": "m", "messages": []})).unwrap_err(),
        ConvertError::Malformed("max_tokens: is required".to_owned())
    );
    assert_eq!(
        Protocol::OpenAiChat
            .convert_request(Protocol::AnthropicMessages, b"{\"model\":")
            .unwrap_err()
            .to_string()
            .split(':')
            .next(),
        Some("the body is not valid JSON")
    );
}

#[test]
fn an_anthropic_answer_with_a_tool_call_and_cache_usage_becomes_a_chat_completion() {
    let answer = json!({
        "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [
            {"type": "thinking", "thinking": "Need the tool.", "signature": "s"},
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_9", "name": "calc", "input": {"expr": "1+1"}}
        ],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": 10, "output_tokens": 20,
                  "cache_creation_input_tokens": 5, "cache_read_input_tokens": 100}
    });
    let converted: Value = serde_json::from_slice(
        &Protocol::AnthropicMessages
            .convert_response(
                Protocol::OpenAiChat,
                answer.to_string().as_bytes(),
                1_700_000_000,
            )
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        converted,
        json!({
            "id": "msg_01", "object": "chat.completion", "created": 1_700_000_000u64,
            "model": "claude-sonnet-4-5",
            "choices": [{"index": 0, "logprobs": null, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": "Checking.", "reasoning_content": "Need the tool.",
                "tool_calls": [{"id": "toolu_9", "type": "function",
                    "function": {"name": "calc", "arguments": "{\"expr\":\"1+1\"}"}}]}}],
            "usage": {"prompt_tokens": 115, "completion_tokens": 20, "total_tokens": 135,
                      "prompt_tokens_details": {"cached_tokens": 100}}
        })
    );
}

#[test]
fn a_chat_completion_becomes_an_anthropic_message_and_back() {
    let completion = json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4.1",
        "choices": [{"index": 0, "finish_reason": "length", "logprobs": null,
            "message": {"role": "assistant", "content": "Hello", "refusal": null}}],
        "usage": {"prompt_tokens": 50, "completion_tokens": 7, "total_tokens": 57,
                  "prompt_tokens_details": {"cached_tokens": 30, "audio_tokens": 0},
                  "completion_tokens_details": {"reasoning_tokens": 0}}
    });
    let message: Value = serde_json::from_slice(
        &Protocol::OpenAiChat
            .convert_response(
                Protocol::AnthropicMessages,
                completion.to_string().as_bytes(),
                0,
            )
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        message,
        json!({
            "id": "chatcmpl-1", "type": "message", "role": "assistant", "model": "gpt-4.1",
            "content": [{"type": "text", "text": "Hello"}],
            "stop_reason": "max_tokens", "stop_sequence": null,
            "usage": {"input_tokens": 20, "output_tokens": 7,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 30}
        })
    );
    // And back: the same text, reason and usage.
    let again = anthropic::decode_response(message.to_string().as_bytes()).unwrap();
    let original = openai_chat::decode_response(completion.to_string().as_bytes()).unwrap();
    assert_eq!(again.parts, original.parts);
    assert_eq!(again.finish, original.finish);
    assert_eq!(again.usage, original.usage);
}

#[test]
fn a_stop_sequence_is_reported_to_anthropic_clients() {
    let completion = json!({"id": "x", "model": "m", "choices": [{"index": 0,
        "finish_reason": "stop", "message": {"role": "assistant", "content": "a"}}]});
    let decoded = openai_chat::decode_response(completion.to_string().as_bytes()).unwrap();
    assert_eq!(
        anthropic::encode_response(&decoded)["stop_reason"],
        "end_turn"
    );
    let message = json!({"id": "y", "type": "message", "role": "assistant", "model": "m",
        "content": [{"type": "text", "text": "a"}], "stop_reason": "stop_sequence",
        "stop_sequence": "END", "usage": {"input_tokens": 1, "output_tokens": 1}});
    let decoded = anthropic::decode_response(message.to_string().as_bytes()).unwrap();
    let back = anthropic::encode_response(&decoded);
    assert_eq!(back["stop_reason"], "stop_sequence");
    assert_eq!(back["stop_sequence"], "END");
    assert_eq!(
        openai_chat::encode_response(&decoded, 0)["choices"][0]["finish_reason"],
        "stop"
    );
}

#[test]
fn errors_reach_the_client_in_its_own_shape() {
    let anthropic_429 =
        br#"{"type":"error","error":{"type":"rate_limit_error","message":"Slow down"}}"#;
    let as_openai: Value = serde_json::from_slice(&Protocol::AnthropicMessages.convert_error(
        Protocol::OpenAiChat,
        429,
        anthropic_429,
    ))
    .unwrap();
    assert_eq!(
        as_openai,
        json!({"error": {"message": "Slow down", "type": "rate_limit_error", "param": null, "code": null}})
    );
    let openai_401 = br#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#;
    let as_anthropic: Value = serde_json::from_slice(&Protocol::OpenAiChat.convert_error(
        Protocol::AnthropicMessages,
        401,
        openai_401,
    ))
    .unwrap();
    assert_eq!(
        as_anthropic,
        json!({"type": "error", "error": {"type": "authentication_error", "message": "Incorrect API key provided"}})
    );
    // A body that is not the provider's JSON keeps its text as the message.
    let overloaded = Protocol::AnthropicMessages.convert_error(
        Protocol::AnthropicMessages,
        529,
        b"upstream connect error",
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&overloaded).unwrap()["error"],
        json!({"type": "overloaded_error", "message": "upstream connect error"})
    );
    let refused = Protocol::OpenAiChat.encode_error(&ErrorBody {
        kind: ErrorKind::InvalidRequest,
        message: "n cannot be converted to another protocol".to_owned(),
    });
    assert_eq!(
        serde_json::from_slice::<Value>(&refused).unwrap()["error"]["type"],
        "invalid_request_error"
    );
}

#[test]
fn an_anthropic_request_survives_the_round_trip_through_the_canonical_model() {
    let body = json!({
        "model": "claude-haiku-4-5", "max_tokens": 64, "temperature": 0.2, "top_k": 5,
        "system": "S",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "AAAA"}}]}],
        "thinking": {"type": "enabled", "budget_tokens": 1024}
    });
    let request = anthropic::decode_request(body.to_string().as_bytes()).unwrap();
    assert_eq!(request.reasoning, Some(Reasoning::Budget(1024)));
    let encoded = anthropic::encode_request(&request).unwrap();
    assert_eq!(encoded["messages"], body["messages"]);
    assert_eq!(encoded["thinking"], body["thinking"]);
    assert_eq!(encoded["top_k"], 5);
    assert_eq!(encoded["system"], "S");
    assert_eq!(encoded["max_tokens"], 1024 + anthropic::DEFAULT_MAX_TOKENS);
}
