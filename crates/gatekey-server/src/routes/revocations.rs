//! Bulk revocation (admins): `POST /v1/credentials/revocations` checks the order and either
//! answers what it would revoke (`dry_run`) or records a job and answers 202 with its
//! `Location`; `GET /v1/credentials/revocations/{id}` shows the job's progress. The work itself
//! is `gatekey_app::revocations`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use gatekey_app::revocations::JobProgress;
use gatekey_app::{BulkRevokeOrder, Caller};
use gatekey_core::audit::AuditAction;
use gatekey_core::revocation::{
    JobState, Operator, RevocationFailure, RevocationFilter, RevocationJobId,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiPath};
use crate::routes::credentials::Credential;
use crate::state::AppState;

/// Credentials a dry run lists at most.
const PREVIEW_PAGE: u32 = 50;

/// What to revoke, and why.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "filter": {"issuer": "https://idp.example.com", "subject": "user:default/jane"},
    "reason": "laptop stolen, INC-4711",
}))]
pub struct BulkRevokeRequest {
    /// Which `active` credentials: every field set must match. An empty filter is refused
    /// (422 `empty_filter`) unless `all` is true.
    #[serde(default)]
    pub filter: RevocationFilter,
    /// Confirms that an empty filter means every live credential (422 `all_with_filter` with a
    /// non-empty filter).
    #[serde(default)]
    pub all: bool,
    /// Why, for the audit trail.
    #[schema(min_length = 1, max_length = 500, example = "laptop stolen, INC-4711")]
    pub reason: String,
    /// Only count and list what would be revoked.
    #[serde(default)]
    pub dry_run: bool,
}

/// What a dry run found.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkRevokePreview {
    /// Always true: nothing was revoked.
    pub dry_run: bool,
    /// Matching `active` credentials.
    pub count: u64,
    /// The first of them (up to 50), oldest first.
    pub credentials: Vec<Credential>,
}

/// The answer of `POST /v1/credentials/revocations`: a dry run's preview (200) or the job just
/// recorded (202). One schema for both, so that generated clients get one type.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum BulkRevokeAnswer {
    Preview(BulkRevokePreview),
    Job(Box<RevocationJobStatus>),
}

/// A bulk revocation job and where it stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevocationJobStatus {
    #[schema(value_type = String, example = "01JC2M4ZK7Q6V4D8W3X5Y9T0AB")]
    pub id: RevocationJobId,
    /// `running` until every matching credential is revoked or reported as failed, then `done`.
    pub state: JobState,
    pub filter: RevocationFilter,
    pub reason: String,
    /// The admin who started it.
    pub operator: Operator,
    pub created_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    /// Credentials revoked by this job.
    pub revoked: u64,
    /// Credentials the job could not revoke after its retries.
    pub failed: u64,
    /// Matching credentials not handled yet (0 once `done`).
    pub remaining: u64,
    /// The first 100 failures, with their reasons.
    pub failures: Vec<RevocationFailure>,
}

impl From<JobProgress> for RevocationJobStatus {
    fn from(progress: JobProgress) -> Self {
        let JobProgress {
            job,
            revoked,
            failed,
            remaining,
            failures,
        } = progress;
        Self {
            id: job.id,
            state: job.state,
            filter: job.filter,
            reason: job.reason,
            operator: job.operator,
            created_at: job.created_at,
            ended_at: job.ended_at,
            revoked,
            failed,
            remaining,
            failures,
        }
    }
}

/// Refuses non-admins (audited as a `bulk_revoke` denial).
async fn require_admin(state: &AppState, caller: &Caller) -> Result<(), ApiError> {
    let policy = state.policy.current();
    if let Err(denial) = policy.decide_admin(&caller.principal) {
        return Err(state
            .app
            .audit
            .deny(&policy, caller, AuditAction::BulkRevoke, denial, None, None)
            .await
            .into());
    }
    Ok(())
}

