//! The dynamic settings of GPT-Load (`system_settings` rows), their types, defaults and limits,
//! the group overrides (`groups.config`) and the effective configuration of a group.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::status_matcher::StatusMatcher;

/// Which page of the settings screen a setting belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SettingCategory {
    /// Basic settings.
    Basic,
    /// Request settings.
    Request,
    /// Key configuration.
    Key,
}

impl SettingCategory {
    /// The category title GPT-Load's UI shows.
    pub const fn title(self) -> &'static str {
        match self {
            SettingCategory::Basic => "Basic",
            SettingCategory::Request => "Request Settings",
            SettingCategory::Key => "Key Configuration",
        }
    }
}

/// The value type of a setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SettingKind {
    /// An integer with an inclusive minimum.
    Int {
        /// Smallest accepted value.
        min: i64,
    },
    /// `true` / `false`.
    Bool,
    /// Text; `required` rejects the empty string.
    String {
        /// Whether the empty string is rejected.
        required: bool,
    },
}

impl SettingKind {
    /// The type name the API reports (`int`, `bool`, `string`).
    pub const fn type_name(self) -> &'static str {
        match self {
            SettingKind::Int { .. } => "int",
            SettingKind::Bool => "bool",
            SettingKind::String { .. } => "string",
        }
    }
}

/// One entry of the catalogue.
#[derive(Clone, Copy, Debug)]
pub struct SettingDef {
    /// Database key and JSON field name.
    pub key: &'static str,
    /// Human name.
    pub name: &'static str,
    /// What it does.
    pub description: &'static str,
    /// Settings page.
    pub category: SettingCategory,
    /// Value type.
    pub kind: SettingKind,
    /// Default as text (`""` when none).
    pub default: &'static str,
    /// Whether a group may override it in `groups.config`.
    pub group_override: bool,
}

const fn int(
    key: &'static str,
    name: &'static str,
    description: &'static str,
    category: SettingCategory,
    default: &'static str,
    min: i64,
    group_override: bool,
) -> SettingDef {
    SettingDef {
        key,
        name,
        description,
        category,
        kind: SettingKind::Int { min },
        default,
        group_override,
    }
}

