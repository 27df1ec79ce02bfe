//! Stored key values: opening arbitrary text never panics (with and without a key), and
//! whatever is sealed opens to itself.
#![no_main]

use std::sync::OnceLock;

use gateway_core::Secret;
use gateway_core::key_crypto::KeyCipher;
use libfuzzer_sys::fuzz_target;

fn cipher() -> &'static KeyCipher {
    static C: OnceLock<KeyCipher> = OnceLock::new();
    C.get_or_init(|| {
        KeyCipher::derive(&Secret::new("fuzz-encryption-key-0123456789".to_owned()))
            .unwrap_or_else(|_| KeyCipher::plaintext())
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let c = cipher();
    let _ = c.open(text);
    let _ = KeyCipher::plaintext().open(text);
    assert_eq!(c.open(&c.seal(text)).ok().as_deref(), Some(text));
    let _ = c.lookup_hash(text);
});
