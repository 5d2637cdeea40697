//! Credential endpoints: mint (`POST /v1/apis/{id}/credentials`), list, inspect and revoke;
//! listings and records carry a usage brief (what a key was used for is in [`super::usage`]).
//! Handlers check the HTTP contract, call the services of `gatekey-app` (the mint's steps are in
//! `gatekey_app::mint`), and render the result.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use gatekey_app::{Caller, MintOrder};
use gatekey_core::audit::AuditAction;
use gatekey_core::issuance::{EffectiveState, FailureCode, Issuance, IssuanceId};
use gatekey_core::policy::{Denial, DenyReason, KONG_MAX_TTL_SECONDS, MintRequest};
use gatekey_core::usage::UsageSummary;
use gatekey_store::{IssuanceFilter, PageRequest};
use secrecy::ExposeSecret as _;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, check_api_id};
use crate::state::AppState;

/// The request header that makes a mint safe to retry ([`gatekey_app::idempotency`]).
const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Longest accepted `purpose`.
const MAX_PURPOSE_CHARS: usize = 200;

/// What the caller asks for.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"scopes": ["read"], "ttl_seconds": 600, "purpose": "try the orders API"}))]
pub struct MintCredentialRequest {
    /// Scopes to grant; each must be a scope of the API (else 422 `unknown_scope`) open to one
    /// of the caller's groups (else 403 `scope_not_allowed`).
    #[schema(min_items = 1, example = json!(["read"]))]
    pub scopes: Vec<String>,
    /// Lifetime in seconds; the API's default when omitted. Beyond the API's
    /// `min_ttl_seconds`..`max_ttl_seconds` answers 422 `ttl_below_min` / `ttl_above_max`.
    #[schema(minimum = 1, maximum = 100_000_000, example = 600)]
    #[serde(default, deserialize_with = "whole_seconds")]
    pub ttl_seconds: Option<u32>,
    /// Why the credential is needed (shown in listings and the audit trail).
    #[schema(max_length = 200, example = "try the orders API")]
    pub purpose: Option<String>,
}

/// Reads `ttl_seconds` as JSON Schema reads an integer: `600.0` is the whole number 600 (a
/// generated client or a validator may send it so), while `900.5`, `-1`, `"900"` or a number
/// beyond `u32` are type errors (400 `invalid_body`).
fn whole_seconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    let whole = number.as_u64().or_else(|| {
        number
            .as_f64()
            .filter(|value| value.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(value))
            .map(
                #[expect(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "a whole number between 0 and u32::MAX, checked above"
                )]
                |value| value as u64,
            )
    });
    whole
        .and_then(|seconds| u32::try_from(seconds).ok())
        .map(Some)
        .ok_or_else(|| {
            serde::de::Error::invalid_value(
                serde::de::Unexpected::Other(&number.to_string()),
                &"a whole number of seconds",
            )
        })
}

/// A credential's record. The key itself is never stored and never shown again.
#[derive(Debug, Serialize, ToSchema)]
pub struct Credential {
    pub id: String,
    pub api_id: String,
    pub subject: String,
    pub issuer: String,
    pub scopes: Vec<String>,
    pub purpose: Option<String>,
    /// `pending`, `active`, `expired`, `revoked` or `failed`.
    pub state: EffectiveState,
    pub ttl_seconds: u32,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// `sha256:<hex>` of the key, to match a key someone holds against its record.
    pub key_fingerprint: Option<String>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_by: Option<String>,
    /// Why the mint failed (`failed` only).
    pub failure: Option<CredentialFailure>,
    /// The revision (`sha256:…`) of the policy that granted it (`GET /v1/policy`, and the
    /// `policy_load` audit events); absent on credentials minted before revisions existed.
    pub policy_revision: Option<String>,
    /// The calls the gateway logged with the key so far (`calls: 0`: never used).
    pub usage: UsageBrief,
}

/// A credential's use at a glance, for listings: how often, how often refused or failed, when
/// last. The full counters and the latest calls are at `/v1/credentials/{id}/usage`.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct UsageBrief {
    /// Calls made with the key, as the gateway logged them.
    pub calls: u64,
    /// Of them, answered 4xx or 5xx.
    pub errors: u64,
    /// The latest call; absent when the key was never used.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<&UsageSummary> for UsageBrief {
    fn from(summary: &UsageSummary) -> Self {
        Self {
            calls: summary.calls,
            errors: summary.errors(),
            last_used_at: summary.last_used_at,
        }
    }
}

