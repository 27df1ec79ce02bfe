//! gateway-protocol: the providers' chat protocols and conversion between them, hub and spoke.
//! Each protocol has one decoder into the canonical model (`canonical`) and one encoder out of
//! it, so a request in one protocol reaches an upstream of another through two steps, and a
//! further protocol costs two pieces rather than one converter per pair. Same-protocol traffic
//! never comes here. No Pingora and no I/O: everything is a function of bytes and values, unit
//! tested on the shapes of the providers' API references (docs/protocol-conversion.md).
//!
//! It covers OpenAI Chat Completions, Anthropic Messages and Gemini `generateContent`: requests,
//! complete answers, streams (event by event, `StreamConverter`) and errors.

pub mod anthropic;
pub mod anthropic_stream;
pub mod canonical;
pub mod gemini;
pub mod gemini_stream;
mod json_reading;
pub mod openai_chat;
pub mod openai_chat_stream;
pub mod stream;

use canonical::{ChatResponse, ErrorBody, ErrorKind};

/// Why a body could not be converted; answered as a 400 in the client's own error shape.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// The body is not a valid request or answer of its protocol; the message names the field.
    #[error("{0}")]
    Malformed(String),
    /// The body asks for something the conversion cannot carry.
    #[error("{feature} {}", match target {
        Some(target) => format!("is not supported by {target}"),
        None => "cannot be converted to another protocol".to_owned(),
    })]
    Unsupported {
        /// The field or feature, as the client named it.
        feature: String,
        /// The protocol that cannot do it, when it is the target's limit.
        target: Option<&'static str>,
    },
}

impl ConvertError {
    pub(crate) fn malformed(message: impl Into<String>) -> ConvertError {
        ConvertError::Malformed(message.into())
    }

    pub(crate) fn unsupported(feature: impl Into<String>) -> ConvertError {
        ConvertError::Unsupported {
            feature: feature.into(),
            target: None,
        }
    }

    pub(crate) fn unsupported_by(feature: impl Into<String>, target: &'static str) -> ConvertError {
        ConvertError::Unsupported {
            feature: feature.into(),
            target: Some(target),
        }
    }

    /// The error as the client is told it (a 400).
    pub fn to_error_body(&self) -> ErrorBody {
        ErrorBody {
            kind: ErrorKind::InvalidRequest,
            message: self.to_string(),
        }
    }
}

/// A chat protocol the gateway converts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// OpenAI Chat Completions.
    OpenAiChat,
    /// Anthropic Messages.
    AnthropicMessages,
    /// Gemini `generateContent` / `streamGenerateContent`.
    Gemini,
}

impl Protocol {
    /// Its name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::OpenAiChat => openai_chat::NAME,
            Protocol::AnthropicMessages => anthropic::NAME,
            Protocol::Gemini => gemini::NAME,
        }
    }

    /// Decodes a request of this protocol. Gemini names the model and whether the answer
    /// streams in its URL (`url_model`, `url_stream`); the others in their body.
    pub fn decode_request(
        self,
        body: &[u8],
        url_model: Option<&str>,
        url_stream: bool,
    ) -> Result<canonical::ChatRequest, ConvertError> {
        match self {
            Protocol::OpenAiChat => openai_chat::decode_request(body),
            Protocol::AnthropicMessages => anthropic::decode_request(body),
            Protocol::Gemini => {
                let model = url_model.ok_or_else(|| {
                    ConvertError::malformed(
                        "the model is named in the URL: /v1beta/models/{model}:generateContent",
                    )
                })?;
                gemini::decode_request(body, model, url_stream)
            }
        }
    }

    /// The body of a request of this protocol (for Gemini, `request.model` and `request.stream`
    /// go in the URL).
    pub fn encode_request(self, request: &canonical::ChatRequest) -> Result<Vec<u8>, ConvertError> {
        let encoded = match self {
            Protocol::OpenAiChat => openai_chat::encode_request(request)?,
            Protocol::AnthropicMessages => anthropic::encode_request(request)?,
            Protocol::Gemini => gemini::encode_request(request)?,
        };
        Ok(encoded.to_string().into_bytes())
    }

    /// A request of `self`, whose body names its model, as the body of a request of `target`.
    pub fn convert_request(self, target: Protocol, body: &[u8]) -> Result<Vec<u8>, ConvertError> {
        target.encode_request(&self.decode_request(body, None, false)?)
    }

    /// A complete answer of `self` (an upstream of this protocol) as the answer of `client`.
    /// `created` is the Unix time Chat Completions answers carry.
    pub fn convert_response(
        self,
        client: Protocol,
        body: &[u8],
        created: u64,
    ) -> Result<Vec<u8>, ConvertError> {
        let response: ChatResponse = match self {
            Protocol::OpenAiChat => openai_chat::decode_response(body)?,
            Protocol::AnthropicMessages => anthropic::decode_response(body)?,
            Protocol::Gemini => gemini::decode_response(body)?,
        };
        let encoded = match client {
            Protocol::OpenAiChat => openai_chat::encode_response(&response, created),
            Protocol::AnthropicMessages => anthropic::encode_response(&response),
            Protocol::Gemini => gemini::encode_response(&response),
        };
        Ok(encoded.to_string().into_bytes())
    }

    /// An error answer of `self` (an upstream of this protocol, with its status) in `client`'s
    /// error shape.
    pub fn convert_error(self, client: Protocol, status: u16, body: &[u8]) -> Vec<u8> {
        let error = match self {
            Protocol::OpenAiChat => openai_chat::decode_error(status, body),
            Protocol::AnthropicMessages => anthropic::decode_error(status, body),
            Protocol::Gemini => gemini::decode_error(status, body),
        };
        client.encode_error(&error)
    }

    /// `error` in this protocol's error shape.
    pub fn encode_error(self, error: &ErrorBody) -> Vec<u8> {
        match self {
            Protocol::OpenAiChat => openai_chat::encode_error(error),
            Protocol::AnthropicMessages => anthropic::encode_error(error),
            Protocol::Gemini => gemini::encode_error(error),
        }
        .to_string()
        .into_bytes()
    }
}

