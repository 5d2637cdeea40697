//! The worker every replica runs: it looks for `running` jobs, takes a job's lease and walks the
//! job's matching records a batch at a time, saving its place after each batch, until the walk
//! finds nothing left; then it ends the job and writes its `bulk_revoke` event.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use gatekey_core::Clock;
use gatekey_core::audit::{AuditAction, AuditEvent, AuditEventId, Decision};
use gatekey_core::issuance::{Issuance, IssuanceId, IssuanceState};
use gatekey_core::revocation::{RevocationFailure, RevocationJob};
use gatekey_kong::KongError;
use gatekey_store::{Store, StoreError};
use tokio::sync::{Notify, watch};

use super::{RevocationJobs, RevocationSettings, lease_name, summary};
use crate::audit::AuditTrail;
use crate::revoke::{Revocation, RevokeError, Revoker};
use crate::term::Term;

/// Running jobs one look takes on at most (the others wait for the next look).
const JOBS_PER_LOOK: i64 = 16;
/// First wait before retrying a credential; doubles with each attempt.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// `reason` of the `revoke` event of a credential a job revoked.
pub const REVOKED: &str = "revoked";
/// `reason` of the `revoke` event of a credential a job could not revoke.
pub const REVOKE_FAILED: &str = "revoke_failed";
/// `reason` of a job's `bulk_revoke` event.
pub const COMPLETED: &str = "completed";

/// What the worker works with.
#[derive(Debug)]
pub struct WorkerParts {
    pub store: Store,
    pub revoker: Revoker,
    pub audit: AuditTrail,
    pub clock: Arc<dyn Clock>,
    /// The service whose accepted jobs wake this worker.
    pub jobs: RevocationJobs,
    pub settings: RevocationSettings,
    /// This replica's name in the leases.
    pub instance: String,
}

/// How one turn at a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobTurn {
    /// The job is done (by this turn or an earlier one).
    Done,
    /// The lease was lost (or about to run out); whoever holds it continues.
    LeaseLost,
}

/// The worker of one replica.
#[derive(Debug)]
pub struct RevocationWorker {
    store: Store,
    revoker: Revoker,
    audit: AuditTrail,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
    settings: RevocationSettings,
    instance: String,
}

impl RevocationWorker {
    pub fn new(parts: WorkerParts) -> Self {
        Self {
            wake: parts.jobs.wake_handle(),
            store: parts.store,
            revoker: parts.revoker,
            audit: parts.audit,
            clock: parts.clock,
            settings: parts.settings,
            instance: parts.instance,
        }
    }

