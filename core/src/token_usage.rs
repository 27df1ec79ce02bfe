//! Token usage as providers report it, read from responses while they pass through: a complete
//! JSON body, or a Server-Sent-Events stream scanned line by line without buffering it (only a
//! line cut across two chunks is held, up to [`MAX_LINE`]).
//!
//! Shapes understood (any channel, since an OpenAI-compatible upstream may carry any of them):
//! * OpenAI Chat Completions: `usage.prompt_tokens` / `completion_tokens` / `total_tokens`,
//!   in the body or the final stream chunk (`stream_options.include_usage`);
//! * OpenAI Responses: `usage.input_tokens` / `output_tokens` / `total_tokens`, streamed in the
//!   `response.completed` event under `response`;
//! * Anthropic Messages: `usage.input_tokens` (+ `cache_creation_input_tokens`,
//!   `cache_read_input_tokens`) / `output_tokens`; streamed as `message_start` (under
//!   `message`) then cumulative `message_delta` counts;
//! * Gemini: `usageMetadata.promptTokenCount` / `candidatesTokenCount` (+ `thoughtsTokenCount`)
//!   / `totalTokenCount`, in every chunk (the last one wins), in SSE or a streamed JSON array.
//!
//! A later report of a field replaces an earlier one (stream counts are cumulative).

use serde_json::Number;

/// Longest SSE line held across chunks; a longer line is skipped (it is content, not usage).
pub const MAX_LINE: usize = 1 << 20;

/// Largest count believed; the provider's numbers are clamped to `0..=MAX_COUNT` so sums never
/// overflow.
const MAX_COUNT: i64 = 1 << 40;

/// A count as reported, clamped (`None` when absent or not an integer).
fn count(n: Option<&Number>) -> Option<i64> {
    n.and_then(Number::as_i64).map(|n| n.clamp(0, MAX_COUNT))
}

/// The fields of a `usage` object (OpenAI, Responses API, Anthropic), parsed without building
/// a JSON tree.
#[derive(Debug, Default, serde::Deserialize)]
struct UsageFields {
    prompt_tokens: Option<Number>,
    completion_tokens: Option<Number>,
    total_tokens: Option<Number>,
    input_tokens: Option<Number>,
    output_tokens: Option<Number>,
    cache_creation_input_tokens: Option<Number>,
    cache_read_input_tokens: Option<Number>,
}

/// The fields of Gemini's `usageMetadata`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct GeminiFields {
    prompt_token_count: Option<Number>,
    candidates_token_count: Option<Number>,
    thoughts_token_count: Option<Number>,
    total_token_count: Option<Number>,
}

/// An object that may carry usage (every other field is skipped unparsed).
#[derive(Debug, Default, serde::Deserialize)]
struct Message {
    usage: Option<UsageFields>,
    #[serde(rename = "usageMetadata")]
    usage_metadata: Option<GeminiFields>,
    /// Responses API `response.completed`.
    response: Option<MaybeNested>,
    /// Anthropic `message_start`.
    message: Option<MaybeNested>,
}

/// `response` / `message` may be something else than an object in other APIs (a text, say):
/// that must not lose the rest of the message.
#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
enum MaybeNested {
    Object(Nested),
    Other(serde::de::IgnoredAny),
}

/// `response` / `message` inside an event.
#[derive(Debug, Default, serde::Deserialize)]
struct Nested {
    usage: Option<UsageFields>,
}

/// Tokens one response used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenUsage {
    /// Prompt (input) tokens, cached ones included.
    pub input: i64,
    /// Completion (output) tokens, reasoning included.
    pub output: i64,
    /// Total as the provider reported it, else input + output.
    pub total: i64,
}

/// Fields seen so far; `None` until a report names them.
#[derive(Clone, Copy, Debug, Default)]
struct Reported {
    input: Option<i64>,
    output: Option<i64>,
    total: Option<i64>,
}

