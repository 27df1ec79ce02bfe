//! `/api/dashboard/*` and `/api/usage`: the overview numbers (GPT-Load's: keys, requests per
//! minute, 24 h requests and error rate with trends, security warnings), the 24-hour chart, the
//! encryption status, and token usage by group and model over 24 h / 7 d / 30 d.

use gateway_core::key_crypto::Assessment;
use std::collections::HashMap;

use axum::extract::State;
use chrono::{Duration, DurationRound, NaiveDateTime, Utc};
use gateway_core::settings_catalogue::{SystemSettings, split_key_list};
use gateway_schema::{HourBucket, UsageTotals, UsageWindow};
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult, ok};
use crate::extract::{ApiQuery, query_id};
use crate::i18n;
use crate::state::AppState;

/// `GET /api/dashboard/stats`.
pub(crate) async fn stats(State(state): State<AppState>) -> ApiResult {
    let now = Utc::now().naive_utc();
    let mut states: HashMap<String, i64> = ["active", "cooling", "invalid", "disabled"]
        .into_iter()
        .map(|s| (s.to_owned(), 0))
        .collect();
    for (_, status, n) in state.db.key_status_by_group().await? {
        *states.entry(status).or_default() += n;
    }
    let (active, invalid) = (states["active"], states["invalid"]);
    let ten = Duration::minutes(10);
    let rpm_now = state.db.count_final_logs(now - ten, now).await? as f64 / 10.0;
    let rpm_before = state
        .db
        .count_final_logs(now - ten - ten, now - ten)
        .await? as f64
        / 10.0;
    let rpm_trend = trend(rpm_now, rpm_before);
    let day = Duration::hours(24);
    let current = totals(&state.db.hourly_requests(now - day, now, None).await?);
    let previous = totals(
        &state
            .db
            .hourly_requests(now - day - day, now - day, None)
            .await?,
    );
    let (cur_total, prev_total) = (current.0 + current.1, previous.0 + previous.1);
    let count_trend = trend(cur_total as f64, prev_total as f64);
    let rate = |(s, f): (i64, i64)| {
        if s + f > 0 {
            f as f64 / (s + f) as f64 * 100.0
        } else {
            0.0
        }
    };
    let (cur_rate, prev_rate) = (rate(current), rate(previous));
    let (rate_trend, rate_growth) = if prev_total > 0 {
        let d = cur_rate - prev_rate;
        (d, d < 0.0)
    } else if cur_total > 0 {
        (cur_rate, cur_rate == 0.0)
    } else {
        (0.0, true)
    };
    let settings = settings(&state).await?;
    Ok(ok(json!({
        "key_count": {
            "value": active,
            "sub_value": invalid,
            "sub_value_tip": i18n::t("Invalid Keys"),
            "trend": 0,
            "trend_is_growth": true,
        },
        "rpm": {
            "value": round2(rpm_now),
            "trend": round2(rpm_trend),
            "trend_is_growth": rpm_trend >= 0.0,
        },
        "request_count": {
            "value": cur_total,
            "trend": round2(count_trend),
            "trend_is_growth": count_trend >= 0.0,
        },
        "error_rate": {
            "value": round2(cur_rate),
            "trend": round2(rate_trend),
            "trend_is_growth": rate_growth,
        },
        "security_warnings": security_warnings(&state, &settings, &state.db.groups().await?),
        "key_states": states,
    })))
}

async fn settings(state: &AppState) -> Result<SystemSettings, ApiError> {
    Ok(SystemSettings::from_stored(&state.db.settings().await?).0)
}

fn totals(hours: &[HourBucket]) -> (i64, i64) {
    hours
        .iter()
        .fold((0, 0), |(s, f), (_, hs, hf)| (s + hs, f + hf))
}