    /// Looks for jobs every poll interval (and at once when this replica accepts one) until
    /// `stop` turns true. A job under way when `stop` comes is left to its lease: another
    /// replica (or this one, restarted) resumes it.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        tracing::info!(instance = %self.instance, "bulk revocation worker started");
        loop {
            tokio::select! {
                _ = stop.wait_for(|stop| *stop) => break,
                () = self.look() => {}
            }
            tokio::select! {
                _ = stop.wait_for(|stop| *stop) => break,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.settings.poll_interval()) => {}
            }
        }
    }

    /// One look: takes every running job whose lease is free, one after the other.
    pub async fn look(&self) {
        let jobs = match self
            .store
            .revocation_jobs()
            .list_running(JOBS_PER_LOOK)
            .await
        {
            Ok(jobs) => jobs,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the revocation jobs");
                return;
            }
        };
        for job in jobs {
            let id = job.id;
            match self.take(job).await {
                Ok(Some(turn)) => tracing::info!(job = %id, ?turn, "bulk revocation turn ended"),
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!(job = %id, error = %err, "bulk revocation turn stopped; it resumes later");
                }
            }
        }
    }

    /// Works on `job` if its lease is free; `None` when another replica holds it.
    async fn take(&self, job: RevocationJob) -> Result<Option<JobTurn>, StoreError> {
        let term = Term::begin(
            self.store.leases(),
            &lease_name(&job.id),
            &self.instance,
            self.settings.lease(),
        )
        .await?;
        let Some(mut term) = term else {
            return Ok(None);
        };
        let turn = self.work(&job, &mut term).await;
        if let Err(err) = term.release().await {
            tracing::warn!(job = %job.id, error = %err, "could not release a revocation job lease");
        }
        turn.map(Some)
    }

    /// The walk, from the job's saved place.
    async fn work(&self, job: &RevocationJob, term: &mut Term) -> Result<JobTurn, StoreError> {
        let jobs = self.store.revocation_jobs();
        let issuances = self.store.issuances();
        let mut cursor = job.cursor;
        // Whether this turn may meet a credential the job already reported as failed, which then
        // leaves the failures if it is revoked now: after the walk starts over (records it passed
        // while `pending`), and on a turn that resumes a job with failures (a batch cut short by
        // a lost lease is walked again from the saved place, its failures already recorded).
        let mut revisiting = jobs.count_failures(&job.id).await? > 0;
        loop {
            if !term.renew().await? {
                return Ok(JobTurn::LeaseLost);
            }
            let batch = issuances
                .list_matching_after(
                    &job.filter,
                    &[IssuanceState::Active],
                    cursor.as_ref(),
                    self.settings.batch_size,
                )
                .await?;
            let Some(last) = batch.last().map(|issuance| issuance.id) else {
                let pending = issuances
                    .count_matching(&job.filter, &[IssuanceState::Pending])
                    .await?;
                // Ids minted within one millisecond are not ordered by time: a record minted
                // during the walk may sort before its place. Any `active` one left that is not a
                // reported failure sends the walk round again.
                let left = issuances
                    .count_matching(&job.filter, &[IssuanceState::Active])
                    .await?;
                let failed = jobs.count_failures(&job.id).await?;
                if pending == 0 && left <= failed {
                    self.finish(job).await?;
                    return Ok(JobTurn::Done);
                }
                // A matching mint under way becomes `active` (or `failed`) within the mint's
                // deadline; walk again once it has.
                if pending > 0 {
                    tokio::time::sleep(self.settings.poll_interval()).await;
                }
                jobs.rewind(&job.id, None).await?;
                cursor = None;
                revisiting = true;
                continue;
            };
            let revocations = futures::stream::iter(batch)
                .map(|issuance| self.revoke_one(job, issuance, revisiting))
                .buffer_unordered(self.settings.concurrency)
                .collect::<Vec<_>>();
            // No batch outlives the lease: past it, another replica may have taken the job.
            let Ok(outcomes) = tokio::time::timeout_at(term.held_until(), revocations).await else {
                return Ok(JobTurn::LeaseLost);
            };
            let revoked: Vec<Issuance> = outcomes
                .into_iter()
                .collect::<Result<Vec<Option<Issuance>>, StoreError>>()?
                .into_iter()
                .flatten()
                .collect();
            self.revoker.limits.release_all(&revoked).await;
            jobs.advance(&job.id, &last).await?;
            cursor = Some(last);
        }
    }

    /// Revokes one credential with retries; the record when this call revoked it. A credential
    /// that still fails is recorded as a failure with its reason. Only MongoDB failures stop the
    /// turn (the job resumes later).
    async fn revoke_one(
        &self,
        job: &RevocationJob,
        issuance: Issuance,
        revisiting: bool,
    ) -> Result<Option<Issuance>, StoreError> {
        let id = issuance.id;
        let mut attempt = 1;
        let failure = loop {
            let revocation = Revocation {
                by: &job.operator.subject,
                job: Some(&job.id),
                event: self.event(job, AuditAction::Revoke, REVOKED, &id),
            };
            match self.revoker.revoke_as(issuance.clone(), revocation).await {
                Ok(revoked) => {
                    if revisiting {
                        self.store
                            .revocation_jobs()
                            .clear_failure(&job.id, &id)
                            .await?;
                    }
                    return Ok(Some(revoked));
                }
                // Not `active` any more (the reconciler failed it, or it is gone): nothing to do.
                Err(
                    RevokeError::NotActive { .. } | RevokeError::Store(StoreError::NotFound { .. }),
                ) => return Ok(None),
                Err(RevokeError::Store(err)) => return Err(err),
                Err(RevokeError::Kong(err)) => {
                    if !err.is_retryable() || attempt >= self.settings.attempts {
                        break kong_failure(&err, attempt);
                    }
                    tracing::debug!(issuance = %id, attempt, error = %err, "revocation attempt failed");
                    tokio::time::sleep(FIRST_BACKOFF * 2_u32.saturating_pow(attempt - 1)).await;
                    attempt += 1;
                }
            }
        };
        tracing::warn!(job = %job.id, issuance = %id, reason = %failure, "credential not revoked");
        let failure = RevocationFailure {
            credential_id: id,
            reason: failure,
            at: self.clock.now(),
        };
        self.store
            .revocation_jobs()
            .record_failure(&job.id, &failure)
            .await?;
        let mut event = self.event(job, AuditAction::Revoke, REVOKE_FAILED, &id);
        event.detail = Some(format!("{}; job reason: {}", failure.reason, job.reason));
        event.api_id = Some(issuance.api_id);
        event.issuance_id = Some(id);
        event.scopes = issuance.scopes;
        event.owner_issuer = Some(issuance.issuer);
        event.owner_subject = Some(issuance.subject);
        self.audit.record_once(event).await?;
        Ok(None)
    }

    /// Ends the job and writes its `bulk_revoke` event (once, whoever ends it).
    async fn finish(&self, job: &RevocationJob) -> Result<(), StoreError> {
        let now = self.clock.now();
        let revoked = self.store.issuances().count_revoked_by_job(&job.id).await?;
        let failed = self.store.revocation_jobs().count_failures(&job.id).await?;
        let mut event = AuditEvent {
            id: AuditEventId::derived(job.created_at, &["bulk_revoke", &job.id.to_string()]),
            detail: Some(summary(job, revoked, failed, now)),
            api_id: job.filter.api_id.clone(),
            scopes: job.filter.scope.iter().cloned().collect(),
            owner_issuer: job.filter.issuer.clone(),
            owner_subject: job.filter.subject.clone(),
            count: revoked,
            ..self.event(job, AuditAction::BulkRevoke, COMPLETED, &IssuanceId::new())
        };
        event.at = now;
        self.audit.record_once(event).await?;
        if self.store.revocation_jobs().finish(&job.id, now).await? {
            tracing::info!(job = %job.id, revoked, failed, "bulk revocation job done");
        }
        Ok(())
    }

    /// An event of `job` about credential `id`, by the job's operator, its id derived from the
    /// job, the action and the credential so that a resumed job writes it once.
    fn event(
        &self,
        job: &RevocationJob,
        action: AuditAction,
        reason: &str,
        id: &IssuanceId,
    ) -> AuditEvent {
        let job_id = job.id.to_string();
        // The policy in force is stamped by the audit trail.
        AuditEvent {
            id: AuditEventId::derived(
                job.created_at,
                &[action.as_str(), reason, &job_id, &id.to_string()],
            ),
            detail: Some(job.reason.clone()),
            subject: Some(job.operator.subject.clone()),
            issuer: Some(job.operator.issuer.clone()),
            request_id: job.request_id.clone(),
            job_id: Some(job_id),
            ..AuditEvent::new(action, Decision::Allow, reason, self.clock.now())
        }
    }
}

/// Why Kong did not delete a credential's consumer, without the Admin API's address.
fn kong_failure(err: &KongError, attempts: u32) -> String {
    let what = match err {
        KongError::Timeout => "timed out".to_owned(),
        KongError::Transport(_) => "could not be reached".to_owned(),
        other => match other.status() {
            Some(status) => format!("answered {status}"),
            None => "failed".to_owned(),
        },
    };
    format!("the Kong Admin API {what} (attempt {attempts})")
}