/// Why a credential's mint failed: a stable code to act on and a sentence to show. Never the
/// underlying error, which stays in Gatekey's log under the mint's request id.
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialFailure {
    pub code: FailureCode,
    /// What happened, for people.
    #[schema(example = "The gateway could not be reached; nothing was issued.")]
    pub message: String,
}

impl From<FailureCode> for CredentialFailure {
    fn from(code: FailureCode) -> Self {
        Self {
            code,
            message: code.message().to_owned(),
        }
    }
}

impl Credential {
    pub(crate) fn from_issuance(issuance: Issuance, now: DateTime<Utc>) -> Self {
        Self {
            state: issuance.effective_state(now),
            id: issuance.id.to_string(),
            api_id: issuance.api_id,
            subject: issuance.subject,
            issuer: issuance.issuer,
            scopes: issuance.scopes,
            purpose: issuance.purpose,
            ttl_seconds: issuance.ttl_seconds,
            issued_at: issuance.issued_at,
            expires_at: issuance.expires_at,
            key_fingerprint: issuance.key_fingerprint,
            revoked_at: issuance.revoked_at,
            revoked_by: issuance.revoked_by,
            failure: issuance.failure.map(CredentialFailure::from),
            usage: UsageBrief::default(),
            policy_revision: issuance.policy_revision,
        }
    }

    fn with_usage(mut self, summary: &UsageSummary) -> Self {
        self.usage = UsageBrief::from(summary);
        self
    }
}

/// A new credential, with its key. This is the only time the key is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct MintedCredential {
    pub credential: Credential,
    /// The API key. Store it now: Gatekey keeps only its fingerprint.
    pub key: String,
    /// Header to send the key in.
    pub header_name: String,
    /// Base URL of the API on the gateway.
    pub gateway_url: String,
    pub expires_at: DateTime<Utc>,
}

/// One page of credentials, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialPage {
    pub items: Vec<Credential>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Filters for listing credentials.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListCredentialsQuery {
    /// Admins only: another issuer (its URL, as in a credential's `issuer`). A caller is
    /// (issuer, subject): the same subject string at two issuers is two people.
    pub issuer: Option<String>,
    /// Admins only: someone else's subject (at every issuer unless `issuer` is given).
    pub subject: Option<String>,
    pub api_id: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// Cursor from the previous page (`next_cursor`).
    #[param(pattern = "^[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$")]
    pub cursor: Option<String>,
}

