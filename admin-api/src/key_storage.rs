//! Upstream keys between the API and the database: sealed and hashed for storage and lookups,
//! opened again for listings, exports and validation, and the key a request log shows (with `ENCRYPTION_KEY`, see
//! [`gateway_core::key_crypto`]).

use std::collections::HashSet;

use gateway_core::key_crypto::KeyCipher;
use gateway_core::secret::mask_key;

/// What a listing shows for a stored value that does not decrypt (GPT-Load's placeholder).
pub const UNREADABLE: &str = "failed-to-decrypt";

/// `(stored value, key_hash)` of each key not seen before (`seen` holds hashes).
pub fn sealed_new(
    cipher: &KeyCipher,
    keys: &[String],
    seen: &mut HashSet<String>,
) -> Vec<(String, String)> {
    keys.iter()
        .filter_map(|k| {
            let hash = cipher.lookup_hash(k);
            seen.insert(hash.clone()).then(|| (cipher.seal(k), hash))
        })
        .collect()
}

/// The distinct lookup hashes of `keys`, in order.
pub fn hashes(cipher: &KeyCipher, keys: &[String]) -> Vec<String> {
    let mut seen = HashSet::with_capacity(keys.len());
    keys.iter()
        .map(|k| cipher.lookup_hash(k))
        .filter(|h| seen.insert(h.clone()))
        .collect()
}

/// The key a listing shows: the decrypted key, or [`UNREADABLE`].
pub fn shown(cipher: &KeyCipher, stored: String) -> String {
    if !cipher.is_encrypting() && !stored.starts_with(gateway_core::key_crypto::ENCRYPTED_PREFIX) {
        return stored;
    }
    cipher
        .open(&stored)
        .unwrap_or_else(|_| UNREADABLE.to_owned())
}

/// The key a request log shows: the key itself while `api_keys` still holds it (`live`, as
/// stored there), otherwise the log's own mask. A log row written before logs stored only a mask
/// may hold the key sealed or in plaintext: it is masked here too.
pub fn logged(cipher: &KeyCipher, live: Option<String>, logged: &str) -> String {
    if let Some(stored) = live {
        return shown(cipher, stored);
    }
    if logged.is_empty() {
        return String::new();
    }
    if logged.starts_with(gateway_core::key_crypto::ENCRYPTED_PREFIX) {
        return cipher
            .open(logged)
            .map_or_else(|_| UNREADABLE.to_owned(), |k| mask_key(&k));
    }
    mask_key(logged)
}

/// Decrypted keys of stored values; values that do not decrypt are left out.
pub fn opened_values(cipher: &KeyCipher, stored: impl IntoIterator<Item = String>) -> Vec<String> {
    stored
        .into_iter()
        .filter_map(|v| cipher.open(&v).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_listing_is_the_stored_value_and_dedup_is_by_hash() {
        let p = KeyCipher::plaintext();
        assert_eq!(shown(&p, "sk-1".into()), "sk-1");
        assert_eq!(shown(&p, "enc1:xyz".into()), UNREADABLE);
        let mut seen = HashSet::new();
        let keys = ["a".to_owned(), "b".to_owned(), "a".to_owned()];
        let rows = sealed_new(&p, &keys, &mut seen);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0], ("a".to_owned(), p.lookup_hash("a")));
        assert!(sealed_new(&p, &keys[..1], &mut seen).is_empty());
        assert_eq!(hashes(&p, &keys).len(), 2);
    }

    #[test]
    fn a_log_shows_the_live_key_or_a_mask() {
        let p = KeyCipher::plaintext();
        assert_eq!(
            logged(&p, Some("sk-live-key-1".into()), "sk-l****ey-1"),
            "sk-live-key-1"
        );
        assert_eq!(logged(&p, None, "sk-l****ey-1"), "sk-l****ey-1");
        assert_eq!(logged(&p, None, "sk-an-old-plaintext-row"), "sk-a****-row");
        assert_eq!(logged(&p, None, ""), "");
        assert_eq!(logged(&p, None, "enc1:AAAA"), UNREADABLE);
    }
}
