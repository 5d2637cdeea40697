//! `GET /v1/me`: who Gatekey thinks the caller is, so users and pipelines can debug group mapping.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, Problem};
use crate::state::AppState;
use gatekey_app::Caller;

/// The caller's resolved identity.
#[derive(Debug, Serialize, ToSchema)]
pub struct Identity {
    /// Subject, as mapped from the token (e.g. `user:default/jane`).
    pub subject: String,
    /// Token issuer URL.
    pub issuer: String,
    /// Name of the configured issuer that vouched for the token.
    pub issuer_name: String,
    /// Groups after claim mapping, sorted.
    pub groups: Vec<String>,
    /// Whether the caller is in an admin group.
    pub admin: bool,
}

/// Resolved identity of the caller.
#[utoipa::path(
    get,
    path = "/v1/me",
    operation_id = "getMe",
    tag = "identity",
    responses(
        (status = 200, description = "The caller's identity", body = Identity),
        (status = 401, description = "`missing_token` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`timeout`, or `temporarily_unavailable` (the token's issuer cannot be reached)",
            body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_me(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Identity>, ApiError> {
    let admin = state.policy.current().is_admin(&caller.principal);
    Ok(Json(Identity {
        subject: caller.principal.subject,
        issuer: caller.principal.issuer,
        issuer_name: caller.issuer_name,
        groups: caller.principal.groups.into_iter().collect(),
        admin,
    }))
}
