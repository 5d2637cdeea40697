//! Revoking a credential: Kong first, so the key stops being accepted before the record says
//! `revoked` (a record that says revoked while the key still works would be the worse lie), then
//! the record, the caller's slot and the audit event.

use std::sync::Arc;

use gatekey_core::Clock;
use gatekey_core::audit::{AuditAction, Decision};
use gatekey_core::issuance::{Issuance, IssuanceId, IssuanceState};
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
        let revoked = self
            .store
            .issuances()
            .mark_revoked(&issuance.id, &caller.principal.subject, self.clock.now())
            .await?;
        self.limits.release(&revoked).await;
        let mut event = self
            .audit
            .event(caller, AuditAction::Revoke, Decision::Allow, "revoked");
        event.api_id = Some(revoked.api_id.clone());
        event.issuance_id = Some(revoked.id);
        event.scopes.clone_from(&revoked.scopes);
        self.audit.record(event).await?;
        tracing::info!(issuance = %revoked.id, "credential revoked");
        Ok(revoked)
    }
}
