//! What the reconciler records when it resolves something: the audit event (which also counts
//! `gatekey_reaper_deletions_total{kind}`) and the caller's live-credential slot, both through
//! the application's services, in one place.

use std::sync::Arc;

use futures::StreamExt as _;

use gatekey_core::Clock;
use gatekey_core::audit::{AuditAction, AuditEvent, Decision};
use gatekey_core::issuance::{Issuance, IssuanceId};

use crate::audit::AuditTrail;
use crate::limits::MintLimiter;

/// Audit events written at once.
const AUDIT_CONCURRENCY: usize = 8;

/// Why the reconciler resolved something (the audit reason and the `kind` label of
/// `gatekey_reaper_deletions_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReapKind {
    /// The credential's lifetime is over; its consumer was deleted.
    Expired,
    /// A consumer without a live record was deleted.
    Orphan,
    /// A mint that never finished was failed and its consumer deleted.
    StalePending,
    /// An `active` record whose consumer Kong no longer has was marked revoked.
    ConsumerMissing,
}

impl ReapKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::Orphan => "orphan",
            Self::StalePending => "stale_pending",
            Self::ConsumerMissing => "consumer_missing",
        }
    }

    fn audit_action(self) -> AuditAction {
        match self {
            Self::Expired => AuditAction::Expire,
            Self::Orphan | Self::StalePending | Self::ConsumerMissing => AuditAction::Reconcile,
        }
    }
}

/// Audits and frees slots for the reconciler of one replica.
#[derive(Debug, Clone)]
pub(super) struct Outcomes {
    pub(super) audit: AuditTrail,
    pub(super) limits: MintLimiter,
    /// Timestamps of the events and of record updates.
    pub(super) clock: Arc<dyn Clock>,
    /// This replica's name, in every event's detail.
    pub(super) instance: String,
}

impl Outcomes {
    /// Frees the caller's live-credential slot held by `record`.
    pub(super) async fn free_slot(&self, record: &Issuance) {
        self.limits.release(record).await;
    }

    /// Frees the slots held by `records`, one update per caller and API.
    pub(super) async fn free_slots(&self, records: &[Issuance]) {
        self.limits.release_all(records).await;
    }

    /// Audits the expiry of each of `records`, a few at a time.
    pub(super) async fn expired(&self, records: Vec<Issuance>) {
        futures::stream::iter(records)
            .for_each_concurrent(AUDIT_CONCURRENCY, |record| async move {
                let why = format!(
                    "the credential expired at {}",
                    record.expires_at.to_rfc3339()
                );
                self.resolved(ReapKind::Expired, Some(&record), record.id, &why)
                    .await;
            })
            .await;
    }

    /// Logs and audits one resolution (`why` in the detail, with the replica).
    pub(super) async fn resolved(
        &self,
        kind: ReapKind,
        record: Option<&Issuance>,
        id: IssuanceId,
        why: &str,
    ) {
        tracing::info!(issuance = %id, kind = kind.as_str(), "reconciled");
        // The policy in force is stamped by the audit trail.
        let event = AuditEvent {
            detail: Some(format!("{why}; by {}", self.instance)),
            subject: record.map(|r| r.subject.clone()),
            issuer: record.map(|r| r.issuer.clone()),
            api_id: record.map(|r| r.api_id.clone()),
            issuance_id: Some(id),
            scopes: record.map(|r| r.scopes.clone()).unwrap_or_default(),
            ..AuditEvent::new(
                kind.audit_action(),
                Decision::Allow,
                kind.as_str(),
                self.clock.now(),
            )
        };
        if let Err(err) = self.audit.record(event).await {
            tracing::error!(error = %err, issuance = %id, "could not audit a reconciler resolution");
        }
    }
}
