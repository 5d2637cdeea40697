//! Probes: `/healthz` says the process serves requests; `/readyz` says whether it can mint, so a
//! load balancer only sends traffic that can succeed.
//!
//! Readiness fails (503) only when no mint can succeed: Kong's Admin API or MongoDB is
//! unreachable, or no trusted issuer has keys to verify any token with. A dependency that limits
//! Gatekey without stopping it is reported as `degraded` with 200: one issuer unreachable (its
//! cached keys still verify its tokens; without keys only its callers are refused), or the
//! Backstage catalog not read yet or older than `catalog.max_staleness_seconds` (the policy file
//! and the last good catalog are still served), or a new policy file refused (the previous policy
//! is still served). Taking every replica out of a load balancer for those would refuse everybody
//! instead of somebody.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use gatekey_auth::IssuerHealth;
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::{AppState, CatalogHandle};

/// Deadline for each dependency check.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the probe waits for an issuer's key fetch before reporting what it knows.
const ISSUER_WAIT: Duration = Duration::from_secs(2);

/// Liveness.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: String,
}

/// Readiness with the state of each dependency.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    pub status: ReadinessStatus,
    pub checks: Vec<DependencyCheck>,
}

/// Whether this replica should receive traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadinessStatus {
    /// Every dependency is fine.
    Ready,
    /// Serving, but some callers or APIs are affected: see the `degraded` checks (200).
    Degraded,
    /// No mint can succeed: see the `failed` checks (503).
    NotReady,
}

/// One dependency's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckState {
    Ok,
    /// Impaired, but Gatekey still serves (cached issuer keys, the last good catalog).
    Degraded,
    /// Gatekey cannot mint without it.
    Failed,
}

/// One dependency's state.
#[derive(Debug, Serialize, ToSchema)]
pub struct DependencyCheck {
    /// `kong`, `mongodb`, `issuer:<name>`, `policy`, or `catalog`.
    pub name: String,
    pub state: CheckState,
    /// `state` is `ok`.
    pub ok: bool,
    pub error: Option<String>,
    /// Seconds since the issuer's keys were fetched (the `issuer:` checks, once keys exist).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_age_seconds: Option<u64>,
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

/// Whether Gatekey can mint: 503 when Kong or MongoDB is unreachable or no issuer has keys;
/// 200 `degraded` when an issuer or the Backstage catalog is impaired but Gatekey still serves.
#[utoipa::path(get, path = "/readyz", operation_id = "readyz", tag = "health",
    responses(
        (status = 200, description = "Ready, or degraded but serving", body = Readiness),
        (status = 503, description = "Cannot mint: Kong or MongoDB unreachable, or no issuer \
            has keys", body = Readiness),
    ))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let kong = async {
        match tokio::time::timeout(CHECK_TIMEOUT, state.kong.status()).await {
            Ok(Ok(status)) if status.database.reachable => check("kong", CheckState::Ok, None),
            Ok(Ok(_)) => failed("kong", "Kong reports its database unreachable".to_owned()),
            Ok(Err(err)) => failed("kong", err.to_string()),
            Err(_) => failed("kong", "timed out".to_owned()),
        }
    };
    let mongo = async {
        match tokio::time::timeout(CHECK_TIMEOUT, state.store.ping()).await {
            Ok(Ok(())) => check("mongodb", CheckState::Ok, None),
            Ok(Err(err)) => failed("mongodb", err.to_string()),
            Err(_) => failed("mongodb", "timed out".to_owned()),
        }
    };
    let issuers = state.verifier.check_issuers(ISSUER_WAIT);
    let (kong, mongo, issuers) = tokio::join!(kong, mongo, issuers);
    let mut checks = vec![kong, mongo];
    checks.extend(issuer_checks(&issuers));
    checks.push(policy_check(&state));
    if let Some(catalog) = &state.catalog {
        checks.push(catalog_check(catalog));
    }
    let status = if checks.iter().any(|c| c.state == CheckState::Failed) {
        ReadinessStatus::NotReady
    } else if checks.iter().any(|c| c.state == CheckState::Degraded) {
        ReadinessStatus::Degraded
    } else {
        ReadinessStatus::Ready
    };
    let code = if status == ReadinessStatus::NotReady {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (code, Json(Readiness { status, checks }))
}