/// Mint a short-lived credential for an API.
#[utoipa::path(
    post,
    path = "/v1/apis/{id}/credentials",
    operation_id = "mintCredential",
    tag = "credentials",
    params(
        ("id" = String, Path, description = "API id", example = "orders",
            pattern = "^[a-z0-9][a-z0-9._-]{0,63}$"),
        ("Idempotency-Key" = Option<String>, Header, nullable = false, description = "Makes retries safe: \
            1 to 255 visible ASCII characters, scoped to the caller, kept 24 hours. A retry with the \
            same key and body never mints again: it answers 409 `already_issued` with the credential's \
            Location (the key was shown once), or 409 `idempotency_key_in_progress` while the first \
            request runs; the same key with another body answers 422 `idempotency_key_reused`.",
            min_length = 1, max_length = 255, pattern = "^[!-~]{1,255}$"),
    ),
    request_body = MintCredentialRequest,
    responses(
        (status = 201, description = "Minted; the key is in this response only", body = MintedCredential,
            headers(("Location" = String, description = "URL of the credential record")),
            links(
                ("getCredential" = (operation_id = "getCredential",
                    parameters(("id" = "$response.body#/credential/id")),
                    description = "The new credential's record")),
                ("revokeCredential" = (operation_id = "revokeCredential",
                    parameters(("id" = "$response.body#/credential/id")),
                    description = "Revoke the new credential")),
            )),
        (status = 400, description = "Outside the documented contract: `invalid_body` (not JSON, wrong \
            types, out-of-range or unknown fields, `purpose` too long), `no_scopes_requested` (empty \
            `scopes`), `invalid_path` (malformed API id), `invalid_idempotency_key`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`missing_token` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`scope_not_allowed`: a requested scope is not open to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`unknown_api`: no such API", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`already_issued`: the Idempotency-Key already issued a credential (its Location is \
            in the answer), or `idempotency_key_in_progress`: its first request is still running", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`: body larger than `http.body_limit_bytes`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`: body not sent as `application/json`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Within the contract but refused by the API's policy: `unknown_scope`, \
            `ttl_below_min`, `ttl_above_max`, or `idempotency_key_reused` (the key came with another body)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`mint_rate_limited` or `too_many_live_credentials`: a per-subject limit was reached", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds until the limit frees up"))),
        (status = 502, description = "`kong_unavailable`: Kong failed; nothing was issued", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`store_unavailable`, `timeout`, or `temporarily_unavailable` (the token's issuer \
            cannot be reached): nothing was issued", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn mint_credential(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(api_id): ApiPath<String>,
    request_headers: HeaderMap,
    ApiJson(body): ApiJson<MintCredentialRequest>,
) -> Result<impl IntoResponse, ApiError> {
    check_api_id(&api_id)?;
    if let Some(purpose) = &body.purpose
        && purpose.chars().count() > MAX_PURPOSE_CHARS
    {
        return Err(ApiError::BadRequest {
            code: "invalid_body",
            detail: format!("purpose must be at most {MAX_PURPOSE_CHARS} characters"),
        });
    }
    if body
        .ttl_seconds
        .is_some_and(|ttl| !(1..=KONG_MAX_TTL_SECONDS).contains(&ttl))
    {
        return Err(ApiError::BadRequest {
            code: "invalid_body",
            detail: format!("ttl_seconds must be between 1 and {KONG_MAX_TTL_SECONDS}"),
        });
    }
    tracing::Span::current().record("api", api_id.as_str());
    let order = MintOrder {
        api_id: &api_id,
        request: MintRequest {
            scopes: body.scopes,
            ttl_seconds: body.ttl_seconds,
        },
        purpose: body.purpose,
        idempotency_key: request_headers
            .get(IDEMPOTENCY_KEY)
            .map(HeaderValue::as_bytes),
    };
    let policy = state.policy.current();
    let minted = state.app.minter.mint(&policy, caller, order).await?;
    let location = format!("/v1/credentials/{}", minted.issuance.id);
    let expires_at = minted.issuance.expires_at;
    let response = MintedCredential {
        credential: Credential::from_issuance(minted.issuance, state.clock.now()),
        key: minted.key.expose_secret().to_owned(),
        header_name: minted.key_header,
        gateway_url: minted.gateway_url,
        expires_at,
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(value) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, value);
    }
    Ok((StatusCode::CREATED, headers, Json(response)))
}

/// The caller's credentials (admins: anyone's, filtered), newest first.
#[utoipa::path(
    get,
    path = "/v1/credentials",
    operation_id = "listCredentials",
    tag = "credentials",
    params(ListCredentialsQuery),
    responses(
        (status = 200, description = "A page of credentials", body = CredentialPage),
        (status = 400, description = "`invalid_query`: a parameter outside its documented range or pattern, or an \
            unknown parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`missing_token` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`not_admin`: filtering by another issuer or subject needs admin", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`store_unavailable`, `timeout`, or `temporarily_unavailable` (the token's issuer \
            cannot be reached)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list_credentials(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListCredentialsQuery>,
) -> Result<Json<CredentialPage>, ApiError> {
    let own = &caller.principal;
    let policy = state.policy.current();
    let (issuer, subject) = if policy.is_admin(own) {
        // Admins without a filter see everyone's.
        (query.issuer, query.subject)
    } else if query
        .issuer
        .as_ref()
        .is_some_and(|issuer| *issuer != own.issuer)
        || query
            .subject
            .as_ref()
            .is_some_and(|subject| *subject != own.subject)
    {
        let denial = Denial {
            reason: DenyReason::NotAdmin,
            detail: "only admins may list other callers' credentials".to_owned(),
        };
        return Err(state
            .app
            .audit
            .deny(
                &policy,
                &caller,
                AuditAction::ListCredentials,
                denial,
                None,
                None,
            )
            .await
            .into());
    } else {
        // Everybody else sees exactly their own: same issuer and same subject.
        (Some(own.issuer.clone()), Some(own.subject.clone()))
    };
    let filter = IssuanceFilter {
        issuer,
        subject,
        api_id: query.api_id,
        state: None,
    };
    let page = state
        .store
        .issuances()
        .list(&filter, &page_request(query.limit, query.cursor)?)
        .await?;
    let ids: Vec<IssuanceId> = page.items.iter().map(|issuance| issuance.id).collect();
    let usage = state.store.usage().summaries(&ids).await?;
    let now = state.clock.now();
    Ok(Json(CredentialPage {
        items: page
            .items
            .into_iter()
            .map(|issuance| {
                let summary = usage.get(&issuance.id).cloned().unwrap_or_default();
                Credential::from_issuance(issuance, now).with_usage(&summary)
            })
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Builds a page request from query parameters, refusing out-of-range sizes.
pub fn page_request(limit: Option<u32>, cursor: Option<String>) -> Result<PageRequest, ApiError> {
    let limit = limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::BadRequest {
            code: "invalid_query",
            detail: "limit must be between 1 and 200".to_owned(),
        });
    }
    Ok(PageRequest { limit, cursor })
}

pub(crate) async fn load_accessible(
    state: &AppState,
    caller: &Caller,
    id: &str,
    action: AuditAction,
) -> Result<Issuance, ApiError> {
    let id: IssuanceId = id.parse().map_err(|_| ApiError::BadRequest {
        code: "invalid_path",
        detail: "a credential id is a ULID: 26 characters of Crockford base32".to_owned(),
    })?;
    let issuance = state
        .store
        .issuances()
        .get(&id)
        .await?
        .ok_or(ApiError::NotFound { what: "credential" })?;
    tracing::Span::current().record("api", issuance.api_id.as_str());
    let policy = state.policy.current();
    if let Err(denial) =
        policy.decide_credential_access(&caller.principal, &issuance.issuer, &issuance.subject)
    {
        let api_id = Some(issuance.api_id.as_str());
        let denial = state
            .app
            .audit
            .deny(&policy, caller, action, denial, api_id, Some(issuance.id))
            .await;
        return Err(denial.into());
    }
    Ok(issuance)
}

/// One credential's record.
#[utoipa::path(
    get,
    path = "/v1/credentials/{id}",
    operation_id = "getCredential",
    tag = "credentials",
    params(("id" = String, Path, description = "Credential id", example = "01JDQ3V7Z8K4M2N6P0R5S9T1W3",
        pattern = "^[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$")),
    responses(
        (status = 200, description = "The credential record", body = Credential),
        (status = 400, description = "`invalid_path`: the id is not a credential id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`missing_token` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such credential (or not yours)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`store_unavailable`, `timeout`, or `temporarily_unavailable` (the token's issuer \
            cannot be reached)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_credential(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Credential>, ApiError> {
    let issuance = load_accessible(&state, &caller, &id, AuditAction::ReadCredential).await?;
    let summary = state.store.usage().summary(&issuance.id).await?;
    Ok(Json(
        Credential::from_issuance(issuance, state.clock.now()).with_usage(&summary),
    ))
}

/// Revoke a credential: Kong deletes its key before this answers 200.
///
/// The Kong node that took the deletion refuses the key from then on; the other nodes of a Kong
/// cluster refuse it once they see the deletion, at the latest after Kong's `db_update_frequency`
/// (5 s by default) plus `db_update_propagation`. Rely on the key being refused everywhere only
/// after that window. Revoking twice is not an error.
#[utoipa::path(
    delete,
    path = "/v1/credentials/{id}",
    operation_id = "revokeCredential",
    tag = "credentials",
    params(("id" = String, Path, description = "Credential id", example = "01JDQ3V7Z8K4M2N6P0R5S9T1W3",
        pattern = "^[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$")),
    responses(
        (status = 200, description = "Revoked; the updated record", body = Credential),
        (status = 400, description = "`invalid_path`: the id is not a credential id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`missing_token` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such credential (or not yours)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: the credential never became active", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "`kong_unavailable`: Kong failed; the credential is unchanged", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`store_unavailable`, `timeout`, or `temporarily_unavailable` (the token's issuer \
            cannot be reached)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn revoke_credential(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Credential>, ApiError> {
    let issuance = load_accessible(&state, &caller, &id, AuditAction::Revoke).await?;
    let revoked = state.app.revoker.revoke(&caller, issuance).await?;
    let summary = state.store.usage().summary(&revoked.id).await?;
    Ok(Json(
        Credential::from_issuance(revoked, state.clock.now()).with_usage(&summary),
    ))
}
