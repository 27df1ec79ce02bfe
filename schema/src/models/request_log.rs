//! `request_logs` rows: one per upstream attempt (`retry` / `final`), as the proxy records them.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::request_logs;

/// A request-log record, as written and as read back.
#[derive(
    Clone, Debug, PartialEq, Queryable, Selectable, Insertable, serde::Serialize, serde::Deserialize,
)]
#[diesel(table_name = request_logs)]
pub struct RequestLog {
    /// A UUID (v7, time-ordered, from this gateway; GPT-Load writes v4).
    pub id: String,
    /// When the attempt ended (UTC).
    pub timestamp: NaiveDateTime,
    /// The standard group whose key was used.
    pub group_id: i64,
    /// Its name.
    pub group_name: String,
    /// The aggregate the client called, when it was one (0 otherwise).
    pub parent_group_id: i64,
    /// Its name ("" otherwise).
    pub parent_group_name: String,
    /// The upstream key (stored as `api_keys.key_value` is).
    pub key_value: String,
    /// The key's lookup hash.
    pub key_hash: String,
    /// The model the request named.
    pub model: String,
    /// Whether the attempt succeeded (status below 400 and no transport error).
    pub is_success: bool,
    /// The client's address.
    pub source_ip: String,
    /// The status the attempt ended with (499: the client went away; 0 never).
    pub status_code: i32,
    /// Path and query as the client sent them, `key` removed, at most 500 characters.
    pub request_path: String,
    /// Milliseconds the attempt took (`duration_ms` in JSON).
    pub duration: i64,
    /// Why the attempt failed ("" on success), keys redacted.
    pub error_message: String,
    /// The client's user agent (only with body logging, as GPT-Load).
    pub user_agent: String,
    /// `retry` (another attempt followed) or `final`.
    pub request_type: String,
    /// The upstream URL the attempt went to.
    pub upstream_addr: String,
    /// Whether the response was a stream.
    pub is_stream: bool,
    /// The request body sent upstream, when body logging is on (truncated with a marker).
    pub request_body: String,
    /// 0 for the first attempt of a request, 1 for the first retry, …
    pub retry_index: i32,
    /// Milliseconds from sending the request to the upstream's response header.
    pub ttfb_ms: i64,
    /// Prompt tokens the provider reported.
    pub input_tokens: i64,
    /// Completion tokens the provider reported.
    pub output_tokens: i64,
    /// Total tokens the provider reported (input + output when it gave no total).
    pub total_tokens: i64,
}

/// `request_type` of an attempt another attempt followed.
pub const REQUEST_TYPE_RETRY: &str = "retry";
/// `request_type` of the attempt that answered the client.
pub const REQUEST_TYPE_FINAL: &str = "final";
