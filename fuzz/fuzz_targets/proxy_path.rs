//! The request path and credential parsing of the public port: routing of the raw path, the
//! credential extractor (query `key`, `Authorization`, `x-api-key`, `x-goog-api-key`), and the
//! removal / masking of `key` in the query. Input: path, query and a header value, split by NUL.
#![no_main]

use gateway_core::client_credential::extract_token;
use gateway_proxy::client_auth::{redact_key_param, strip_key_param};
use gateway_proxy::group_routing::{Route, route};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.splitn(3, '\0');
    let (path, query, header) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    if let Route::Proxy { group, rest } = route(path) {
        assert!(!group.contains('/'));
        assert!(rest.is_empty() || rest.starts_with('/'));
        assert_eq!(format!("/proxy/{group}{rest}"), path);
    }
    let token = extract_token(Some(query), |name| (name == "authorization").then_some(header));
    if let Some(t) = &token {
        assert!(!t.is_empty());
    }
    // What goes upstream and into logs never carries a `key` parameter.
    if let Some(stripped) = strip_key_param(Some(query)) {
        assert!(url::form_urlencoded::parse(stripped.as_bytes()).all(|(k, _)| k != "key"));
    }
    let redacted = redact_key_param(query);
    for (k, v) in url::form_urlencoded::parse(redacted.as_bytes()) {
        assert!(k != "key" || v == "*****" || v.is_empty(), "{k}={v} in {redacted:?}");
    }
});
