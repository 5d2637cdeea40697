//! Shared application state: the adapters and the policy, built once at startup and handed to
//! every handler behind one `Arc`.

use std::ops::Deref;
use std::sync::Arc;

use gatekey_auth::TokenVerifier;
use gatekey_core::Clock;
use gatekey_core::policy::Policy;
use gatekey_kong::KongClient;
use gatekey_store::Store;
use tokio_util::task::TaskTracker;

use crate::config::LimitSettings;
use crate::reconciler::ReaperStats;

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
    pub reliability: Reliability,
}

/// What keeps mints safe under load and faults: the per-subject limits, the deadline of one
/// mint, the tracker of in-flight mint tasks (shutdown waits for them), and the reaper's counts.
#[derive(Debug, Clone)]
pub struct Reliability {
    pub limits: LimitSettings,
    /// A mint still creating its Kong side after this rolls itself back.
    pub mint_deadline: std::time::Duration,
    pub mint_tasks: TaskTracker,
    pub reaper_stats: Arc<ReaperStats>,
}

impl Reliability {
    /// [`Reliability::mint_deadline`] as a chrono duration, for comparing record timestamps.
    pub fn mint_deadline_chrono(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.mint_deadline).unwrap_or(chrono::Duration::MAX)
    }
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
