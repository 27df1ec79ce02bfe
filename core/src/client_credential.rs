//! Where a caller's credential is read from, the same for proxy keys and the admin `AUTH_KEY`
//! (GPT-Load's extractor): query `key`, `Authorization: Bearer`, `x-api-key`, `x-goog-api-key`,
//! first match wins.
//!
//! A query parameter is the `key` parameter when its name *decodes* to `key` (`key`, `%6bey`,
//! `k%65y`, …), exactly as the reading of its value decodes it: `is_key_param` is the one test
//! used for reading, removing and masking, so a credential that authenticates is always removed
//! before the request goes upstream and masked wherever the path is shown.

use url::form_urlencoded;

/// True when a raw query pair (`name=value`, or a bare `name`) is a `key` parameter once its
/// name is form-decoded.
pub fn is_key_param(pair: &str) -> bool {
    let name = pair.split_once('=').map_or(pair, |(name, _)| name);
    if name == "key" {
        return true;
    }
    // Each of the three letters is at most `%XX`: anything shorter than `key` or longer than
    // nine bytes, or without an escape, cannot decode to it.
    if !(3..=9).contains(&name.len()) || !name.contains('%') {
        return false;
    }
    form_urlencoded::parse(name.as_bytes())
        .next()
        .is_some_and(|(decoded, _)| decoded == "key")
}

/// Reads the caller's credential from the request. `query` is the raw query string.
pub fn extract_token<'a>(
    query: Option<&'a str>,
    header: impl Fn(&str) -> Option<&'a str>,
) -> Option<String> {
    if let Some(q) = query {
        for pair in q.split('&').filter(|pair| is_key_param(pair)) {
            if let Some((_, value)) = form_urlencoded::parse(pair.as_bytes()).next()
                && !value.is_empty()
            {
                return Some(value.into_owned());
            }
        }
    }
    // A value that is only whitespace is no credential: the next place is looked at.
    if let Some(token) = header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        return Some(token.to_owned());
    }
    for name in ["x-api-key", "x-goog-api-key"] {
        if let Some(v) = header(name).map(str::trim).filter(|v| !v.is_empty()) {
            return Some(v.to_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_match_wins() {
        let h = |name: &str| match name {
            "authorization" => Some("Bearer from-bearer"),
            "x-api-key" => Some("from-x-api-key"),
            _ => None,
        };
        assert_eq!(
            extract_token(Some("a=1&key=from-query"), h).as_deref(),
            Some("from-query")
        );
        assert_eq!(
            extract_token(Some("a=1"), h).as_deref(),
            Some("from-bearer")
        );
        let h2 = |name: &str| (name == "x-goog-api-key").then_some("g");
        assert_eq!(extract_token(None, h2).as_deref(), Some("g"));
        assert_eq!(extract_token(None, |_| None), None);
        let basic = |name: &str| (name == "authorization").then_some("Basic abc");
        assert_eq!(extract_token(None, basic), None);
    }

    #[test]
    fn encoded_names_are_key_too() {
        for pair in [
            "key=x",
            "%6bey=x",
            "%6Bey=x",
            "k%65y=x",
            "%6B%65%79=x",
            "ke%79",
            "key",
        ] {
            assert!(is_key_param(pair), "{pair}");
        }
        for pair in ["keys=x", "kex=x", "%6bex=x", "Key=x", "k+ey=x", "", "%6b"] {
            assert!(!is_key_param(pair), "{pair}");
        }
        assert_eq!(
            extract_token(Some("a=1&%6Bey=PK"), |_| None).as_deref(),
            Some("PK")
        );
        assert_eq!(
            extract_token(Some("k%65y=&key=second"), |_| None).as_deref(),
            Some("second")
        );
    }

    #[test]
    fn whitespace_is_no_credential() {
        // Found by the proxy_path fuzz target: `Bearer \r\x0b` used to yield an empty token.
        let h = |name: &str| match name {
            "authorization" => Some("Bearer \r\x0b"),
            "x-api-key" => Some(" \t"),
            "x-goog-api-key" => Some(" g "),
            _ => None,
        };
        assert_eq!(extract_token(None, h).as_deref(), Some("g"));
        assert_eq!(
            extract_token(None, |n| (n == "x-api-key").then_some("  ")),
            None
        );
    }
}
