//! Chat Completions streams (`data: {chat.completion.chunk}` … `data: [DONE]`): decoded into
//! canonical stream events and encoded from them, one event at a time.

use serde_json::{Value, json};

use crate::canonical::{ErrorBody, ErrorKind, FinishReason};
use crate::openai_chat::{decode_usage, encode_usage, finish_word};
use crate::stream::{Block, BlockCursor, Delta, SseEvent, StreamEvent, sse};

/// What the decoder has open.
#[derive(Debug, Default)]
pub struct ChatStreamDecoder {
    started: bool,
    blocks: BlockCursor<OpenBlock>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpenBlock {
    Text,
    Thinking,
    /// A tool call, by its index among the chunk's `tool_calls`.
    Call(u64),
}

impl ChatStreamDecoder {
    /// The canonical events of one upstream event.
    pub fn decode(&mut self, event: &SseEvent) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        if event.data.trim() == "[DONE]" {
            self.blocks.close(&mut out);
            out.push(StreamEvent::Done);
            return out;
        }
        let chunk = match event.json() {
            Ok(v) => v,
            Err(error) => return vec![error],
        };
        if let Some(message) = chunk["error"]["message"].as_str() {
            out.push(StreamEvent::Error(ErrorBody {
                kind: ErrorKind::Server,
                message: message.to_owned(),
            }));
            return out;
        }
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: chunk["id"].as_str().unwrap_or_default().to_owned(),
                model: chunk["model"].as_str().unwrap_or_default().to_owned(),
            });
        }
        if let Some(choice) = chunk["choices"].get(0) {
            let delta = &choice["delta"];
            if let Some(text) = delta["reasoning_content"]
                .as_str()
                .filter(|t| !t.is_empty())
            {
                self.blocks
                    .enter(OpenBlock::Thinking, Block::Thinking, &mut out);
                self.blocks
                    .delta(Delta::Thinking(text.to_owned()), &mut out);
            }
            if let Some(text) = delta["content"].as_str().filter(|t| !t.is_empty()) {
                self.blocks.enter(OpenBlock::Text, Block::Text, &mut out);
                self.blocks.delta(Delta::Text(text.to_owned()), &mut out);
            }
            for call in delta["tool_calls"].as_array().into_iter().flatten() {
                let which = call["index"].as_u64().unwrap_or(0);
                let block = Block::ToolCall {
                    id: call["id"].as_str().unwrap_or_default().to_owned(),
                    name: call["function"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                };
                self.blocks.enter(OpenBlock::Call(which), block, &mut out);
                if let Some(args) = call["function"]["arguments"]
                    .as_str()
                    .filter(|a| !a.is_empty())
                {
                    self.blocks
                        .delta(Delta::Arguments(args.to_owned()), &mut out);
                }
            }
            if let Some(word) = choice["finish_reason"].as_str() {
                self.blocks.close(&mut out);
                out.push(StreamEvent::Finish(match word {
                    "length" => FinishReason::Length,
                    "tool_calls" | "function_call" => FinishReason::ToolCalls,
                    "content_filter" => FinishReason::ContentFilter,
                    _ => FinishReason::Stop,
                }));
            }
        }
        if chunk["usage"].is_object() {
            out.push(StreamEvent::Usage(decode_usage(&chunk["usage"])));
        }
        out
    }
}

/// Writes canonical events as a Chat Completions stream.
#[derive(Debug)]
pub struct ChatStreamEncoder {
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
    /// The `tool_calls` index of each canonical tool-call block, in order of their starts.
    calls: Vec<usize>,
    finish: Option<FinishReason>,
    usage: Option<crate::canonical::Usage>,
}

impl ChatStreamEncoder {
    /// An encoder for a client that asked `include_usage` (its `stream_options`), reporting
    /// `created` as the Unix time of the answer.
    pub fn new(created: u64, include_usage: bool) -> ChatStreamEncoder {
        ChatStreamEncoder {
            id: String::new(),
            model: String::new(),
            created,
            include_usage,
            calls: Vec::new(),
            finish: None,
            usage: None,
        }
    }

    fn chunk(&self, delta: Value, finish: Option<&FinishReason>) -> Vec<u8> {
        let body = json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": null,
                         "finish_reason": finish.map(finish_word)}],
        });
        sse(None, &body.to_string())
    }

    /// The bytes for one canonical event.
    pub fn encode(&mut self, event: &StreamEvent) -> Vec<u8> {
        match event {
            StreamEvent::Start { id, model } => {
                self.id.clone_from(id);
                self.model.clone_from(model);
                self.chunk(json!({"role": "assistant", "content": ""}), None)
            }
            StreamEvent::BlockStart {
                index,
                block: Block::ToolCall { id, name },
            } => {
                let which = self.calls.len();
                self.calls.push(*index);
                self.chunk(
                    json!({"tool_calls": [{"index": which, "id": id, "type": "function",
                        "function": {"name": name, "arguments": ""}}]}),
                    None,
                )
            }
            StreamEvent::Delta { index, delta } => match delta {
                Delta::Text(t) => self.chunk(json!({"content": t}), None),
                Delta::Thinking(t) => self.chunk(json!({"reasoning_content": t}), None),
                Delta::Arguments(a) => {
                    let which = self.calls.iter().position(|i| i == index).unwrap_or(0);
                    self.chunk(
                        json!({"tool_calls": [{"index": which, "function": {"arguments": a}}]}),
                        None,
                    )
                }
                Delta::Signature(_) => Vec::new(),
            },
            StreamEvent::Finish(reason) => {
                self.finish = Some(reason.clone());
                self.chunk(json!({}), Some(reason))
            }
            StreamEvent::Usage(usage) => {
                self.usage = Some(*usage);
                Vec::new()
            }
            StreamEvent::Done => {
                let mut out = Vec::new();
                if self.include_usage
                    && let Some(usage) = &self.usage
                {
                    let body = json!({
                        "id": self.id, "object": "chat.completion.chunk",
                        "created": self.created, "model": self.model, "choices": [],
                        "usage": encode_usage(usage),
                    });
                    out.extend(sse(None, &body.to_string()));
                }
                out.extend(sse(None, "[DONE]"));
                out
            }
            StreamEvent::Error(error) => {
                sse(None, &crate::openai_chat::encode_error(error).to_string())
            }
            StreamEvent::BlockStart { .. } | StreamEvent::BlockStop { .. } => Vec::new(),
        }
    }
}
