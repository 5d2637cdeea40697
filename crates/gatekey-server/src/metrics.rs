//! Prometheus metrics at `/metrics`.
//!
//! Adapters emit through the `metrics` facade (Kong call latency in `gatekey-kong`, MongoDB
//! command latency in `gatekey-store`, JWKS refreshes in `gatekey-auth`), so they need no
//! dependency on the server; this module installs the process-wide Prometheus recorder, measures
//! HTTP requests by route template (the business counters are derived from audit events by
//! `gatekey_app::audit`, which every decision and lifecycle step passes through); the catalog's
//! age and skip counts are read from the catalog source at scrape time. No label ever carries a subject, a
//! token or a key: labels are route templates, API ids from the policy, and machine reasons.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::state::AppState;

/// Histogram buckets for every `*_seconds` metric: 0.5 ms to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How often recorded histogram samples are folded into their buckets between scrapes, which
/// bounds the memory they hold under load.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide recorder, installed on first use. Several applications in one process (as
/// in tests) share it, like they would share any global registry.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), LATENCY_BUCKETS)
            .unwrap_or_else(|err| {
                // Only an empty bucket list is refused; summaries are the fallback.
                tracing::error!(error = %err, "latency buckets refused; recording summaries");
                PrometheusBuilder::new()
            });
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed; /metrics will be empty");
        }
        handle
    })
}

/// Folds histogram samples periodically, until the returned task is aborted.
pub fn spawn_upkeep() -> tokio::task::JoinHandle<()> {
    let handle = handle().clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(UPKEEP_INTERVAL);
        loop {
            tick.tick().await;
            handle.run_upkeep();
        }
    })
}

/// `GET /metrics`: the Prometheus text exposition format. The live credential count (one indexed
/// MongoDB count) and the values kept by the catalog source are read at scrape time.
pub async fn render(State(state): State<AppState>) -> Response {
    match state.store.issuances().count_live(state.clock.now()).await {
        #[expect(clippy::cast_precision_loss, reason = "a gauge is a float")]
        Ok(live) => metrics::gauge!("gatekey_active_credentials").set(live as f64),
        Err(err) => tracing::warn!(error = %err, "cannot count active credentials for /metrics"),
    }
    if let Some(catalog) = &state.catalog {
        if let Some(age) = catalog.source.age_seconds() {
            metrics::gauge!("gatekey_catalog_age_seconds").set(age);
        }
        for (reason, total) in catalog.source.skipped_totals() {
            metrics::counter!("gatekey_catalog_entities_skipped_total", "reason" => reason.as_str())
                .absolute(total);
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle().render(),
    )
        .into_response()
}

/// Route layer: counts and times each request under its route template (`/v1/credentials/{id}`).
pub async fn track_http(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    record_http(method, route, response.status().as_u16(), started.elapsed());
    response
}

/// Records one request; also used by the fallback, which route layers do not see.
pub fn record_http(method: String, route: String, status: u16, elapsed: Duration) {
    metrics::histogram!(
        "gatekey_http_request_duration_seconds",
        "method" => method.clone(),
        "route" => route.clone(),
    )
    .record(elapsed.as_secs_f64());
    metrics::counter!(
        "gatekey_http_requests_total",
        "method" => method,
        "route" => route,
        "status" => status.to_string(),
    )
    .increment(1);
}
