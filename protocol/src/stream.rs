//! Streams: the canonical stream events every protocol's stream decodes into and encodes from,
//! and the Server-Sent Events reader that cuts an upstream's bytes into events however they are
//! chunked (it keeps only the unfinished line, never the stream).

use crate::canonical::{ErrorBody, FinishReason, Usage};

/// One event of a streamed answer.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamEvent {
    /// The answer begins.
    Start {
        /// The provider's id of the answer.
        id: String,
        /// The model that answers.
        model: String,
    },
    /// A content block begins (blocks never overlap: each stops before the next starts).
    BlockStart {
        /// The block's position in the answer, from 0.
        index: usize,
        /// What the block holds.
        block: Block,
    },
    /// More of the open block.
    Delta {
        /// The block's position.
        index: usize,
        /// What arrived.
        delta: Delta,
    },
    /// The block is complete.
    BlockStop {
        /// The block's position.
        index: usize,
    },
    /// Why the model stopped (the usage may still follow).
    Finish(FinishReason),
    /// The tokens of the whole answer so far (the last one counts).
    Usage(Usage),
    /// The stream ended properly.
    Done,
    /// The provider reported an error in the stream.
    Error(ErrorBody),
}

/// The kind of a content block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Block {
    /// Text.
    Text,
    /// Reasoning.
    Thinking,
    /// A tool call; its arguments arrive as deltas.
    ToolCall {
        /// The call's id.
        id: String,
        /// The tool.
        name: String,
    },
}

/// A piece of a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delta {
    /// Text.
    Text(String),
    /// Reasoning text.
    Thinking(String),
    /// The signature of a thinking block (Anthropic).
    Signature(String),
    /// A piece of a tool call's JSON arguments.
    Arguments(String),
}

/// The block a decoder has open, for protocols whose chunks do not mark blocks (Chat
/// Completions, Gemini): a change of kind closes the open block and starts the next one.
#[derive(Debug)]
pub(crate) struct BlockCursor<K> {
    open: Option<(usize, K)>,
    next_index: usize,
}

impl<K> Default for BlockCursor<K> {
    fn default() -> Self {
        BlockCursor {
            open: None,
            next_index: 0,
        }
    }
}

impl<K: Copy + PartialEq> BlockCursor<K> {
    /// Makes a block of `kind` the open one, closing another first.
    pub(crate) fn enter(&mut self, kind: K, block: Block, out: &mut Vec<StreamEvent>) {
        if matches!(self.open, Some((_, open)) if open == kind) {
            return;
        }
        self.close(out);
        let index = self.start(block, out);
        self.open = Some((index, kind));
    }

    /// More of the open block.
    pub(crate) fn delta(&self, delta: Delta, out: &mut Vec<StreamEvent>) {
        if let Some((index, _)) = self.open {
            out.push(StreamEvent::Delta { index, delta });
        }
    }

    /// Closes the open block, if any.
    pub(crate) fn close(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some((index, _)) = self.open.take() {
            out.push(StreamEvent::BlockStop { index });
        }
    }

    /// A block that arrives whole (Gemini's function calls): its start, its one delta, its stop.
    pub(crate) fn whole(&mut self, block: Block, delta: Delta, out: &mut Vec<StreamEvent>) {
        self.close(out);
        let index = self.start(block, out);
        out.push(StreamEvent::Delta { index, delta });
        out.push(StreamEvent::BlockStop { index });
    }

    fn start(&mut self, block: Block, out: &mut Vec<StreamEvent>) -> usize {
        let index = self.next_index;
        self.next_index += 1;
        out.push(StreamEvent::BlockStart { index, block });
        index
    }
}

/// One Server-Sent Event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// Its `event:` name, if any.
    pub event: Option<String>,
    /// Its `data:` lines, joined by `\n`.
    pub data: String,
}

impl SseEvent {
    /// Its data as JSON, or the error event that says the upstream sent something else.
    pub fn json(&self) -> Result<serde_json::Value, StreamEvent> {
        serde_json::from_str(&self.data).map_err(|_| {
            StreamEvent::Error(crate::canonical::ErrorBody {
                kind: crate::canonical::ErrorKind::Server,
                message: format!(
                    "the upstream sent a stream event that is not JSON: {}",
                    self.data
                ),
            })
        })
    }
}

/// Cuts a byte stream into Server-Sent Events (`\n`, `\r\n` or `\r` line ends; comments and
/// unknown fields skipped), whatever the chunking.
#[derive(Debug, Default)]
pub struct SseReader {
    line: Vec<u8>,
    current: SseEvent,
    has_data: bool,
    after_cr: bool,
}

impl SseReader {
    /// The events completed by `chunk`.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        for &byte in chunk {
            match byte {
                b'\n' if self.after_cr => self.after_cr = false,
                b'\n' | b'\r' => {
                    self.after_cr = byte == b'\r';
                    self.end_line(&mut events);
                }
                _ => {
                    self.after_cr = false;
                    self.line.push(byte);
                }
            }
        }
        events
    }

    fn end_line(&mut self, events: &mut Vec<SseEvent>) {
        let line = std::mem::take(&mut self.line);
        if line.is_empty() {
            if self.has_data || self.current.event.is_some() {
                events.push(std::mem::take(&mut self.current));
                self.has_data = false;
            }
            return;
        }
        let text = String::from_utf8_lossy(&line);
        let (field, value) = match text.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (text.as_ref(), ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.current.data.push('\n');
                }
                self.current.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.current.event = Some(value.to_owned()),
            _ => {}
        }
    }
}

/// `event: {name}\ndata: {json}\n\n`, or `data: {json}\n\n` without a name.
pub(crate) fn sse(event: Option<&str>, data: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 32);
    if let Some(name) = event {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(name.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(data.as_bytes());
    out.extend_from_slice(b"\n\n");
    out
}