impl Reported {
    fn usage(self) -> Option<TokenUsage> {
        if self.input.is_none() && self.output.is_none() && self.total.is_none() {
            return None;
        }
        let input = self.input.unwrap_or(0);
        let output = self.output.unwrap_or(0);
        Some(TokenUsage {
            input,
            output,
            total: self.total.unwrap_or(input.saturating_add(output)),
        })
    }

    /// Takes what one JSON message reports.
    fn absorb(&mut self, m: Message) {
        let nested = [m.response, m.message].into_iter().filter_map(|n| match n {
            Some(MaybeNested::Object(n)) => n.usage,
            _ => None,
        });
        for u in m.usage.into_iter().chain(nested) {
            self.absorb_usage(&u);
        }
        if let Some(g) = m.usage_metadata {
            self.absorb_gemini(&g);
        }
    }

    fn absorb_usage(&mut self, u: &UsageFields) {
        let input = count(u.prompt_tokens.as_ref()).or_else(|| {
            count(u.input_tokens.as_ref()).map(|i| {
                i + count(u.cache_creation_input_tokens.as_ref()).unwrap_or(0)
                    + count(u.cache_read_input_tokens.as_ref()).unwrap_or(0)
            })
        });
        if input.is_some() {
            self.input = input;
        }
        if let Some(o) =
            count(u.completion_tokens.as_ref()).or_else(|| count(u.output_tokens.as_ref()))
        {
            self.output = Some(o);
        }
        if let Some(t) = count(u.total_tokens.as_ref()) {
            self.total = Some(t);
        }
    }

    fn absorb_gemini(&mut self, g: &GeminiFields) {
        if let Some(p) = count(g.prompt_token_count.as_ref()) {
            self.input = Some(p);
        }
        let candidates = count(g.candidates_token_count.as_ref());
        let thoughts = count(g.thoughts_token_count.as_ref());
        if candidates.is_some() || thoughts.is_some() {
            self.output = Some(candidates.unwrap_or(0) + thoughts.unwrap_or(0));
        }
        if let Some(t) = count(g.total_token_count.as_ref()) {
            self.total = Some(t);
        }
    }
}

/// How a response body is read for usage.
#[derive(Debug)]
enum Mode {
    /// Server-Sent Events: `data:` lines that mention usage are parsed as they complete.
    Events { partial: Vec<u8>, skipping: bool },
    /// A JSON body, kept (up to a limit) and parsed at the end.
    Body {
        buf: Vec<u8>,
        limit: usize,
        over: bool,
    },
}

/// Reads usage from a response as its chunks pass by.
#[derive(Debug)]
pub struct UsageScanner {
    mode: Mode,
    seen: Reported,
}

impl UsageScanner {
    /// A scanner for an event stream.
    pub fn events() -> Self {
        Self {
            mode: Mode::Events {
                partial: Vec::new(),
                skipping: false,
            },
            seen: Reported::default(),
        }
    }

    /// A scanner for a JSON body of at most `limit` bytes (a larger body reports nothing).
    pub fn body(limit: usize) -> Self {
        Self {
            mode: Mode::Body {
                buf: Vec::new(),
                limit,
                over: false,
            },
            seen: Reported::default(),
        }
    }

    /// The scanner for a response with this `Content-Type`: events for `text/event-stream`,
    /// a body scan of up to `body_limit` bytes for JSON, `None` for anything else.
    pub fn for_content_type(content_type: Option<&[u8]>, body_limit: usize) -> Option<Self> {
        let ct = content_type.unwrap_or(b"");
        if ct.starts_with(b"text/event-stream") {
            Some(Self::events())
        } else if ct.is_empty() || memchr::memmem::find(ct, b"json").is_some() {
            Some(Self::body(body_limit))
        } else {
            None
        }
    }

