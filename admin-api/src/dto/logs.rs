//! Bodies of the log routes: a request log as listed.

use gateway_core::key_crypto::KeyCipher;
use gateway_schema::models::RequestLog;
use serde::Serialize;

use super::rfc3339;

/// A request log as `GET /api/logs` returns it (GPT-Load's fields, then ours: `retry_index`,
/// `ttfb_ms` and the token counts).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LogResponse {
    id: String,
    timestamp: String,
    group_id: i64,
    group_name: String,
    parent_group_id: i64,
    parent_group_name: String,
    key_value: String,
    key_hash: String,
    model: String,
    is_success: bool,
    source_ip: String,
    status_code: i32,
    request_path: String,
    duration_ms: i64,
    error_message: String,
    user_agent: String,
    /// `retry` (another attempt followed) or `final`.
    request_type: String,
    upstream_addr: String,
    is_stream: bool,
    request_body: String,
    /// 0 for a request's first attempt, 1 for the first retry, …
    retry_index: i32,
    /// Milliseconds from sending to the upstream's response header.
    ttfb_ms: i64,
    input_tokens: i64,
    output_tokens: i64,
    total_tokens: i64,
}

impl LogResponse {
    /// The answer for a stored log row; `live` is its key as `api_keys` stores it, while it
    /// exists (the key is shown decrypted, or `failed-to-decrypt`; a deleted key masked).
    pub fn new(r: RequestLog, cipher: &KeyCipher, live: Option<String>) -> Self {
        Self {
            id: r.id,
            timestamp: rfc3339(r.timestamp),
            group_id: r.group_id,
            group_name: r.group_name,
            parent_group_id: r.parent_group_id,
            parent_group_name: r.parent_group_name,
            key_value: crate::key_storage::logged(cipher, live, &r.key_value),
            key_hash: r.key_hash,
            model: r.model,
            is_success: r.is_success,
            source_ip: r.source_ip,
            status_code: r.status_code,
            request_path: r.request_path,
            duration_ms: r.duration,
            error_message: r.error_message,
            user_agent: r.user_agent,
            request_type: r.request_type,
            upstream_addr: r.upstream_addr,
            is_stream: r.is_stream,
            request_body: r.request_body,
            retry_index: r.retry_index,
            ttfb_ms: r.ttfb_ms,
            input_tokens: r.input_tokens,
            output_tokens: r.output_tokens,
            total_tokens: r.total_tokens,
        }
    }
}

// ---- validation --------------------------------------------------------------------------
