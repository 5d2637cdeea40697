//! Shared HTTP state: the token verifier, the policy, the application services and the adapters
//! handlers read from, built once at startup and handed to every handler behind one `Arc`.

use std::ops::Deref;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gatekey_app::App;
use gatekey_auth::{TokenVerifier, UserinfoGroups};
use gatekey_catalog::CatalogSource;
use gatekey_core::Clock;
use gatekey_kong::KongClient;
use gatekey_store::Store;

use crate::policy::PolicyHolder;
use crate::proxy_secret::ProxySecrets;

/// Cheap to clone; everything lives in one allocation.
#[derive(Debug, Clone)]
pub struct AppState(Arc<AppStateInner>);

#[derive(Debug)]
pub struct AppStateInner {
    /// The policy file merged with the Backstage catalog; read it once per request.
    pub policy: Arc<PolicyHolder>,
    /// The policy file the holder's file part is read from.
    pub policy_file: PathBuf,
    pub verifier: TokenVerifier,
    /// Groups from userinfo for tokens that lack them (Backstage without `ent`).
    pub userinfo: UserinfoGroups,
    /// Which issuers' tokens must arrive with the Backstage proxy's secret, and the secrets.
    pub proxy_secrets: ProxySecrets,
    /// The Backstage catalog source, when configured, and the staleness `/readyz` tolerates.
    pub catalog: Option<CatalogHandle>,
    /// For readiness probes and the reconciler; mints and revocations go through [`Self::app`].
    pub kong: KongClient,
    /// For reads (credentials, audit trail, readiness); writes go through [`Self::app`].
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    /// The application services: mint, revoke, limits, the audit trail.
    pub app: App,
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