    /// Takes the next chunk of the body.
    pub fn feed(&mut self, chunk: &[u8]) {
        match &mut self.mode {
            Mode::Body { buf, limit, over } => {
                if !*over {
                    if buf.len() + chunk.len() > *limit {
                        *over = true;
                        *buf = Vec::new();
                    } else {
                        buf.extend_from_slice(chunk);
                    }
                }
            }
            Mode::Events { partial, skipping } => {
                let mut rest = chunk;
                while let Some(nl) = memchr::memchr(b'\n', rest) {
                    let (line, tail) = rest.split_at(nl);
                    rest = &tail[1..];
                    if std::mem::take(skipping) {
                        partial.clear();
                        continue;
                    }
                    if partial.is_empty() {
                        event_line(&mut self.seen, line);
                    } else {
                        partial.extend_from_slice(line);
                        event_line(&mut self.seen, partial);
                        partial.clear();
                    }
                }
                if !*skipping && !rest.is_empty() {
                    if partial.len() + rest.len() > MAX_LINE {
                        partial.clear();
                        *skipping = true;
                    } else {
                        partial.extend_from_slice(rest);
                    }
                }
            }
        }
    }

    /// The usage reported, once the body ended (`None` when the response reported none).
    pub fn finish(mut self) -> Option<TokenUsage> {
        match &mut self.mode {
            Mode::Body { buf, over, .. } => {
                if !*over && memchr::memmem::find(buf, b"sage").is_some() {
                    absorb_body(&mut self.seen, buf);
                }
            }
            Mode::Events { partial, skipping } => {
                if !*skipping && !partial.is_empty() {
                    let line = std::mem::take(partial);
                    event_line(&mut self.seen, &line);
                }
            }
        }
        self.seen.usage()
    }
}

/// A whole JSON body: one message, or (a Gemini stream without SSE) an array of them. For an
/// object, the value after the last `"usage"` / `"usageMetadata"` key is parsed on its own
/// (providers put it at the end, after the content); only when that fails is the whole body
/// parsed, skipping everything but the usage fields.
fn absorb_body(seen: &mut Reported, body: &[u8]) {
    if body.trim_ascii_start().first() == Some(&b'[') {
        if let Ok(items) = serde_json::from_slice::<Vec<Message>>(body) {
            items.into_iter().for_each(|m| seen.absorb(m));
        }
        return;
    }
    let usage = value_after_key::<UsageFields>(body, b"\"usage\"");
    let gemini = value_after_key::<GeminiFields>(body, b"\"usageMetadata\"");
    if usage.is_none() && gemini.is_none() {
        if let Ok(m) = serde_json::from_slice::<Message>(body) {
            seen.absorb(m);
        }
        return;
    }
    if let Some(u) = usage {
        seen.absorb_usage(&u);
    }
    if let Some(g) = gemini {
        seen.absorb_gemini(&g);
    }
}

/// The JSON value after the last occurrence of `key` (a quoted name) in `body`, if it parses as
/// `T`.
fn value_after_key<T: serde::de::DeserializeOwned>(body: &[u8], key: &[u8]) -> Option<T> {
    let at = memchr::memmem::rfind(body, key)? + key.len();
    let rest = body[at..].trim_ascii_start().strip_prefix(b":")?;
    let mut de = serde_json::Deserializer::from_slice(rest);
    T::deserialize(&mut de).ok()
}

