//! Where a caller's credential is read from, the same for proxy keys and the admin `AUTH_KEY`
//! (GPT-Load's extractor): query `key`, `Authorization: Bearer`, `x-api-key`, `x-goog-api-key`,
//! first match wins.

use url::form_urlencoded;

/// Reads the caller's credential from the request. `query` is the raw query string.
pub fn extract_token<'a>(
    query: Option<&'a str>,
    header: impl Fn(&str) -> Option<&'a str>,
) -> Option<String> {
    if let Some(q) = query {
        for (name, value) in form_urlencoded::parse(q.as_bytes()) {
            if name == "key" && !value.is_empty() {
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
