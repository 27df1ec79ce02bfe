//! Parsing of pasted key lists (`keys_text`) and the deterministic key hash used for lookups.

use sha2::{Digest, Sha256};

/// Splits `keys_text` as GPT-Load does: a JSON array of strings when the whole text is one,
/// otherwise on whitespace, commas and semicolons. Trimmed, empties dropped, order kept.
pub fn parse_keys(text: &str) -> Vec<String> {
    let trimmed = text.trim();
    if trimmed.starts_with('[')
        && let Ok(list) = serde_json::from_str::<Vec<String>>(trimmed)
        && !list.is_empty()
    {
        return list
            .into_iter()
            .map(|k| k.trim().to_owned())
            .filter(|k| !k.is_empty())
            .collect();
    }
    trimmed
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect()
}

/// SHA-256 hex of a key: the `key_hash` column when encryption is off (GPT-Load compatible).
pub fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_text_and_json() {
        assert_eq!(parse_keys(" a,b;c\nd\t e ,,"), ["a", "b", "c", "d", "e"]);
        assert_eq!(parse_keys(r#"["x", " y "]"#), ["x", "y"]);
        assert!(parse_keys("  ").is_empty());
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(
            key_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
