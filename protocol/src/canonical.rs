//! The canonical model: the gateway's own description of a chat exchange (request, response,
//! usage, error), which every protocol decodes into and encodes out of. It holds what the
//! protocols share; a field one protocol has and the model cannot carry is refused by that
//! protocol's decoder, naming it, rather than dropped.

use serde_json::Value;

/// A chat request, whatever protocol it came in.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChatRequest {
    /// The model asked for.
    pub model: String,
    /// System instructions, in order (OpenAI's `system` / `developer` messages, Anthropic's
    /// `system`).
    pub system: Vec<String>,
    /// The conversation, oldest first: user and assistant turns; tool results travel in user
    /// turns (as Anthropic has them).
    pub messages: Vec<Message>,
    /// Most tokens to generate (`None`: the target's rule applies).
    pub max_tokens: Option<u32>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// Top-k sampling (Anthropic and Gemini only).
    pub top_k: Option<u32>,
    /// Stop sequences.
    pub stop: Vec<String>,
    /// Whether the answer streams.
    pub stream: bool,
    /// Tools the model may call.
    pub tools: Vec<Tool>,
    /// How the model must use them.
    pub tool_choice: Option<ToolChoice>,
    /// Whether several tool calls may come in one turn (`None`: the target's default).
    pub parallel_tool_calls: Option<bool>,
    /// The shape of the answer.
    pub response_format: Option<ResponseFormat>,
    /// Extended thinking / reasoning.
    pub reasoning: Option<Reasoning>,
    /// An end-user id (OpenAI `user`, Anthropic `metadata.user_id`).
    pub user: Option<String>,
}

/// Who speaks a turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The client's side, tool results included.
    User,
    /// The model.
    Assistant,
}

/// One turn.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// Who speaks.
    pub role: Role,
    /// What was said, in order.
    pub parts: Vec<Part>,
}

/// A piece of a turn.
#[derive(Clone, Debug, PartialEq)]
pub enum Part {
    /// Text.
    Text(String),
    /// An image.
    Image(Image),
    /// The model calls a tool.
    ToolCall(ToolCall),
    /// The client answers a tool call.
    ToolResult(ToolResult),
    /// The model's visible reasoning, with the provider's signature when it has one.
    Thinking {
        /// The reasoning text.
        text: String,
        /// Anthropic's signature (needed to send the block back).
        signature: Option<String>,
    },
}

/// An image in a turn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Image {
    /// Inline bytes, base64.
    Base64 {
        /// `image/png`, `image/jpeg`, `image/gif` or `image/webp`.
        media_type: String,
        /// The base64 text.
        data: String,
    },
    /// A URL the provider fetches.
    Url(String),
}

/// A call of a tool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolCall {
    /// The call's id, echoed by its result.
    pub id: String,
    /// The tool.
    pub name: String,
    /// The arguments: a JSON object, as text.
    pub arguments: String,
}

/// The answer to a tool call.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolResult {
    /// The id of the call it answers.
    pub call_id: String,
    /// The result: text and images.
    pub content: Vec<Part>,
    /// Whether the tool failed.
    pub is_error: bool,
}

impl ToolResult {
    /// The result's text parts, one a line (for protocols whose tool results take text only).
    pub fn text(&self) -> String {
        let text: Vec<&str> = self
            .content
            .iter()
            .filter_map(|p| match p {
                Part::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        text.join("\n")
    }
}

/// A tool the model may call.
#[derive(Clone, Debug, PartialEq)]
pub struct Tool {
    /// Its name.
    pub name: String,
    /// What it does.
    pub description: Option<String>,
    /// JSON Schema of its arguments.
    pub parameters: Value,
}

/// How the model must use the tools.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToolChoice {
    /// As it sees fit.
    Auto,
    /// Not at all.
    None,
    /// At least one.
    Required,
    /// This one.
    Named(String),
}

/// The shape of the answer.
#[derive(Clone, Debug, PartialEq)]
pub enum ResponseFormat {
    /// Free text.
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON matching a schema.
    JsonSchema {
        /// The schema's name.
        name: String,
        /// The schema.
        schema: Value,
        /// Whether the provider must follow it exactly.
        strict: Option<bool>,
    },
}

/// Extended thinking: a budget of tokens (Anthropic, Gemini) or an effort (OpenAI).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reasoning {
    /// Think with at most this many tokens.
    Budget(u32),
    /// OpenAI's `reasoning_effort`.
    Effort(Effort),
}