/// Converts a streamed answer of one protocol into another's, event by event: bytes in as the
/// upstream sends them, bytes out as soon as an event is complete (nothing but an unfinished line
/// is held).
#[derive(Debug)]
pub struct StreamConverter {
    reader: stream::SseReader,
    decoder: StreamDecoder,
    encoder: StreamEncoder,
    done: bool,
}

#[derive(Debug)]
enum StreamDecoder {
    OpenAiChat(openai_chat_stream::ChatStreamDecoder),
    AnthropicMessages(anthropic_stream::MessagesStreamDecoder),
    Gemini(gemini_stream::GeminiStreamDecoder),
}

#[derive(Debug)]
enum StreamEncoder {
    OpenAiChat(openai_chat_stream::ChatStreamEncoder),
    AnthropicMessages(anthropic_stream::MessagesStreamEncoder),
    Gemini(gemini_stream::GeminiStreamEncoder),
}

impl StreamConverter {
    /// A converter from an `upstream` stream to a `client` stream. `created` is the Unix time
    /// Chat Completions chunks carry; `include_usage` is the Chat Completions client's
    /// `stream_options.include_usage`.
    pub fn new(
        upstream: Protocol,
        client: Protocol,
        created: u64,
        include_usage: bool,
    ) -> StreamConverter {
        StreamConverter {
            reader: stream::SseReader::default(),
            decoder: match upstream {
                Protocol::OpenAiChat => StreamDecoder::OpenAiChat(Default::default()),
                Protocol::AnthropicMessages => StreamDecoder::AnthropicMessages(Default::default()),
                Protocol::Gemini => StreamDecoder::Gemini(Default::default()),
            },
            encoder: match client {
                Protocol::OpenAiChat => StreamEncoder::OpenAiChat(
                    openai_chat_stream::ChatStreamEncoder::new(created, include_usage),
                ),
                Protocol::AnthropicMessages => StreamEncoder::AnthropicMessages(Default::default()),
                Protocol::Gemini => StreamEncoder::Gemini(Default::default()),
            },
            done: false,
        }
    }

    /// The client's bytes for the upstream's next `chunk`.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for event in self.reader.feed(chunk) {
            let events = match &mut self.decoder {
                StreamDecoder::OpenAiChat(d) => d.decode(&event),
                StreamDecoder::AnthropicMessages(d) => d.decode(&event),
                StreamDecoder::Gemini(d) => d.decode(&event),
            };
            for event in &events {
                self.emit(event, &mut out);
            }
        }
        out
    }

    /// The upstream's stream ended: an error event for the client when it ended before its
    /// last event.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if !self.done {
            self.emit(
                &stream::StreamEvent::Error(ErrorBody {
                    kind: ErrorKind::Server,
                    message: "the upstream's stream ended before the answer was complete"
                        .to_owned(),
                }),
                &mut out,
            );
        }
        out
    }

    fn emit(&mut self, event: &stream::StreamEvent, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        if matches!(
            event,
            stream::StreamEvent::Done | stream::StreamEvent::Error(_)
        ) {
            self.done = true;
        }
        out.extend(match &mut self.encoder {
            StreamEncoder::OpenAiChat(e) => e.encode(event),
            StreamEncoder::AnthropicMessages(e) => e.encode(event),
            StreamEncoder::Gemini(e) => e.encode(event),
        });
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod stream_tests;

#[cfg(test)]
mod gemini_tests;
