//! Shared application state: the adapters and the policy, built once at startup and handed to
//! every handler behind one `Arc`.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use gatekey_auth::{TokenVerifier, UserinfoGroups};
use gatekey_catalog::CatalogSource;
use gatekey_core::Clock;
use gatekey_kong::{CounterPolicy, KongClient};
use gatekey_store::Store;
use tokio_util::task::TaskTracker;

use crate::config::LimitSettings;
use crate::denials::DenialAudit;
use crate::proxy_secret::ProxySecrets;

use crate::catalog::PolicyHolder;

/// Cheap to clone; everything lives in one allocation.
#[derive(Debug, Clone)]
pub struct AppState(Arc<AppStateInner>);

#[derive(Debug)]
pub struct AppStateInner {
    /// The policy file merged with the Backstage catalog; read it once per request.
    pub policy: Arc<PolicyHolder>,
    pub verifier: TokenVerifier,
    /// Groups from userinfo for tokens that lack them (Backstage without `ent`).
    pub userinfo: UserinfoGroups,
    /// Which issuers' tokens must arrive with the Backstage proxy's secret, and the secrets.
    pub proxy_secrets: ProxySecrets,
    /// The Backstage catalog source, when configured, and the staleness `/readyz` tolerates.
    pub catalog: Option<CatalogHandle>,
    pub kong: KongClient,
    /// Where Kong counts the requests of a credential's rate limit.
    pub counter_policy: CounterPolicy,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub reliability: Reliability,
    /// Writes denials to the audit trail within per-window budgets, summarizing the rest.
    pub denials: DenialAudit,
}

/// What keeps mints safe under load and faults: the per-subject limits, the deadline of one
/// mint, and the tracker of in-flight mint tasks (shutdown waits for them).
#[derive(Debug, Clone)]
pub struct Reliability {
    pub limits: LimitSettings,
    /// A mint still creating its Kong side after this rolls itself back.
    pub mint_deadline: std::time::Duration,
    pub mint_tasks: TaskTracker,
}

impl Reliability {
    /// [`Reliability::mint_deadline`] as a chrono duration, for comparing record timestamps.
    pub fn mint_deadline_chrono(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.mint_deadline).unwrap_or(chrono::Duration::MAX)
    }
}

/// The catalog source as the server sees it.
#[derive(Debug, Clone)]
pub struct CatalogHandle {
    pub source: CatalogSource,
    /// Beyond this age of the last good read, `/readyz` reports the catalog as degraded.
    pub max_staleness: Option<Duration>,
}

impl AppState {
    pub fn new(inner: AppStateInner) -> Self {
        Self(Arc::new(inner))
    }
}

impl Deref for AppState {
    type Target = AppStateInner;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}
