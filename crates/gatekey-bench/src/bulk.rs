//! Bulk revocation (issue 20) under measure, and its floor.
//!
//! **bulk-revoke**: one subject, [`OWNER`], mints the credentials (setup, not measured: the
//! write clients at once, all as that subject); then an admin, [`OPERATOR`], posts one job for
//! every credential of that identity (`POST /v1/credentials/revocations`, filter: issuer and
//! subject) and polls the job (`GET /v1/credentials/revocations/{id}`) until it is `done`, every
//! [`MIN_POLL_INTERVAL`] at first, then every 1/[`POLLS_PER_ELAPSED`] of the time elapsed (each
//! poll counts the job's records, work the job's own MongoDB calls would wait behind). Measured: the time from the POST to the poll that sees `done`, how many
//! the job revoked and reported as failed, and `gatekey`'s CPU over that span (the polls
//! included). Gatekey's worker takes the job at once (the replica that accepted it is woken) and
//! revokes with `revocations.concurrency` ([`REVOCATION_CONCURRENCY`]) Kong deletes in flight.
//!
//! **bulk-revoke-floor** ([`BulkRevokeFloor`]): what the job does per credential
//! (`gatekey_app::revoke::Revoker::revoke_as`) and no implementation can avoid, issued directly
//! with the same concurrency: `DELETE /consumers/{id}` on the same Kong simulator, the insert of
//! the credential's `revoke` audit event (the job's document: id derived from the job, owner,
//! `job_id`) and the record's conditional `active -> revoked` `findAndModify` (returning the
//! record). The MongoDB writes go through Gatekey's own store code (same documents, same write
//! concern) to a fresh SecantusDB with Gatekey's indexes; its records and consumers are created
//! beforehand the way a mint leaves them (not measured). Not in the floor: the job's work per
//! batch of `revocations.batch_size` (lease renewal, read of the next records, save of its place,
//! one update per caller freeing the slots) and at its end (the counts that prove nothing is
//! left, the `bulk_revoke` event), nor HTTP, tokens or policy.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::{StreamExt as _, TryStreamExt as _};
use reqwest::StatusCode;
use reqwest::header::HeaderValue;
use ulid::Ulid;

use gatekey_core::audit::{AuditAction, AuditEvent, AuditEventId, Decision};
use gatekey_core::issuance::{Issuance, KongRef, NewIssuance};
use gatekey_core::revocation::RevocationJobId;
use gatekey_store::{AuditRepo, IssuanceRepo};

use crate::cpu::CpuClock;
use crate::error::BenchError;
use crate::floor::put_kong_side;
use crate::load::Outcome;
use crate::report::BulkRevocation;
use crate::scenarios::{Gatekey, expect_status};
use crate::stack::{MINT_ACL_GROUP, MINT_API, REVOCATION_CONCURRENCY, USER_GROUP};

/// The subject whose credentials are revoked in bulk.
pub(crate) const OWNER: &str = "bench-bulk-owner";
/// The admin who starts the job.
pub(crate) const OPERATOR: &str = "bench-admin";
/// The shortest wait between two looks at the job.
const MIN_POLL_INTERVAL: Duration = Duration::from_millis(50);
/// The wait between two looks at the job is at most this fraction of the time elapsed: the
/// measured time is at most 2 % too long.
const POLLS_PER_ELAPSED: u32 = 50;
/// A job still running after this is reported as stuck.
const JOB_TIMEOUT: Duration = Duration::from_secs(900);
/// The job's reason, as the audit trail records it.
const REASON: &str = "gatekey-bench: bulk revocation";
/// A policy revision of the usual size, for the floor's documents.
const POLICY_REVISION: &str =
    "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// `count` credentials of [`OWNER`] (`authorization` is its token), minted by `clients` at once.
pub(crate) async fn mint_credentials(
    target: &Gatekey,
    authorization: &HeaderValue,
    count: usize,
    clients: usize,
) -> Result<(), BenchError> {
    futures::stream::iter(0..count)
        .map(|_| target.mint_as(authorization.clone()))
        .buffer_unordered(clients)
        .try_for_each(|_| futures::future::ready(Ok(())))
        .await
        .map_err(|detail| BenchError::Setup(format!("minting for the bulk revocation: {detail}")))
}

