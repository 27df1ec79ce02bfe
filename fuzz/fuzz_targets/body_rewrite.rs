//! JSON body rewriting: param overrides and model redirects on arbitrary bodies and paths, and
//! model-list rewriting. Never panics; a rewritten JSON body is still JSON.
#![no_main]

use std::collections::HashMap;

use bytes::Bytes;
use gateway_core::ChannelType;
use gateway_proxy::model_list;
use gateway_proxy::request_rewrite::RewriteRules;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let split = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
    let (path, body) = rest.split_at(split);
    let Ok(path) = std::str::from_utf8(path) else {
        return;
    };
    let body = body.get(1..).unwrap_or_default();
    let strict = flags & 1 == 1;
    let channel = match (flags >> 1) % 4 {
        0 => ChannelType::OpenAi,
        1 => ChannelType::Anthropic,
        2 => ChannelType::Gemini,
        _ => ChannelType::OpenAiResponse,
    };
    let Ok(rules) = RewriteRules::from_json(
        r#"{"temperature": 0.5, "max_tokens": 10}"#,
        r#"{"gpt-4": "gpt-4o", "gemini-pro": "gemini-2.0-flash"}"#,
        strict,
        "",
    ) else {
        return;
    };
    if let Ok(out) = rules.apply(channel, path, Bytes::copy_from_slice(body))
        && serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| v.is_object())
    {
        assert!(serde_json::from_slice::<serde_json::Value>(&out.body).is_ok());
    }
    let redirects: HashMap<String, String> =
        HashMap::from([("gpt-4".to_owned(), "gpt-4o".to_owned())]);
    if let Some(list) = model_list::rewrite(body, &redirects, strict, flags & 2 == 2) {
        assert!(serde_json::from_slice::<serde_json::Value>(&list).is_ok());
    }
});
