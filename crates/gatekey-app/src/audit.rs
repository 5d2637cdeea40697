//! The audit trail as the services write it: every decision and lifecycle step becomes an
//! [`AuditEvent`], denials within the bounded budgets of [`crate::denials`], and each event is
//! counted in the business metrics on the way (`gatekey_mints_total`, `gatekey_decisions_total`,
//! ...), so the metrics and the trail cannot disagree.
//!
//! Every event names the policy revision it was decided under: a policy decision carries the
//! revision of the policy that made it (a mint's events and record, a denial); any other event
//! (a revocation, the reconciler's work) is stamped with the revision in force when it is
//! written, which the server keeps in a [`RevisionInForce`] shared with the trail.

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use gatekey_core::Clock;
use gatekey_core::audit::{AuditAction, AuditEvent, Decision};
use gatekey_core::issuance::IssuanceId;
use gatekey_core::policy::{Denial, Policy};
use gatekey_store::{Store, StoreError};

use crate::caller::Caller;
use crate::denials::DenialAudit;
use crate::settings::AuditSettings;

/// The digest of the policy in force, for events that no policy decided; cheap to clone, every
/// clone sees the same value. Whoever swaps the policy sets it in the same step.
#[derive(Debug, Clone, Default)]
pub struct RevisionInForce(Arc<ArcSwapOption<String>>);

impl RevisionInForce {
    /// Records `digest` as the revision in force from now on.
    pub fn set(&self, digest: String) {
        self.0.store(Some(Arc::new(digest)));
    }

    /// The revision in force; `None` only before the first policy is in place.
    pub fn get(&self) -> Option<String> {
        self.0.load().as_deref().cloned()
    }
}

/// Writes audit events; cheap to clone.
#[derive(Debug, Clone)]
pub struct AuditTrail {
    store: Store,
    clock: Arc<dyn Clock>,
    denials: Arc<DenialAudit>,
    revision: RevisionInForce,
}

impl AuditTrail {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        settings: &AuditSettings,
        revision: RevisionInForce,
    ) -> Self {
        Self {
            store,
            clock,
            denials: Arc::new(DenialAudit::new(settings)),
            revision,
        }
    }

    /// Appends `event`; a denial within the audit budget of its window, or counted in a summary
    /// beyond it. Metrics count every event either way. An event without a policy revision gets
    /// the one in force.
    pub async fn record(&self, mut event: AuditEvent) -> Result<(), StoreError> {
        if event.policy_revision.is_none() {
            event.policy_revision = self.revision.get();
        }
        count_in_metrics(&event);
        if event.decision == Decision::Deny {
            self.denials.record(&self.store.audit(), event).await
        } else {
            self.store.audit().append(&event).await
        }
    }

    /// Appends `event` unless an event with its id exists (an id derived from what it records,
    /// so that work resumed by another replica is audited once); counted in the metrics on every
    /// call.
    pub async fn record_once(&self, mut event: AuditEvent) -> Result<(), StoreError> {
        if event.policy_revision.is_none() {
            event.policy_revision = self.revision.get();
        }
        count_in_metrics(&event);
        self.store.audit().append_once(&event).await
    }

    /// An event about `caller`, now, with nothing else filled in.
    pub fn event(
        &self,
        caller: &Caller,
        action: AuditAction,
        decision: Decision,
        reason: &str,
    ) -> AuditEvent {
        AuditEvent {
            subject: Some(caller.principal.subject.clone()),
            issuer: Some(caller.principal.issuer.clone()),
            request_id: caller.context.request_id.clone(),
            client_addr: caller.context.client_addr.clone(),
            ..AuditEvent::new(action, decision, reason, self.clock.now())
        }
    }

    /// Records a denial by `policy` and hands it back, for the caller to return. The request is
    /// refused either way: a refusal that cannot be recorded is logged loudly.
    pub async fn deny(
        &self,
        policy: &Policy,
        caller: &Caller,
        action: AuditAction,
        denial: Denial,
        api_id: Option<&str>,
        issuance_id: Option<IssuanceId>,
    ) -> Denial {
        let mut event = self.event(caller, action, Decision::Deny, denial.reason.as_str());
        event.detail = Some(denial.detail.clone());
        event.api_id = api_id.map(str::to_owned);
        event.issuance_id = issuance_id;
        event.policy_revision = Some(policy.revision().digest.clone());
        if let Err(err) = self.record(event).await {
            tracing::error!(error = %err, "could not record a denial in the audit trail");
        }
        denial
    }
}

/// Counts what an audit event says happened: every decision by action, decision and reason,
/// and the outcomes of mints, revocations and reaper deletions.
fn count_in_metrics(event: &AuditEvent) {
    let api = event.api_id.clone().unwrap_or_default();
    match (event.action, event.reason.as_str()) {
        (AuditAction::Mint, "issued") => {
            metrics::counter!("gatekey_mints_total", "api" => api, "outcome" => "issued")
                .increment(1);
        }
        (AuditAction::Mint, "issue_failed") => {
            metrics::counter!("gatekey_mints_total", "api" => api, "outcome" => "failed")
                .increment(1);
        }
        (AuditAction::Revoke, "revoked") => {
            metrics::counter!("gatekey_revocations_total", "api" => api).increment(1);
            count_decision(event);
        }
        (AuditAction::Expire | AuditAction::Reconcile, kind) => {
            metrics::counter!("gatekey_reaper_deletions_total", "kind" => kind.to_owned())
                .increment(1);
        }
        _ => count_decision(event),
    }
}

fn count_decision(event: &AuditEvent) {
    metrics::counter!(
        "gatekey_decisions_total",
        "action" => event.action.as_str(),
        "decision" => event.decision.as_str(),
        "reason" => event.reason.clone(),
    )
    .increment(1);
}
