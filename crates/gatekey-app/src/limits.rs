//! Per-caller mint limits: at most N mints per caller (issuer and subject) per rolling minute,
//! and at most M live (`pending` or `active`, unexpired) credentials per caller and API. Both
//! refuse with when the limit frees up: when the oldest counted mint leaves the window or the
//! earliest live credential expires.
//!
//! The limits are exact however many replicas serve the caller: each mint is judged and counted
//! by one conditional update of the caller's counter in MongoDB (`gatekey_store`'s
//! `limit_counters`), so of concurrent mints on any replicas only as many as fit are counted.
//! A slot is released when its mint fails (before or after its record was written), when the
//! credential is revoked or withdrawn, and when the reconciler resolves an abandoned mint; at the
//! latest it stops counting when the credential expires. A slot left behind by a replica that
//! crashed between counting a mint and recording it, or by a release that did not reach MongoDB,
//! is reclaimed when it would make the caller wait: a refusal for the cap first checks the
//! counted slots against their records.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use gatekey_core::Clock;
use gatekey_core::audit::{AuditAction, Decision};
use gatekey_core::issuance::{Issuance, IssuanceId, IssuanceState};
use gatekey_store::{LimitVerdict, LiveSlot, MintLimits, MintSlot, Store, StoreError};

use crate::audit::AuditTrail;
use crate::caller::Caller;
use crate::settings::LimitSettings;

/// The rate limit's rolling window.
const RATE_WINDOW: chrono::Duration = chrono::Duration::seconds(60);

/// Which limit refused a mint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// `limits.mints_per_subject_per_minute`.
    MintRate,
    /// `limits.live_credentials_per_subject_and_api`.
    LiveCredentials,
}

impl LimitKind {
    /// The stable code of the refusal, as audited and answered.
    pub fn code(self) -> &'static str {
        match self {
            Self::MintRate => "mint_rate_limited",
            Self::LiveCredentials => "too_many_live_credentials",
        }
    }
}

/// A mint refused by a per-caller limit.
#[derive(Debug, Clone, thiserror::Error)]
#[error("limit reached: {detail}")]
pub struct LimitReached {
    pub limit: LimitKind,
    /// What the limit is, for people.
    pub detail: String,
    /// Whole seconds until the limit frees up, at least 1.
    pub retry_after_seconds: u64,
}

