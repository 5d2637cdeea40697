//! Probes: `/healthz` says the process serves requests; `/readyz` says its dependencies (Kong,
//! MongoDB, every trusted issuer) answer, so a load balancer only sends traffic that can succeed.
//! The Backstage catalog counts once it has been read; afterwards its age is reported and only
//! fails readiness beyond `catalog.max_staleness_seconds`, because the last good catalog is
//! still served.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::{AppState, CatalogHandle};

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
    /// `kong`, `mongodb`, `issuer:<name>`, or `catalog`.
    pub name: String,
    pub ok: bool,
    pub error: Option<String>,
    /// The catalog's age and contents (the `catalog` check only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<CatalogDetails>,
}

/// How fresh the Backstage catalog Gatekey serves is.
#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogDetails {
    /// A catalog has been read since start.
    pub loaded: bool,
    /// Seconds since the last good read (`gatekey_catalog_age_seconds`).
    pub age_seconds: Option<u64>,
    /// API entries in the last good read.
    pub apis: usize,
    /// Entities skipped in the last good read (the log says why in detail).
    pub skipped_entities: u64,
    /// Those skips by reason (`unbound_service`, `acl_group_not_allowed`,
    /// `gateway_url_not_allowed`, `duplicate_api_id`, ...), as in
    /// `gatekey_catalog_entities_skipped_total`.
    pub skipped_by_reason: BTreeMap<String, u64>,
    /// The skipped entities (the first 50 by entity ref) and the reason of each.
    pub skipped: Vec<SkippedEntity>,
    /// The latest refresh failed with this; the last good catalog is still served.
    pub last_error: Option<String>,
}

/// A catalog entity that is not served.
#[derive(Debug, Serialize, ToSchema)]
pub struct SkippedEntity {
    /// The entity ref, e.g. `api:default/orders`.
    pub entity: String,
    /// Why it is not served.
    pub reason: String,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", operation_id = "healthz", tag = "health",
    responses((status = 200, description = "Alive", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".to_owned(),
    })
}

/// Kong, MongoDB and every trusted issuer answer, and the Backstage catalog (when configured)
/// has been read.
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
    if let Some(catalog) = &state.catalog {
        checks.push(catalog_check(catalog));
    }
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
        details: None,
    }
}

fn catalog_check(catalog: &CatalogHandle) -> DependencyCheck {
    let status = catalog.source.status();
    let error = match (status.age, catalog.max_staleness) {
        (None, _) => Some(format!(
            "not read yet: {}",
            status
                .last_error
                .as_deref()
                .unwrap_or("the first read is under way")
        )),
        (Some(age), Some(max)) if age > max => Some(format!(
            "the last good read is {} s old (more than {} s): {}",
            age.as_secs(),
            max.as_secs(),
            status
                .last_error
                .as_deref()
                .unwrap_or("no refresh succeeded since")
        )),
        _ => None,
    };
    DependencyCheck {
        details: Some(CatalogDetails {
            loaded: status.loaded,
            age_seconds: status.age.map(|age| age.as_secs()),
            apis: status.apis,
            skipped_entities: status.skipped_last_read,
            skipped_by_reason: status
                .skipped_by_reason
                .iter()
                .map(|(reason, count)| (reason.as_str().to_owned(), *count))
                .collect(),
            skipped: status
                .skipped_entities
                .into_iter()
                .map(|(entity, reason)| SkippedEntity {
                    entity,
                    reason: reason.as_str().to_owned(),
                })
                .collect(),
            last_error: status.last_error,
        }),
        ..check("catalog", error)
    }
}
