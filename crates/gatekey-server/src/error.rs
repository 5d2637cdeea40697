//! The one place where errors become HTTP responses: RFC 9457 `application/problem+json`.
//!
//! Services (`gatekey-app`) return their own typed errors and handlers return [`ApiError`], which
//! wraps them; `IntoResponse` renders status, a stable `code`, and a detail that is safe to show. Internal causes are logged
//! here (never secrets: adapter errors do not carry keys or tokens) and not sent to the caller.
//!
//! 400 versus 422: a request the OpenAPI document alone shows to be wrong (not JSON, wrong types,
//! numbers out of the documented range, missing or unknown fields, a query, path or header value
//! that breaks its documented constraint) answers 400; a request that matches the document but
//! that the policy refuses for what it asks (a scope the API does not have, a TTL outside the
//! API's bounds, an `Idempotency-Key` reused with another body) answers 422.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gatekey_app::idempotency::{IdempotencyError, InvalidIdempotencyKey, MAX_KEY_CHARS};
use gatekey_app::limits::LimitError;
use gatekey_app::{BulkRevokeError, IngestError, MintError, RevokeError};
use gatekey_auth::AuthError;
use gatekey_core::policy::{Denial, DenyReason};
use gatekey_core::revocation::{FilterError, MAX_REASON_CHARS};
use gatekey_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// The `Retry-After` of an `ingest_busy` answer. Kong 3.x's queue ignores it (it retries after
/// its own exponential delay, from `queue.initial_retry_delay`); it tells other senders that a
/// batch's turn comes within about a second.
const INGEST_RETRY_AFTER_SECONDS: u32 = 1;

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// URI identifying the problem type: `urn:gatekey:problem:<code>`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short summary of the problem type.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// What went wrong for this request, safe to show to the caller.
    pub detail: String,
    /// Stable machine-readable code, e.g. `scope_not_allowed`, `invalid_token`.
    pub code: String,
}

