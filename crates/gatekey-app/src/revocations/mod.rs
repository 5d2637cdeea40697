//! Bulk revocation: "revoke every credential of a person, a pipeline, an API or a policy change"
//! as one audited job that survives the replica running it.
//!
//! [`RevocationJobs`] checks an order and records the job in MongoDB before anything is revoked
//! (or, for a dry run, counts what it would revoke). [`RevocationWorker`], which every replica
//! runs, finds unfinished jobs and works on one only while it holds the job's lease
//! (`revocation-job:<id>`, on MongoDB's clock): a replica that dies stops renewing it, and
//! another takes the job over from the place saved after its last batch.
//!
//! A job walks the `active` records matching its filter in id order (creation order), a batch
//! at a time, revoking each through [`crate::Revoker`] (the path of `DELETE /v1/credentials/{id}`) with
//! bounded parallelism and retries. Nothing is revoked twice: a record moves `active ->
//! revoked` only once (guarded update, noting the job), Kong answers 204 for a consumer already
//! deleted, and each credential's audit event has an id derived from the job and the credential.
//!
//! **Credentials minted while a job runs are included**: they sort after the records the walk
//! has passed (ULIDs, but within one millisecond not in minting order), so the walk reaches
//! them, and the job ends only when no matching record is `pending` (a mint under way) and every
//! matching `active` one left is a reported failure; otherwise the walk starts over. Mints after the end are not refused: to stop an identity for good, remove it
//! from the policy's groups or disable it at its issuer (see `docs/operations.md`).

mod settings;
mod worker;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use gatekey_core::Clock;
use gatekey_core::issuance::{Issuance, IssuanceState};
use gatekey_core::revocation::{
    FilterError, JobState, MAX_REASON_CHARS, Operator, RevocationFailure, RevocationFilter,
    RevocationJob, RevocationJobId,
};
use gatekey_store::{Store, StoreError};
use tokio::sync::Notify;

use crate::caller::Caller;
pub use settings::RevocationSettings;
pub use worker::{COMPLETED, JobTurn, REVOKE_FAILED, REVOKED, RevocationWorker, WorkerParts};

/// Failures a job's progress lists at most (their count is always complete).
pub const FAILURES_SHOWN: i64 = 100;

/// Why a bulk revocation was not started.
#[derive(Debug, thiserror::Error)]
pub enum BulkRevokeError {
    #[error("{0}")]
    Filter(#[from] FilterError),
    /// The reason is required: it is what the audit trail answers to "why?".
    #[error("reason must be 1 to {MAX_REASON_CHARS} characters")]
    Reason,
    /// A reason of spaces only says nothing.
    #[error("reason is blank")]
    BlankReason,
    #[error("MongoDB failed: {0}")]
    Store(#[from] StoreError),
}

/// What an operator asks for.
#[derive(Debug, Clone)]
pub struct BulkRevokeOrder {
    pub filter: RevocationFilter,
    /// Confirms that an empty filter means every credential.
    pub all: bool,
    pub reason: String,
}

/// What a dry run found.
#[derive(Debug, Clone)]
pub struct Preview {
    /// Matching `active` credentials.
    pub count: u64,
    /// The first of them, oldest first.
    pub first: Vec<Issuance>,
}

/// A job and where it stands.
#[derive(Debug, Clone)]
pub struct JobProgress {
    pub job: RevocationJob,
    /// Credentials the job revoked.
    pub revoked: u64,
    /// Credentials it could not revoke (after its retries).
    pub failed: u64,
    /// Matching credentials still `active` or `pending` that the job has not reported as
    /// failed; 0 once it is done.
    pub remaining: u64,
    /// The first [`FAILURES_SHOWN`] failures with their reasons.
    pub failures: Vec<RevocationFailure>,
}

/// Starts bulk revocations and reports on them; cheap to clone.
#[derive(Debug, Clone)]
pub struct RevocationJobs {
    store: Store,
    clock: Arc<dyn Clock>,
    /// Wakes this replica's worker when a job is recorded here.
    wake: Arc<Notify>,
}

impl RevocationJobs {
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            wake: Arc::new(Notify::new()),
        }
    }

    /// What the worker of this replica waits on besides its poll interval.
    pub(crate) fn wake_handle(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }

    /// Checks `order` and counts what it would revoke, with the first `page` credentials.
    pub async fn preview(
        &self,
        order: &BulkRevokeOrder,
        page: u32,
    ) -> Result<Preview, BulkRevokeError> {
        check(order)?;
        let issuances = self.store.issuances();
        let active = [IssuanceState::Active];
        let count = issuances.count_matching(&order.filter, &active).await?;
        let first = issuances
            .list_matching_after(&order.filter, &active, None, page)
            .await?;
        Ok(Preview { count, first })
    }

    /// Checks `order`, records the job (`running`) and wakes this replica's worker. The job is
    /// durable when this returns; the revocations happen after.
    pub async fn start(
        &self,
        caller: &Caller,
        order: BulkRevokeOrder,
    ) -> Result<RevocationJob, BulkRevokeError> {
        check(&order)?;
        let operator = Operator {
            issuer: caller.principal.issuer.clone(),
            subject: caller.principal.subject.clone(),
        };
        let job = RevocationJob::start(
            order.filter,
            order.reason,
            operator,
            self.clock.now(),
            caller.context.request_id.clone(),
        );
        self.store.revocation_jobs().insert(&job).await?;
        tracing::info!(job = %job.id, "bulk revocation job recorded");
        self.wake.notify_one();
        Ok(job)
    }

    /// The job and its counts; `None` when there is no such job.
    pub async fn progress(&self, id: &RevocationJobId) -> Result<Option<JobProgress>, StoreError> {
        let jobs = self.store.revocation_jobs();
        let Some(job) = jobs.get(id).await? else {
            return Ok(None);
        };
        let revoked = self.store.issuances().count_revoked_by_job(id).await?;
        let failed = jobs.count_failures(id).await?;
        let remaining = match job.state {
            JobState::Done => 0,
            JobState::Running => self
                .store
                .issuances()
                .count_matching(
                    &job.filter,
                    &[IssuanceState::Active, IssuanceState::Pending],
                )
                .await?
                .saturating_sub(failed),
        };
        let failures = jobs.failures(id, FAILURES_SHOWN).await?;
        Ok(Some(JobProgress {
            job,
            revoked,
            failed,
            remaining,
            failures,
        }))
    }
}

fn check(order: &BulkRevokeOrder) -> Result<(), BulkRevokeError> {
    order.filter.validate(order.all)?;
    let reason_chars = order.reason.chars().count();
    if reason_chars == 0 || reason_chars > MAX_REASON_CHARS {
        return Err(BulkRevokeError::Reason);
    }
    if order.reason.trim().is_empty() {
        return Err(BulkRevokeError::BlankReason);
    }
    Ok(())
}

/// The lease that elects the replica working on a job.
fn lease_name(id: &RevocationJobId) -> String {
    format!("revocation-job:{id}")
}

/// How a job's end reads in its `bulk_revoke` event.
fn summary(job: &RevocationJob, revoked: u64, failed: u64, at: DateTime<Utc>) -> String {
    let filter = serde_json::to_string(&job.filter).unwrap_or_default();
    let millis = (at - job.created_at).num_milliseconds();
    format!(
        "{revoked} revoked, {failed} failed in {}.{:03} s; reason: {}; filter: {filter}",
        millis / 1000,
        millis % 1000,
        job.reason
    )
}
