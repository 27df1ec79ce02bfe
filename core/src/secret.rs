//! `Secret<T>`: a value that never prints. Debug, Display and Serialize show `*****`; the only way to
//! the inner value is [`Secret::expose`], which is called where the secret is used on purpose.

use std::fmt;

/// A secret value (upstream key, proxy key, `AUTH_KEY`, `ENCRYPTION_KEY`).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a value.
    pub const fn new(value: T) -> Self {
        Self(value)
    }

    /// The inner value. Call sites are the places where the secret is meant to leave the process
    /// (header injection, constant-time comparison, hashing).
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl Secret<String> {
    /// True when the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `first4****last4` as GPT-Load masks keys; secrets of 8 characters or fewer print as `*****`.
    pub fn masked(&self) -> String {
        mask_key(&self.0)
    }
}

/// Masks a key for display: `sk-a****wxyz`. Short keys are fully hidden.
pub fn mask_key(key: &str) -> String {
    let mut out = String::with_capacity(12);
    mask_key_into(key, &mut out);
    out
}

/// [`mask_key`] written over `out` (which keeps its allocation). Masking a mask gives it back
/// unchanged, so a stored mask can be masked again safely.
pub fn mask_key_into(key: &str, out: &mut String) {
    out.clear();
    let head_end = key.char_indices().nth(4).map(|(i, _)| i);
    let tail_start = key.char_indices().rev().nth(3).map(|(i, _)| i);
    match (head_end, tail_start) {
        // More than 8 characters: the first 4 end before the last 4 begin.
        (Some(head), Some(tail)) if head < tail => {
            out.push_str(&key[..head]);
            out.push_str("****");
            out.push_str(&key[tail..]);
        }
        _ => out.push_str("*****"),
    }
}

/// `text` with every occurrence of `key` replaced by its mask, both as it is and percent-encoded
/// as a URL query carries it (Gemini's `?key=` in a transport error's URL).
pub fn redact_key(text: &str, key: &str) -> String {
    if key.is_empty() {
        return text.to_owned();
    }
    let mut out = if text.contains(key) {
        text.replace(key, &mask_key(key))
    } else {
        text.to_owned()
    };
    let encoded: String = url::form_urlencoded::byte_serialize(key.as_bytes()).collect();
    if encoded != key && out.contains(&encoded) {
        out = out.replace(&encoded, &mask_key(key));
    }
    out
}

impl std::str::FromStr for Secret<String> {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("*****")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("*****")
    }
}

impl<T> serde::Serialize for Secret<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("*****")
    }
}

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Secret<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_value() {
        let s = Secret::new("sk-very-secret".to_owned());
        assert_eq!(format!("{s} {s:?}"), "***** *****");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"*****\"");
        assert_eq!(s.expose(), "sk-very-secret");
    }

    #[test]
    fn redacts_raw_and_url_encoded_keys() {
        let key = "AIza/secret+key=0123";
        let text = format!(
            "GET /v1?key={} failed; key {key}",
            url::form_urlencoded::byte_serialize(key.as_bytes()).collect::<String>()
        );
        let red = redact_key(&text, key);
        assert!(!red.contains(key) && !red.contains("secret%2Bkey"), "{red}");
        assert_eq!(red.matches("AIza****0123").count(), 2, "{red}");
        assert_eq!(redact_key("nothing here", key), "nothing here");
        assert_eq!(redact_key("abc", ""), "abc");
    }

    #[test]
    fn masks_like_gpt_load() {
        assert_eq!(mask_key("sk-abcdefghijkl"), "sk-a****ijkl");
        assert_eq!(mask_key("short"), "*****");
        assert_eq!(mask_key("12345678"), "*****");
        assert_eq!(mask_key("123456"), "*****");
        assert_eq!(mask_key(""), "*****");
        assert_eq!(mask_key("123456789"), "1234****6789");
        assert_eq!(mask_key("ключ-секретный"), "ключ****тный");
        for k in ["sk-abcdefghijkl", "short", "123456789", "ключ-секретный"] {
            assert_eq!(mask_key(&mask_key(k)), mask_key(k), "masking {k:?} twice");
        }
        let mut out = String::from("previous contents");
        mask_key_into("sk-abcdefghijkl", &mut out);
        assert_eq!(out, "sk-a****ijkl");
    }
}
