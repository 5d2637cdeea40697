//! The `revocation_jobs` collection (one document per bulk revocation job, written before the job
//! touches any credential) and `revocation_failures` (one document per credential a job could not
//! revoke, keyed by job and credential so a resumed job reports each failure once). Which replica
//! works on a job is decided by a lease in `leases` ([`crate::LeaseRepo`]), not here.

use chrono::{DateTime, Utc};
use futures::TryStreamExt as _;
use gatekey_core::issuance::IssuanceId;
use gatekey_core::revocation::{
    JobState, Operator, RevocationFailure, RevocationFilter, RevocationJob, RevocationJobId,
};
use mongodb::bson::{self, doc};
use mongodb::{Collection, Database};
use serde::{Deserialize, Serialize};

use crate::time::{from_bson, to_bson};
use crate::{REVOCATION_FAILURES, REVOCATION_JOBS, StoreError, metered};

/// The stored filter: the domain's, with BSON dates.
#[derive(Debug, Serialize, Deserialize)]
struct FilterDoc {
    issuer: Option<String>,
    subject: Option<String>,
    api_id: Option<String>,
    scope: Option<String>,
    issued_before: Option<bson::DateTime>,
    issued_after: Option<bson::DateTime>,
    granting_group: Option<String>,
    policy_revision: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct JobDoc {
    #[serde(rename = "_id")]
    id: RevocationJobId,
    filter: FilterDoc,
    reason: String,
    operator: Operator,
    state: JobState,
    created_at: bson::DateTime,
    ended_at: Option<bson::DateTime>,
    cursor: Option<IssuanceId>,
    request_id: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct FailureDoc {
    /// `<job id>:<credential id>`.
    #[serde(rename = "_id")]
    id: String,
    job_id: RevocationJobId,
    credential_id: IssuanceId,
    reason: String,
    at: bson::DateTime,
}

fn corrupt(id: &RevocationJobId, detail: String) -> StoreError {
    StoreError::CorruptDocument {
        collection: REVOCATION_JOBS,
        id: id.to_string(),
        detail,
    }
}

impl From<&RevocationJob> for JobDoc {
    fn from(job: &RevocationJob) -> Self {
        let filter = &job.filter;
        Self {
            id: job.id,
            filter: FilterDoc {
                issuer: filter.issuer.clone(),
                subject: filter.subject.clone(),
                api_id: filter.api_id.clone(),
                scope: filter.scope.clone(),
                issued_before: filter.issued_before.map(to_bson),
                issued_after: filter.issued_after.map(to_bson),
                granting_group: filter.granting_group.clone(),
                policy_revision: filter.policy_revision.clone(),
            },
            reason: job.reason.clone(),
            operator: job.operator.clone(),
            state: job.state,
            created_at: to_bson(job.created_at),
            ended_at: job.ended_at.map(to_bson),
            cursor: job.cursor,
            request_id: job.request_id.clone(),
        }
    }
}

impl TryFrom<JobDoc> for RevocationJob {
    type Error = StoreError;

    fn try_from(doc: JobDoc) -> Result<Self, StoreError> {
        let id = doc.id;
        let date = |at: bson::DateTime| {
            from_bson(at).ok_or_else(|| corrupt(&id, format!("date {at} is out of range")))
        };
        let filter = RevocationFilter {
            issuer: doc.filter.issuer,
            subject: doc.filter.subject,
            api_id: doc.filter.api_id,
            scope: doc.filter.scope,
            issued_before: doc.filter.issued_before.map(date).transpose()?,
            issued_after: doc.filter.issued_after.map(date).transpose()?,
            granting_group: doc.filter.granting_group,
            policy_revision: doc.filter.policy_revision,
        };
        Ok(Self {
            id,
            filter,
            reason: doc.reason,
            operator: doc.operator,
            state: doc.state,
            created_at: date(doc.created_at)?,
            ended_at: doc.ended_at.map(date).transpose()?,
            cursor: doc.cursor,
            request_id: doc.request_id,
        })
    }
}

/// Records, advances and reads bulk revocation jobs. Obtained from
/// [`crate::Store::revocation_jobs`].
#[derive(Debug, Clone)]
pub struct RevocationJobRepo {
    jobs: Collection<JobDoc>,
    failures: Collection<FailureDoc>,
}

impl RevocationJobRepo {
    pub(crate) fn new(db: &Database) -> Self {
        Self {
            jobs: db.collection(REVOCATION_JOBS),
            failures: db.collection(REVOCATION_FAILURES),
        }
    }

    /// Records a new job (write concern `majority`, like every write): the job exists before
    /// it touches a credential.
    pub async fn insert(&self, job: &RevocationJob) -> Result<(), StoreError> {
        metered("insert", self.jobs.insert_one(JobDoc::from(job)))
            .await
            .map_err(|err| StoreError::from_insert(err, REVOCATION_JOBS, job.id.to_string()))?;
        Ok(())
    }

    pub async fn get(&self, id: &RevocationJobId) -> Result<Option<RevocationJob>, StoreError> {
        metered("find", self.jobs.find_one(doc! { "_id": id.to_string() }))
            .await?
            .map(RevocationJob::try_from)
            .transpose()
    }

    /// Jobs still `running`, oldest first, at most `limit`: what the workers look for.
    pub async fn list_running(&self, limit: i64) -> Result<Vec<RevocationJob>, StoreError> {
        let read = async {
            self.jobs
                .find(doc! { "state": JobState::Running.as_str() })
                .sort(doc! { "_id": 1 })
                .limit(limit)
                .await?
                .map_err(StoreError::from)
                .and_then(|doc| async { RevocationJob::try_from(doc) })
                .try_collect()
                .await
        };
        metered("find", read).await
    }

    /// Notes that the walk handled every matching record up to `cursor`.
    pub async fn advance(
        &self,
        id: &RevocationJobId,
        cursor: &IssuanceId,
    ) -> Result<(), StoreError> {
        metered(
            "update",
            self.jobs.update_one(
                doc! { "_id": id.to_string(), "state": JobState::Running.as_str() },
                doc! { "$set": { "cursor": cursor.to_string() } },
            ),
        )
        .await?;
        Ok(())
    }

    /// Sets the walk back to just after `cursor` (`None`: from the start), to visit records it
    /// passed while they were still `pending`.
    pub async fn rewind(
        &self,
        id: &RevocationJobId,
        cursor: Option<&IssuanceId>,
    ) -> Result<(), StoreError> {
        metered(
            "update",
            self.jobs.update_one(
                doc! { "_id": id.to_string(), "state": JobState::Running.as_str() },
                doc! { "$set": { "cursor": cursor.map(ToString::to_string) } },
            ),
        )
        .await?;
        Ok(())
    }

    /// `running -> done` at `at`. Returns whether this call ended it (false: already done).
    pub async fn finish(
        &self,
        id: &RevocationJobId,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let updated = metered(
            "update",
            self.jobs.update_one(
                doc! { "_id": id.to_string(), "state": JobState::Running.as_str() },
                doc! { "$set": { "state": JobState::Done.as_str(), "ended_at": to_bson(at) } },
            ),
        )
        .await?;
        Ok(updated.modified_count == 1)
    }

    /// Records that the job could not revoke `failure.credential_id`; recording it again (a
    /// resumed or repeated attempt) replaces the reason, so each credential is reported once.
    pub async fn record_failure(
        &self,
        job_id: &RevocationJobId,
        failure: &RevocationFailure,
    ) -> Result<(), StoreError> {
        let id = format!("{job_id}:{}", failure.credential_id);
        let set = doc! { "$set": {
            "job_id": job_id.to_string(),
            "credential_id": failure.credential_id.to_string(),
            "reason": &failure.reason,
            "at": to_bson(failure.at),
        } };
        metered(
            "update",
            self.failures
                .update_one(doc! { "_id": &id }, set)
                .upsert(true),
        )
        .await?;
        Ok(())
    }

    /// Forgets a failure once a later attempt of the same job revoked the credential.
    pub async fn clear_failure(
        &self,
        job_id: &RevocationJobId,
        credential_id: &IssuanceId,
    ) -> Result<(), StoreError> {
        let failure = doc! { "_id": format!("{job_id}:{credential_id}") };
        metered("delete", self.failures.delete_one(failure)).await?;
        Ok(())
    }

    /// The job's failures in credential order, at most `limit`.
    pub async fn failures(
        &self,
        job_id: &RevocationJobId,
        limit: i64,
    ) -> Result<Vec<RevocationFailure>, StoreError> {
        let read = self
            .failures
            .find(doc! { "job_id": job_id.to_string() })
            .sort(doc! { "_id": 1 })
            .limit(limit);
        metered("find", read)
            .await?
            .map_err(StoreError::from)
            .and_then(|doc| async move {
                let at = from_bson(doc.at).ok_or_else(|| StoreError::CorruptDocument {
                    collection: REVOCATION_FAILURES,
                    id: doc.id.clone(),
                    detail: format!("at {} is out of range", doc.at),
                })?;
                Ok(RevocationFailure {
                    credential_id: doc.credential_id,
                    reason: doc.reason,
                    at,
                })
            })
            .try_collect()
            .await
    }

    /// How many credentials the job could not revoke.
    pub async fn count_failures(&self, job_id: &RevocationJobId) -> Result<u64, StoreError> {
        let count = self
            .failures
            .count_documents(doc! { "job_id": job_id.to_string() });
        Ok(metered("aggregate", count).await?)
    }
}
