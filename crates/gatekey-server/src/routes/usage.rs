//! What a credential's key was used for, as the gateway logged it (`GET
//! /v1/credentials/{id}/usage`), and its whole story in one ordered answer (`GET
//! /v1/credentials/{id}/timeline`): the allow decision, issuance, activation, each call,
//! revocation and who revoked. Owner or admin, like every read of a credential.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use gatekey_app::Caller;
use gatekey_core::audit::{AuditAction, AuditEvent};
use gatekey_core::usage::{Latencies, UsageEntry, UsageSummary};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, Problem};
use crate::extract::{ApiPath, ApiQuery};
use crate::routes::credentials::load_accessible;
use crate::state::AppState;

/// How many recent calls a usage answer lists by default, and at most.
const DEFAULT_RECENT_CALLS: u32 = 20;
const MAX_RECENT_CALLS: u32 = 200;

/// Options of a usage answer.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    /// How many of the latest calls to list, 0 to 200 (default 20).
    #[param(minimum = 0, maximum = 200)]
    pub recent: Option<u32>,
}

/// What a credential's key was used for, as the gateway logged it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialUsage {
    pub credential_id: String,
    /// Every call counted since the credential was issued, by status class.
    pub summary: UsageSummary,
    /// The latest calls, newest first (kept for `mongodb.usage_retention_days`).
    pub recent: Vec<UsageCall>,
}

/// One call made with the key. No header, no query string: the gateway's log carries the key
/// there, and Gatekey keeps neither.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageCall {
    pub at: DateTime<Utc>,
    pub method: String,
    /// The Kong route's name (or id).
    pub route: Option<String>,
    /// The Kong service's name (or id).
    pub service: Option<String>,
    /// The request path, without its query string.
    pub path: String,
    pub status: u16,
    pub latencies: Latencies,
    pub client_ip: Option<String>,
}

impl From<UsageEntry> for UsageCall {
    fn from(entry: UsageEntry) -> Self {
        Self {
            at: entry.at,
            method: entry.method,
            route: entry.route,
            service: entry.service,
            path: entry.path,
            status: entry.status,
            latencies: entry.latencies,
            client_ip: entry.client_ip,
        }
    }
}

/// What a credential's key was used for: its counters and latest calls (owner or admin).
#[utoipa::path(
    get,
    path = "/v1/credentials/{id}/usage",
    operation_id = "getCredentialUsage",
    tag = "credentials",
    params(("id" = String, Path, description = "Credential id", example = "01JDQ3V7Z8K4M2N6P0R5S9T1W3",
        pattern = "^[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$"), UsageQuery),
    responses(
        (status = 200, description = "The credential's usage", body = CredentialUsage),
        (status = 400, description = "`invalid_path`: the id is not a credential id; `invalid_query`: \
            `recent` out of range or an unknown parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`missing_token` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such credential (or not yours)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`store_unavailable`, `timeout`, or `temporarily_unavailable` (the token's issuer \
            cannot be reached)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_credential_usage(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<UsageQuery>,
) -> Result<Json<CredentialUsage>, ApiError> {
    let recent = query.recent.unwrap_or(DEFAULT_RECENT_CALLS);
    if recent > MAX_RECENT_CALLS {
        return Err(ApiError::BadRequest {
            code: "invalid_query",
            detail: format!("recent must be between 0 and {MAX_RECENT_CALLS}"),
        });
    }
    let issuance = load_accessible(&state, &caller, &id, AuditAction::ReadCredential).await?;
    let usage = state.store.usage();
    let summary = usage.summary(&issuance.id).await?;
    let recent = if recent == 0 {
        Vec::new()
    } else {
        usage.recent(&issuance.id, recent).await?
    };
    Ok(Json(CredentialUsage {
        credential_id: issuance.id.to_string(),
        summary,
        recent: recent.into_iter().map(UsageCall::from).collect(),
    }))
}

/// Options of a timeline.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TimelineQuery {
    /// How many of the latest calls to include, 0 to 200 (default 50); older calls are counted
    /// in the usage summary only.
    #[param(minimum = 0, maximum = 200)]
    pub calls: Option<u32>,
}

/// A credential's story, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialTimeline {
    pub credential_id: String,
    /// The decisions and lifecycle steps of the audit trail and the calls made with the key,
    /// in the order they happened.
    pub events: Vec<TimelineEvent>,
    /// Every call counted, including those older than the calls listed.
    pub usage: UsageSummary,
}

/// One step of a credential's story: an audit event (a decision, issuance, activation,
/// revocation, with who did it) or a call made with the key.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TimelineEvent {
    Audit { event: Box<AuditEvent> },
    Call { call: UsageCall },
}

impl TimelineEvent {
    fn at(&self) -> DateTime<Utc> {
        match self {
            Self::Audit { event } => event.at,
            Self::Call { call } => call.at,
        }
    }
}

/// A credential's story in one ordered answer (owner or admin).
#[utoipa::path(
    get,
    path = "/v1/credentials/{id}/timeline",
    operation_id = "getCredentialTimeline",
    tag = "credentials",
    params(("id" = String, Path, description = "Credential id", example = "01JDQ3V7Z8K4M2N6P0R5S9T1W3",
        pattern = "^[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$"), TimelineQuery),
    responses(
        (status = 200, description = "The credential's timeline, oldest first", body = CredentialTimeline),
        (status = 400, description = "`invalid_path`: the id is not a credential id; `invalid_query`: \
            `calls` out of range or an unknown parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`missing_token` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such credential (or not yours)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`store_unavailable`, `timeout`, or `temporarily_unavailable` (the token's issuer \
            cannot be reached)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_credential_timeline(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<TimelineQuery>,
) -> Result<Json<CredentialTimeline>, ApiError> {
    let calls = query.calls.unwrap_or(50);
    if calls > MAX_RECENT_CALLS {
        return Err(ApiError::BadRequest {
            code: "invalid_query",
            detail: format!("calls must be between 0 and {MAX_RECENT_CALLS}"),
        });
    }
    let issuance = load_accessible(&state, &caller, &id, AuditAction::ReadCredential).await?;
    let history = state.store.audit().history(&issuance.id).await?;
    let usage = state.store.usage();
    let summary = usage.summary(&issuance.id).await?;
    let recent = if calls == 0 {
        Vec::new()
    } else {
        usage.recent(&issuance.id, calls).await?
    };
    let mut events: Vec<TimelineEvent> = history
        .into_iter()
        .map(|event| TimelineEvent::Audit {
            event: Box::new(event),
        })
        .chain(recent.into_iter().map(|entry| TimelineEvent::Call {
            call: UsageCall::from(entry),
        }))
        .collect();
    // Stable: an audit event and a call of the same millisecond keep the trail's order first.
    events.sort_by_key(TimelineEvent::at);
    Ok(Json(CredentialTimeline {
        credential_id: issuance.id.to_string(),
        events,
        usage: summary,
    }))
}