/// Every dynamic setting, in GPT-Load's order.
pub const CATALOGUE: [SettingDef; 32] = [
    SettingDef {
        key: "app_url",
        name: "Project URL",
        description: "Base URL used to show each group's proxy endpoint",
        category: SettingCategory::Basic,
        kind: SettingKind::String { required: true },
        default: "http://localhost:3001",
        group_override: false,
    },
    SettingDef {
        key: "proxy_keys",
        name: "Global proxy keys",
        description: "Comma-separated keys that may call every group",
        category: SettingCategory::Basic,
        kind: SettingKind::String { required: true },
        default: "",
        group_override: false,
    },
    int(
        "request_log_retention_days",
        "Log retention (days)",
        "Request logs older than this are deleted; 0 keeps them forever",
        SettingCategory::Basic,
        "7",
        0,
        false,
    ),
    int(
        "request_log_write_interval_minutes",
        "Log write interval (minutes)",
        "How often buffered request logs are written; 0 writes each one at once",
        SettingCategory::Basic,
        "1",
        0,
        false,
    ),
    int(
        "request_body_log_max_bytes",
        "Logged body limit (bytes)",
        "Request bodies longer than this (at most 1048576) are cut in the log, with a marker saying how much was left out",
        SettingCategory::Basic,
        "65000",
        0,
        false,
    ),
    SettingDef {
        key: "enable_request_logging",
        name: "Log requests",
        description: "Store a request log record for every upstream attempt (metrics are kept either way)",
        category: SettingCategory::Basic,
        kind: SettingKind::Bool,
        default: "true",
        group_override: true,
    },
    SettingDef {
        key: "enable_request_body_logging",
        name: "Log request bodies",
        description: "Store the request body (and user agent) with each request log",
        category: SettingCategory::Basic,
        kind: SettingKind::Bool,
        default: "false",
        group_override: true,
    },
    int(
        "request_timeout",
        "Request timeout (s)",
        "Total time allowed for a non-streaming request",
        SettingCategory::Request,
        "600",
        1,
        true,
    ),
    int(
        "connect_timeout",
        "Connect timeout (s)",
        "Time allowed to open a connection to the upstream",
        SettingCategory::Request,
        "15",
        1,
        true,
    ),
    int(
        "idle_conn_timeout",
        "Idle connection timeout (s)",
        "How long an idle upstream connection is kept in the pool",
        SettingCategory::Request,
        "120",
        1,
        true,
    ),
    int(
        "response_header_timeout",
        "Response header timeout (s)",
        "Time allowed for the upstream to send its response header (streams too)",
        SettingCategory::Request,
        "600",
        1,
        true,
    ),
    int(
        "stream_idle_timeout",
        "Stream idle timeout (s)",
        "Longest silence between two chunks of a streamed response before it is ended; a stream that keeps producing is never cut",
        SettingCategory::Request,
        "300",
        1,
        true,
    ),
    int(
        "max_idle_conns",
        "Max idle connections",
        "Idle upstream connections kept in total",
        SettingCategory::Request,
        "100",
        1,
        true,
    ),
    int(
        "max_idle_conns_per_host",
        "Max idle connections per host",
        "Idle upstream connections kept per upstream host",
        SettingCategory::Request,
        "50",
        1,
        true,
    ),
    SettingDef {
        key: "proxy_url",
        name: "Outbound proxy URL",
        description: "HTTP, HTTPS or SOCKS5 proxy for upstream connections; empty uses HTTP_PROXY/HTTPS_PROXY",
        category: SettingCategory::Request,
        kind: SettingKind::String { required: false },
        default: "",
        group_override: true,
    },
    int(
        "max_retries",
        "Max retries",
        "Extra attempts with other keys after a failed one",
        SettingCategory::Key,
        "3",
        0,
        true,
    ),
    int(
        "blacklist_threshold",
        "Blacklist threshold",
        "Consecutive key failures before a key is marked invalid; 0 never blacklists",
        SettingCategory::Key,
        "3",
        0,
        true,
    ),
    SettingDef {
        key: "failover_status_codes",
        name: "Failover status codes",
        description: "Upstream statuses that fail an attempt and retry with the next key, e.g. 400-403,405-999",
        category: SettingCategory::Key,
        kind: SettingKind::String { required: false },
        default: "400-403,405-999",
        group_override: true,
    },
    SettingDef {
        key: "client_error_status_codes",
        name: "Client error status codes",
        description: "Statuses caused by the client's own request: passed through at once, never retried, no key or upstream blamed (a provider body that names the key as the cause still counts)",
        category: SettingCategory::Key,
        kind: SettingKind::String { required: false },
        default: "400,404,413,422",
        group_override: true,
    },
    int(
        "key_cooldown_seconds",
        "Key cool-down (s)",
        "How long a key rests after a 429 that carries no Retry-After; it then returns to rotation by itself",
        SettingCategory::Key,
        "60",
        1,
        true,
    ),
    int(
        "upstream_failure_threshold",
        "Upstream failure threshold",
        "Consecutive 5xx, timeouts or connection failures before an upstream is ejected; 0 never ejects",
        SettingCategory::Key,
        "3",
        0,
        true,
    ),
    int(
        "upstream_ejection_seconds",
        "Upstream ejection (s)",
        "First ejection period of a failing upstream; it doubles on each further ejection, up to 32 times",
        SettingCategory::Key,
        "10",
        1,
        true,
    ),
    SettingDef {
        key: "sub_group_failover",
        name: "Fail over between sub-groups",
        description: "Aggregate groups: when a sub-group's attempts all fail, retry the request on another sub-group (GPT-Load stays in the first one)",
        category: SettingCategory::Request,
        kind: SettingKind::Bool,
        default: "true",
        group_override: true,
    },
    SettingDef {
        key: "model_aware_routing",
        name: "Model-aware sub-group choice",
        description: "Aggregate groups: prefer sub-groups whose model redirect rules name the requested model, and skip strict ones that do not serve it",
        category: SettingCategory::Request,
        kind: SettingKind::Bool,
        default: "false",
        group_override: true,
    },
    int(
        "group_rpm_limit",
        "Group requests per minute",
        "Requests a group may send upstream per minute (a bucket of that many, refilled continuously); over it a request waits or gets 429 with Retry-After. Counted across the cluster. 0 = no limit",
        SettingCategory::Request,
        "0",
        0,
        true,
    ),
    int(
        "group_tpm_limit",
        "Group tokens per minute",
        "Tokens (input + output, as the provider reports them) a group may use per minute; once used up, requests wait or get 429 until the minute's allowance refills. 0 = no limit",
        SettingCategory::Request,
        "0",
        0,
        true,
    ),
    int(
        "key_rpm_limit",
        "Key requests per minute",
        "Requests each API key may receive per minute; a key at its limit is skipped for another key with room. 0 = no limit",
        SettingCategory::Request,
        "0",
        0,
        true,
    ),
    int(
        "key_tpm_limit",
        "Key tokens per minute",
        "Tokens each API key may use per minute (as the provider reports them); a key that used its allowance is skipped until it refills. 0 = no limit",
        SettingCategory::Request,
        "0",
        0,
        true,
    ),
    int(
        "rate_limit_max_wait_seconds",
        "Rate limit wait (s)",
        "Longest a request waits for room under a rate limit before it is answered 429 with Retry-After; 0 answers at once",
        SettingCategory::Request,
        "5",
        0,
        true,
    ),
    int(
        "key_validation_interval_minutes",
        "Key validation interval (minutes)",
        "How often invalid keys are re-checked",
        SettingCategory::Key,
        "60",
        1,
        true,
    ),
    int(
        "key_validation_concurrency",
        "Key validation concurrency",
        "Keys validated at the same time",
        SettingCategory::Key,
        "10",
        1,
        true,
    ),
    int(
        "key_validation_timeout_seconds",
        "Key validation timeout (s)",
        "Time allowed for one validation request",
        SettingCategory::Key,
        "20",
        1,
        true,
    ),
];

