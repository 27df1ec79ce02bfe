//! Key validation (GPT-Load's, docs/admin.md "Admin API"): one small request per key to the group's
//! upstream, shaped per channel, and what the answer means for the key, judged by the same key
//! policy as the proxy (`gateway_core::key_policy`): a 2xx makes the key `active` with no failures;
//! a key fault counts toward `blacklist_threshold` (a spent quota makes it `invalid` at once); a
//! rate limit cools it; an upstream or network failure proves nothing and changes nothing.

use gateway_core::key_crypto::KeyCipher;
use std::time::Duration;

use chrono::Utc;
use gateway_core::ChannelType;
use gateway_core::header_variables::HeaderVariables;
use gateway_core::key_policy::{Answer, Fault, KeyPolicy, parse_retry_after};
use gateway_core::outbound_proxy::{self, ProxyUrl};
use gateway_core::secret::redact_key;
use gateway_core::settings_catalogue::{GroupConfig, SystemSettings};
use gateway_schema::models::{Group, KeyStatus};
use gateway_schema::{KeyHealthUpdate, KeyRow};
use http::HeaderName;
use serde_json::json;

use crate::upstream_client::UpstreamClient;

/// How one key fared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    /// Valid (2xx).
    pub valid: bool,
    /// Why not, keys masked.
    pub error: Option<String>,
    /// The key's new stored state, when it changed.
    pub update: Option<KeyHealthUpdate>,
}

/// What validation needs of a group: where and how to ask, and its policy settings.
pub struct GroupValidation {
    channel: ChannelType,
    group_name: String,
    /// The group's header rules: a header to set (value with variables) or remove (`None`).
    header_rules: Vec<(HeaderName, Option<String>)>,
    url: String,
    test_model: String,
    timeout: Duration,
    /// `key_validation_concurrency`.
    pub concurrency: usize,
    blacklist_threshold: i64,
    cooldown: Duration,
    failover: gateway_core::status_matcher::StatusMatcher,
    client_errors: gateway_core::status_matcher::StatusMatcher,
    /// Opens the stored keys before they are sent.
    cipher: KeyCipher,
    /// The group's own outbound proxy (`None`: the environment's apply).
    proxy: Option<ProxyUrl>,
}

impl GroupValidation {
    /// The validation of `group` under `settings`; an error names what is missing.
    pub fn new(
        group: &Group,
        settings: &SystemSettings,
        cipher: &KeyCipher,
    ) -> Result<Self, String> {
        let overrides = GroupConfig::from_stored(&group.config).unwrap_or_default();
        Self::with_overrides(group, &overrides, settings, cipher)
    }

