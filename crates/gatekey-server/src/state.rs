//! Shared application state: the adapters and the policy, built once at startup and handed to
//! every handler behind one `Arc`.

use std::ops::Deref;
use std::sync::Arc;

use gatekey_auth::TokenVerifier;
use gatekey_core::Clock;
use gatekey_core::policy::Policy;
use gatekey_kong::KongClient;
use gatekey_store::Store;

/// Cheap to clone; everything lives in one allocation.
#[derive(Debug, Clone)]
pub struct AppState(Arc<AppStateInner>);

#[derive(Debug)]
pub struct AppStateInner {
    pub policy: Arc<Policy>,
    pub verifier: TokenVerifier,
    pub kong: KongClient,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
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
