//! The HTTP surface: every route, declared once with its OpenAPI description, plus the layers
//! every request passes (request ids, tracing, timeout, body limit, panic catching), and the
//! operators' surface (`/metrics` and the probes) for the separate `admin_listen` listener.

pub mod apis;
pub mod audit;
pub mod credentials;
pub mod health;
pub mod me;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request, header};
use axum::response::IntoResponse;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::OpenApi as OpenApiDocument;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_scalar::{Scalar, Servable as _};

use crate::error::ApiError;
use crate::metrics;
use crate::state::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Gatekey",
        description = "Short-lived, scoped Kong credentials for the APIs in your catalog. \
            Every issuance and authorization decision is recorded.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "identity", description = "Who the caller is"),
        (name = "apis", description = "APIs the caller may try"),
        (name = "credentials", description = "Mint, list, inspect and revoke credentials"),
        (name = "audit", description = "The audit trail (admins)"),
        (name = "health", description = "Probes"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApiDocument) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An OIDC token from a trusted issuer: a Backstage user token, the \
                         company IdP, or a CI system's workload identity token.",
                    ))
                    .build(),
            ),
        );
    }
}

fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(me::get_me))
        .routes(routes!(apis::list_apis))
        .routes(routes!(apis::get_api))
        .routes(routes!(credentials::mint_credential))
        .routes(routes!(credentials::list_credentials))
        .routes(routes!(
            credentials::get_credential,
            credentials::revoke_credential
        ))
        .routes(routes!(audit::query_audit))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
}

/// The OpenAPI document, as generated from the handlers.
pub fn openapi() -> OpenApiDocument {
    api_router().split_for_parts().1
}

/// The complete application; `/metrics` is left out when `serve_metrics` is false (it is then
/// on the [`admin_router`]).
pub fn router(
    state: AppState,
    request_timeout: Duration,
    body_limit: usize,
    header_limit: usize,
    serve_metrics: bool,
) -> Router {
    let (routes, api) = api_router().split_for_parts();
    let document = api.to_pretty_json().unwrap_or_default();
    let routes = routes.route_layer(axum::middleware::from_fn(metrics::track_http));
    let routes = if serve_metrics {
        routes.route("/metrics", axum::routing::get(metrics::render))
    } else {
        routes
    };
    // The proxy secret is as sensitive as the bearer token: no layer may print it.
    let sensitive = [header::AUTHORIZATION, state.proxy_secrets.header().clone()];
    routes
        .route(
            "/openapi.json",
            axum::routing::get(move || async move {
                ([(header::CONTENT_TYPE, "application/json")], document)
            }),
        )
        .merge(Scalar::with_url("/docs", api))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(
            ServiceBuilder::new()
                .layer(SetSensitiveRequestHeadersLayer::new(sensitive))
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                        let request_id = request
                            .headers()
                            .get(&REQUEST_ID)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-");
                        tracing::info_span!(
                            "request",
                            method = %request.method(),
                            path = %request.uri().path(),
                            request_id,
                            subject = tracing::field::Empty,
                            api = tracing::field::Empty,
                        )
                    }),
                )
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(CatchPanicLayer::custom(|_| {
                    ApiError::Internal("handler panicked".to_owned()).into_response()
                }))
                .layer(axum::middleware::from_fn(move |request, next| {
                    limit_headers(header_limit, request, next)
                }))
                .layer(axum::middleware::from_fn(move |request, next| {
                    timeout(request_timeout, request, next)
                })),
        )
        .with_state(state)
}

/// What operators need and callers do not, for the `admin_listen` listener: `/metrics`, and the
/// probes again so that kubelet and Prometheus use one port.
pub fn admin_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", axum::routing::get(metrics::render))
        .route("/healthz", axum::routing::get(health::healthz))
        .route("/readyz", axum::routing::get(health::readyz))
        .fallback(not_found)
        .with_state(state)
}

async fn timeout(
    limit: Duration,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout.into_response(),
    }
}

/// Refuses a request whose target and headers together exceed `limit` bytes with 431, before
/// any handler (or token verification) sees it.
async fn limit_headers(
    limit: usize,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let size = request.uri().to_string().len()
        + request
            .headers()
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len())
            .sum::<usize>();
    if size > limit {
        return ApiError::HeadersTooLarge.into_response();
    }
    next.run(request).await
}

async fn not_found(method: axum::http::Method) -> ApiError {
    let error = ApiError::NotFound { what: "route" };
    metrics::record_http(
        method.as_str().to_owned(),
        "unmatched".to_owned(),
        axum::http::StatusCode::NOT_FOUND.as_u16(),
        Duration::ZERO,
    );
    error
}
