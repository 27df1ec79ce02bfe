//! The body of `POST /api/auth/login`.

/// Body of `POST /api/auth/login`.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Login {
    pub(crate) auth_key: String,
}
