//! Probes: `/healthz` says the process serves requests; `/readyz` says its dependencies (Kong,
//! MongoDB, every trusted issuer) answer, so a load balancer only sends traffic that can succeed.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

/// Deadline for each dependency check.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// Liveness.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: String,
}

/// Readiness with the state of each dependency.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: String,
    pub checks: Vec<DependencyCheck>,
}

/// One dependency's state.
#[derive(Debug, Serialize, ToSchema)]
pub struct DependencyCheck {
    /// `kong`, `mongodb`, or `issuer:<name>`.
    pub name: String,
    pub ok: bool,
    pub error: Option<String>,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", operation_id = "healthz", tag = "health",
    responses((status = 200, description = "Alive", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".to_owned(),
    })
}

/// Kong, MongoDB and every trusted issuer answer.
#[utoipa::path(get, path = "/readyz", operation_id = "readyz", tag = "health",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "A dependency is down", body = Readiness),
    ))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let kong = async {
        match tokio::time::timeout(CHECK_TIMEOUT, state.kong.status()).await {
            Ok(Ok(status)) if status.database.reachable => check("kong", None),
            Ok(Ok(_)) => check(
                "kong",
                Some("Kong reports its database unreachable".to_owned()),
            ),
            Ok(Err(err)) => check("kong", Some(err.to_string())),
            Err(_) => check("kong", Some("timed out".to_owned())),
        }
    };
    let mongo = async {
        match tokio::time::timeout(CHECK_TIMEOUT, state.store.ping()).await {
            Ok(Ok(())) => check("mongodb", None),
            Ok(Err(err)) => check("mongodb", Some(err.to_string())),
            Err(_) => check("mongodb", Some("timed out".to_owned())),
        }
    };
    let issuers = async {
        match tokio::time::timeout(CHECK_TIMEOUT, state.verifier.check_issuers()).await {
            Ok(health) => health
                .into_iter()
                .map(|h| {
                    check(
                        &format!("issuer:{}", h.name),
                        if h.reachable {
                            None
                        } else {
                            h.error.or(Some("unreachable".to_owned()))
                        },
                    )
                })
                .collect(),
            Err(_) => vec![check("issuers", Some("timed out".to_owned()))],
        }
    };
    let (kong, mongo, issuers) = tokio::join!(kong, mongo, issuers);
    let mut checks = vec![kong, mongo];
    checks.extend(issuers);
    let ready = checks.iter().all(|c| c.ok);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(Readiness {
            status: if ready { "ready" } else { "not_ready" }.to_owned(),
            checks,
        }),
    )
}

fn check(name: &str, error: Option<String>) -> DependencyCheck {
    DependencyCheck {
        name: name.to_owned(),
        ok: error.is_none(),
        error,
    }
}
