//! `GET /v1/audit`: the audit trail for admins. "Who did this?" is one query: filter by issuer and
//! subject, API, credential, decision, action, time range, bulk revocation job and the owner of
//! the credentials acted on.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use gatekey_core::audit::{AuditAction, AuditEvent, Decision};
use gatekey_core::revocation::RevocationJobId;
use gatekey_store::AuditFilter;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, Problem};
use gatekey_app::Caller;

use crate::extract::ApiQuery;
use crate::routes::credentials::page_request;
use crate::state::AppState;

/// Filters for the audit trail; all optional and combined with AND.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Issuer URL (as in each event's `issuer`). A caller is (issuer, subject): give both to
    /// follow one person, since the same subject string at two issuers is two people.
    pub issuer: Option<String>,
    /// Subject (at every issuer unless `issuer` is given).
    pub subject: Option<String>,
    pub api_id: Option<String>,
    /// A credential id: its whole story.
    #[param(pattern = "^[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$")]
    pub issuance_id: Option<String>,
    pub decision: Option<Decision>,
    pub action: Option<AuditAction>,
    /// Inclusive lower bound (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Exclusive upper bound (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// Events of one bulk revocation job (its `bulk_revoke` event and each credential's
    /// `revoke`).
    #[param(pattern = "^[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$")]
    pub job_id: Option<String>,
    /// Events about this person's credentials acted on by someone else (revocations, bulk
    /// revocations naming them): with `action=revoke`, "who revoked jane's keys, and why?".
    pub owner_issuer: Option<String>,
    pub owner_subject: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// Cursor from the previous page (`next_cursor`).
    #[param(pattern = "^[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$")]
    pub cursor: Option<String>,
}

/// One page of audit events, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEvent>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Query the audit trail (admins only).
#[utoipa::path(
    get,
    path = "/v1/audit",
    operation_id = "queryAudit",
    tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of audit events", body = AuditPage),
        (status = 400, description = "`invalid_query`: a parameter outside its documented type, range or pattern, \
            or an unknown parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`missing_token` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`not_admin`: not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`store_unavailable`, `timeout`, or `temporarily_unavailable` (the token's issuer \
            cannot be reached)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn query_audit(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let policy = state.policy.current();
    if let Err(denial) = policy.decide_admin(&caller.principal) {
        return Err(state
            .app
            .audit
            .deny(&policy, &caller, AuditAction::ReadAudit, denial, None, None)
            .await
            .into());
    }
    let issuance_id = query
        .issuance_id
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|_| ApiError::BadRequest {
            code: "invalid_query",
            detail: "issuance_id is not a credential id".to_owned(),
        })?;
    let job_id = query
        .job_id
        .as_deref()
        .map(str::parse::<RevocationJobId>)
        .transpose()
        .map_err(|_| ApiError::BadRequest {
            code: "invalid_query",
            detail: "job_id is not a revocation job id".to_owned(),
        })?;
    let filter = AuditFilter {
        issuer: query.issuer,
        subject: query.subject,
        api_id: query.api_id,
        issuance_id,
        decision: query.decision,
        action: query.action,
        from: query.from,
        to: query.to,
        job_id: job_id.map(|id| id.to_string()),
        owner_issuer: query.owner_issuer,
        owner_subject: query.owner_subject,
    };
    let page = state
        .store
        .audit()
        .query(&filter, &page_request(query.limit, query.cursor)?)
        .await?;
    Ok(Json(AuditPage {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}