/// Revoke every credential matching a filter (admins), as one audited job.
///
/// A real run records the job before anything is revoked and answers 202 at once; any replica
/// then works through the matching `active` credentials with bounded parallelism against Kong
/// and resumes the job if the one running it dies. Credentials minted for the filter while the
/// job runs are revoked too; the job ends when none is left. Each revoked credential gets a
/// `revoke` audit event with the job's `job_id`, the job a `bulk_revoke` event with the
/// operator, filter, reason and totals when it ends.
#[utoipa::path(
    post,
    path = "/v1/credentials/revocations",
    operation_id = "bulkRevokeCredentials",
    tag = "credentials",
    request_body = BulkRevokeRequest,
    responses(
        (status = 200, description = "Dry run: what would be revoked (a `BulkRevokePreview`)", body = BulkRevokeAnswer),
        (status = 202, description = "The job is recorded and runs (a `RevocationJobStatus`)", body = BulkRevokeAnswer,
            headers(("Location" = String, description = "URL of the job's progress"))),
        (status = 400, description = "`invalid_body`: not JSON, unknown fields, malformed dates, a filter \
            text or `reason` empty or too long", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`missing_token` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`not_admin`: not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`empty_filter` (no filter field and no `all: true`), `all_with_filter` \
            (`all: true` with filter fields), `empty_time_range` (`issued_after` not before `issued_before`), \
            `blank_reason` (a `reason` of spaces only)",
            body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`store_unavailable`, `timeout`, or `temporarily_unavailable` (the token's issuer \
            cannot be reached)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn bulk_revoke(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<BulkRevokeRequest>,
) -> Result<Response, ApiError> {
    require_admin(&state, &caller).await?;
    let order = BulkRevokeOrder {
        filter: body.filter,
        all: body.all,
        reason: body.reason,
    };
    let revocations = &state.app.revocations;
    if body.dry_run {
        let preview = revocations.preview(&order, PREVIEW_PAGE).await?;
        let now = state.clock.now();
        let response = BulkRevokePreview {
            dry_run: true,
            count: preview.count,
            credentials: preview
                .first
                .into_iter()
                .map(|issuance| Credential::from_issuance(issuance, now))
                .collect(),
        };
        return Ok(Json(BulkRevokeAnswer::Preview(response)).into_response());
    }
    let job = revocations.start(&caller, order).await?;
    let location = format!("/v1/credentials/revocations/{}", job.id);
    let status = RevocationJobStatus::from(JobProgress {
        job,
        revoked: 0,
        failed: 0,
        remaining: 0,
        failures: Vec::new(),
    });
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, value);
    }
    Ok((
        StatusCode::ACCEPTED,
        headers,
        Json(BulkRevokeAnswer::Job(Box::new(status))),
    )
        .into_response())
}

/// A bulk revocation job's progress (admins).
#[utoipa::path(
    get,
    path = "/v1/credentials/revocations/{id}",
    operation_id = "getRevocationJob",
    tag = "credentials",
    params(("id" = String, Path, description = "Job id", example = "01JDQ3V7Z8K4M2N6P0R5S9T1W3",
        pattern = "^[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$")),
    responses(
        (status = 200, description = "The job and its counts", body = RevocationJobStatus),
        (status = 400, description = "`invalid_path`: the id is not a job id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`missing_token` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`not_admin`: not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such job", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`store_unavailable`, `timeout`, or `temporarily_unavailable` (the token's issuer \
            cannot be reached)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_revocation_job(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<RevocationJobStatus>, ApiError> {
    require_admin(&state, &caller).await?;
    let id: RevocationJobId = id.parse().map_err(|_| ApiError::BadRequest {
        code: "invalid_path",
        detail: "a job id is a ULID: 26 characters of Crockford base32".to_owned(),
    })?;
    let progress = state
        .app
        .revocations
        .progress(&id)
        .await?
        .ok_or(ApiError::NotFound {
            what: "revocation job",
        })?;
    Ok(Json(progress.into()))
}
