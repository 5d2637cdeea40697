//! The one place where errors become HTTP responses: RFC 9457 `application/problem+json`.
//!
//! Handlers and services return [`ApiError`]; adapter errors convert into it, and `IntoResponse`
//! renders status, a stable `code`, and a detail that is safe to show. Internal causes are logged
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
use gatekey_auth::AuthError;
use gatekey_core::issuance::FailureCode;
use gatekey_core::policy::{Denial, DenyReason};
use gatekey_kong::KongError;
use gatekey_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

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

/// Every way a request can fail.
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
    #[error("conflict: {detail}")]
    Conflict { detail: String },
    #[error("request headers too large")]
    HeadersTooLarge,
    /// A per-subject limit was reached; `retry_after_seconds` says when it frees up.
    #[error("limit reached: {detail}")]
    LimitReached {
        code: &'static str,
        detail: String,
        retry_after_seconds: u64,
    },
    /// The `Idempotency-Key` was used before with another request.
    #[error("idempotency key reused with a different request")]
    IdempotencyKeyReused,
    /// The request that first used the `Idempotency-Key` is still being processed.
    #[error("idempotency key in use by a request still in progress")]
    IdempotencyKeyInProgress,
    /// The `Idempotency-Key` already produced this credential; its key was shown once.
    #[error("credential {id} was already issued for this idempotency key")]
    AlreadyIssued {
        id: gatekey_core::issuance::IssuanceId,
    },
    #[error("Kong Admin API failed: {0}")]
    Kong(#[from] KongError),
    #[error("MongoDB failed: {0}")]
    Store(#[from] StoreError),
    #[error("request timed out")]
    Timeout,
    /// The client disconnected before its credential was ready; nobody receives this answer.
    #[error("the client disconnected before the credential was ready")]
    ClientGone,
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The code a failed mint records for this error: stable, and free of the internals the
    /// error itself carries (hosts, ports, URLs, driver messages).
    pub fn failure_code(&self) -> FailureCode {
        match self {
            Self::Kong(KongError::Timeout | KongError::Transport(_)) => {
                FailureCode::KongUnavailable
            }
            Self::Kong(_) => FailureCode::KongRefused,
            Self::Store(_) => FailureCode::StorageUnavailable,
            Self::Timeout => FailureCode::Timeout,
            Self::ClientGone => FailureCode::ClientGone,
            _ => FailureCode::Internal,
        }
    }

    #[expect(
        clippy::too_many_lines,
        reason = "one arm per error: the whole HTTP mapping stays in one place"
    )]
    fn parts(&self) -> (StatusCode, &'static str, &'static str, String) {
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
            Self::Denied(denial) => {
                let status = match denial.reason {
                    DenyReason::UnknownApi | DenyReason::NotOwner => StatusCode::NOT_FOUND,
                    // The document says `scopes` has at least one item: outside the contract.
                    DenyReason::NoScopesRequested => StatusCode::BAD_REQUEST,
                    // Within the contract, but not what this API's policy allows.
                    DenyReason::UnknownScope
                    | DenyReason::TtlAboveMax
                    | DenyReason::TtlBelowMin => StatusCode::UNPROCESSABLE_ENTITY,
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
            Self::Conflict { detail } => {
                (StatusCode::CONFLICT, "conflict", "Conflict", detail.clone())
            }
            Self::HeadersTooLarge => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers_too_large",
                "Request headers too large",
                "the request headers exceed the configured limit".to_owned(),
            ),
            Self::LimitReached { code, detail, .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                code,
                "Limit reached",
                detail.clone(),
            ),
            Self::IdempotencyKeyReused => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "Idempotency key reused",
                "this Idempotency-Key was used with a different request; use a new key".to_owned(),
            ),
            Self::IdempotencyKeyInProgress => (
                StatusCode::CONFLICT,
                "idempotency_key_in_progress",
                "Request in progress",
                "the first request with this Idempotency-Key is still being processed; retry \
                 shortly"
                    .to_owned(),
            ),
            Self::AlreadyIssued { id } => (
                StatusCode::CONFLICT,
                "already_issued",
                "Already issued",
                format!(
                    "credential {id} was already issued for this Idempotency-Key; its key was \
                     shown once and cannot be shown again. If the key was lost, revoke the \
                     credential and mint a new one"
                ),
            ),
            Self::Kong(_) => (
                StatusCode::BAD_GATEWAY,
                "kong_unavailable",
                "Gateway error",
                "the Kong Admin API failed; nothing was issued".to_owned(),
            ),
            Self::Store(StoreError::InvalidCursor(_) | StoreError::InvalidLimit { .. }) => (
                StatusCode::BAD_REQUEST,
                "invalid_query",
                "Bad request",
                "the page cursor or limit is not valid".to_owned(),
            ),
            Self::Store(StoreError::NotFound { .. }) => (
                StatusCode::NOT_FOUND,
                "not_found",
                "Not found",
                "no such credential".to_owned(),
            ),
            Self::Store(StoreError::InvalidTransition { from, to }) => (
                StatusCode::CONFLICT,
                "conflict",
                "Conflict",
                format!(
                    "the credential is {} and cannot become {}",
                    from.as_str(),
                    to.as_str()
                ),
            ),
            Self::Store(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "Storage unavailable",
                "the credential store is unavailable; try again shortly".to_owned(),
            ),
            Self::Timeout | Self::ClientGone => (
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                "Request timed out",
                "the request took too long; try again".to_owned(),
            ),
            Self::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
                "an unexpected error occurred".to_owned(),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, title, detail) = self.parts();
        if status.is_server_error() {
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
            Self::LimitReached {
                retry_after_seconds,
                ..
            } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_seconds));
            }
            Self::IdempotencyKeyInProgress => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Self::AlreadyIssued { id } => {
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

#[cfg(test)]
mod tests {
    use gatekey_core::issuance::FailureCode;
    use gatekey_kong::KongError;
    use gatekey_store::StoreError;

    use super::ApiError;

    #[test]
    fn failure_codes_name_the_failing_dependency_and_not_its_error() {
        let cases = [
            (
                ApiError::Kong(KongError::Timeout),
                FailureCode::KongUnavailable,
            ),
            (
                ApiError::Kong(KongError::Api {
                    status: 500,
                    code: None,
                    message: "An unexpected error occurred".to_owned(),
                }),
                FailureCode::KongRefused,
            ),
            (
                ApiError::Store(StoreError::CorruptDocument {
                    collection: "issuances",
                    id: "x".to_owned(),
                    detail: "mongodb://db.internal:27017".to_owned(),
                }),
                FailureCode::StorageUnavailable,
            ),
            (ApiError::Timeout, FailureCode::Timeout),
            (ApiError::ClientGone, FailureCode::ClientGone),
            (
                ApiError::Internal("no randomness available".to_owned()),
                FailureCode::Internal,
            ),
        ];
        for (error, code) in cases {
            assert_eq!(error.failure_code(), code, "{error}");
            assert!(!code.message().contains("internal:"), "{code}");
        }
    }
}