fn check(name: &str, state: CheckState, error: Option<String>) -> DependencyCheck {
    DependencyCheck {
        name: name.to_owned(),
        state,
        ok: state == CheckState::Ok,
        error,
        key_age_seconds: None,
        details: None,
    }
}

fn failed(name: &str, error: String) -> DependencyCheck {
    check(name, CheckState::Failed, Some(error))
}

/// One check per issuer: `ok` with fresh keys, `degraded` otherwise; `failed` for all of them
/// when none has keys, since then no token at all can be verified.
fn issuer_checks(issuers: &[IssuerHealth]) -> Vec<DependencyCheck> {
    let none_has_keys = !issuers.iter().any(IssuerHealth::has_keys);
    issuers
        .iter()
        .map(|issuer| {
            let name = format!("issuer:{}", issuer.name);
            let problem = match (&issuer.error, issuer.key_age_seconds) {
                (Some(error), Some(age)) => Some(format!(
                    "{error}; verifying with the keys fetched {age} s ago"
                )),
                (Some(error), None) => Some(format!("{error}; its tokens are refused")),
                (None, None) => Some("keys not fetched yet; its tokens wait for them".to_owned()),
                (None, Some(age)) if issuer.stale => Some(format!(
                    "refreshing keys fetched {age} s ago; verifying with them meanwhile"
                )),
                (None, Some(_)) => None,
            };
            let state = match (&problem, none_has_keys) {
                (None, _) => CheckState::Ok,
                (Some(_), false) => CheckState::Degraded,
                (Some(_), true) => CheckState::Failed,
            };
            DependencyCheck {
                key_age_seconds: issuer.key_age_seconds,
                ..check(&name, state, problem)
            }
        })
        .collect()
}

/// `ok` while the policy file in force is the one on disk; `degraded` when a newer file was
/// refused (the previous policy still serves). The probe is unauthenticated: it says when and
/// which revision serves, not why (the log and `GET /v1/policy` say that).
fn policy_check(state: &AppState) -> DependencyCheck {
    let error = state.policy.refused().map(|refused| {
        format!(
            "the policy file was refused at {}; revision {} keeps serving (the log and \
             GET /v1/policy say why)",
            refused.at.to_rfc3339(),
            state.policy.current().revision().short()
        )
    });
    let state = if error.is_some() {
        CheckState::Degraded
    } else {
        CheckState::Ok
    };
    check("policy", state, error)
}

/// `ok` once read and younger than `catalog.max_staleness_seconds`; `degraded` before the first
/// read and beyond that age (the policy file and the last good catalog are still served).
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
    let state = if error.is_some() {
        CheckState::Degraded
    } else {
        CheckState::Ok
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
        ..check("catalog", state, error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer(name: &str, key_age_seconds: Option<u64>, error: Option<&str>) -> IssuerHealth {
        IssuerHealth {
            name: name.to_owned(),
            issuer: format!("https://{name}.example"),
            key_age_seconds,
            stale: false,
            error: error.map(str::to_owned),
        }
    }

    #[test]
    fn an_unreachable_issuer_degrades_unless_no_issuer_has_keys() {
        let checks = issuer_checks(&[
            issuer("up", Some(5), None),
            issuer("cached", Some(4000), Some("cannot be reached")),
            issuer("never", None, Some("cannot be reached")),
        ]);
        let states: Vec<CheckState> = checks.iter().map(|c| c.state).collect();
        assert_eq!(
            states,
            [CheckState::Ok, CheckState::Degraded, CheckState::Degraded]
        );
        assert!(
            checks[1]
                .error
                .as_deref()
                .is_some_and(|e| e.contains("fetched 4000 s ago"))
        );

        let checks = issuer_checks(&[issuer("never", None, Some("cannot be reached"))]);
        assert_eq!(checks[0].state, CheckState::Failed);
    }
}