/// One SSE line: a `data:` line that mentions usage is parsed (only the usage fields are built;
/// `"usage": null`, which OpenAI sends in every chunk of a stream with `include_usage`, is
/// nothing); everything else is skipped without parsing.
fn event_line(seen: &mut Reported, line: &[u8]) {
    let Some(data) = line.strip_prefix(b"data:") else {
        return;
    };
    if memchr::memmem::find(data, b"sage").is_none() {
        return;
    }
    if let Ok(m) = serde_json::from_slice::<Message>(data.trim_ascii()) {
        seen.absorb(m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_events(text: &str, chunk: usize) -> Option<TokenUsage> {
        let mut s = UsageScanner::events();
        for c in text.as_bytes().chunks(chunk) {
            s.feed(c);
        }
        s.finish()
    }

    fn usage(input: i64, output: i64, total: i64) -> Option<TokenUsage> {
        Some(TokenUsage {
            input,
            output,
            total,
        })
    }

    #[test]
    fn openai_body_and_final_stream_chunk() {
        let mut s = UsageScanner::body(1 << 20);
        s.feed(br#"{"id":"x","choices":[],"usage":{"prompt_tokens":12,"#);
        s.feed(br#""completion_tokens":30,"total_tokens":42}}"#);
        assert_eq!(s.finish(), usage(12, 30, 42));
        let stream = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n\
                      data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":7,\"total_tokens\":12}}\n\n\
                      data: [DONE]\n\n";
        for chunk in [1, 3, 17, 1000] {
            assert_eq!(scan_events(stream, chunk), usage(5, 7, 12), "chunk {chunk}");
        }
    }

    #[test]
    fn responses_api_completed_event() {
        let stream = "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"a\"}\n\n\
                      event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"r\",\"usage\":{\"input_tokens\":9,\"output_tokens\":4,\"total_tokens\":13}}}\n\n";
        assert_eq!(scan_events(stream, 7), usage(9, 4, 13));
    }

    #[test]
    fn anthropic_start_and_cumulative_deltas() {
        let stream = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":20,\"cache_read_input_tokens\":5,\"output_tokens\":1}}}\n\n\
                      event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"text\":\"usage is not a field here\"}}\n\n\
                      event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":15}}\n\n\
                      event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":31}}\n\n";
        assert_eq!(scan_events(stream, 5), usage(25, 31, 56));
        let mut body = UsageScanner::body(1 << 20);
        body.feed(br#"{"type":"message","usage":{"input_tokens":3,"output_tokens":4}}"#);
        assert_eq!(body.finish(), usage(3, 4, 7));
    }

    #[test]
    fn gemini_sse_array_and_body() {
        let stream = "data: {\"candidates\":[],\"usageMetadata\":{\"promptTokenCount\":8}}\r\n\r\n\
                      data: {\"candidates\":[],\"usageMetadata\":{\"promptTokenCount\":8,\"candidatesTokenCount\":10,\"thoughtsTokenCount\":2,\"totalTokenCount\":20}}\r\n\r\n";
        assert_eq!(scan_events(stream, 4), usage(8, 12, 20));
        let mut array = UsageScanner::body(1 << 20);
        array.feed(b"[{\"usageMetadata\":{\"promptTokenCount\":1}},\r\n");
        array.feed(b"{\"usageMetadata\":{\"promptTokenCount\":1,\"candidatesTokenCount\":2,\"totalTokenCount\":3}}]");
        assert_eq!(array.finish(), usage(1, 2, 3));
    }

    #[test]
    fn nothing_reported_oversized_body_and_overlong_line() {
        assert_eq!(
            scan_events("data: {\"choices\":[]}\n\ndata: [DONE]\n\n", 3),
            None
        );
        let mut s = UsageScanner::body(10);
        s.feed(br#"{"usage":{"prompt_tokens":1}}"#);
        assert_eq!(s.finish(), None);
        let long = format!("data: {{\"x\":\"{}\"}}\n", "a".repeat(MAX_LINE + 10));
        let text =
            format!("{long}data: {{\"usage\":{{\"prompt_tokens\":2,\"completion_tokens\":3}}}}\n");
        assert_eq!(scan_events(&text, 4096), usage(2, 3, 5));
    }

    #[test]
    fn other_shapes_of_response_and_message_do_not_hide_usage() {
        let mut s = UsageScanner::body(1 << 20);
        s.feed(br#"{"response":"plain text","message":[1],"usage":{"prompt_tokens":2,"completion_tokens":1.5}}"#);
        assert_eq!(s.finish(), usage(2, 0, 2));
    }

    #[test]
    fn content_type_picks_the_mode() {
        assert!(
            UsageScanner::for_content_type(Some(b"text/event-stream; charset=utf-8"), 1).is_some()
        );
        assert!(UsageScanner::for_content_type(Some(b"application/json"), 1).is_some());
        assert!(UsageScanner::for_content_type(Some(b"image/png"), 1).is_none());
    }
}
