//! `GET /v1/policy`: the effective policy for admins. Every record and audit event names the
//! revision of the policy that decided it; this answers which revision is in force now, where it
//! came from (the file, its source revision, the catalog's APIs), when it took effect and what
//! it says, and whether a newer policy file was refused.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use gatekey_app::Caller;
use gatekey_core::audit::AuditAction;
use gatekey_core::policy::PolicyDocument;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, Problem};
use crate::state::AppState;

/// The policy in force.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyView {
    /// `sha256:` and the hex digest of the policy's canonical form (the file and the catalog's
    /// APIs, merged): the `policy_revision` of records and audit events.
    #[schema(example = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")]
    pub revision: String,
    /// Where the rules come from (a git commit): `GATEKEY_POLICY_SOURCE_REVISION`, or the file's
    /// `source_revision`.
    pub source_revision: Option<String>,
    /// The policy file this replica reads.
    pub file: String,
    /// When this revision took effect in this replica.
    pub loaded_at: DateTime<Utc>,
    /// The APIs that come from the Backstage catalog; the others are the file's.
    pub catalog_api_ids: Vec<String>,
    /// A newer policy file that was refused; the policy shown keeps serving until a valid one
    /// arrives.
    pub refused_file: Option<RefusedFile>,
    /// The effective policy: the file's admin groups and APIs and the catalog's APIs.
    pub policy: PolicyDocument,
}

/// A policy file that was not loaded.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefusedFile {
    pub at: DateTime<Utc>,
    /// The file, the place in the document and the reason.
    pub error: String,
}

/// The effective policy, its revision and where it came from (admins only).
#[utoipa::path(
    get,
    path = "/v1/policy",
    operation_id = "getPolicy",
    tag = "policy",
    responses(
        (status = 200, description = "The policy in force", body = PolicyView),
        (status = 401, description = "`missing_token` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`not_admin`: not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`timeout`, or `temporarily_unavailable` (the token's issuer \
            cannot be reached)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_policy(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<PolicyView>, ApiError> {
    let loaded = state.policy.loaded();
    let policy = &loaded.policy;
    if let Err(denial) = policy.decide_admin(&caller.principal) {
        return Err(state
            .app
            .audit
            .deny(policy, &caller, AuditAction::ReadPolicy, denial, None, None)
            .await
            .into());
    }
    Ok(Json(PolicyView {
        revision: policy.revision().digest.clone(),
        source_revision: policy.revision().source.clone(),
        file: state.policy_file.display().to_string(),
        loaded_at: loaded.loaded_at,
        catalog_api_ids: loaded.catalog_api_ids.clone(),
        refused_file: state.policy.refused().map(|refused| RefusedFile {
            at: refused.at,
            error: refused.error.clone(),
        }),
        policy: policy.to_document(),
    }))
}
