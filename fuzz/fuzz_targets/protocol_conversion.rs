//! Protocol conversion: never panics on any request, answer or stream, and how a stream is cut
//! into chunks does not change what the client gets (first byte: chunk size and direction; the
//! rest: the body or stream).
#![no_main]

use gateway_protocol::{Protocol, StreamConverter};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    const ALL: [Protocol; 3] = [
        Protocol::OpenAiChat,
        Protocol::AnthropicMessages,
        Protocol::Gemini,
    ];
    let from = ALL[usize::from(first % 3)];
    let to = ALL[usize::from((first / 3) % 3)];
    if let Ok(request) = from.decode_request(body, Some("m"), false) {
        let _ = to.encode_request(&request);
    }
    let _ = from.convert_response(to, body, 0);
    let _ = from.convert_error(to, 500, body);
    let cut = usize::from(first / 9).max(1);
    let mut whole = StreamConverter::new(from, to, 0, true);
    let mut expected = whole.feed(body);
    expected.extend(whole.finish());
    let mut pieces = StreamConverter::new(from, to, 0, true);
    let mut got = Vec::new();
    for chunk in body.chunks(cut) {
        got.extend(pieces.feed(chunk));
    }
    got.extend(pieces.finish());
    assert_eq!(expected, got, "chunks of {cut}");
});
