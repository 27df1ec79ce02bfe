//! The pasted key-list parser: never panics; every key is non-empty and trimmed, and a key from
//! plain text (not a JSON array) holds no separator.
#![no_main]

use gateway_core::key_text::parse_keys;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let json = text.trim().starts_with('[');
    for key in parse_keys(text) {
        assert!(!key.is_empty());
        assert_eq!(key.trim(), key);
        if !json {
            assert!(!key.contains([',', ';']) && !key.contains(char::is_whitespace));
        }
    }
});
