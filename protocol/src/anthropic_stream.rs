//! Messages streams (`message_start`, `content_block_start` / `_delta` / `_stop`,
//! `message_delta`, `message_stop`, `ping`, `error`): decoded into canonical stream events and
//! encoded from them, one event at a time.

use serde_json::{Value, json};

use crate::anthropic::{decode_usage, stop_reason};
use crate::canonical::{ErrorBody, ErrorKind, FinishReason, Usage};
use crate::stream::{Block, Delta, SseEvent, StreamEvent, sse};

/// What the decoder remembers: the usage of `message_start` (input tokens), completed by
/// `message_delta` (output tokens).
#[derive(Debug, Default)]
pub struct MessagesStreamDecoder {
    usage: Usage,
}

impl MessagesStreamDecoder {
    /// The canonical events of one upstream event.
    pub fn decode(&mut self, event: &SseEvent) -> Vec<StreamEvent> {
        let data = match event.json() {
            Ok(v) => v,
            Err(error) => return vec![error],
        };
        let index = || usize::try_from(data["index"].as_u64().unwrap_or(0)).unwrap_or(0);
        match data["type"].as_str().unwrap_or_default() {
            "message_start" => {
                let message = &data["message"];
                self.usage = decode_usage(&message["usage"]);
                vec![StreamEvent::Start {
                    id: message["id"].as_str().unwrap_or_default().to_owned(),
                    model: message["model"].as_str().unwrap_or_default().to_owned(),
                }]
            }
            "content_block_start" => {
                let block = &data["content_block"];
                let block = match block["type"].as_str() {
                    Some("thinking" | "redacted_thinking") => Block::Thinking,
                    Some("tool_use") => Block::ToolCall {
                        id: block["id"].as_str().unwrap_or_default().to_owned(),
                        name: block["name"].as_str().unwrap_or_default().to_owned(),
                    },
                    _ => Block::Text,
                };
                vec![StreamEvent::BlockStart {
                    index: index(),
                    block,
                }]
            }
            "content_block_delta" => {
                let delta = &data["delta"];
                let text = |key: &str| delta[key].as_str().unwrap_or_default().to_owned();
                let delta = match delta["type"].as_str() {
                    Some("text_delta") => Delta::Text(text("text")),
                    Some("thinking_delta") => Delta::Thinking(text("thinking")),
                    Some("signature_delta") => Delta::Signature(text("signature")),
                    Some("input_json_delta") => Delta::Arguments(text("partial_json")),
                    _ => return Vec::new(),
                };
                vec![StreamEvent::Delta {
                    index: index(),
                    delta,
                }]
            }
            "content_block_stop" => vec![StreamEvent::BlockStop { index: index() }],
            "message_delta" => {
                let mut out = Vec::new();
                if let Some(reason) = data["delta"]["stop_reason"].as_str() {
                    out.push(StreamEvent::Finish(match reason {
                        "max_tokens" => FinishReason::Length,
                        "tool_use" => FinishReason::ToolCalls,
                        "stop_sequence" => FinishReason::StopSequence(
                            data["delta"]["stop_sequence"].as_str().map(str::to_owned),
                        ),
                        "refusal" => FinishReason::ContentFilter,
                        _ => FinishReason::Stop,
                    }));
                }
                if let Some(output) = data["usage"]["output_tokens"].as_u64() {
                    self.usage.output_tokens = output;
                }
                out.push(StreamEvent::Usage(self.usage));
                out
            }
            "message_stop" => vec![StreamEvent::Done],
            "error" => vec![StreamEvent::Error(ErrorBody {
                kind: match data["error"]["type"].as_str() {
                    Some("overloaded_error") => ErrorKind::Overloaded,
                    Some("rate_limit_error") => ErrorKind::RateLimit,
                    Some("invalid_request_error") => ErrorKind::InvalidRequest,
                    _ => ErrorKind::Server,
                },
                message: data["error"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            })],
            // `ping` and event types added later carry nothing to convert.
            _ => Vec::new(),
        }
    }
}

/// Writes canonical events as a Messages stream.
#[derive(Debug, Default)]
pub struct MessagesStreamEncoder {
    finish: Option<FinishReason>,
    usage: Usage,
}

impl MessagesStreamEncoder {
    /// The bytes for one canonical event.
    pub fn encode(&mut self, event: &StreamEvent) -> Vec<u8> {
        let (name, body) = match event {
            StreamEvent::Start { id, model } => (
                "message_start",
                json!({"type": "message_start", "message": {
                    "id": id, "type": "message", "role": "assistant", "model": model,
                    "content": [], "stop_reason": null, "stop_sequence": null,
                    "usage": {"input_tokens": 0, "output_tokens": 0}}}),
            ),
            StreamEvent::BlockStart { index, block } => (
                "content_block_start",
                json!({"type": "content_block_start", "index": index, "content_block": match block {
                    Block::Text => json!({"type": "text", "text": ""}),
                    Block::Thinking => json!({"type": "thinking", "thinking": "", "signature": ""}),
                    Block::ToolCall { id, name } =>
                        json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
                }}),
            ),
            StreamEvent::Delta { index, delta } => (
                "content_block_delta",
                json!({"type": "content_block_delta", "index": index, "delta": match delta {
                    Delta::Text(t) => json!({"type": "text_delta", "text": t}),
                    Delta::Thinking(t) => json!({"type": "thinking_delta", "thinking": t}),
                    Delta::Signature(s) => json!({"type": "signature_delta", "signature": s}),
                    Delta::Arguments(a) => json!({"type": "input_json_delta", "partial_json": a}),
                }}),
            ),
            StreamEvent::BlockStop { index } => (
                "content_block_stop",
                json!({"type": "content_block_stop", "index": index}),
            ),
            StreamEvent::Finish(reason) => {
                self.finish = Some(reason.clone());
                return Vec::new();
            }
            StreamEvent::Usage(usage) => {
                self.usage = *usage;
                return Vec::new();
            }
            StreamEvent::Done => {
                let finish = self.finish.take().unwrap_or(FinishReason::Stop);
                let stop_sequence = match &finish {
                    FinishReason::StopSequence(Some(s)) => json!(s),
                    _ => Value::Null,
                };
                let mut out = sse(
                    Some("message_delta"),
                    &json!({"type": "message_delta",
                        "delta": {"stop_reason": stop_reason(&finish), "stop_sequence": stop_sequence},
                        "usage": crate::anthropic::encode_usage(&self.usage)})
                    .to_string(),
                );
                out.extend(sse(
                    Some("message_stop"),
                    &json!({"type": "message_stop"}).to_string(),
                ));
                return out;
            }
            StreamEvent::Error(error) => ("error", crate::anthropic::encode_error(error)),
        };
        sse(Some(name), &body.to_string())
    }
}