/// GPT-Load's trend: change in percent; 100 when there was nothing before and something now.
fn trend(current: f64, previous: f64) -> f64 {
    if previous > 0.0 {
        (current - previous) / previous * 100.0
    } else if current > 0.0 {
        100.0
    } else {
        0.0
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Words that make a key easy to guess (GPT-Load's list).
const WEAK_WORDS: &[&str] = &[
    "password",
    "123456",
    "admin",
    "secret",
    "test",
    "demo",
    "sk-123456",
    "key",
    "token",
    "pass",
    "pwd",
    "qwerty",
    "abc",
    "default",
    "user",
    "login",
    "auth",
    "temp",
];

/// GPT-Load's password check: `(severity, message, suggestion)` when `key` is weak.
fn weakness(key: &str) -> Option<(&'static str, String, &'static str)> {
    let len = key.chars().count();
    if len < 16 {
        return Some((
            "high",
            format!("is too short ({len} characters)"),
            "use at least 32 random characters",
        ));
    }
    let lower = key.to_lowercase();
    if let Some(word) = WEAK_WORDS.iter().find(|w| lower.contains(*w)) {
        return Some((
            "high",
            format!("contains the common word '{word}'"),
            "use a random key without dictionary words",
        ));
    }
    if len < 32 {
        return Some((
            "medium",
            format!("is short ({len} characters)"),
            "use at least 32 random characters",
        ));
    }
    let classes = [
        key.chars().any(|c| c.is_ascii_uppercase()),
        key.chars().any(|c| c.is_ascii_lowercase()),
        key.chars().any(|c| c.is_ascii_digit()),
        key.chars().any(|c| !c.is_ascii_alphanumeric()),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    (classes < 3).then(|| {
        (
            "medium",
            "mixes fewer than 3 kinds of characters".to_owned(),
            "mix upper and lower case letters, digits and symbols",
        )
    })
}

fn security_warnings(
    state: &AppState,
    settings: &SystemSettings,
    groups: &[gateway_schema::models::Group],
) -> Vec<Value> {
    let mut out = Vec::new();
    let check = |out: &mut Vec<Value>, kind: &str, name: String, key: &str| {
        if let Some((severity, problem, suggestion)) = weakness(key) {
            out.push(json!({
                "type": kind,
                "message": format!("{name} {problem}"),
                "severity": severity,
                "suggestion": suggestion,
            }));
        }
    };
    check(
        &mut out,
        "auth_key",
        "AUTH_KEY".to_owned(),
        state.auth_key.expose(),
    );
    match &state.encryption_key {
        Some(k) => check(
            &mut out,
            "encryption_key",
            "ENCRYPTION_KEY".to_owned(),
            k.expose(),
        ),
        None => out.push(json!({
            "type": "encryption_key",
            "message": "ENCRYPTION_KEY is not set: upstream keys are stored in plaintext",
            "severity": "high",
            "suggestion": "set ENCRYPTION_KEY to a long random value to encrypt keys at rest",
        })),
    }
    for (i, key) in split_key_list(settings.string("proxy_keys")).enumerate() {
        check(
            &mut out,
            "proxy_key",
            format!("Global Proxy Key #{}", i + 1),
            key,
        );
    }
    for g in groups {
        for (i, key) in split_key_list(&g.proxy_keys).enumerate() {
            check(
                &mut out,
                "proxy_key",
                format!("Group Proxy Key [{}] #{}", g.name, i + 1),
                key,
            );
        }
    }
    out
}

/// Query of `GET /api/dashboard/chart` (`groupId`, camelCase as GPT-Load).
#[derive(serde::Deserialize)]
pub(crate) struct ChartQuery {
    #[serde(rename = "groupId")]
    group_id: Option<String>,
}

/// `GET /api/dashboard/chart?groupId=`: successes and failures of the last 24 hours, oldest
/// hour first (one group, or every standard group).
pub(crate) async fn chart(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ChartQuery>,
) -> ApiResult {
    let group = query_id("groupId", q.group_id.as_deref())?;
    let now = Utc::now().naive_utc();
    let this_hour = now.duration_trunc(Duration::hours(1)).unwrap_or(now);
    let first = this_hour - Duration::hours(23);
    let rows = state
        .db
        .hourly_requests(first, this_hour + Duration::hours(1), group)
        .await?;
    let by_hour: HashMap<NaiveDateTime, (i64, i64)> =
        rows.into_iter().map(|(t, s, f)| (t, (s, f))).collect();
    let hours: Vec<NaiveDateTime> = (0..24).map(|i| first + Duration::hours(i)).collect();
    let labels: Vec<String> = hours.iter().map(|t| crate::dto::rfc3339(*t)).collect();
    let success: Vec<i64> = hours
        .iter()
        .map(|t| by_hour.get(t).map_or(0, |v| v.0))
        .collect();
    let failed: Vec<i64> = hours
        .iter()
        .map(|t| by_hour.get(t).map_or(0, |v| v.1))
        .collect();
    Ok(ok(json!({
        "labels": labels,
        "datasets": [
            {"label": i18n::t("Success"), "data": success, "color": "rgba(10, 200, 110, 1)"},
            {"label": i18n::t("Failed"), "data": failed, "color": "rgba(255, 70, 70, 1)"},
        ],
    })))
}

/// `GET /api/dashboard/encryption-status`: whether the stored keys match `ENCRYPTION_KEY`
/// (docs/security.md "Keys encrypted at rest"), checked now on a sample of keys and logs. The
/// process refuses to start on a mismatch, so this reports one only when the data changed since
/// (another process with another key, a restored backup).
pub(crate) async fn encryption_status(State(state): State<AppState>) -> ApiResult {
    let samples = state.db.encryption_samples().await?;
    let verdict = state
        .cipher
        .assess(samples.iter().map(|(v, h)| (v.as_str(), h.as_str())));
    Ok(ok(json!({
        "has_mismatch": verdict != Assessment::Consistent,
        "scenario_type": verdict.scenario(),
        "message": i18n::t(verdict.message()),
        "suggestion": i18n::t(verdict.suggestion()),
    })))
}

/// Window of `GET /api/dashboard/upstreams`.
const UPSTREAM_WINDOW: Duration = Duration::hours(1);
/// Attempts the average duration of an upstream is taken over (the newest).
const UPSTREAM_LATENCY_SAMPLE: i64 = 100;

/// `GET /api/dashboard/upstreams`: every configured upstream of every standard group with its
/// attempts over the last hour (retries included): count, failures, failure rate, the average
/// duration of the newest 100, and the status and error of the newest. Upstreams seen in the logs
/// but no longer configured are listed too (weight `null`), so a removed upstream's failures stay
/// visible until they age out.
pub(crate) async fn upstreams(State(state): State<AppState>) -> ApiResult {
    let from = Utc::now().naive_utc() - UPSTREAM_WINDOW;
    let groups = state.db.groups().await?;
    let names: HashMap<i64, String> = groups.iter().map(|g| (g.id, g.name.clone())).collect();
    let mut rows: Vec<UpstreamTally> = Vec::new();
    let mut index: HashMap<(i64, String), usize> = HashMap::new();
    for g in groups.iter().filter(|g| !g.is_aggregate()) {
        let configured: Vec<Value> = serde_json::from_str(&g.upstreams).unwrap_or_default();
        for u in configured {
            let Some(url) = u.get("url").and_then(Value::as_str) else {
                continue;
            };
            let tally = UpstreamTally::new(
                g.id,
                url,
                Some(u.get("weight").and_then(Value::as_i64).unwrap_or(0)),
            );
            index.insert((g.id, tally.upstream.clone()), rows.len());
            rows.push(tally);
        }
    }
    for (group_id, upstream, success, n, latest) in state.db.upstream_attempt_counts(from).await? {
        let tally = UpstreamTally::new(group_id, &upstream, None);
        let at = *index
            .entry((group_id, tally.upstream.clone()))
            .or_insert_with(|| {
                rows.push(tally);
                rows.len() - 1
            });
        let row = &mut rows[at];
        row.requests += n;
        if !success {
            row.failures += n;
        }
        row.latest = row.latest.max(latest);
    }
    let mut out = Vec::with_capacity(rows.len());
    for t in rows {
        let recent = if t.requests > 0 {
            state
                .db
                .recent_upstream_attempts(t.group_id, &t.upstream, from, UPSTREAM_LATENCY_SAMPLE)
                .await?
        } else {
            Vec::new()
        };
        let avg = if recent.is_empty() {
            Value::Null
        } else {
            let sum: i64 = recent.iter().map(|r| r.1).sum();
            json!((sum as f64 / recent.len() as f64).round() as i64)
        };
        let newest = recent.first();
        let rate = if t.requests > 0 {
            (t.failures as f64 / t.requests as f64 * 10_000.0).round() / 10_000.0
        } else {
            0.0
        };
        out.push(json!({
            "group_id": t.group_id,
            "group_name": names.get(&t.group_id).cloned().unwrap_or_default(),
            "upstream": t.upstream,
            "weight": t.weight,
            "requests": t.requests,
            "failures": t.failures,
            "failure_rate": rate,
            "avg_duration_ms": avg,
            "last_status_code": newest.map(|r| r.0),
            "last_error": newest.map(|r| r.2.clone()).unwrap_or_default(),
            "last_seen_at": t.latest.map(crate::dto::rfc3339),
        }));
    }
    Ok(ok(out))
}

/// One upstream of one group and its attempts in the window.
struct UpstreamTally {
    group_id: i64,
    upstream: String,
    /// `None`: seen in the logs but no longer configured.
    weight: Option<i64>,
    requests: i64,
    failures: i64,
    latest: Option<NaiveDateTime>,
}

impl UpstreamTally {
    fn new(group_id: i64, url: &str, weight: Option<i64>) -> Self {
        Self {
            group_id,
            upstream: url.trim_end_matches('/').to_owned(),
            weight,
            requests: 0,
            failures: 0,
            latest: None,
        }
    }
}

/// Query of `GET /api/usage`.
#[derive(serde::Deserialize)]
pub(crate) struct UsageQuery {
    period: Option<String>,
    group_id: Option<String>,
}

/// `GET /api/usage?period=24h|7d|30d&group_id=`: requests and tokens per group and model over
/// the period (from the hourly usage table, so the current hour is included), largest first,
/// with the sums.
pub(crate) async fn usage(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<UsageQuery>,
) -> ApiResult {
    let period = q.period.as_deref().map(str::trim).unwrap_or("24h");
    let hours = match period {
        "" | "24h" => 24,
        "7d" => 24 * 7,
        "30d" => 24 * 30,
        other => {
            return Err(ApiError::BadRequest(format!(
                "period: expected 24h, 7d or 30d, got {other:?}"
            )));
        }
    };
    let group_id = query_id("group_id", q.group_id.as_deref())?;
    let now = Utc::now().naive_utc();
    let this_hour = now.duration_trunc(Duration::hours(1)).unwrap_or(now);
    let from = this_hour + Duration::hours(1) - Duration::hours(hours);
    let rows = state.db.usage(UsageWindow { from, group_id }).await?;
    let names: HashMap<i64, String> = state
        .db
        .groups()
        .await?
        .into_iter()
        .map(|g| (g.id, g.name))
        .collect();
    let mut sum = UsageTotals::default();
    let items: Vec<Value> = rows
        .iter()
        .map(|r| {
            sum.requests += r.totals.requests;
            sum.input_tokens += r.totals.input_tokens;
            sum.output_tokens += r.totals.output_tokens;
            sum.total_tokens += r.totals.total_tokens;
            json!({
                "group_id": r.group_id,
                "group_name": names.get(&r.group_id).cloned().unwrap_or_default(),
                "model": r.model,
                "requests": r.totals.requests,
                "input_tokens": r.totals.input_tokens,
                "output_tokens": r.totals.output_tokens,
                "total_tokens": r.totals.total_tokens,
            })
        })
        .collect();
    Ok(ok(json!({
        "period": if period.is_empty() { "24h" } else { period },
        "from": crate::dto::rfc3339(from),
        "items": items,
        "totals": {
            "requests": sum.requests,
            "input_tokens": sum.input_tokens,
            "output_tokens": sum.output_tokens,
            "total_tokens": sum.total_tokens,
        },
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weakness_follows_gpt_load_rules() {
        assert_eq!(weakness("short").map(|w| w.0), Some("high"));
        assert_eq!(
            weakness("my-password-is-long-enough").map(|w| w.0),
            Some("high")
        );
        assert_eq!(weakness("Qx7#mZ2$kLp9vR4!").map(|w| w.0), Some("medium"));
        assert_eq!(
            weakness("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx").map(|w| w.0),
            Some("medium")
        );
        assert_eq!(weakness("Qx7#mZ2$kLp9vR4!Wn8^bY3&jHc6*Fd5"), None);
    }

    #[test]
    fn trends() {
        assert_eq!(trend(15.0, 10.0), 50.0);
        assert_eq!(trend(3.0, 0.0), 100.0);
        assert_eq!(trend(0.0, 0.0), 0.0);
    }
}
