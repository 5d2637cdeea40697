//! `GET /v1/apis` and `GET /v1/apis/{id}`: the APIs a caller may try, with the scopes they may
//! request and the TTL bounds, from the policy file merged with the Backstage catalog. On an API
//! the policy marks `discoverable`, `GET /v1/apis/{id}` also explains the scopes the caller may
//! not request: which groups would grant each (`gatekey_core::policy_explain`).

use axum::Json;
use axum::extract::State;
use gatekey_core::policy::{ApiPolicy, Denial, DenyReason, RateLimit, ScopePolicy, VisibleApi};
use gatekey_core::policy_explain::ApiExplanation;
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
    /// The scopes this caller may not request and the groups any of which would grant each:
    /// only in `GET /v1/apis/{id}`, and only on an API the policy marks discoverable (absent
    /// otherwise: nothing about other groups is revealed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(required = false)]
    pub unavailable_scopes: Vec<UnavailableScope>,
}

/// A requestable scope.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScopeSummary {
    pub name: String,
    pub description: String,
}

/// A scope the caller may not request, and what would let them.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnavailableScope {
    pub name: String,
    pub description: String,
    /// Membership in any of these groups grants the scope, e.g. `group:default/payments-team`.
    pub granted_by: Vec<String>,
}

impl From<VisibleApi<'_>> for ApiSummary {
    fn from(visible: VisibleApi<'_>) -> Self {
        Self::new(visible.api, visible.requestable_scopes.iter().copied())
    }
}

impl ApiSummary {
    /// `api` as a caller who may request `requestable` sees it, nothing explained.
    fn new<'a>(api: &'a ApiPolicy, requestable: impl Iterator<Item = &'a ScopePolicy>) -> Self {
        Self {
            id: api.id.clone(),
            title: api.title.clone(),
            description: api.description.clone(),
            owner: api.owner.clone(),
            entity_ref: api.entity_ref.clone(),
            gateway_url: api.gateway_url.clone(),
            key_header: api.key_header.clone(),
            scopes: requestable
                .map(|scope| ScopeSummary {
                    name: scope.name.clone(),
                    description: scope.description.clone(),
                })
                .collect(),
            default_ttl_seconds: api.default_ttl_seconds,
            min_ttl_seconds: api.min_ttl_seconds,
            max_ttl_seconds: api.max_ttl_seconds,
            rate_limit: api.rate_limit,
            unavailable_scopes: Vec::new(),
        }
    }

    /// `api` as explained to one caller: the requestable scopes, and on a discoverable API the
    /// others with the groups that grant them.
    fn explained(api: &ApiPolicy, explanation: &ApiExplanation) -> Self {
        let scope = |name: &str| api.scopes.iter().find(|scope| scope.name == name);
        let requestable = explanation
            .scopes
            .iter()
            .filter(|access| access.requestable)
            .filter_map(|access| scope(&access.scope));
        Self {
            unavailable_scopes: explanation
                .scopes
                .iter()
                .filter(|access| !access.requestable && !access.granted_by.is_empty())
                .map(|access| UnavailableScope {
                    name: access.scope.clone(),
                    description: scope(&access.scope)
                        .map(|scope| scope.description.clone())
                        .unwrap_or_default(),
                    granted_by: access.granted_by.clone(),
                })
                .collect(),
            ..Self::new(api, requestable)
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

/// One API, if the caller may request any of its scopes or the policy marks it discoverable; on
/// a discoverable API, with the groups that would grant each scope the caller may not request.
#[utoipa::path(
    get,
    path = "/v1/apis/{id}",
    operation_id = "getApi",
    tag = "apis",
    params(("id" = String, Path, description = "API id", example = "orders",
        pattern = "^[a-z0-9][a-z0-9._-]{0,63}$")),
    responses(
        (status = 200, description = "The API, with `unavailable_scopes` explained when it is discoverable", body = ApiSummary),
        (status = 400, description = "`invalid_path`: the id is not an API id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`missing_token` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`unknown_api`: no such API, or none of its scopes is open to the caller and it is not discoverable", body = Problem, content_type = "application/problem+json"),
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
    let policy = state.policy.current();
    policy
        .api(&id)
        .zip(policy.explain(&caller.principal, &id))
        .map(|(api, explanation)| Json(ApiSummary::explained(api, &explanation)))
        .ok_or_else(|| {
            ApiError::Denied(Denial {
                reason: DenyReason::UnknownApi,
                detail: format!("no API '{id}' that you may request"),
            })
        })
}
