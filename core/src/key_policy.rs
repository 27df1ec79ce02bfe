//! The key policy (docs/request-path.md "Key policy: who is blamed for a failure"): what one
//! upstream answer means. Who is at fault (the key, the upstream, the client or nobody), whether
//! the request may be retried, and how long a rate-limited key rests. Judged from the status,
//! `Retry-After` and the provider's error body, because a status alone misleads (a Gemini 400 can
//! mean "API key not valid").

use std::time::Duration;

use crate::status_matcher::StatusMatcher;

/// A cool-down is never longer than this, whatever an upstream asks for.
const MAX_COOLDOWN: Duration = Duration::from_secs(26 * 3600);
/// Error bodies larger than this are not parsed for signals.
const SIGNAL_BODY_LIMIT: usize = 64 * 1024;
/// Gemini's daily quotas reset at midnight Pacific time; 08:00 UTC is midnight PST and one hour
/// after midnight PDT, so a key never comes back before its quota did.
const QUOTA_DAY_RESET_UTC_HOUR: u64 = 8;

/// Who caused a failed (or passed-through) answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Nobody: a success (status below 400).
    None,
    /// The client's own request (e.g. 400, 404, 422): relayed, never retried.
    Client,
    /// The key is rejected (401/403, "invalid API key"): counts toward `blacklist_threshold`.
    Key,
    /// The key's quota or credit is used up: out of rotation until a validation passes.
    KeyExhausted,
    /// The key is rate limited: it rests until `until_ms` (Unix milliseconds).
    KeyCooling {
        /// End of the cool-down.
        until_ms: u64,
    },
    /// The upstream failed (5xx, overloaded, timeout, connection): counts toward its ejection.
    Upstream,
    /// An error with no known cause: nobody blamed; retried when it is a failover status, else
    /// relayed as it is.
    Unattributed,
}

/// The judgement of one upstream answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Who is at fault.
    pub fault: Fault,
    /// Whether the request goes on with the next key and upstream.
    pub retry: bool,
}

/// A group's policy settings, borrowed from its effective configuration.
#[derive(Clone, Copy, Debug)]
pub struct KeyPolicy<'a> {
    /// `failover_status_codes`: statuses that fail the attempt.
    pub failover: &'a StatusMatcher,
    /// `client_error_status_codes`: statuses the client caused.
    pub client_errors: &'a StatusMatcher,
    /// `key_cooldown_seconds`: the rest after a 429 that names no time.
    pub default_cooldown: Duration,
}

/// One upstream answer as the policy sees it.
#[derive(Clone, Copy, Debug)]
pub struct Answer<'a> {
    /// HTTP status.
    pub status: u16,
    /// What the upstream asked for in `Retry-After` / `retry-after-ms`, when it did.
    pub retry_after: Option<Duration>,
    /// The error body (may be empty; only read for statuses ≥ 400).
    pub body: &'a [u8],
    /// Now, Unix milliseconds.
    pub now_ms: u64,
}

impl KeyPolicy<'_> {
    /// Judges an answer. A provider body signal wins over the status classes; the
    /// client-error list wins over the failover list.
    pub fn judge(&self, answer: &Answer<'_>) -> Verdict {
        let status = answer.status;
        if status < 400 {
            return Verdict {
                fault: Fault::None,
                retry: false,
            };
        }
        let signal = body_signal(answer.body);
        let fault = match signal {
            Some(Signal::Key) => Fault::Key,
            Some(Signal::Exhausted) => Fault::KeyExhausted,
            Some(Signal::RateLimited { delay, daily }) => {
                self.cooling(answer, delay.or(answer.retry_after), daily)
            }
            Some(Signal::Upstream) => Fault::Upstream,
            None if self.client_errors.matches(status) => Fault::Client,
            None if !self.failover.matches(status) => Fault::Unattributed,
            None => match status {
                401..=403 => Fault::Key,
                429 => self.cooling(answer, answer.retry_after, false),
                408 | 500.. => Fault::Upstream,
                _ => Fault::Unattributed,
            },
        };
        let retry = fault != Fault::Client && self.failover.matches(status);
        Verdict { fault, retry }
    }

    /// The judgement of a transport failure (connect, TLS, reset, timeout): the upstream's.
    pub fn transport_failure() -> Verdict {
        Verdict {
            fault: Fault::Upstream,
            retry: true,
        }
    }

    fn cooling(&self, answer: &Answer<'_>, delay: Option<Duration>, daily: bool) -> Fault {
        let until_ms = if daily {
            next_quota_day_ms(answer.now_ms)
        } else {
            let rest = delay.unwrap_or(self.default_cooldown).min(MAX_COOLDOWN);
            answer
                .now_ms
                .saturating_add(u64::try_from(rest.as_millis()).unwrap_or(u64::MAX))
        };
        Fault::KeyCooling { until_ms }
    }
}