impl Reasoning {
    /// The thinking budget, for providers that take one (an effort stands for `Effort::budget`).
    pub fn budget(&self) -> u32 {
        match self {
            Reasoning::Budget(tokens) => *tokens,
            Reasoning::Effort(effort) => effort.budget(),
        }
    }

    /// The effort, for providers that take one (a budget stands for `Effort::for_budget`).
    pub fn effort(&self) -> Effort {
        match self {
            Reasoning::Effort(effort) => *effort,
            Reasoning::Budget(tokens) => Effort::for_budget(*tokens),
        }
    }
}

/// OpenAI's reasoning effort.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effort {
    /// `minimal`.
    Minimal,
    /// `low`.
    Low,
    /// `medium`.
    Medium,
    /// `high`.
    High,
}

impl Effort {
    /// OpenAI's word.
    pub fn as_str(self) -> &'static str {
        match self {
            Effort::Minimal => "minimal",
            Effort::Low => "low",
            Effort::Medium => "medium",
            Effort::High => "high",
        }
    }

    /// From OpenAI's word.
    pub fn parse(word: &str) -> Option<Effort> {
        Some(match word {
            "minimal" => Effort::Minimal,
            "low" => Effort::Low,
            "medium" => Effort::Medium,
            "high" => Effort::High,
            _ => return None,
        })
    }

    /// The thinking budget that stands for this effort where a provider takes a budget.
    pub fn budget(self) -> u32 {
        match self {
            Effort::Minimal => 1024,
            Effort::Low => 2048,
            Effort::Medium => 8192,
            Effort::High => 24576,
        }
    }

    /// The effort that stands for a thinking budget where a provider takes an effort.
    pub fn for_budget(tokens: u32) -> Effort {
        match tokens {
            0..=1024 => Effort::Minimal,
            1025..=4096 => Effort::Low,
            4097..=16384 => Effort::Medium,
            _ => Effort::High,
        }
    }
}

/// A complete (non-streamed) answer.
#[derive(Clone, Debug, PartialEq)]
pub struct ChatResponse {
    /// The provider's id of the answer.
    pub id: String,
    /// The model that answered.
    pub model: String,
    /// What the model said, in order.
    pub parts: Vec<Part>,
    /// Why it stopped.
    pub finish: FinishReason,
    /// Tokens used.
    pub usage: Usage,
}

/// Why the model stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FinishReason {
    /// It was done.
    Stop,
    /// It met a stop sequence (which, when the provider says).
    StopSequence(Option<String>),
    /// It reached `max_tokens`.
    Length,
    /// It called tools and waits for their results.
    ToolCalls,
    /// The provider withheld content.
    ContentFilter,
}

/// Tokens of one exchange.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Every input token, cached ones included (OpenAI's `prompt_tokens`).
    pub input_tokens: u64,
    /// Output tokens, reasoning included.
    pub output_tokens: u64,
    /// Input tokens read from the provider's prompt cache.
    pub cached_input_tokens: u64,
    /// Input tokens written to the provider's prompt cache (Anthropic).
    pub cache_write_tokens: u64,
}

/// What kind of failure an error answer reports: every protocol has its own words for these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is malformed or asks for what the target cannot do (400).
    InvalidRequest,
    /// The credentials are wrong (401).
    Authentication,
    /// The credentials may not do this (403).
    Permission,
    /// No such model or resource (404).
    NotFound,
    /// Too many requests (429).
    RateLimit,
    /// The provider is overloaded (529 at Anthropic, 503 elsewhere).
    Overloaded,
    /// The provider failed (500 and others).
    Server,
}

impl ErrorKind {
    /// The kind of an answer with this HTTP status.
    pub fn for_status(status: u16) -> ErrorKind {
        match status {
            400 | 413 | 422 => ErrorKind::InvalidRequest,
            401 => ErrorKind::Authentication,
            403 => ErrorKind::Permission,
            404 => ErrorKind::NotFound,
            429 => ErrorKind::RateLimit,
            503 | 529 => ErrorKind::Overloaded,
            _ => ErrorKind::Server,
        }
    }
}

/// An error answer: its kind and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorBody {
    /// What failed.
    pub kind: ErrorKind,
    /// The provider's (or the gateway's) message.
    pub message: String,
}
