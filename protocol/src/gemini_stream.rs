//! Gemini streams (`:streamGenerateContent?alt=sse`: `data: {GenerateContentResponse}` per
//! chunk, the last with `finishReason` and the usage, no end marker): decoded into canonical
//! stream events and encoded from them. Gemini sends a function call whole, so the encoder holds
//! one call's arguments until its block stops; nothing else is held.

use serde_json::{Value, json};

use crate::canonical::{ErrorBody, ErrorKind, FinishReason, Part, Usage};
use crate::gemini::{answer_parts, decode_finish, decode_usage, encode_usage, finish_word};
use crate::stream::{Block, BlockCursor, Delta, SseEvent, StreamEvent, sse};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpenBlock {
    Text,
    Thinking,
}

/// What the decoder has open.
#[derive(Debug, Default)]
pub struct GeminiStreamDecoder {
    started: bool,
    blocks: BlockCursor<OpenBlock>,
    calls: usize,
}

impl GeminiStreamDecoder {
    /// The canonical events of one upstream chunk.
    pub fn decode(&mut self, event: &SseEvent) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        let chunk = match event.json() {
            Ok(v) => v,
            Err(error) => return vec![error],
        };
        if let Some(message) = chunk["error"]["message"].as_str() {
            let status = chunk["error"]["code"]
                .as_u64()
                .and_then(|c| u16::try_from(c).ok());
            out.push(StreamEvent::Error(ErrorBody {
                kind: status.map_or(ErrorKind::Server, ErrorKind::for_status),
                message: message.to_owned(),
            }));
            return out;
        }
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: chunk["responseId"].as_str().unwrap_or_default().to_owned(),
                model: chunk["modelVersion"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            });
        }
        let candidate = &chunk["candidates"][0];
        for part in answer_parts(candidate, self.calls) {
            match part {
                Part::Text(t) if !t.is_empty() => {
                    self.blocks.enter(OpenBlock::Text, Block::Text, &mut out);
                    self.blocks.delta(Delta::Text(t), &mut out);
                }
                Part::Thinking { text, signature } => {
                    self.blocks
                        .enter(OpenBlock::Thinking, Block::Thinking, &mut out);
                    if !text.is_empty() {
                        self.blocks.delta(Delta::Thinking(text), &mut out);
                    }
                    if let Some(s) = signature {
                        self.blocks.delta(Delta::Signature(s), &mut out);
                    }
                }
                Part::ToolCall(call) => {
                    self.calls += 1;
                    let block = Block::ToolCall {
                        id: call.id,
                        name: call.name,
                    };
                    self.blocks
                        .whole(block, Delta::Arguments(call.arguments), &mut out);
                }
                _ => {}
            }
        }
        if let Some(word) = candidate["finishReason"].as_str() {
            self.blocks.close(&mut out);
            out.push(StreamEvent::Finish(decode_finish(word, self.calls > 0)));
            out.push(StreamEvent::Usage(decode_usage(&chunk["usageMetadata"])));
            out.push(StreamEvent::Done);
        }
        out
    }
}

/// Writes canonical events as a Gemini stream.
#[derive(Debug, Default)]
pub struct GeminiStreamEncoder {
    id: String,
    model: String,
    /// The open tool call: name and the arguments so far.
    call: Option<(String, String)>,
    finish: Option<FinishReason>,
    usage: Usage,
}

impl GeminiStreamEncoder {
    fn chunk(&self, part: Value) -> Vec<u8> {
        let body = json!({
            "candidates": [{"content": {"role": "model", "parts": [part]}, "index": 0}],
            "modelVersion": self.model, "responseId": self.id,
        });
        sse(None, &body.to_string())
    }

    /// The bytes for one canonical event.
    pub fn encode(&mut self, event: &StreamEvent) -> Vec<u8> {
        match event {
            StreamEvent::Start { id, model } => {
                self.id.clone_from(id);
                self.model.clone_from(model);
                Vec::new()
            }
            StreamEvent::BlockStart {
                block: Block::ToolCall { name, .. },
                ..
            } => {
                self.call = Some((name.clone(), String::new()));
                Vec::new()
            }
            StreamEvent::Delta { delta, .. } => match delta {
                Delta::Text(t) => self.chunk(json!({"text": t})),
                Delta::Thinking(t) => self.chunk(json!({"text": t, "thought": true})),
                Delta::Arguments(a) => {
                    if let Some((_, args)) = &mut self.call {
                        args.push_str(a);
                    }
                    Vec::new()
                }
                Delta::Signature(_) => Vec::new(),
            },
            StreamEvent::BlockStop { .. } => match self.call.take() {
                Some((name, args)) => {
                    let args = serde_json::from_str::<Value>(&args).unwrap_or_else(|_| json!({}));
                    self.chunk(json!({"functionCall": {"name": name, "args": args}}))
                }
                None => Vec::new(),
            },
            StreamEvent::Finish(reason) => {
                self.finish = Some(reason.clone());
                Vec::new()
            }
            StreamEvent::Usage(usage) => {
                self.usage = *usage;
                Vec::new()
            }
            StreamEvent::Done => {
                let finish = self.finish.take().unwrap_or(FinishReason::Stop);
                let body = json!({
                    "candidates": [{"content": {"role": "model", "parts": [{"text": ""}]},
                                    "finishReason": finish_word(&finish), "index": 0}],
                    "usageMetadata": encode_usage(&self.usage),
                    "modelVersion": self.model, "responseId": self.id,
                });
                sse(None, &body.to_string())
            }
            StreamEvent::Error(error) => sse(None, &crate::gemini::encode_error(error).to_string()),
            StreamEvent::BlockStart { .. } => Vec::new(),
        }
    }
}
