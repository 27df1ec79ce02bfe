//! `GatewayError`: every error the gateway itself produces on the proxy path, its status, its
//! metric label, and its body shaped like the channel's provider errors.

use gateway_core::ChannelType;

use crate::rate_limit::RateScope;

/// Errors the data plane answers on its own (the upstream's own errors are passed through).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// No group of that name.
    #[error("group '{0}' not found")]
    UnknownGroup(String),
    /// The request carried no proxy key.
    #[error(
        "missing proxy key: send it as 'Authorization: Bearer <key>', 'x-api-key', 'x-goog-api-key' or '?key='"
    )]
    MissingProxyKey,
    /// The proxy key is not allowed for this group.
    #[error("invalid proxy key for group '{0}'")]
    InvalidProxyKey(String),
    /// The group has no key that can be used now.
    #[error("no active API keys available for group '{0}'")]
    NoActiveKeys(String),
    /// Every usable key of the group is cooling down after rate limits.
    #[error("every API key of group '{group}' is rate limited; retry after {retry_after_secs} s")]
    AllKeysCooling {
        /// Group name.
        group: String,
        /// Seconds until the first key is back.
        retry_after_secs: u64,
    },
    /// A rate limit of the group or of every usable key has no room, and none came within
    /// `rate_limit_max_wait_seconds`.
    #[error("{}", rate_limited(group, *scope, *retry_after_secs))]
    RateLimited {
        /// Group name.
        group: String,
        /// Whose limit.
        scope: RateScope,
        /// Seconds until there is room.
        retry_after_secs: u64,
    },
    /// No member of an aggregate group has a usable key.
    #[error("no sub-group of aggregate group '{0}' has a usable API key")]
    NoAvailableSubGroups(String),
    /// A person switched the group off.
    #[error("group '{0}' is disabled")]
    GroupDisabled(String),
    /// The group has no upstream with a weight above 0.
    #[error("group '{0}' has no enabled upstream")]
    NoUpstream(String),
    /// Strict model redirect: the requested model has no rule.
    #[error("model '{0}' is not configured in redirect rules")]
    ModelNotConfigured(String),
    /// The request body is above the configured limit.
    #[error("request body exceeds the limit of {0} bytes")]
    BodyTooLarge(usize),
    /// Too many requests in flight.
    #[error("too many concurrent requests (limit {0})")]
    TooManyRequests(u32),
    /// The routing table has not been loaded from the database yet.
    #[error("the gateway is starting: routing table not loaded yet")]
    NotReady,
    /// The upstream could not be reached or failed before answering.
    #[error("upstream {host} unreachable: {reason}")]
    UpstreamUnreachable {
        /// Upstream host (never a URL with a key).
        host: String,
        /// What went wrong (connect refused, TLS, reset…), keys redacted.
        reason: String,
    },
    /// The upstream did not answer in time.
    #[error("upstream {host} timed out")]
    UpstreamTimeout {
        /// Upstream host.
        host: String,
    },
}

impl GatewayError {
    /// The HTTP status answered.
    pub fn status(&self) -> u16 {
        match self {
            GatewayError::UnknownGroup(_) => 404,
            GatewayError::MissingProxyKey | GatewayError::InvalidProxyKey(_) => 401,
            GatewayError::NoActiveKeys(_)
            | GatewayError::NoAvailableSubGroups(_)
            | GatewayError::NoUpstream(_)
            | GatewayError::GroupDisabled(_)
            | GatewayError::NotReady => 503,
            GatewayError::BodyTooLarge(_) => 413,
            GatewayError::ModelNotConfigured(_) => 400,
            GatewayError::TooManyRequests(_)
            | GatewayError::AllKeysCooling { .. }
            | GatewayError::RateLimited { .. } => 429,
            GatewayError::UpstreamUnreachable { .. } => 502,
            GatewayError::UpstreamTimeout { .. } => 504,
        }
    }

    /// A short, low-cardinality reason used in bodies (`code`) and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            GatewayError::UnknownGroup(_) => "group_not_found",
            GatewayError::MissingProxyKey => "missing_proxy_key",
            GatewayError::InvalidProxyKey(_) => "invalid_proxy_key",
            GatewayError::NoActiveKeys(_) => "no_active_keys",
            GatewayError::AllKeysCooling { .. } => "all_keys_rate_limited",
            GatewayError::RateLimited { .. } => "rate_limited",
            GatewayError::NoAvailableSubGroups(_) => "no_available_sub_groups",
            GatewayError::NoUpstream(_) => "no_upstream",
            GatewayError::GroupDisabled(_) => "group_disabled",
            GatewayError::BodyTooLarge(_) => "request_too_large",
            GatewayError::ModelNotConfigured(_) => "model_not_configured",
            GatewayError::TooManyRequests(_) => "too_many_requests",
            GatewayError::NotReady => "not_ready",
            GatewayError::UpstreamUnreachable { .. } => "upstream_unreachable",
            GatewayError::UpstreamTimeout { .. } => "upstream_timeout",
        }
    }

    /// Seconds after which the same request may succeed (sent as `Retry-After`).
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            GatewayError::TooManyRequests(_) => Some(1),
            GatewayError::AllKeysCooling {
                retry_after_secs, ..
            }
            | GatewayError::RateLimited {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        }
    }

    /// The JSON body, shaped like `channel`'s provider errors (OpenAI's shape when the group, and
    /// so the channel, is unknown).
    pub fn body(&self, channel: Option<ChannelType>) -> Vec<u8> {
        let channel = channel.unwrap_or(ChannelType::OpenAi);
        channel
            .error_body(self.status(), self.code(), &self.to_string())
            .to_string()
            .into_bytes()
    }
}

fn rate_limited(group: &str, scope: RateScope, retry_after_secs: u64) -> String {
    match scope {
        RateScope::Group => format!(
            "group '{group}' reached its rate limit (group_rpm_limit / group_tpm_limit); retry after {retry_after_secs} s"
        ),
        RateScope::Key => format!(
            "every API key of group '{group}' reached its rate limit (key_rpm_limit / key_tpm_limit); retry after {retry_after_secs} s"
        ),
    }
}

/// Replaces every occurrence of `key` in `text` (raw or URL-encoded) by its mask (`sk-a****wxyz`).
pub fn redact(text: &str, key: &str) -> String {
    gateway_core::secret::redact_key(text, key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_shapes() {
        let e = GatewayError::UpstreamUnreachable {
            host: "api.openai.com".into(),
            reason: "connection refused".into(),
        };
        assert_eq!(e.status(), 502);
        let body: serde_json::Value =
            serde_json::from_slice(&e.body(Some(ChannelType::Anthropic))).unwrap();
        assert_eq!(body["error"]["type"], "api_error");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("api.openai.com")
        );
        let body: serde_json::Value =
            serde_json::from_slice(&GatewayError::UnknownGroup("x".into()).body(None)).unwrap();
        assert_eq!(body["error"]["code"], "group_not_found");
        assert_eq!(GatewayError::BodyTooLarge(1).status(), 413);
    }

    #[test]
    fn redacts_keys() {
        assert_eq!(
            redact("bad key sk-abcdefghijkl!", "sk-abcdefghijkl"),
            "bad key sk-a****ijkl!"
        );
    }
}