/// The rate-limit settings: they limit a standard group and its keys. An aggregate has none of
/// its own (each request counts against the member that serves it).
pub const RATE_LIMIT_KEYS: [&str; 5] = [
    "group_rpm_limit",
    "group_tpm_limit",
    "key_rpm_limit",
    "key_tpm_limit",
    "rate_limit_max_wait_seconds",
];

/// Looks a setting up by key.
pub fn find(key: &str) -> Option<&'static SettingDef> {
    CATALOGUE.iter().find(|d| d.key == key)
}

/// A setting value that was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct SettingError {
    /// The setting's key.
    pub key: String,
    /// Why it was rejected.
    pub reason: String,
}

impl SettingError {
    fn new(key: &str, reason: impl Into<String>) -> Self {
        Self {
            key: key.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Checks a JSON value for a setting and returns its normalised text form for the database.
pub fn validate_value(def: &SettingDef, value: &Value) -> Result<String, SettingError> {
    match def.kind {
        SettingKind::Int { min } => {
            let n = value
                .as_i64()
                .or_else(|| {
                    value
                        .as_f64()
                        .filter(|f| f.fract() == 0.0 && f.is_finite())
                        .map(|f| f as i64)
                })
                .ok_or_else(|| SettingError::new(def.key, "must be an integer"))?;
            if n < min {
                return Err(SettingError::new(
                    def.key,
                    format!("must be at least {min}"),
                ));
            }
            Ok(n.to_string())
        }
        SettingKind::Bool => value
            .as_bool()
            .map(|b| b.to_string())
            .ok_or_else(|| SettingError::new(def.key, "must be true or false")),
        SettingKind::String { required } => {
            let s = value
                .as_str()
                .ok_or_else(|| SettingError::new(def.key, "must be a string"))?;
            let s = if def.key == "proxy_keys" {
                normalise_key_list(s)
            } else {
                s.trim().to_owned()
            };
            if required && s.is_empty() {
                return Err(SettingError::new(def.key, "must not be empty"));
            }
            if matches!(
                def.key,
                "failover_status_codes" | "client_error_status_codes"
            ) {
                StatusMatcher::parse(&s).map_err(|e| SettingError::new(def.key, e.to_string()))?;
            }
            if def.key == "proxy_url" && !s.is_empty() {
                crate::outbound_proxy::ProxyUrl::parse(&s)
                    .map_err(|e| SettingError::new(def.key, e))?;
            }
            if def.key == "app_url" && !(s.starts_with("http://") || s.starts_with("https://")) {
                return Err(SettingError::new(
                    def.key,
                    "must start with http:// or https://",
                ));
            }
            Ok(s)
        }
    }
}

/// Splits on commas, trims, drops empties and re-joins with `,` (GPT-Load's `proxy_keys` form).
pub fn normalise_key_list(s: &str) -> String {
    split_key_list(s).collect::<Vec<_>>().join(",")
}

/// The keys of a comma-separated key list, trimmed, empties dropped.
pub fn split_key_list(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|k| !k.is_empty())
}

/// Typed system settings, built from the `system_settings` rows over the defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct SystemSettings {
    values: BTreeMap<&'static str, Value>,
}

impl Default for SystemSettings {
    fn default() -> Self {
        let values = CATALOGUE
            .iter()
            .map(|d| (d.key, default_value(d)))
            .collect();
        Self { values }
    }
}

fn default_value(def: &SettingDef) -> Value {
    parse_text(def, def.default).unwrap_or(Value::Null)
}

/// A stored text value of `def` as its typed JSON value (`None` when it does not parse).
pub fn parse_text(def: &SettingDef, text: &str) -> Option<Value> {
    match def.kind {
        SettingKind::Int { min } => text
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= min)
            .map(Value::from),
        SettingKind::Bool => match text.trim() {
            "true" | "1" => Some(Value::Bool(true)),
            "false" | "0" => Some(Value::Bool(false)),
            _ => None,
        },
        SettingKind::String { .. } => Some(Value::String(text.to_owned())),
    }
}

