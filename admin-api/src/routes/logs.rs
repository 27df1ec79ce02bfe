//! `/api/logs`: the request logs with GPT-Load's filters, newest first, and their key export
//! (one CSV row per key: the key of the latest log, its group and status). Log rows name their
//! key by hash; the key shown is looked up in `api_keys` (masked once the key is deleted).

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use chrono::{DateTime, NaiveDateTime, Utc};
use gateway_core::key_crypto::KeyCipher;
use gateway_schema::LogFilter;

use crate::dto::LogResponse;
use crate::error::{ApiError, ApiResult, ok};
use crate::extract::{ApiQuery, PageQuery};
use crate::state::AppState;

/// Query of `GET /api/logs` and `/api/logs/export` (every value as text, so a bad one gets a
/// 400 naming it).
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct LogQuery {
    page: Option<String>,
    page_size: Option<String>,
    parent_group_name: Option<String>,
    group_name: Option<String>,
    key_value: Option<String>,
    model: Option<String>,
    is_success: Option<String>,
    request_type: Option<String>,
    status_code: Option<String>,
    source_ip: Option<String>,
    error_contains: Option<String>,
    start_time: Option<String>,
    end_time: Option<String>,
}

fn text(v: Option<&String>) -> Option<String> {
    v.map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn time(field: &str, v: Option<&String>) -> Result<Option<NaiveDateTime>, ApiError> {
    text(v)
        .map(|s| {
            DateTime::parse_from_rfc3339(&s)
                .map(|t| t.with_timezone(&Utc).naive_utc())
                .map_err(|_| {
                    ApiError::BadRequest(format!(
                        "{field}: expected an RFC 3339 time such as 2026-01-02T15:04:05Z, got {s:?}"
                    ))
                })
        })
        .transpose()
}

impl LogQuery {
    fn filter(&self, cipher: &KeyCipher) -> Result<LogFilter, ApiError> {
        let is_success = match text(self.is_success.as_ref()).as_deref() {
            None => None,
            Some("true" | "1") => Some(true),
            Some("false" | "0") => Some(false),
            Some(other) => {
                return Err(ApiError::BadRequest(format!(
                    "is_success: expected true or false, got {other:?}"
                )));
            }
        };
        let request_type = match text(self.request_type.as_ref()) {
            None => None,
            Some(t) if t == "retry" || t == "final" => Some(t),
            Some(other) => {
                return Err(ApiError::BadRequest(format!(
                    "request_type: expected retry or final, got {other:?}"
                )));
            }
        };
        let status_code = text(self.status_code.as_ref())
            .map(|s| {
                s.parse::<i32>().map_err(|_| {
                    ApiError::BadRequest(format!("status_code: expected an integer, got {s:?}"))
                })
            })
            .transpose()?;
        Ok(LogFilter {
            parent_group_name: text(self.parent_group_name.as_ref()),
            group_name: text(self.group_name.as_ref()),
            key_hash: text(self.key_value.as_ref()).map(|k| cipher.lookup_hash(&k)),
            model: text(self.model.as_ref()),
            is_success,
            request_type,
            status_code,
            source_ip: text(self.source_ip.as_ref()),
            error_contains: text(self.error_contains.as_ref()),
            start_time: time("start_time", self.start_time.as_ref())?,
            end_time: time("end_time", self.end_time.as_ref())?,
        })
    }
}

/// `GET /api/logs`: one page of logs matching the filters, newest first.
pub(crate) async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<LogQuery>,
) -> ApiResult {
    let filter = q.filter(&state.cipher)?;
    let pages = PageQuery::parse(q.page.as_deref(), q.page_size.as_deref())?;
    let (rows, total) = state
        .db
        .list_logs(&filter, pages.page, pages.page_size)
        .await?;
    let names: Vec<(i64, &str)> = rows
        .iter()
        .filter(|r| !r.key_hash.is_empty())
        .map(|r| (r.group_id, r.key_hash.as_str()))
        .collect();
    let live = state.db.stored_keys_by_hash(&names).await?;
    let items: Vec<LogResponse> = rows
        .into_iter()
        .map(|r| {
            let key = live.get(&(r.group_id, r.key_hash.clone())).cloned();
            LogResponse::new(r, &state.cipher, key)
        })
        .collect();
    Ok(ok(pages.body(items, total)))
}

/// `GET /api/logs/export`: CSV `key_value,group_name,status_code`, one row per key among the
/// matching logs (its latest log), ordered by key hash, as GPT-Load exports.
pub(crate) async fn export(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<LogQuery>,
) -> ApiResult {
    let filter = q.filter(&state.cipher)?;
    let rows = state.db.latest_log_per_key(&filter).await?;
    let mut csv = String::from("key_value,group_name,status_code\n");
    for page in rows.chunks(1_000) {
        let names: Vec<(i64, &str)> = page
            .iter()
            .map(|r| (r.group_id, r.key_hash.as_str()))
            .collect();
        let live = state.db.stored_keys_by_hash(&names).await?;
        for r in page {
            let key = live.get(&(r.group_id, r.key_hash.clone())).cloned();
            let shown = crate::key_storage::logged(&state.cipher, key, &r.key_value);
            csv.push_str(&csv_field(&shown));
            csv.push(',');
            csv.push_str(&csv_field(&r.group_name));
            csv.push(',');
            csv.push_str(&r.status_code.to_string());
            csv.push('\n');
        }
    }
    let name = format!(
        "attachment; filename=log_keys_export_{}.csv",
        Utc::now().format("%Y%m%d%H%M%S")
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, name),
        ],
        csv,
    )
        .into_response())
}

/// A CSV field, quoted when it holds a comma, quote or line break. A leading `=`, `+`, `-` or
/// `@` is prefixed with `'` so a spreadsheet does not run it as a formula.
fn csv_field(s: &str) -> String {
    let guarded = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_filters_are_named_and_good_ones_parsed() {
        let q = LogQuery {
            is_success: Some("maybe".into()),
            ..LogQuery::default()
        };
        assert!(format!("{:?}", q.filter(&KeyCipher::plaintext())).contains("is_success"));
        let q = LogQuery {
            start_time: Some("yesterday".into()),
            ..LogQuery::default()
        };
        assert!(format!("{:?}", q.filter(&KeyCipher::plaintext())).contains("start_time"));
        let q = LogQuery {
            status_code: Some("429".into()),
            start_time: Some("2026-11-30T10:00:00+01:00".into()),
            key_value: Some(" sk-1 ".into()),
            ..LogQuery::default()
        };
        let f = q.filter(&KeyCipher::plaintext()).unwrap();
        assert_eq!(f.status_code, Some(429));
        assert_eq!(
            f.start_time.map(|t| t.to_string()).as_deref(),
            Some("2026-11-30 09:00:00")
        );
        assert_eq!(f.key_hash, Some(KeyCipher::plaintext().lookup_hash("sk-1")));
    }

    #[test]
    fn csv_fields_are_quoted_and_formula_safe() {
        assert_eq!(csv_field("sk-1"), "sk-1");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("=cmd()"), "'=cmd()");
        assert_eq!(csv_field("x\"y"), "\"x\"\"y\"");
    }
}
