//! Stream conversion on the event grammars of the providers' references: each direction event by
//! event, the same output however the upstream's bytes are chunked, and a stream cut short.

use serde_json::{Value, json};

use crate::stream::{SseEvent, SseReader};
use crate::{Protocol, StreamConverter};

/// A Chat Completions stream: text, then a tool call in three pieces, finish, usage, `[DONE]`.
fn openai_stream() -> String {
    let chunk = |delta: Value, finish: Value| {
        format!(
            "data: {}\n\n",
            json!({"id": "chatcmpl-7", "object": "chat.completion.chunk", "created": 1,
                   "model": "gpt-4.1", "choices": [{"index": 0, "delta": delta,
                   "logprobs": null, "finish_reason": finish}]})
        )
    };
    [
        chunk(json!({"role": "assistant", "content": ""}), Value::Null),
        chunk(json!({"content": "Let me "}), Value::Null),
        chunk(json!({"content": "look."}), Value::Null),
        chunk(
            json!({"tool_calls": [{"index": 0, "id": "call_a", "type": "function",
                   "function": {"name": "weather", "arguments": ""}}]}),
            Value::Null,
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":"}}]}),
            Value::Null,
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"Oslo\"}"}}]}),
            Value::Null,
        ),
        chunk(json!({}), json!("tool_calls")),
        format!(
            "data: {}\n\n",
            json!({"id": "chatcmpl-7", "object": "chat.completion.chunk", "created": 1,
                   "model": "gpt-4.1", "choices": [], "usage": {"prompt_tokens": 30,
                   "completion_tokens": 12, "total_tokens": 42,
                   "prompt_tokens_details": {"cached_tokens": 10}}})
        ),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat()
}

/// A Messages stream: thinking with its signature, text, a tool call, `ping`s, the end.
fn anthropic_stream() -> String {
    let event = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
    [
        event(
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_5", "type": "message",
                "role": "assistant", "model": "claude-sonnet-4-5", "content": [],
                "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": 20, "output_tokens": 1,
                          "cache_read_input_tokens": 5, "cache_creation_input_tokens": 0}}}),
        ),
        event(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0,
                   "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
        ),
        event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0,
                   "delta": {"type": "thinking_delta", "thinking": "Weather tool."}}),
        ),
        event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0,
                   "delta": {"type": "signature_delta", "signature": "EqQB"}}),
        ),
        event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
        event("ping", json!({"type": "ping"})),
        event(
            "content_block_start",
            json!({"type": "content_block_start", "index": 1,
                   "content_block": {"type": "text", "text": ""}}),
        ),
        event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1,
                   "delta": {"type": "text_delta", "text": "Checking"}}),
        ),
        event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 1}),
        ),
        event(
            "content_block_start",
            json!({"type": "content_block_start", "index": 2, "content_block":
                   {"type": "tool_use", "id": "toolu_3", "name": "weather", "input": {}}}),
        ),
        event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 2,
                   "delta": {"type": "input_json_delta", "partial_json": "{\"city\": \"Os"}}),
        ),
        event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 2,
                   "delta": {"type": "input_json_delta", "partial_json": "lo\"}"}}),
        ),
        event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 2}),
        ),
        event(
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use",
                   "stop_sequence": null}, "usage": {"output_tokens": 40}}),
        ),
        event("message_stop", json!({"type": "message_stop"})),
    ]
    .concat()
}

fn events(bytes: &[u8]) -> Vec<SseEvent> {
    SseReader::default().feed(bytes)
}

fn convert(upstream: Protocol, client: Protocol, input: &str, include_usage: bool) -> Vec<u8> {
    let mut converter = StreamConverter::new(upstream, client, 99, include_usage);
    let mut out = converter.feed(input.as_bytes());
    out.extend(converter.finish());
    out
}

/// The stream converted byte by byte, checked to equal the stream converted whole.
pub(crate) fn converted_byte_by_byte(
    upstream: Protocol,
    client: Protocol,
    input: &str,
    include_usage: bool,
) -> Vec<u8> {
    let mut converter = StreamConverter::new(upstream, client, 99, include_usage);
    let mut out = Vec::new();
    for b in input.as_bytes() {
        out.extend(converter.feed(std::slice::from_ref(b)));
    }
    out.extend(converter.finish());
    assert_eq!(
        out,
        convert(upstream, client, input, include_usage),
        "byte by byte and whole differ"
    );
    out
}