impl SystemSettings {
    /// Overlays stored `(key, text)` rows on the defaults. Unknown keys are ignored; a value that
    /// does not parse keeps the default and is reported in the returned list.
    pub fn from_rows<'a>(
        rows: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> (Self, Vec<SettingError>) {
        let mut settings = Self::default();
        let mut errors = Vec::new();
        for (key, text) in rows {
            let Some(def) = find(key) else { continue };
            match parse_text(def, text) {
                Some(v) => {
                    settings.values.insert(def.key, v);
                }
                None => errors.push(SettingError::new(
                    key,
                    format!(
                        "stored value {text:?} is not a valid {}",
                        def.kind.type_name()
                    ),
                )),
            }
        }
        (settings, errors)
    }

    /// [`SystemSettings::from_rows`] over rows as the database returns them.
    pub fn from_stored(rows: &[(String, String)]) -> (Self, Vec<SettingError>) {
        Self::from_rows(rows.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    /// The typed value of a setting (`Value::Null` for an unknown key).
    pub fn value(&self, key: &str) -> &Value {
        self.values.get(key).unwrap_or(&Value::Null)
    }

    /// An integer setting.
    pub fn int(&self, key: &str) -> i64 {
        self.value(key).as_i64().unwrap_or(0)
    }

    /// A text setting.
    pub fn string(&self, key: &str) -> &str {
        self.value(key).as_str().unwrap_or("")
    }

    /// The global proxy keys.
    pub fn proxy_keys(&self) -> impl Iterator<Item = &str> {
        split_key_list(self.string("proxy_keys"))
    }

    /// The effective configuration of a group: these settings with the group's overrides on top.
    pub fn effective(&self, overrides: &GroupConfig) -> EffectiveConfig {
        let int = |key: &str, o: Option<i64>| o.unwrap_or_else(|| self.int(key));
        let spec = overrides
            .failover_status_codes
            .clone()
            .unwrap_or_else(|| self.string("failover_status_codes").to_owned());
        EffectiveConfig {
            request_timeout: int("request_timeout", overrides.request_timeout),
            connect_timeout: int("connect_timeout", overrides.connect_timeout),
            idle_conn_timeout: int("idle_conn_timeout", overrides.idle_conn_timeout),
            response_header_timeout: int(
                "response_header_timeout",
                overrides.response_header_timeout,
            ),
            max_retries: int("max_retries", overrides.max_retries),
            blacklist_threshold: int("blacklist_threshold", overrides.blacklist_threshold),
            failover: StatusMatcher::parse(&spec).unwrap_or_default(),
            client_errors: StatusMatcher::parse(
                overrides
                    .client_error_status_codes
                    .as_deref()
                    .unwrap_or_else(|| self.string("client_error_status_codes")),
            )
            .unwrap_or_default(),
            stream_idle_timeout: int("stream_idle_timeout", overrides.stream_idle_timeout),
            key_cooldown_seconds: int("key_cooldown_seconds", overrides.key_cooldown_seconds),
            upstream_failure_threshold: int(
                "upstream_failure_threshold",
                overrides.upstream_failure_threshold,
            ),
            upstream_ejection_seconds: int(
                "upstream_ejection_seconds",
                overrides.upstream_ejection_seconds,
            ),
            proxy_url: overrides
                .proxy_url
                .clone()
                .unwrap_or_else(|| self.string("proxy_url").to_owned()),
            enable_request_logging: overrides.enable_request_logging.unwrap_or_else(|| {
                self.value("enable_request_logging")
                    .as_bool()
                    .unwrap_or(true)
            }),
            enable_request_body_logging: overrides.enable_request_body_logging.unwrap_or_else(
                || {
                    self.value("enable_request_body_logging")
                        .as_bool()
                        .unwrap_or(false)
                },
            ),
            sub_group_failover: overrides
                .sub_group_failover
                .unwrap_or_else(|| self.value("sub_group_failover").as_bool().unwrap_or(true)),
            model_aware_routing: overrides
                .model_aware_routing
                .unwrap_or_else(|| self.value("model_aware_routing").as_bool().unwrap_or(false)),
            group_rpm_limit: int("group_rpm_limit", overrides.group_rpm_limit),
            group_tpm_limit: int("group_tpm_limit", overrides.group_tpm_limit),
            key_rpm_limit: int("key_rpm_limit", overrides.key_rpm_limit),
            key_tpm_limit: int("key_tpm_limit", overrides.key_tpm_limit),
            rate_limit_max_wait_seconds: int(
                "rate_limit_max_wait_seconds",
                overrides.rate_limit_max_wait_seconds,
            ),
        }
    }
}

/// A group's overrides (`groups.config`): GPT-Load's 14 overridable keys plus our key-policy and
/// stream keys, the aggregate routing keys (`sub_group_failover`, `model_aware_routing`) and the
/// rate limits.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Overrides the system setting of the same name (see `CATALOGUE`).
    pub request_timeout: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Overrides the system setting of the same name (see `CATALOGUE`).
    pub idle_conn_timeout: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Overrides the system setting of the same name (see `CATALOGUE`).
    pub connect_timeout: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Overrides the system setting of the same name (see `CATALOGUE`).
    pub max_idle_conns: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Overrides the system setting of the same name (see `CATALOGUE`).
    pub max_idle_conns_per_host: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Overrides the system setting of the same name (see `CATALOGUE`).
    pub response_header_timeout: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Overrides the system setting of the same name (see `CATALOGUE`).
    pub proxy_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Overrides the system setting of the same name (see `CATALOGUE`).
    pub max_retries: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Overrides the system setting of the same name (see `CATALOGUE`).
    pub blacklist_threshold: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Overrides the system setting of the same name (see `CATALOGUE`).
    pub failover_status_codes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Overrides the system setting of the same name (see `CATALOGUE`).
    pub key_validation_interval_minutes: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Overrides the system setting of the same name (see `CATALOGUE`).
    pub key_validation_concurrency: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Overrides the system setting of the same name (see `CATALOGUE`).
    pub key_validation_timeout_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Overrides the system setting of the same name (see `CATALOGUE`).
    pub enable_request_logging: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Overrides the system setting of the same name (see `CATALOGUE`).
    pub enable_request_body_logging: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Overrides the system setting of the same name (see `CATALOGUE`).
    pub stream_idle_timeout: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Overrides the system setting of the same name (see `CATALOGUE`).
    pub client_error_status_codes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Overrides the system setting of the same name (see `CATALOGUE`).
    pub key_cooldown_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Overrides the system setting of the same name (see `CATALOGUE`).
    pub upstream_failure_threshold: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Overrides the system setting of the same name (see `CATALOGUE`).
    pub upstream_ejection_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Overrides the system setting of the same name (see `CATALOGUE`).
    pub sub_group_failover: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Overrides the system setting of the same name (see `CATALOGUE`).
    pub model_aware_routing: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Overrides the system setting of the same name (see `CATALOGUE`).
    pub group_rpm_limit: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Overrides the system setting of the same name (see `CATALOGUE`).
    pub group_tpm_limit: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Overrides the system setting of the same name (see `CATALOGUE`).
    pub key_rpm_limit: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Overrides the system setting of the same name (see `CATALOGUE`).
    pub key_tpm_limit: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Overrides the system setting of the same name (see `CATALOGUE`).
    pub rate_limit_max_wait_seconds: Option<i64>,
}

impl GroupConfig {
    /// The overrides as stored in `groups.config` (empty text = none), validated like
    /// [`GroupConfig::validate`].
    pub fn from_stored(text: &str) -> Result<Self, SettingError> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let value: Value = serde_json::from_str(text)
            .map_err(|e| SettingError::new("config", format!("not valid JSON: {e}")))?;
        Self::validate(&value)
    }