/// One job revoking every credential of [`OWNER`] at `issuer`, started by the admin
/// `authorization` names, followed until it is done; `credentials` is how many it should revoke.
pub(crate) async fn run_job(
    target: &Gatekey,
    authorization: &HeaderValue,
    issuer: &str,
    credentials: u64,
    cpu: Option<CpuClock>,
) -> Result<BulkRevocation, BenchError> {
    let cpu_at_start = cpu.and_then(|cpu| cpu.used());
    let started = Instant::now();
    let id = target
        .start_revocation(authorization.clone(), issuer, OWNER, REASON)
        .await
        .map_err(BenchError::Job)?;
    let progress = loop {
        tokio::time::sleep(MIN_POLL_INTERVAL.max(started.elapsed() / POLLS_PER_ELAPSED)).await;
        let progress = target
            .revocation_progress(authorization.clone(), &id)
            .await
            .map_err(BenchError::Job)?;
        if progress.state == "done" {
            break progress;
        }
        if started.elapsed() > JOB_TIMEOUT {
            return Err(BenchError::Job(format!(
                "job {id} still {} after {} s: {} revoked, {} failed, {} remaining",
                progress.state,
                JOB_TIMEOUT.as_secs(),
                progress.revoked,
                progress.failed,
                progress.remaining
            )));
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    let cpu_used = match (cpu_at_start, cpu.and_then(|cpu| cpu.used())) {
        (Some(start), Some(end)) => Some(end.since(start).time),
        _ => None,
    };
    #[expect(
        clippy::cast_precision_loss,
        reason = "credential counts stay far below 2^52"
    )]
    let per_revocation = |total: f64| total / progress.revoked.max(1) as f64;
    #[expect(
        clippy::cast_precision_loss,
        reason = "credential counts stay far below 2^52"
    )]
    let revocations_per_second = progress.revoked as f64 / seconds;
    Ok(BulkRevocation {
        credentials,
        concurrency: REVOCATION_CONCURRENCY,
        revoked: progress.revoked,
        failed: progress.failed,
        seconds,
        revocations_per_second,
        cpu_micros_per_revocation: cpu_used.map(|cpu| per_revocation(cpu.as_secs_f64() * 1e6)),
    })
}

/// The raw per-credential work of a bulk revocation, on credentials created for it.
#[derive(Debug)]
pub(crate) struct BulkRevokeFloor {
    http: reqwest::Client,
    kong: String,
    audit: AuditRepo,
    issuances: IssuanceRepo,
    issuer: String,
    job: RevocationJobId,
    job_created_at: DateTime<Utc>,
    job_request_id: String,
    /// The `active` records not revoked yet.
    live: Mutex<Vec<Issuance>>,
}

impl BulkRevokeFloor {
    /// Connects with Gatekey's store code, creates its indexes in `database`, and mints `count`
    /// credentials of [`OWNER`] raw, `clients` at once: each a record (inserted `pending`, then
    /// `active` with its Kong side) and a consumer with its ACL group, key and rate-limiting
    /// plugin in the simulator at `kong_admin`.
    pub(crate) async fn prepare(
        http: reqwest::Client,
        mongo_uri: &str,
        database: &str,
        kong_admin: String,
        issuer: String,
        count: u64,
        clients: usize,
    ) -> Result<Self, BenchError> {
        let store = crate::stack::gatekey_store(mongo_uri, database).await?;
        let floor = Self {
            http,
            kong: kong_admin,
            audit: store.audit(),
            issuances: store.issuances(),
            issuer,
            job: RevocationJobId::new(),
            job_created_at: Utc::now(),
            job_request_id: Ulid::new().to_string(),
            live: Mutex::new(Vec::new()),
        };
        let live: Vec<Issuance> = futures::stream::iter(0..count)
            .map(|_| floor.mint())
            .buffer_unordered(clients)
            .try_collect()
            .await?;
        *floor.records() = live;
        Ok(floor)
    }

