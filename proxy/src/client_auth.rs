//! The caller's proxy key: how it is checked against a group (it is read by
//! `gateway_core::client_credential`), and the `key` query parameter removed or masked.

use std::collections::HashSet;

use gateway_core::client_credential::is_key_param;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The proxy keys that may call one group (its own plus the global ones), stored as SHA-256
/// digests. A lookup hashes the presented token first, so what the comparison can leak through
/// timing is about a digest, never about the key; the final check is a constant-time compare.
#[derive(Debug, Default)]
pub struct ProxyKeySet {
    digests: HashSet<[u8; 32]>,
}

impl ProxyKeySet {
    /// A set of the given keys (empty strings are ignored).
    pub fn new<'a>(keys: impl IntoIterator<Item = &'a str>) -> Self {
        Self {
            digests: keys
                .into_iter()
                .filter(|k| !k.is_empty())
                .map(digest)
                .collect(),
        }
    }

    /// True when `token` is one of the keys.
    pub fn allows(&self, token: &str) -> bool {
        let d = digest(token);
        self.digests
            .get(&d)
            .is_some_and(|found| bool::from(found.ct_eq(&d)))
    }

    /// Number of distinct keys.
    pub fn len(&self) -> usize {
        self.digests.len()
    }

    /// True when no key may call the group.
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// The query string without its `key` parameters (other parameters keep their raw encoding and
/// order). `None` when nothing is left.
pub fn strip_key_param(query: Option<&str>) -> Option<String> {
    let q = query?;
    let kept: Vec<&str> = q
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter(|pair| !is_key_param(pair))
        .collect();
    if kept.is_empty() {
        None
    } else {
        Some(kept.join("&"))
    }
}

/// The query string with the value of every `key` parameter replaced by `*****`, for logs.
pub fn redact_key_param(query: &str) -> String {
    query
        .split('&')
        .map(|pair| {
            if is_key_param(pair) {
                "key=*****"
            } else {
                pair
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_only_key() {
        assert_eq!(
            strip_key_param(Some("b=2&key=s&a=%20x")).as_deref(),
            Some("b=2&a=%20x")
        );
        assert_eq!(strip_key_param(Some("key=s")), None);
        assert_eq!(
            strip_key_param(Some("keyword=1")).as_deref(),
            Some("keyword=1")
        );
        assert_eq!(strip_key_param(None), None);
        // Every spelling that authenticates is removed, however its name is encoded.
        assert_eq!(
            strip_key_param(Some("%6bey=PK&a=1&%6Bey=PK&k%65y=PK&key=PK")).as_deref(),
            Some("a=1")
        );
    }

    #[test]
    fn redacts_key_for_logs() {
        assert_eq!(redact_key_param("a=1&key=secret&b=2"), "a=1&key=*****&b=2");
        assert_eq!(redact_key_param("keys=1"), "keys=1");
        assert_eq!(redact_key_param("%6bey=PK&b=2"), "key=*****&b=2");
    }

    #[test]
    fn set_membership() {
        let s = ProxyKeySet::new(["a-key", "", "b-key"]);
        assert_eq!(s.len(), 2);
        assert!(s.allows("a-key") && s.allows("b-key"));
        assert!(!s.allows("a-ke") && !s.allows(""));
    }
}