    /// [`GroupValidation::new`] with the group's config overrides already parsed.
    pub fn with_overrides(
        group: &Group,
        overrides: &GroupConfig,
        settings: &SystemSettings,
        cipher: &KeyCipher,
    ) -> Result<Self, String> {
        let channel: ChannelType = group
            .channel_type
            .parse()
            .map_err(|e| format!("channel_type: {e}"))?;
        #[derive(serde::Deserialize)]
        struct Entry {
            url: String,
            #[serde(default)]
            weight: i64,
        }
        let upstreams: Vec<Entry> = serde_json::from_str(&group.upstreams)
            .map_err(|e| format!("upstreams: not valid JSON: {e}"))?;
        let base = upstreams
            .iter()
            .find(|u| u.weight > 0)
            .ok_or_else(|| {
                format!(
                    "group '{}' has no upstream with a weight above 0",
                    group.name
                )
            })?
            .url
            .trim()
            .trim_end_matches('/')
            .to_owned();
        let base = match base.split_once('?') {
            Some((b, _)) => b.trim_end_matches('/').to_owned(),
            None => base,
        };
        let path = match channel {
            ChannelType::Gemini => format!("/v1beta/models/{}:generateContent", group.test_model),
            _ if !group.validation_endpoint.is_empty() => group.validation_endpoint.clone(),
            _ => channel.default_validation_endpoint().to_owned(),
        };
        let effective = settings.effective(overrides);
        // Validation goes where the group's traffic goes: through its proxy, never around it.
        let proxy = outbound_proxy::open_setting(&effective.proxy_url, cipher)
            .map_err(|e| format!("proxy_url: {e}"))?;
        let int = |own: Option<i64>, key: &str| own.unwrap_or_else(|| settings.int(key)).max(1);
        #[derive(serde::Deserialize)]
        struct Rule {
            key: String,
            #[serde(default)]
            value: String,
            action: String,
        }
        let rules: Vec<Rule> = if group.header_rules.trim().is_empty() {
            Vec::new()
        } else {
            serde_json::from_str(&group.header_rules)
                .map_err(|e| format!("header_rules: not valid: {e}"))?
        };
        let header_rules = rules
            .into_iter()
            .map(|r| {
                let name = HeaderName::from_bytes(r.key.trim().to_ascii_lowercase().as_bytes())
                    .map_err(|_| format!("header_rules: invalid header {:?}", r.key))?;
                Ok((name, (r.action == "set").then_some(r.value)))
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self {
            channel,
            group_name: group.name.clone(),
            header_rules,
            url: format!("{base}{path}"),
            test_model: group.test_model.clone(),
            timeout: Duration::from_secs(
                u64::try_from(int(
                    overrides.key_validation_timeout_seconds,
                    "key_validation_timeout_seconds",
                ))
                .unwrap_or(20),
            ),
            concurrency: usize::try_from(int(
                overrides.key_validation_concurrency,
                "key_validation_concurrency",
            ))
            .unwrap_or(10),
            blacklist_threshold: effective.blacklist_threshold,
            cooldown: Duration::from_secs(
                u64::try_from(effective.key_cooldown_seconds.max(1)).unwrap_or(60),
            ),
            failover: effective.failover,
            client_errors: effective.client_errors,
            cipher: cipher.clone(),
            proxy,
        })
    }

    /// Validates one stored key.
    pub async fn check(&self, http: &UpstreamClient, key: &KeyRow) -> Checked {
        let Ok(opened) = self.cipher.open(&key.key_value) else {
            // Not the key's fault: the data and ENCRYPTION_KEY disagree (see encryption-status).
            return Checked {
                valid: false,
                error: Some(
                    "the stored key does not decrypt with ENCRYPTION_KEY; see \
                     /api/dashboard/encryption-status"
                        .to_owned(),
                ),
                update: None,
            };
        };
        let secret = opened.as_str();
        let mut url = self.url.clone();
        let (headers, body): (Vec<(HeaderName, String)>, _) = match self.channel {
            ChannelType::OpenAi => (
                vec![(http::header::AUTHORIZATION, format!("Bearer {secret}"))],
                json!({"model": self.test_model, "messages": [{"role": "user", "content": "hi"}]}),
            ),
            ChannelType::OpenAiResponse => (
                vec![(http::header::AUTHORIZATION, format!("Bearer {secret}"))],
                json!({"model": self.test_model, "input": "hi"}),
            ),
            ChannelType::Anthropic => (
                vec![
                    (HeaderName::from_static("x-api-key"), secret.to_owned()),
                    (
                        HeaderName::from_static("anthropic-version"),
                        "2023-06-01".to_owned(),
                    ),
                ],
                json!({"model": self.test_model, "max_tokens": 100,
                       "messages": [{"role": "user", "content": "hi"}]}),
            ),
            ChannelType::Gemini => {
                url.push_str(if url.contains('?') { "&key=" } else { "?key=" });
                url.extend(form_urlencoded::byte_serialize(secret.as_bytes()));
                (
                    Vec::new(),
                    json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}),
                )
            }
        };
        let headers = self.apply_header_rules(headers, secret);
        let resp = match http
            .post_json(&url, &headers, &body, self.timeout, self.proxy.as_ref())
            .await
        {
            Ok(r) => r,
            Err(e) => {
                // A network failure says nothing about the key.
                let text = redact_key(&e, secret);
                return Checked {
                    valid: false,
                    error: Some(format!("failed to send validation request: {text}")),
                    update: None,
                };
            }
        };
        let status = resp.status;
        let now_ms = u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0);
        let header = |n: &str| resp.headers.get(n).and_then(|v| v.to_str().ok());
        let retry_after =
            parse_retry_after(header("retry-after-ms"), header("retry-after"), now_ms);
        let body = resp.body.clone();
        if (200..300).contains(&status) {
            let changed = key.status != KeyStatus::Active.as_str()
                || key.failure_count != 0
                || key.cooldown_until.is_some();
            return Checked {
                valid: true,
                error: None,
                update: changed.then(|| update(key, KeyStatus::Active, 0, None)),
            };
        }
        let policy = KeyPolicy {
            failover: &self.failover,
            client_errors: &self.client_errors,
            default_cooldown: self.cooldown,
        };
        let verdict = policy.judge(&Answer {
            status,
            retry_after,
            body: &body,
            now_ms,
        });
        let text = redact_key(&String::from_utf8_lossy(&body), secret);
        let error = Some(format!("[status {status}] {}", text.trim()));
        let invalid = key.status == KeyStatus::Invalid.as_str();
        let new_state = match verdict.fault {
            Fault::Key if !invalid => {
                let n = key.failure_count + 1;
                let blacklist = self.blacklist_threshold > 0 && n >= self.blacklist_threshold;
                let status = if blacklist {
                    KeyStatus::Invalid
                } else {
                    parse_status(&key.status)
                };
                Some(update(key, status, n, key.cooldown_until))
            }
            Fault::KeyExhausted if !invalid && self.blacklist_threshold > 0 => {
                Some(update(key, KeyStatus::Invalid, key.failure_count, None))
            }
            Fault::KeyCooling { until_ms } if !invalid => Some(update(
                key,
                KeyStatus::Cooling,
                key.failure_count,
                chrono::DateTime::from_timestamp_millis(i64::try_from(until_ms).unwrap_or(0))
                    .map(|t| t.naive_utc()),
            )),
            _ => None,
        };
        Checked {
            valid: false,
            error,
            update: new_state,
        }
    }
}

impl GroupValidation {
    /// The group's header rules applied after the key, as on the proxy (`${CLIENT_IP}` is empty:
    /// there is no client).
    fn apply_header_rules(
        &self,
        mut headers: Vec<(HeaderName, String)>,
        key: &str,
    ) -> Vec<(HeaderName, String)> {
        let vars = HeaderVariables {
            client_ip: "",
            group_name: &self.group_name,
            api_key: key,
            now_ms: u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0),
        };
        for (name, value) in &self.header_rules {
            headers.retain(|(n, _)| n != name);
            if let Some(v) = value {
                headers.push((name.clone(), vars.substitute(v)));
            }
        }
        headers
    }
}

fn parse_status(s: &str) -> KeyStatus {
    KeyStatus::parse(s).unwrap_or(KeyStatus::Active)
}

fn update(
    key: &KeyRow,
    status: KeyStatus,
    failure_count: i64,
    cooldown_until: Option<chrono::NaiveDateTime>,
) -> KeyHealthUpdate {
    KeyHealthUpdate {
        id: key.id,
        status,
        failure_count,
        cooldown_until: if status == KeyStatus::Cooling {
            cooldown_until
        } else {
            None
        },
    }
}