/// Reads `retry-after-ms` (OpenAI) or `Retry-After` (seconds or an HTTP date).
pub fn parse_retry_after(
    retry_after_ms: Option<&str>,
    retry_after: Option<&str>,
    now_ms: u64,
) -> Option<Duration> {
    if let Some(ms) = retry_after_ms.and_then(|v| v.trim().parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    let value = retry_after?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let at_ms = u64::try_from(date.timestamp_millis()).ok()?;
    Some(Duration::from_millis(at_ms.saturating_sub(now_ms)))
}

/// What a provider's error body says about the cause.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Signal {
    Key,
    Exhausted,
    RateLimited {
        delay: Option<Duration>,
        daily: bool,
    },
    Upstream,
}

/// The known provider signals, from OpenAI's, Anthropic's and Gemini's error
/// shapes: `{"error":{"code","type","message"}}`, `{"type":"error","error":{"type","message"}}`
/// and `{"error":{"code","status","message","details":[…]}}`.
fn body_signal(body: &[u8]) -> Option<Signal> {
    if body.len() > SIGNAL_BODY_LIMIT || body.trim_ascii_start().first() != Some(&b'{') {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let error = value.get("error")?;
    let text = |name: &str| error.get(name).and_then(|v| v.as_str()).unwrap_or("");
    let (code, kind, status) = (text("code"), text("type"), text("status"));
    let message = text("message").to_ascii_lowercase();
    let details = error
        .get("details")
        .and_then(|d| d.as_array())
        .map(Vec::as_slice)
        .unwrap_or_default();
    let reason_is = |reason: &str| {
        details
            .iter()
            .any(|d| d.get("reason").and_then(|r| r.as_str()) == Some(reason))
    };
    if code == "insufficient_quota"
        || code == "billing_hard_limit_reached"
        || message.contains("credit balance is too low")
    {
        return Some(Signal::Exhausted);
    }
    if code == "invalid_api_key"
        || kind == "authentication_error"
        || kind == "permission_error"
        || status == "PERMISSION_DENIED"
        || status == "UNAUTHENTICATED"
        || reason_is("API_KEY_INVALID")
        || message.contains("api key not valid")
        || message.contains("api key expired")
    {
        return Some(Signal::Key);
    }
    if code == "rate_limit_exceeded" || kind == "rate_limit_error" || status == "RESOURCE_EXHAUSTED"
    {
        return Some(Signal::RateLimited {
            delay: details
                .iter()
                .find_map(|d| d.get("retryDelay").and_then(|r| r.as_str()))
                .and_then(parse_seconds),
            daily: details.iter().any(|d| {
                d.get("violations")
                    .and_then(|v| v.as_array())
                    .is_some_and(|vs| {
                        vs.iter().any(|v| {
                            v.get("quotaId")
                                .and_then(|q| q.as_str())
                                .is_some_and(|q| q.contains("PerDay"))
                        })
                    })
            }),
        });
    }
    if kind == "overloaded_error" || status == "UNAVAILABLE" || status == "INTERNAL" {
        return Some(Signal::Upstream);
    }
    None
}

/// Gemini's `retryDelay` (`"37s"`, `"1.5s"`).
fn parse_seconds(text: &str) -> Option<Duration> {
    let secs: f64 = text.strip_suffix('s')?.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

fn next_quota_day_ms(now_ms: u64) -> u64 {
    const DAY_MS: u64 = 86_400_000;
    let offset = QUOTA_DAY_RESET_UTC_HOUR * 3_600_000;
    let day_start = (now_ms.saturating_sub(offset) / DAY_MS) * DAY_MS + offset;
    day_start + DAY_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000;

    fn judge(status: u16, retry_after: Option<u64>, body: &str) -> Verdict {
        let failover = StatusMatcher::parse("400-403,405-999").unwrap();
        let client = StatusMatcher::parse("400,404,413,422").unwrap();
        KeyPolicy {
            failover: &failover,
            client_errors: &client,
            default_cooldown: Duration::from_secs(60),
        }
        .judge(&Answer {
            status,
            retry_after: retry_after.map(Duration::from_secs),
            body: body.as_bytes(),
            now_ms: NOW,
        })
    }

    fn v(fault: Fault, retry: bool) -> Verdict {
        Verdict { fault, retry }
    }

    #[test]
    fn status_classes() {
        assert_eq!(judge(200, None, ""), v(Fault::None, false));
        assert_eq!(judge(401, None, ""), v(Fault::Key, true));
        assert_eq!(judge(403, None, "forbidden"), v(Fault::Key, true));
        assert_eq!(judge(400, None, "{}"), v(Fault::Client, false));
        assert_eq!(judge(404, None, ""), v(Fault::Client, false));
        assert_eq!(judge(413, None, ""), v(Fault::Client, false));
        assert_eq!(judge(422, None, ""), v(Fault::Client, false));
        assert_eq!(judge(500, None, ""), v(Fault::Upstream, true));
        assert_eq!(judge(503, None, ""), v(Fault::Upstream, true));
        assert_eq!(judge(529, None, ""), v(Fault::Upstream, true));
        assert_eq!(judge(408, None, ""), v(Fault::Upstream, true));
        assert_eq!(judge(409, None, ""), v(Fault::Unattributed, true));
        assert_eq!(
            judge(429, Some(7), ""),
            v(
                Fault::KeyCooling {
                    until_ms: NOW + 7_000
                },
                true
            )
        );
        assert_eq!(
            judge(429, None, ""),
            v(
                Fault::KeyCooling {
                    until_ms: NOW + 60_000
                },
                true
            )
        );
    }

    #[test]
    fn statuses_outside_failover_pass_through_unblamed() {
        let failover = StatusMatcher::parse("500-599").unwrap();
        let client = StatusMatcher::default();
        let policy = KeyPolicy {
            failover: &failover,
            client_errors: &client,
            default_cooldown: Duration::from_secs(1),
        };
        let answer = |status| Answer {
            status,
            retry_after: None,
            body: b"",
            now_ms: NOW,
        };
        assert_eq!(policy.judge(&answer(401)), v(Fault::Unattributed, false));
        assert_eq!(policy.judge(&answer(502)), v(Fault::Upstream, true));
    }

    #[test]
    fn openai_signals() {
        let body = |code: &str| {
            format!(r#"{{"error":{{"message":"m","type":"x","param":null,"code":"{code}"}}}}"#)
        };
        assert_eq!(judge(401, None, &body("invalid_api_key")).fault, Fault::Key);
        assert_eq!(
            judge(429, Some(5), &body("insufficient_quota")),
            v(Fault::KeyExhausted, true)
        );
        assert_eq!(
            judge(429, Some(5), &body("rate_limit_exceeded")).fault,
            Fault::KeyCooling {
                until_ms: NOW + 5_000
            }
        );
    }

    #[test]
    fn anthropic_signals() {
        let body = |kind: &str, msg: &str| {
            format!(r#"{{"type":"error","error":{{"type":"{kind}","message":"{msg}"}}}}"#)
        };
        assert_eq!(
            judge(
                401,
                None,
                &body("authentication_error", "invalid x-api-key")
            )
            .fault,
            Fault::Key
        );
        assert_eq!(
            judge(403, None, &body("permission_error", "no")).fault,
            Fault::Key
        );
        // a 400 that is the key's account, not the client's request: retried
        assert_eq!(
            judge(
                400,
                None,
                &body(
                    "invalid_request_error",
                    "Your credit balance is too low to access the Anthropic API."
                )
            ),
            v(Fault::KeyExhausted, true)
        );
        assert_eq!(
            judge(400, None, &body("invalid_request_error", "max_tokens: bad")),
            v(Fault::Client, false)
        );
        assert_eq!(
            judge(529, None, &body("overloaded_error", "Overloaded")),
            v(Fault::Upstream, true)
        );
        assert!(matches!(
            judge(429, None, &body("rate_limit_error", "slow down")).fault,
            Fault::KeyCooling { .. }
        ));
    }

    #[test]
    fn gemini_signals() {
        let invalid = r#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}"#;
        assert_eq!(judge(400, None, invalid), v(Fault::Key, true));
        let denied = r#"{"error":{"code":403,"message":"Permission denied: Consumer has been suspended.","status":"PERMISSION_DENIED"}}"#;
        assert_eq!(judge(403, None, denied), v(Fault::Key, true));
        let per_minute = r#"{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"37s"}]}}"#;
        assert_eq!(
            judge(429, None, per_minute).fault,
            Fault::KeyCooling {
                until_ms: NOW + 37_000
            }
        );
        let per_day = r#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"quota","details":[{"violations":[{"quotaId":"GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]}]}}"#;
        let Fault::KeyCooling { until_ms } = judge(429, None, per_day).fault else {
            panic!("a daily quota cools the key");
        };
        assert_eq!(until_ms % 86_400_000, 8 * 3_600_000);
        assert!(until_ms > NOW && until_ms <= NOW + 86_400_000);
        let overloaded =
            r#"{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}"#;
        assert_eq!(judge(503, None, overloaded), v(Fault::Upstream, true));
        let bad_request = r#"{"error":{"code":400,"message":"Invalid JSON payload","status":"INVALID_ARGUMENT"}}"#;
        assert_eq!(judge(400, None, bad_request), v(Fault::Client, false));
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(
            parse_retry_after(None, Some("12"), NOW),
            Some(Duration::from_secs(12))
        );
        assert_eq!(
            parse_retry_after(Some("1500"), Some("12"), NOW),
            Some(Duration::from_millis(1500))
        );
        // Tue, 14 Nov 2023 22:13:30 GMT is NOW + 10 s
        assert_eq!(
            parse_retry_after(None, Some("Tue, 14 Nov 2023 22:13:30 GMT"), NOW),
            Some(Duration::from_secs(10))
        );
        assert_eq!(parse_retry_after(None, Some("soon"), NOW), None);
        assert_eq!(parse_retry_after(None, None, NOW), None);
    }
}