/// Every way a request can fail: the edge's own refusals, and the services' errors, each mapped
/// here and nowhere else.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no bearer token")]
    MissingToken,
    #[error("token refused: {0}")]
    InvalidToken(#[from] AuthError),
    /// A token of an issuer marked `requires_proxy_secret` came without an accepted proxy secret:
    /// not through the Backstage proxy.
    #[error("token of issuer '{issuer}' without an accepted proxy secret")]
    ProxySecretRequired { issuer: String, header: String },
    /// A post to the ingest endpoint without an accepted `X-Gatekey-Ingest-Secret`.
    #[error("ingest without an accepted secret")]
    IngestSecretRequired,
    /// Recording a batch of gateway log entries failed.
    #[error("ingest failed: {0}")]
    Ingest(#[from] IngestError),
    #[error("denied: {0}")]
    Denied(#[from] Denial),
    #[error("{what} not found")]
    NotFound { what: &'static str },
    /// The request does not match the documented contract (body, query, path or header).
    #[error("bad request: {detail}")]
    BadRequest { code: &'static str, detail: String },
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("request headers too large")]
    HeadersTooLarge,
    #[error("mint failed: {0}")]
    Mint(#[from] MintError),
    #[error("revoke failed: {0}")]
    Revoke(#[from] RevokeError),
    #[error("bulk revocation refused: {0}")]
    BulkRevoke(#[from] BulkRevokeError),
    /// A read (credential, listing, audit trail) failed.
    #[error("MongoDB failed: {0}")]
    Store(#[from] StoreError),
    /// The request ran past `http.request_timeout_seconds`.
    #[error("request timed out")]
    Timeout,
    #[error("the handler panicked")]
    Panicked,
}

/// Status, code, title and detail of an answer.
type Parts = (StatusCode, &'static str, &'static str, String);

fn timeout_parts() -> Parts {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "timeout",
        "Request timed out",
        "the request took too long; try again".to_owned(),
    )
}

fn internal_parts() -> Parts {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "Internal error",
        "an unexpected error occurred".to_owned(),
    )
}

fn kong_failed_parts() -> Parts {
    (
        StatusCode::BAD_GATEWAY,
        "kong_unavailable",
        "Gateway error",
        "the Kong Admin API failed; nothing was issued".to_owned(),
    )
}

fn denial_parts(denial: &Denial) -> Parts {
    let status = match denial.reason {
        DenyReason::UnknownApi | DenyReason::NotOwner => StatusCode::NOT_FOUND,
        // The document says `scopes` has at least one item: outside the contract.
        DenyReason::NoScopesRequested => StatusCode::BAD_REQUEST,
        // Within the contract, but not what this API's policy allows.
        DenyReason::UnknownScope | DenyReason::TtlAboveMax | DenyReason::TtlBelowMin => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        DenyReason::ScopeNotAllowed | DenyReason::NotAdmin => StatusCode::FORBIDDEN,
    };
    // A credential of someone else looks exactly like one that does not exist.
    if denial.reason == DenyReason::NotOwner {
        return (
            status,
            "not_found",
            "Not found",
            "no such credential".to_owned(),
        );
    }
    (
        status,
        denial.reason.as_str(),
        "Request denied",
        denial.detail.clone(),
    )
}

fn store_parts(err: &StoreError) -> Parts {
    match err {
        StoreError::InvalidCursor(_) | StoreError::InvalidLimit { .. } => (
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "Bad request",
            "the page cursor or limit is not valid".to_owned(),
        ),
        StoreError::NotFound { .. } => (
            StatusCode::NOT_FOUND,
            "not_found",
            "Not found",
            "no such credential".to_owned(),
        ),
        StoreError::InvalidTransition { from, to } => (
            StatusCode::CONFLICT,
            "conflict",
            "Conflict",
            format!(
                "the credential is {} and cannot become {}",
                from.as_str(),
                to.as_str()
            ),
        ),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "Storage unavailable",
            "the credential store is unavailable; try again shortly".to_owned(),
        ),
    }
}

fn mint_parts(err: &MintError) -> Parts {
    match err {
        MintError::Denied(denial) => denial_parts(denial),
        MintError::InvalidIdempotencyKey(InvalidIdempotencyKey::Malformed) => (
            StatusCode::BAD_REQUEST,
            "invalid_idempotency_key",
            "Bad request",
            format!("Idempotency-Key must be 1 to {MAX_KEY_CHARS} visible ASCII characters"),
        ),
        MintError::Idempotency(IdempotencyError::Reused) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "Idempotency key reused",
            "this Idempotency-Key was used with a different request; use a new key".to_owned(),
        ),
        MintError::Idempotency(IdempotencyError::InProgress) => (
            StatusCode::CONFLICT,
            "idempotency_key_in_progress",
            "Request in progress",
            "the first request with this Idempotency-Key is still being processed; retry shortly"
                .to_owned(),
        ),
        MintError::Idempotency(IdempotencyError::AlreadyIssued { id }) => (
            StatusCode::CONFLICT,
            "already_issued",
            "Already issued",
            format!(
                "credential {id} was already issued for this Idempotency-Key; its key was shown \
                 once and cannot be shown again. If the key was lost, revoke the credential and \
                 mint a new one"
            ),
        ),
        MintError::Limit(LimitError::Reached(reached)) => (
            StatusCode::TOO_MANY_REQUESTS,
            reached.limit.code(),
            "Limit reached",
            reached.detail.clone(),
        ),
        MintError::Idempotency(IdempotencyError::Store(err))
        | MintError::Limit(LimitError::Store(err))
        | MintError::Store(err) => store_parts(err),
        MintError::Kong(_) => kong_failed_parts(),
        MintError::Timeout | MintError::ClientGone => timeout_parts(),
        MintError::GrantedApiMissing(_)
        | MintError::InvalidIdempotencyKey(InvalidIdempotencyKey::Canonical(_))
        | MintError::NoRandomness(_)
        | MintError::TaskEnded => internal_parts(),
    }
}

fn revoke_parts(err: &RevokeError) -> Parts {
    match err {
        RevokeError::NotActive { id, state } => (
            StatusCode::CONFLICT,
            "conflict",
            "Conflict",
            format!("credential {id} is {state} and cannot be revoked"),
        ),
        RevokeError::Kong(_) => kong_failed_parts(),
        RevokeError::Store(err) => store_parts(err),
    }
}

fn bulk_revoke_parts(err: &BulkRevokeError) -> Parts {
    let refused =
        |code, detail: String| (StatusCode::UNPROCESSABLE_ENTITY, code, "Refused", detail);
    match err {
        // Outside the documented schema (lengths).
        BulkRevokeError::Filter(err @ FilterError::FieldLength { .. }) => (
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "Bad request",
            err.to_string(),
        ),
        BulkRevokeError::Reason => (
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "Bad request",
            format!("reason must be 1 to {MAX_REASON_CHARS} characters"),
        ),
        BulkRevokeError::BlankReason => refused(
            "blank_reason",
            "reason is only spaces: say why, for the audit trail".to_owned(),
        ),
        // Within the schema, but what the filter says cannot be meant.
        BulkRevokeError::Filter(err @ FilterError::Empty) => {
            refused("empty_filter", err.to_string())
        }
        BulkRevokeError::Filter(err @ FilterError::AllWithFields) => {
            refused("all_with_filter", err.to_string())
        }
        BulkRevokeError::Filter(err @ FilterError::EmptyRange) => {
            refused("empty_time_range", err.to_string())
        }
        BulkRevokeError::Store(err) => store_parts(err),
    }
}

impl ApiError {
    fn parts(&self) -> Parts {
        match self {
            Self::MissingToken => (
                StatusCode::UNAUTHORIZED,
                "missing_token",
                "Authentication required",
                "send a bearer token in the Authorization header".to_owned(),
            ),
            Self::InvalidToken(err) => {
                let status = if matches!(err, AuthError::IssuerUnavailable { .. }) {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::UNAUTHORIZED
                };
                (
                    status,
                    err.oauth_error_code(),
                    "Token refused",
                    err.description(),
                )
            }
            Self::ProxySecretRequired { issuer, header } => (
                StatusCode::UNAUTHORIZED,
                "proxy_secret_required",
                "Token refused",
                format!(
                    "tokens of issuer '{issuer}' are accepted only through the Backstage proxy \
                     (the {header} header it adds is missing or not accepted)"
                ),
            ),
            Self::IngestSecretRequired => (
                StatusCode::UNAUTHORIZED,
                "ingest_secret_required",
                "Secret required",
                "send the ingest secret in the X-Gatekey-Ingest-Secret header; nothing was \
                 recorded"
                    .to_owned(),
            ),
            Self::Denied(denial) => denial_parts(denial),
            Self::NotFound { what } => (
                StatusCode::NOT_FOUND,
                "not_found",
                "Not found",
                format!("no such {what}"),
            ),
            Self::BadRequest { code, detail } => {
                (StatusCode::BAD_REQUEST, code, "Bad request", detail.clone())
            }
            Self::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "Payload too large",
                "the request body exceeds the configured limit".to_owned(),
            ),
            Self::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type",
                "send Content-Type: application/json".to_owned(),
            ),
            Self::HeadersTooLarge => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers_too_large",
                "Request headers too large",
                "the request headers exceed the configured limit".to_owned(),
            ),
            Self::Mint(err) => mint_parts(err),
            Self::Revoke(err) => revoke_parts(err),
            Self::BulkRevoke(err) => bulk_revoke_parts(err),
            Self::Store(err) | Self::Ingest(IngestError::Store(err)) => store_parts(err),
            Self::Ingest(IngestError::Busy { .. }) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "ingest_busy",
                "Ingest busy",
                format!(
                    "the ingest is at its share of the database; nothing was read or recorded: \
                     post the batch again in {INGEST_RETRY_AFTER_SECONDS} s"
                ),
            ),
            Self::Timeout => timeout_parts(),
            Self::Panicked => internal_parts(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, title, detail) = self.parts();
        if matches!(self, Self::Ingest(IngestError::Busy { .. })) {
            // Back-pressure working as designed, counted in `gatekey_usage_ingest_shed_total`.
            tracing::debug!(error = %self, code, "request shed");
        } else if status.is_server_error() {
            tracing::error!(error = %self, code, "request failed");
        } else {
            tracing::info!(error = %self, code, "request refused");
        }
        let problem = Problem {
            problem_type: format!("urn:gatekey:problem:{code}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail,
            code: code.to_owned(),
        };
        let mut response = (status, axum::Json(problem)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        match &self {
            Self::Mint(MintError::Limit(LimitError::Reached(reached))) => {
                let retry_after = HeaderValue::from(reached.retry_after_seconds);
                headers.insert(header::RETRY_AFTER, retry_after);
            }
            Self::Mint(MintError::Idempotency(IdempotencyError::InProgress)) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Self::Ingest(IngestError::Busy { .. }) => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(INGEST_RETRY_AFTER_SECONDS),
                );
            }
            Self::Mint(MintError::Idempotency(IdempotencyError::AlreadyIssued { id })) => {
                if let Ok(value) = HeaderValue::from_str(&format!("/v1/credentials/{id}")) {
                    headers.insert(header::LOCATION, value);
                }
            }
            _ => {}
        }
        if status == StatusCode::UNAUTHORIZED {
            let challenge = match &self {
                Self::InvalidToken(err) => format!(
                    "Bearer realm=\"gatekey\", error=\"{}\", error_description=\"{}\"",
                    err.oauth_error_code(),
                    err.description().replace(['"', '\\'], "'")
                ),
                Self::ProxySecretRequired { .. } => "Bearer realm=\"gatekey\", \
                     error=\"invalid_token\", error_description=\"this issuer's tokens are \
                     accepted only through the Backstage proxy\""
                    .to_owned(),
                _ => "Bearer realm=\"gatekey\"".to_owned(),
            };
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                headers.insert(header::WWW_AUTHENTICATE, value);
            }
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => Self::UnsupportedMediaType,
            JsonRejection::BytesRejection(ref inner)
                if inner.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Self::PayloadTooLarge
            }
            // Not JSON, or JSON of the wrong shape (types, ranges, missing or unknown fields):
            // both are outside the documented schema.
            other => Self::BadRequest {
                code: "invalid_body",
                detail: other.body_text(),
            },
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::BadRequest {
            code: "invalid_path",
            detail: rejection.body_text(),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::BadRequest {
            code: "invalid_query",
            detail: rejection.body_text(),
        }
    }
}