    /// One credential as a mint leaves it: its `active` record and its Kong entities.
    async fn mint(&self) -> Result<Issuance, BenchError> {
        let pending = Issuance::new_pending(
            NewIssuance {
                subject: OWNER.to_owned(),
                issuer: self.issuer.clone(),
                api_id: MINT_API.to_owned(),
                scopes: vec!["read".to_owned()],
                acl_groups: vec![MINT_ACL_GROUP.to_owned()],
                caller_groups: vec![USER_GROUP.to_owned()],
                granting_groups: vec![USER_GROUP.to_owned()],
                purpose: Some("gatekey-bench".to_owned()),
                ttl_seconds: 600,
                request_id: Some(Ulid::new().to_string()),
                policy_revision: Some(POLICY_REVISION.to_owned()),
            },
            Utc::now(),
        );
        self.issuances.insert_pending(&pending).await?;
        let kong = put_kong_side(
            &self.http,
            &self.kong,
            Ulid::from_bytes(pending.id.to_bytes()),
        )
        .await
        .map_err(|detail| BenchError::Setup(format!("creating the floor's consumers: {detail}")))?;
        let active = self
            .issuances
            .mark_active(
                &pending,
                KongRef {
                    consumer_id: kong.consumer_id,
                    consumer_username: kong.consumer_username,
                    credential_id: kong.credential_id,
                },
                // `sha256:` and 64 hex digits, like Gatekey's fingerprint.
                format!("sha256:{:0>64}", kong.key.len()),
                Utc::now(),
            )
            .await?;
        Ok(active)
    }

    fn records(&self) -> std::sync::MutexGuard<'_, Vec<Issuance>> {
        self.live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// One credential's revocation; the client stops when none is left.
    pub(crate) async fn revoke(&self) -> Outcome {
        let Some(issuance) = self.records().pop() else {
            return Outcome::Exhausted;
        };
        match self.revoke_one(&issuance).await {
            Ok(()) => Outcome::Ok,
            Err(detail) => Outcome::Failed(detail),
        }
    }

    /// The job's steps for one credential, in its order: Kong, the event, the record.
    async fn revoke_one(&self, issuance: &Issuance) -> Result<(), String> {
        let consumer = issuance
            .kong
            .as_ref()
            .map(|kong| kong.consumer_id.as_str())
            .ok_or_else(|| format!("record {} has no consumer", issuance.id))?;
        let response = self
            .http
            .delete(format!("{}/consumers/{consumer}", self.kong))
            .send()
            .await;
        expect_status(response, StatusCode::NO_CONTENT).await?;
        self.audit
            .append_once(&self.event(issuance))
            .await
            .map_err(|err| format!("audit insert: {err}"))?;
        self.issuances
            .mark_revoked_by_job(&issuance.id, OPERATOR, &self.job, Utc::now())
            .await
            .map_err(|err| format!("record update: {err}"))?;
        Ok(())
    }

    /// The `revoke` event the job writes for `issuance`.
    fn event(&self, issuance: &Issuance) -> AuditEvent {
        let job_id = self.job.to_string();
        let reason = "revoked";
        AuditEvent {
            id: AuditEventId::derived(
                self.job_created_at,
                &[
                    AuditAction::Revoke.as_str(),
                    reason,
                    &job_id,
                    &issuance.id.to_string(),
                ],
            ),
            at: Utc::now(),
            action: AuditAction::Revoke,
            decision: Decision::Allow,
            reason: reason.to_owned(),
            detail: Some(REASON.to_owned()),
            subject: Some(OPERATOR.to_owned()),
            issuer: Some(self.issuer.clone()),
            api_id: Some(issuance.api_id.clone()),
            issuance_id: Some(issuance.id),
            scopes: issuance.scopes.clone(),
            request_id: Some(self.job_request_id.clone()),
            client_addr: None,
            count: 1,
            job_id: Some(job_id),
            owner_issuer: Some(issuance.issuer.clone()),
            owner_subject: Some(issuance.subject.clone()),
            policy_revision: Some(POLICY_REVISION.to_owned()),
        }
    }
}
