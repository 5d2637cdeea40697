//! `GET /v1/apis` and `GET /v1/apis/{id}`: the APIs a caller may try, with the scopes they may
//! request and the TTL bounds, from the policy file merged with the Backstage catalog.

use axum::Json;
use axum::extract::State;
use gatekey_core::policy::{Denial, DenyReason, RateLimit, VisibleApi};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, Problem};
use gatekey_app::Caller;

use crate::extract::{ApiPath, check_api_id};
use crate::state::AppState;

/// An API the caller may request a credential for.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiSummary {
    /// Identifier used in `/v1/apis/{id}/credentials`.
    pub id: String,
    pub title: String,
    pub description: String,
    /// Owning team, e.g. `group:default/payments-team`.
    pub owner: Option<String>,
    /// Backstage entity ref (`api:default/orders`) when the API is in the catalog.
    pub entity_ref: Option<String>,
    /// Base URL of the API on the gateway.
    pub gateway_url: String,
    /// Header the key must be sent in.
    pub key_header: String,
    /// Scopes this caller may request.
    pub scopes: Vec<ScopeSummary>,
    pub default_ttl_seconds: u32,
    pub min_ttl_seconds: u32,
    /// Longest TTL this caller may ask for.
    pub max_ttl_seconds: u32,
    /// Rate limit applied to each credential, if any.
    pub rate_limit: Option<RateLimit>,
}

/// A requestable scope.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScopeSummary {
    pub name: String,
    pub description: String,
}

impl From<VisibleApi<'_>> for ApiSummary {
    fn from(visible: VisibleApi<'_>) -> Self {
        let api = visible.api;
        Self {
            id: api.id.clone(),
            title: api.title.clone(),
            description: api.description.clone(),
            owner: api.owner.clone(),
            entity_ref: api.entity_ref.clone(),
            gateway_url: api.gateway_url.clone(),
            key_header: api.key_header.clone(),
            scopes: visible
                .requestable_scopes
                .iter()
                .map(|scope| ScopeSummary {
                    name: scope.name.clone(),
                    description: scope.description.clone(),
                })
                .collect(),
            default_ttl_seconds: api.default_ttl_seconds,
            min_ttl_seconds: api.min_ttl_seconds,
            max_ttl_seconds: api.max_ttl_seconds,
            rate_limit: api.rate_limit,
        }
    }
}

/// A list of APIs.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiList {
    pub items: Vec<ApiSummary>,
}

/// APIs the caller's groups may request credentials for.
#[utoipa::path(
    get,
    path = "/v1/apis",
    operation_id = "listApis",
    tag = "apis",
    responses(
        (status = 200, description = "APIs the caller may try", body = ApiList),
        (status = 401, description = "`missing_token` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`timeout`, or `temporarily_unavailable` (the token's issuer cannot be reached)",
            body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list_apis(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<ApiList>, ApiError> {
    let items = state
        .policy
        .current()
        .visible_apis(&caller.principal)
        .into_iter()
        .map(ApiSummary::from)
        .collect();
    Ok(Json(ApiList { items }))
}

/// One API, if the caller may request any of its scopes.
#[utoipa::path(
    get,
    path = "/v1/apis/{id}",
    operation_id = "getApi",
    tag = "apis",
    params(("id" = String, Path, description = "API id", example = "orders",
        pattern = "^[a-z0-9][a-z0-9._-]{0,63}$")),
    responses(
        (status = 200, description = "The API", body = ApiSummary),
        (status = 400, description = "`invalid_path`: the id is not an API id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`missing_token` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`unknown_api`: no such API, or none of its scopes is open to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`timeout`, or `temporarily_unavailable` (the token's issuer cannot be reached)",
            body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_api(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ApiSummary>, ApiError> {
    check_api_id(&id)?;
    state
        .policy
        .current()
        .visible_api(&caller.principal, &id)
        .map(|visible| Json(ApiSummary::from(visible)))
        .ok_or_else(|| {
            ApiError::Denied(Denial {
                reason: DenyReason::UnknownApi,
                detail: format!("no API '{id}' that you may request"),
            })
        })
}
