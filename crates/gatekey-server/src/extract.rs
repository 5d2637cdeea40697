//! Request extractors whose rejections are problem+json like every other error, and the
//! authenticated [`Caller`] (the services' plain type, built here from a verified token):
//! handlers that need a principal take it as an argument, so no handler can reach a protected
//! operation without a verified token.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use gatekey_app::{Caller, RequestContext};
use gatekey_core::Principal;

use crate::error::ApiError;
use crate::state::AppState;

/// JSON body; bad JSON, a wrong content type or an oversized body become problem+json.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// Path parameters with problem+json rejections.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// Checks an API id taken from a path against the documented pattern (that of policy ids), so a
/// malformed one answers 400 `invalid_path` like every other request outside the document.
pub fn check_api_id(id: &str) -> Result<(), ApiError> {
    if gatekey_core::policy::is_identifier(id) {
        Ok(())
    } else {
        Err(ApiError::BadRequest {
            code: "invalid_path",
            detail: "an API id is 1 to 64 lowercase letters, digits, '.', '_' or '-'".to_owned(),
        })
    }
}

/// Query parameters with problem+json rejections.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// Where a request came from, for audit events.
fn request_context(parts: &Parts) -> RequestContext {
    let request_id = parts
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let client_addr = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string());
    RequestContext {
        request_id,
        client_addr,
    }
}

/// A handler taking a [`Caller`] runs only for a verified token.
impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts)?;
        let identity = state.verifier.verify(token).await?;
        // Before userinfo or any other use of a token that may have been replayed.
        state
            .proxy_secrets
            .check(&identity.issuer_name, &parts.headers)?;
        let identity = state.userinfo.complete(token, identity).await?;
        let context = request_context(parts);
        let span = tracing::Span::current();
        span.record("subject", identity.subject.as_str());
        Ok(Self {
            principal: Principal::new(identity.issuer, identity.subject, identity.groups),
            issuer_name: identity.issuer_name,
            context,
        })
    }
}

fn bearer_token(parts: &Parts) -> Result<&str, ApiError> {
    let value = parts
        .headers
        .get(AUTHORIZATION)
        .ok_or(ApiError::MissingToken)?
        .to_str()
        .map_err(|_| ApiError::MissingToken)?;
    let (scheme, token) = value.split_once(' ').ok_or(ApiError::MissingToken)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::MissingToken);
    }
    Ok(token.trim())
}
