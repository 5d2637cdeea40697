//! The HTTP surface: every route, declared once with its OpenAPI description, plus the layers
//! every request passes (unread bodies drained, request ids, tracing, timeout, body limit, panic
//! catching), and the operators' surface (`/metrics` and the probes) for the separate
//! `admin_listen` listener.

pub mod apis;
pub mod audit;
pub mod credentials;
pub mod health;
pub mod ingest;
pub mod me;
pub mod policy;
pub mod revocations;
pub mod usage;

use std::time::Duration;

use axum::BoxError;
use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request, header};
use axum::response::IntoResponse;
use tower::ServiceBuilder;
use tower::timeout::TimeoutLayer;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as OpenApiDocument, RefOr};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::metrics;
use crate::state::AppState;
use crate::unread_body;

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
        (name = "policy", description = "The policy in force (admins)"),
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
        .routes(routes!(usage::get_credential_usage))
        .routes(routes!(usage::get_credential_timeline))
        .routes(routes!(revocations::bulk_revoke))
        .routes(routes!(revocations::get_revocation_job))
        .routes(routes!(audit::query_audit))
        .routes(routes!(policy::get_policy))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
}

/// The OpenAPI document, as generated from the handlers.
pub fn openapi() -> OpenApiDocument {
    let mut document = api_router().split_for_parts().1;
    spell_link_operation_ids(&mut document);
    document
}

/// utoipa 5.5 writes a link's `operationId` as `operation_id`, which no OpenAPI tool reads (the
/// mint's links to get and revoke the new credential would be invisible to client generators and
/// to schemathesis' stateful phase); this moves it to the key OpenAPI defines, through the link's
/// flattened extensions.
fn spell_link_operation_ids(document: &mut OpenApiDocument) {
    for item in document.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            for response in operation.responses.responses.values_mut() {
                let RefOr::T(response) = response else {
                    continue;
                };
                for link in response.links.values_mut() {
                    let RefOr::T(link) = link else { continue };
                    let operation_id = std::mem::take(&mut link.operation_id);
                    if !operation_id.is_empty() {
                        link.extensions
                            .get_or_insert_with(Default::default)
                            .insert("operationId".to_owned(), operation_id.into());
                    }
                }
            }
        }
    }
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
    let (routes, mut api) = api_router().split_for_parts();
    spell_link_operation_ids(&mut api);
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
        .merge(crate::docs::routes())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(
            ServiceBuilder::new()
                .layer(axum::middleware::from_fn(move |request, next| {
                    unread_body::drain_unread_body(body_limit, request, next)
                }))
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
                    ApiError::Panicked.into_response()
                }))
                .layer(axum::middleware::from_fn(move |request, next| {
                    limit_request_size(header_limit, body_limit, request, next)
                }))
                // The whole request's deadline; past it the answer is 503 `timeout`.
                .layer(HandleErrorLayer::new(request_timed_out))
                .layer(TimeoutLayer::new(request_timeout)),
        )
        .with_state(state)
}

/// What operators need and callers do not, for the `admin_listen` listener: `/metrics`, the
/// probes again so that kubelet and Prometheus use one port, and, when configured, the ingest of
/// Kong's `http-log` entries (its secret checked before the body is read).
pub fn admin_router(state: AppState, ingest: Option<ingest::IngestEndpoint>) -> Router {
    let router = Router::new()
        .route("/metrics", axum::routing::get(metrics::render))
        .route("/healthz", axum::routing::get(health::healthz))
        .route("/readyz", axum::routing::get(health::readyz));
    let router = match ingest {
        Some(endpoint) => {
            let endpoint = std::sync::Arc::new(endpoint);
            let body_limit = endpoint.body_limit_bytes;
            let secret_check = std::sync::Arc::clone(&endpoint);
            let ingest_route = Router::new()
                .route(
                    ingest::INGEST_PATH,
                    axum::routing::post(ingest::ingest_kong_http_log),
                )
                // Inside the secret check, whose refusals read nothing: a batch refused for want
                // of room is drained, so Kong's kept-alive connection stays usable.
                .layer(axum::middleware::from_fn(move |request, next| {
                    unread_body::drain_unread_body(body_limit, request, next)
                }))
                .layer(DefaultBodyLimit::max(body_limit))
                .layer(axum::Extension(endpoint))
                .layer(axum::middleware::from_fn(move |request, next| {
                    ingest::require_secret(std::sync::Arc::clone(&secret_check), request, next)
                }));
            router.merge(ingest_route)
        }
        None => router,
    };
    // The secret must never reach a log line.
    router
        .fallback(not_found)
        .layer(SetSensitiveRequestHeadersLayer::new([
            crate::ingest_secret::INGEST_SECRET_HEADER,
        ]))
        .with_state(state)
}

/// The answer of a request that ran past its deadline ([`TimeoutLayer`]'s only error: the
/// router itself never fails).
async fn request_timed_out(_elapsed: BoxError) -> ApiError {
    ApiError::Timeout
}

/// Refuses, before any handler (or token verification) sees it, a request whose target and
/// headers together exceed `header_limit` bytes with 431, and one whose `Content-Length`
/// announces more than `body_limit` bytes with 413: such a body would be refused anyway, so it is
/// not waited for (and not read: the answer closes the connection).
async fn limit_request_size(
    header_limit: usize,
    body_limit: usize,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let head_size = request.uri().to_string().len()
        + request
            .headers()
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len())
            .sum::<usize>();
    if head_size > header_limit {
        return ApiError::HeadersTooLarge.into_response();
    }
    let announced_body = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if announced_body.is_some_and(|size| size > body_limit as u64) {
        return ApiError::PayloadTooLarge.into_response();
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
