//! Bodies of the key routes: the keys of a group as listed, and what the key operations take.

use gateway_core::key_crypto::KeyCipher;
use gateway_schema::models::ApiKey;
use serde::Serialize;

use super::rfc3339;

/// A key as `GET /api/keys` returns it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyResponse {
    id: i64,
    key_value: String,
    key_hash: String,
    group_id: i64,
    status: String,
    notes: String,
    request_count: i64,
    failure_count: i64,
    last_used_at: Option<String>,
    created_at: String,
    updated_at: String,
    /// End of a rate-limit cool-down while `status` is `cooling`.
    cooldown_until: Option<String>,
}

impl KeyResponse {
    /// The answer for a stored key (decrypted, or GPT-Load's `failed-to-decrypt`).
    pub fn new(k: ApiKey, cipher: &KeyCipher) -> Self {
        Self {
            id: k.id,
            key_value: crate::key_storage::shown(cipher, k.key_value),
            key_hash: k.key_hash,
            group_id: k.group_id,
            status: k.status,
            notes: k.notes,
            request_count: k.request_count,
            failure_count: k.failure_count,
            last_used_at: k.last_used_at.map(rfc3339),
            created_at: rfc3339(k.created_at),
            updated_at: rfc3339(k.updated_at),
            cooldown_until: k.cooldown_until.map(rfc3339),
        }
    }
}

/// Body of the key import.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeysBody {
    #[schema(minimum = 1)]
    pub(crate) group_id: i64,
    /// Keys separated by new lines, commas or spaces (at least one).
    #[schema(pattern = "\\S")]
    pub(crate) keys_text: String,
}

/// Body of the whole-group key operations.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GroupBody {
    #[schema(minimum = 1)]
    pub(crate) group_id: i64,
}

/// Body of `PUT /api/keys/{id}/notes`.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NotesBody {
    /// At most 255 characters (after trimming).
    #[schema(max_length = 255)]
    pub(crate) notes: String,
}

/// Body of `POST /api/keys/validate-group`.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ValidateGroup {
    #[schema(minimum = 1)]
    pub(crate) group_id: i64,
    /// Only keys of this status (every key but disabled ones when absent).
    #[serde(default)]
    #[schema(pattern = "^(|active|invalid|cooling)$")]
    pub(crate) status: Option<String>,
}