/// A Messages stream as `(event name, data)` pairs.
pub(crate) fn messages_events(bytes: &[u8]) -> Vec<(String, Value)> {
    events(bytes)
        .into_iter()
        .map(|e| {
            (
                e.event.unwrap_or_default(),
                serde_json::from_str(&e.data).unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_chat_completions_stream_becomes_a_messages_stream() {
    let out = convert(
        Protocol::OpenAiChat,
        Protocol::AnthropicMessages,
        &openai_stream(),
        false,
    );
    let got = messages_events(&out);
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
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
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    // Every event's `type` is its name, as the grammar requires.
    assert!(got.iter().all(|(n, v)| v["type"] == n.as_str()));
    assert_eq!(got[0].1["message"]["id"], "chatcmpl-7");
    assert_eq!(
        got[1].1["content_block"],
        json!({"type": "text", "text": ""})
    );
    assert_eq!(
        got[3].1["delta"],
        json!({"type": "text_delta", "text": "look."})
    );
    assert_eq!(
        got[5].1,
        json!({"type": "content_block_start", "index": 1, "content_block":
               {"type": "tool_use", "id": "call_a", "name": "weather", "input": {}}})
    );
    let arguments: String = got[6..8]
        .iter()
        .map(|(_, v)| v["delta"]["partial_json"].as_str().unwrap())
        .collect();
    assert_eq!(arguments, "{\"city\":\"Oslo\"}");
    assert_eq!(
        got[9].1,
        json!({"type": "message_delta",
               "delta": {"stop_reason": "tool_use", "stop_sequence": null},
               "usage": {"input_tokens": 20, "output_tokens": 12,
                         "cache_creation_input_tokens": 0, "cache_read_input_tokens": 10}})
    );
}

#[test]
fn a_messages_stream_becomes_a_chat_completions_stream() {
    let out = convert(
        Protocol::AnthropicMessages,
        Protocol::OpenAiChat,
        &anthropic_stream(),
        true,
    );
    let got = events(&out);
    assert_eq!(got.last().unwrap().data, "[DONE]");
    let chunks: Vec<Value> = got[..got.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(&e.data).unwrap())
        .collect();
    assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk"
        && c["id"] == "msg_5"
        && c["created"] == 99
        && c["model"] == "claude-sonnet-4-5"));
    let deltas: Vec<Value> = chunks
        .iter()
        .filter_map(|c| c["choices"].get(0).map(|ch| ch["delta"].clone()))
        .collect();
    assert_eq!(
        deltas,
        [
            json!({"role": "assistant", "content": ""}),
            json!({"reasoning_content": "Weather tool."}),
            json!({"content": "Checking"}),
            json!({"tool_calls": [{"index": 0, "id": "toolu_3", "type": "function",
                   "function": {"name": "weather", "arguments": ""}}]}),
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\": \"Os"}}]}),
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "lo\"}"}}]}),
            json!({}),
        ]
    );
    let finish: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"].get(0).map(|ch| &ch["finish_reason"]))
        .collect();
    assert_eq!(finish.last().unwrap().as_str(), Some("tool_calls"));
    assert!(finish[..finish.len() - 1].iter().all(|f| f.is_null()));
    // include_usage: one last chunk with no choices and the usage, cached tokens counted in.
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(
        usage["usage"],
        json!({"prompt_tokens": 25, "completion_tokens": 40, "total_tokens": 65,
               "prompt_tokens_details": {"cached_tokens": 5}})
    );
    // Without include_usage the client gets no usage chunk.
    let plain = convert(
        Protocol::AnthropicMessages,
        Protocol::OpenAiChat,
        &anthropic_stream(),
        false,
    );
    assert!(events(&plain).iter().all(|e| !e.data.contains("\"usage\"")));
}

#[test]
fn any_chunking_of_the_upstream_gives_the_same_stream() {
    for (upstream, client, input) in [
        (
            Protocol::OpenAiChat,
            Protocol::AnthropicMessages,
            openai_stream(),
        ),
        (
            Protocol::AnthropicMessages,
            Protocol::OpenAiChat,
            anthropic_stream(),
        ),
    ] {
        let whole = converted_byte_by_byte(upstream, client, &input, true);
        // Cut in two at every position, with CRLF line ends too.
        let crlf = input.replace('\n', "\r\n");
        for text in [&input, &crlf] {
            let bytes = text.as_bytes();
            for cut in (0..bytes.len()).step_by(7) {
                let mut converter = StreamConverter::new(upstream, client, 99, true);
                let mut out = converter.feed(&bytes[..cut]);
                out.extend(converter.feed(&bytes[cut..]));
                out.extend(converter.finish());
                assert_eq!(out, whole, "cut at {cut}");
            }
        }
    }
}

#[test]
fn a_stream_cut_mid_tool_call_ends_with_an_error_event() {
    let full = openai_stream();
    let cut = &full[..full.find("\"Oslo").unwrap()];
    let mut converter =
        StreamConverter::new(Protocol::OpenAiChat, Protocol::AnthropicMessages, 1, false);
    let mut out = converter.feed(cut.as_bytes());
    out.extend(converter.finish());
    let last = events(&out).pop().unwrap();
    assert_eq!(last.event.as_deref(), Some("error"));
    assert_eq!(
        serde_json::from_str::<Value>(&last.data).unwrap(),
        json!({"type": "error", "error": {"type": "api_error",
               "message": "the upstream's stream ended before the answer was complete"}})
    );
    // An upstream error event reaches a Chat Completions client as an error chunk, and nothing
    // follows it.
    let overloaded = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
    let mut converter =
        StreamConverter::new(Protocol::AnthropicMessages, Protocol::OpenAiChat, 1, false);
    let mut out = converter.feed(overloaded.as_bytes());
    out.extend(converter.feed(b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
    out.extend(converter.finish());
    let got = events(&out);
    assert_eq!(got.len(), 1);
    assert_eq!(
        serde_json::from_str::<Value>(&got[0].data).unwrap(),
        json!({"error": {"message": "Overloaded", "type": "server_error", "param": null, "code": null}})
    );
}
