//! The streaming token-usage scanner: never panics, and how the stream is cut into chunks does
//! not change what it reads (first byte: chunk size; the rest: the stream).
#![no_main]

use gateway_core::token_usage::UsageScanner;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, stream)) = data.split_first() else {
        return;
    };
    let cut = usize::from(cut).max(1);
    for make in [UsageScanner::events as fn() -> UsageScanner, || UsageScanner::body(1 << 16)] {
        let mut whole = make();
        whole.feed(stream);
        let mut pieces = make();
        for chunk in stream.chunks(cut) {
            pieces.feed(chunk);
        }
        let (a, b) = (whole.finish(), pieces.finish());
        assert_eq!(format!("{a:?}"), format!("{b:?}"), "chunks of {cut}");
        if let Some(u) = a {
            assert!(u.input >= 0 && u.output >= 0 && u.total >= 0);
        }
    }
});
