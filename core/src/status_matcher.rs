//! `failover_status_codes`: GPT-Load's grammar (`400-403,405-999`), parsed into sorted ranges.

use std::fmt;

/// Which upstream statuses count as a failed attempt.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct StatusMatcher {
    ranges: Vec<(u16, u16)>,
}

/// A `failover_status_codes` value that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid status code spec {token:?}: {reason}")]
pub struct StatusSpecError {
    token: String,
    reason: &'static str,
}

impl StatusMatcher {
    /// Parses comma- or newline-separated `N` and `A-B` tokens (100..=999, inclusive, A ≤ B).
    /// An empty spec matches nothing.
    pub fn parse(spec: &str) -> Result<Self, StatusSpecError> {
        let mut ranges = Vec::new();
        for token in spec
            .split([',', '\n'])
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            let err = |reason| StatusSpecError {
                token: token.to_owned(),
                reason,
            };
            let (lo, hi) = match token.split_once('-') {
                Some((a, b)) => (parse_code(a.trim()), parse_code(b.trim())),
                None => (parse_code(token), parse_code(token)),
            };
            let (Some(lo), Some(hi)) = (lo, hi) else {
                return Err(err("expected a status code 100-999 or a range A-B"));
            };
            if lo > hi {
                return Err(err("range start is above its end"));
            }
            ranges.push((lo, hi));
        }
        ranges.sort_unstable();
        let mut merged: Vec<(u16, u16)> = Vec::with_capacity(ranges.len());
        for (lo, hi) in ranges {
            match merged.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        Ok(Self { ranges: merged })
    }

    /// True when `status` is in one of the ranges.
    pub fn matches(&self, status: u16) -> bool {
        self.ranges
            .iter()
            .any(|&(lo, hi)| (lo..=hi).contains(&status))
    }
}

fn parse_code(s: &str) -> Option<u16> {
    s.parse::<u16>().ok().filter(|c| (100..=999).contains(c))
}

impl fmt::Display for StatusMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .ranges
            .iter()
            .map(|&(lo, hi)| {
                if lo == hi {
                    lo.to_string()
                } else {
                    format!("{lo}-{hi}")
                }
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_spec_excludes_404() {
        let m = StatusMatcher::parse("400-403,405-999").unwrap();
        assert!(m.matches(400) && m.matches(429) && m.matches(503));
        assert!(!m.matches(404) && !m.matches(200) && !m.matches(399));
    }

    #[test]
    fn merges_and_accepts_newlines() {
        let m = StatusMatcher::parse("500\n 429, 501-503,502").unwrap();
        assert_eq!(m.to_string(), "429,500-503");
    }

    #[test]
    fn empty_matches_nothing() {
        assert!(!StatusMatcher::parse(" ").unwrap().matches(500));
    }

    #[test]
    fn rejects_bad_tokens() {
        assert!(StatusMatcher::parse("abc").is_err());
        assert!(StatusMatcher::parse("99").is_err());
        assert!(StatusMatcher::parse("500-400").is_err());
    }
}