    /// Validates a `config` object from the API: unknown keys, types and minimums. `null` values
    /// are dropped. Returns the normalised overrides.
    pub fn validate(value: &Value) -> Result<Self, SettingError> {
        let Some(map) = value.as_object() else {
            return Err(SettingError::new("config", "must be a JSON object"));
        };
        let mut clean = serde_json::Map::new();
        for (key, v) in map {
            if v.is_null() {
                continue;
            }
            let def = find(key).filter(|d| d.group_override).ok_or_else(|| {
                SettingError::new("config", format!("unknown config field: '{key}'"))
            })?;
            let text = validate_value(def, v)?;
            let typed = parse_text(def, &text).unwrap_or(Value::Null);
            clean.insert(key.clone(), typed);
        }
        serde_json::from_value(Value::Object(clean))
            .map_err(|e| SettingError::new("config", e.to_string()))
    }
}

/// A group's effective configuration as the data plane uses it.
#[derive(Clone, Debug, PartialEq)]
pub struct EffectiveConfig {
    /// Non-stream total timeout, seconds.
    pub request_timeout: i64,
    /// Connect timeout, seconds.
    pub connect_timeout: i64,
    /// Idle pooled connection lifetime, seconds.
    pub idle_conn_timeout: i64,
    /// Time to the upstream response header, seconds.
    pub response_header_timeout: i64,
    /// Extra attempts after a failed one.
    pub max_retries: i64,
    /// Consecutive key failures before blacklisting (0 = never).
    pub blacklist_threshold: i64,
    /// Statuses that fail an attempt.
    pub failover: StatusMatcher,
    /// Statuses the client caused: passed through, no retry, nobody blamed.
    pub client_errors: StatusMatcher,
    /// Longest silence between stream chunks, seconds.
    pub stream_idle_timeout: i64,
    /// Cool-down after a 429 without `Retry-After`, seconds.
    pub key_cooldown_seconds: i64,
    /// Consecutive upstream failures before ejection (0 = never).
    pub upstream_failure_threshold: i64,
    /// First ejection period, seconds (doubles per further ejection).
    pub upstream_ejection_seconds: i64,
    /// Outbound proxy (empty = environment).
    pub proxy_url: String,
    /// Whether request attempts are logged at all.
    pub enable_request_logging: bool,
    /// Whether request bodies are logged.
    pub enable_request_body_logging: bool,
    /// Aggregates: retry on another sub-group when one's attempts all failed.
    pub sub_group_failover: bool,
    /// Aggregates: prefer sub-groups whose redirect rules name the requested model.
    pub model_aware_routing: bool,
    /// Requests per minute for the group (0 = no limit).
    pub group_rpm_limit: i64,
    /// Tokens per minute for the group (0 = no limit).
    pub group_tpm_limit: i64,
    /// Requests per minute for each key (0 = no limit).
    pub key_rpm_limit: i64,
    /// Tokens per minute for each key (0 = no limit).
    pub key_tpm_limit: i64,
    /// Longest wait for room under a rate limit, seconds (0 = answer 429 at once).
    pub rate_limit_max_wait_seconds: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_match_gpt_load() {
        let s = SystemSettings::default();
        assert_eq!(s.int("max_retries"), 3);
        assert_eq!(s.int("request_timeout"), 600);
        assert_eq!(s.string("failover_status_codes"), "400-403,405-999");
        assert_eq!(CATALOGUE.iter().filter(|d| d.group_override).count(), 27);
        assert_eq!(s.string("client_error_status_codes"), "400,404,413,422");
    }