/// Why a mint could not be counted.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    #[error(transparent)]
    Reached(#[from] LimitReached),
    #[error("the limit counters could not be read or written: {0}")]
    Store(#[from] StoreError),
}

/// Counts mints against their callers' limits; cheap to clone.
#[derive(Debug, Clone)]
pub struct MintLimiter {
    store: Store,
    clock: Arc<dyn Clock>,
    audit: AuditTrail,
    settings: LimitSettings,
    /// How long a counted mint may take to write its record (see [`MintLimiter::new`]).
    record_deadline: chrono::Duration,
}

/// Whole seconds from `now` until `at`, at least 1 (a `Retry-After` of 0 invites a busy loop).
fn seconds_until(at: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    let millis = u64::try_from((at - now).num_milliseconds()).unwrap_or(0);
    millis.div_ceil(1000).max(1)
}

/// Whether a counted slot no longer stands for a credential that is live or being made: its
/// record failed or was revoked (the release did not reach MongoDB), or it has no record although
/// its mint had `record_deadline` to write one (the replica died in between).
fn is_abandoned(
    slot: &LiveSlot,
    record: Option<&Issuance>,
    now: DateTime<Utc>,
    record_deadline: chrono::Duration,
) -> bool {
    match record.map(|record| record.state) {
        Some(IssuanceState::Pending | IssuanceState::Active) => false,
        Some(IssuanceState::Failed | IssuanceState::Revoked) => true,
        None => slot.reserved_at + record_deadline < now,
    }
}

impl MintLimiter {
    /// `mint_deadline` is the whole mint's deadline: a mint writes its record within it.
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        audit: AuditTrail,
        settings: LimitSettings,
        mint_deadline: std::time::Duration,
    ) -> Self {
        // Twice the deadline leaves room for clocks that differ between replicas.
        let record_deadline = crate::chrono_duration(mint_deadline) * 2;
        Self {
            store,
            clock,
            audit,
            settings,
            record_deadline,
        }
    }

    /// Counts the mint of `issuance` against its caller's limits, or refuses it (the refusal is
    /// audited) when a limit is reached.
    pub async fn reserve(&self, caller: &Caller, issuance: &Issuance) -> Result<(), LimitError> {
        let now = self.clock.now();
        let (limit, detail, frees_at) = match self.reserve_slot(issuance, now).await? {
            LimitVerdict::Reserved => return Ok(()),
            LimitVerdict::RateReached { frees_at } => (
                LimitKind::MintRate,
                format!(
                    "at most {} credentials may be minted per minute",
                    self.settings.mints_per_subject_per_minute
                ),
                frees_at,
            ),
            LimitVerdict::LiveCapReached { frees_at, .. } => (
                LimitKind::LiveCredentials,
                format!(
                    "at most {} live credentials per API; revoke one or wait for one to expire",
                    self.settings.live_credentials_per_subject_and_api
                ),
                frees_at,
            ),
        };
        let mut event = self
            .audit
            .event(caller, AuditAction::Mint, Decision::Deny, limit.code());
        event.detail = Some(detail.clone());
        event.api_id = Some(issuance.api_id.clone());
        if let Err(err) = self.audit.record(event).await {
            tracing::error!(error = %err, "could not record a limit refusal in the audit trail");
        }
        Err(LimitReached {
            limit,
            detail,
            retry_after_seconds: seconds_until(frees_at, now),
        }
        .into())
    }

    /// Reserves the slot; when the cap is reached, reclaims abandoned slots and tries once more.
    async fn reserve_slot(
        &self,
        issuance: &Issuance,
        now: DateTime<Utc>,
    ) -> Result<LimitVerdict, StoreError> {
        let limits = MintLimits {
            mints_per_window: self.settings.mints_per_subject_per_minute,
            window: RATE_WINDOW,
            live_per_api: self.settings.live_credentials_per_subject_and_api,
        };
        let slot = MintSlot {
            issuer: &issuance.issuer,
            subject: &issuance.subject,
            api_id: &issuance.api_id,
            issuance_id: issuance.id,
            expires_at: issuance.expires_at,
        };
        let counters = self.store.limit_counters();
        let verdict = counters.reserve(&slot, &limits, now).await?;
        let LimitVerdict::LiveCapReached { holders, .. } = &verdict else {
            return Ok(verdict);
        };
        let ids: Vec<IssuanceId> = holders.iter().map(|slot| slot.issuance_id).collect();
        let records = self.store.issuances().get_many(&ids).await?;
        let abandoned: Vec<IssuanceId> = holders
            .iter()
            .filter(|slot| {
                let record = records.iter().find(|r| r.id == slot.issuance_id);
                is_abandoned(slot, record, now, self.record_deadline)
            })
            .map(|slot| slot.issuance_id)
            .collect();
        if abandoned.is_empty() {
            return Ok(verdict);
        }
        tracing::warn!(
            slots = abandoned.len(),
            api = %issuance.api_id,
            "reclaiming live-credential slots without a live record"
        );
        counters
            .release(
                &issuance.issuer,
                &issuance.subject,
                &issuance.api_id,
                &abandoned,
            )
            .await?;
        counters.reserve(&slot, &limits, now).await
    }

    /// Frees the live-credential slots of `issuances` (the reconciler's batches), one update
    /// per caller and API. Best effort, like [`MintLimiter::release`].
    pub async fn release_all(&self, issuances: &[Issuance]) {
        let mut groups: std::collections::BTreeMap<(&str, &str, &str), Vec<IssuanceId>> =
            std::collections::BTreeMap::new();
        for issuance in issuances {
            groups
                .entry((&issuance.issuer, &issuance.subject, &issuance.api_id))
                .or_default()
                .push(issuance.id);
        }
        for ((issuer, subject, api_id), ids) in groups {
            if let Err(err) = self
                .store
                .limit_counters()
                .release(issuer, subject, api_id, &ids)
                .await
            {
                tracing::warn!(error = %err, slots = ids.len(), "could not release live-credential slots");
            }
        }
    }

    /// Frees the live-credential slot of `issuance` (its mint failed, or it was revoked or
    /// withdrawn). Best effort: a slot that stays behind is reclaimed when it would make its
    /// caller wait, and stops counting at its expiry anyway.
    pub async fn release(&self, issuance: &Issuance) {
        if let Err(err) = self
            .store
            .limit_counters()
            .release(
                &issuance.issuer,
                &issuance.subject,
                &issuance.api_id,
                &[issuance.id],
            )
            .await
        {
            tracing::warn!(error = %err, issuance = %issuance.id, "could not release a live-credential slot");
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;
    use crate::test_records::pending_record;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_000_000 + seconds, 0)
            .single()
            .expect("valid")
    }

    fn record(state: IssuanceState) -> Issuance {
        let mut issuance = pending_record(at(0));
        issuance.state = state;
        issuance
    }

    fn slot_of(record: &Issuance) -> LiveSlot {
        LiveSlot {
            issuance_id: record.id,
            expires_at: record.expires_at,
            reserved_at: at(0),
        }
    }

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        let now = at(0);
        assert_eq!(
            seconds_until(now + chrono::Duration::milliseconds(1_200), now),
            2
        );
        assert_eq!(seconds_until(now + chrono::Duration::seconds(59), now), 59);
        assert_eq!(seconds_until(now - chrono::Duration::seconds(5), now), 1);
    }

    #[test]
    fn slots_of_live_records_are_kept_and_of_finished_ones_reclaimed() {
        let deadline = chrono::Duration::seconds(30);
        for (state, abandoned) in [
            (IssuanceState::Pending, false),
            (IssuanceState::Active, false),
            (IssuanceState::Failed, true),
            (IssuanceState::Revoked, true),
        ] {
            let record = record(state);
            assert_eq!(
                is_abandoned(&slot_of(&record), Some(&record), at(5), deadline),
                abandoned,
                "{state:?}"
            );
        }
    }

    #[test]
    fn a_slot_without_a_record_is_reclaimed_only_after_the_record_deadline() {
        let deadline = chrono::Duration::seconds(30);
        let slot = slot_of(&record(IssuanceState::Pending));
        assert!(
            !is_abandoned(&slot, None, at(30), deadline),
            "its mint may still be writing the record"
        );
        assert!(is_abandoned(&slot, None, at(31), deadline));
    }
}
