//! Revoking a credential, one at a time (`DELETE /v1/credentials/{id}`) or as one of a bulk
//! revocation job's ([`crate::revocations`]): the same steps either way. Kong first, so the key
//! stops being accepted before anything says it is revoked (a record that says revoked while the
//! key still works would be the worse lie); then the audit event, then the record, then the
//! caller's slot (a job frees its batch's slots together). The event comes before the record so that a replica dying between the two
//! leaves the record `active`: whoever retries (the caller, or the replica resuming the job)
//! deletes the consumer again (Kong answers 204 for one already gone) and finds the event there
//! when its id is derived from the job, so nothing is revoked or audited twice.

use std::sync::Arc;

use gatekey_core::Clock;
use gatekey_core::audit::{AuditAction, AuditEvent, Decision};
use gatekey_core::issuance::{Issuance, IssuanceId, IssuanceState};
use gatekey_core::revocation::RevocationJobId;
use gatekey_kong::{KongClient, KongError};
use gatekey_store::{Store, StoreError};

use crate::audit::AuditTrail;
use crate::caller::Caller;
use crate::consumers::consumer_username;
use crate::limits::MintLimiter;

/// Why a credential was not revoked.
#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    /// Only an `active` credential can be revoked (a `pending` one ends `failed`).
    #[error("credential {id} is {state} and cannot be revoked")]
    NotActive {
        id: IssuanceId,
        state: IssuanceState,
    },
    #[error("Kong Admin API failed: {0}")]
    Kong(#[from] KongError),
    #[error("MongoDB failed: {0}")]
    Store(#[from] StoreError),
}

/// Who revokes a credential, and the event that says so (its id derived from the job's, for a
/// job's revocation).
#[derive(Debug)]
pub(crate) struct Revocation<'a> {
    /// `revoked_by` of the record: the caller's, or the job operator's subject.
    pub(crate) by: &'a str,
    pub(crate) job: Option<&'a RevocationJobId>,
    pub(crate) event: AuditEvent,
}

/// Revokes credentials; cheap to clone.
#[derive(Debug, Clone)]
pub struct Revoker {
    pub(crate) store: Store,
    pub(crate) kong: KongClient,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) audit: AuditTrail,
    pub(crate) limits: MintLimiter,
}

impl Revoker {
    /// Revokes `issuance` (already authorized for `caller`); revoking twice is not an error.
    pub async fn revoke(
        &self,
        caller: &Caller,
        issuance: Issuance,
    ) -> Result<Issuance, RevokeError> {
        let event = self
            .audit
            .event(caller, AuditAction::Revoke, Decision::Allow, "revoked");
        let revocation = Revocation {
            by: &caller.principal.subject,
            job: None,
            event,
        };
        self.revoke_as(issuance, revocation).await
    }

    /// The steps of every revocation; a record already `revoked` is returned as it is.
    pub(crate) async fn revoke_as(
        &self,
        issuance: Issuance,
        revocation: Revocation<'_>,
    ) -> Result<Issuance, RevokeError> {
        match issuance.state {
            IssuanceState::Revoked => return Ok(issuance),
            IssuanceState::Active => {}
            state @ (IssuanceState::Pending | IssuanceState::Failed) => {
                return Err(RevokeError::NotActive {
                    id: issuance.id,
                    state,
                });
            }
        }
        let consumer = issuance.kong.as_ref().map_or_else(
            || consumer_username(&issuance.id),
            |k| k.consumer_id.clone(),
        );
        self.kong.delete_consumer(&consumer).await?;
        let Revocation { by, job, mut event } = revocation;
        event.api_id = Some(issuance.api_id.clone());
        event.issuance_id = Some(issuance.id);
        event.scopes.clone_from(&issuance.scopes);
        event.owner_issuer = Some(issuance.issuer.clone());
        event.owner_subject = Some(issuance.subject.clone());
        event.job_id = job.map(ToString::to_string);
        self.audit.record_once(event).await?;
        let issuances = self.store.issuances();
        let now = self.clock.now();
        let marked = match job {
            Some(job) => {
                issuances
                    .mark_revoked_by_job(&issuance.id, by, job, now)
                    .await
            }
            None => issuances.mark_revoked(&issuance.id, by, now).await,
        };
        let revoked = match marked {
            Ok(revoked) => revoked,
            // Revoked meanwhile by someone else (a concurrent revocation): the same outcome.
            Err(StoreError::InvalidTransition {
                from: IssuanceState::Revoked,
                ..
            }) => {
                return issuances
                    .get(&issuance.id)
                    .await?
                    .ok_or(RevokeError::Store(StoreError::NotFound { id: issuance.id }));
            }
            Err(err) => return Err(err.into()),
        };
        // A job frees its slots a batch at a time (one update per caller instead of one per
        // credential of the same caller).
        if job.is_none() {
            self.limits.release(&revoked).await;
        }
        tracing::info!(issuance = %revoked.id, job = ?job.map(ToString::to_string), "credential revoked");
        Ok(revoked)
    }
}