    #[test]
    fn rows_overlay_defaults_and_bad_rows_keep_default() {
        let (s, errors) = SystemSettings::from_rows([
            ("max_retries", "5"),
            ("blacklist_threshold", "x"),
            ("nope", "1"),
        ]);
        assert_eq!(s.int("max_retries"), 5);
        assert_eq!(s.int("blacklist_threshold"), 3);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].key, "blacklist_threshold");
    }

    #[test]
    fn validates_values() {
        let d = find("max_retries").unwrap();
        assert_eq!(validate_value(d, &json!(2)).unwrap(), "2");
        assert!(
            validate_value(d, &json!(-1))
                .unwrap_err()
                .reason
                .contains("at least 0")
        );
        assert!(validate_value(d, &json!("2")).is_err());
        assert!(validate_value(find("failover_status_codes").unwrap(), &json!("x")).is_err());
        assert!(validate_value(find("client_error_status_codes").unwrap(), &json!("4xx")).is_err());
        assert!(validate_value(find("upstream_failure_threshold").unwrap(), &json!(-1)).is_err());
        assert_eq!(
            validate_value(find("proxy_keys").unwrap(), &json!(" a, ,b ")).unwrap(),
            "a,b"
        );
    }

    #[test]
    fn group_config_overrides_and_rejects_unknown() {
        let c = GroupConfig::validate(&json!({"max_retries": 1, "proxy_url": null})).unwrap();
        let eff = SystemSettings::default().effective(&c);
        assert_eq!(eff.max_retries, 1);
        assert!(eff.client_errors.matches(422) && !eff.client_errors.matches(429));
        let c = GroupConfig::validate(
            &json!({"client_error_status_codes": "400", "key_cooldown_seconds": 5}),
        )
        .unwrap();
        let eff = SystemSettings::default().effective(&c);
        assert!(!eff.client_errors.matches(404));
        assert_eq!(
            (eff.key_cooldown_seconds, eff.upstream_ejection_seconds),
            (5, 10)
        );
        assert_eq!(eff.blacklist_threshold, 3);
        let err = GroupConfig::validate(&json!({"app_url": "x"})).unwrap_err();
        assert!(err.reason.contains("unknown config field: 'app_url'"));
        assert!(GroupConfig::validate(&json!({"request_timeout": 0})).is_err());
        assert_eq!(
            GroupConfig::from_stored(" ").unwrap(),
            GroupConfig::default()
        );
        assert_eq!(
            GroupConfig::from_stored(r#"{"max_retries": 1}"#)
                .unwrap()
                .max_retries,
            Some(1)
        );
        assert!(GroupConfig::from_stored("{").is_err());
    }
}
