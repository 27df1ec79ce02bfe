//! The status-code spec parser (`429, 500-599`): never panics, and an accepted spec answers for
//! every status without panicking.
#![no_main]

use gateway_core::status_matcher::StatusMatcher;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(spec) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(m) = StatusMatcher::parse(spec) {
        for status in [0, 100, 200, 399, 400, 429, 500, 599, 600, 999, u16::MAX] {
            let _ = m.matches(status);
        }
    }
});
