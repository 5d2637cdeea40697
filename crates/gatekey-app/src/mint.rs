//! The mint, top to bottom, in the order that keeps MongoDB the source of truth:
//!
//! 1. the policy decides (a denial is audited and returned);
//! 2. an `Idempotency-Key`, if any, is bound to the new issuance ([`crate::idempotency`]);
//! 3. the caller's limits count the mint ([`crate::limits`]);
//! 4. in its own task, under one deadline for all of it: audit the grant, write the `pending`
//!    record (majority write concern), create the Kong side (consumer, ACL groups, key-auth with
//!    `ttl`, optional rate limit; each a PUT to an id derived from the issuance id, so retried
//!    writes cannot double), then mark the record `active` with the key's fingerprint;
//! 5. the key goes back to the caller, or, if the caller is gone by then, is withdrawn.
//!
//! A mint runs as its own task, not inside the request: a client that disconnects or a request
//! that times out cannot stop it half-way, and shutdown waits for it. Its deadline (the request
//! timeout) covers the record, the Kong side and the activation together; past it, or on any
//! failure after the record exists, the mint rolls back, bounded by the same length again.
//!
//! The rollback settles the record before it touches Kong. It marks the record `failed` first:
//! from `pending`, which also refuses an activation still in flight (activation is guarded on
//! `pending`), or from `active` when that activation landed anyway (MongoDB frozen while the
//! write was queued; the caller never got the key, so the mint that owns the record may fail
//! it). Only once the record is durably `failed` is the consumer deleted and the caller's slot
//! freed. If the record cannot be written within the rollback's bound, the consumer is kept:
//! the record then stays `pending` (the reconciler resolves it) or becomes `active` with a
//! consumer that works until its TTL, and never says `active` without one. Whatever else slips
//! through (a crash, a Kong delete that failed) is left to the reconciler.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatekey_core::Clock;
use gatekey_core::audit::{AuditAction, AuditEventId, Decision};
use gatekey_core::issuance::{FailureCode, Issuance, KongRef, NewIssuance, key_fingerprint};
use gatekey_core::policy::{ApiPolicy, Denial, MintGrant, MintRequest, Policy, RateLimit};
use gatekey_kong::{
    CounterPolicy, EntityIds, KongClient, KongError, NewAcl, NewConsumer, NewKeyAuth,
    RateLimitWindows, rate_limiting_plugin,
};
use gatekey_store::{Store, StoreError};
use rand::TryRngCore as _;
use secrecy::{ExposeSecret as _, SecretString};
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

use crate::audit::AuditTrail;
use crate::caller::Caller;
use crate::consumers::{WITHDRAWN_BY, consumer_tags, consumer_username};
use crate::idempotency::{
    CanonicalMint, IdempotencyError, IdempotencyKey, IdempotencyKeys, InvalidIdempotencyKey,
};
use crate::limits::{LimitError, MintLimiter};
use crate::mints_in_flight::{MintInFlight, MintsInFlight};

/// Prefix of every key Gatekey mints, so secret scanners can recognise leaked keys.
pub const KEY_PREFIX: &str = "gk_";
/// Pause between attempts of the rollback to mark its record `failed`.
const ROLLBACK_RETRY_PAUSE: Duration = Duration::from_millis(250);

/// The audit detail of a failed mint: its code and sentence, e.g. `kong_unavailable: The gateway
/// could not be reached; nothing was issued.`
fn failure_detail(failure: FailureCode) -> String {
    format!("{failure}: {}", failure.message())
}

/// What a caller asks to mint, checked against the HTTP contract already.
#[derive(Debug)]
pub struct MintOrder<'a> {
    pub api_id: &'a str,
    pub request: MintRequest,
    pub purpose: Option<String>,
    /// The `Idempotency-Key` as received, if any.
    pub idempotency_key: Option<&'a [u8]>,
}

/// A freshly minted credential: the record, the key (which exists nowhere else) and where to
/// use it.
pub struct Minted {
    pub issuance: Issuance,
    pub key: SecretString,
    /// Header to send the key in.
    pub key_header: String,
    /// Base URL of the API on the gateway.
    pub gateway_url: String,
}

impl fmt::Debug for Minted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Minted")
            .field("issuance", &self.issuance.id)
            .field("key", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// Why a mint did not issue a credential.
#[derive(Debug, thiserror::Error)]
pub enum MintError {
    /// The policy refused the request (audited).
    #[error("denied: {0}")]
    Denied(#[from] Denial),
    /// The policy granted an API it does not hold (a bug in the policy).
    #[error("the granted API '{0}' is not in the policy")]
    GrantedApiMissing(String),
    #[error(transparent)]
    InvalidIdempotencyKey(#[from] InvalidIdempotencyKey),
    #[error(transparent)]
    Idempotency(#[from] IdempotencyError),
    #[error(transparent)]
    Limit(#[from] LimitError),
    #[error("no randomness available for the key: {0}")]
    NoRandomness(#[from] rand::rand_core::OsError),
    #[error("Kong Admin API failed: {0}")]
    Kong(#[from] KongError),
    #[error("MongoDB failed: {0}")]
    Store(#[from] StoreError),
    /// The mint's deadline passed; it was rolled back.
    #[error("the mint did not finish within its deadline")]
    Timeout,
    /// The client disconnected before its credential was ready; nobody receives this answer.
    #[error("the client disconnected before the credential was ready")]
    ClientGone,
    /// The mint's task ended without an outcome (it panicked).
    #[error("the mint task ended without an outcome")]
    TaskEnded,
}

impl MintError {
    /// The code a failed mint records for this error: stable, and free of the internals the
    /// error itself carries (hosts, ports, URLs, driver messages).
    pub fn failure_code(&self) -> FailureCode {
        match self {
            Self::Kong(KongError::Timeout | KongError::Transport(_)) => {
                FailureCode::KongUnavailable
            }
            Self::Kong(_) => FailureCode::KongRefused,
            Self::Store(_) => FailureCode::StorageUnavailable,
            Self::Timeout => FailureCode::Timeout,
            Self::ClientGone => FailureCode::ClientGone,
            _ => FailureCode::Internal,
        }
    }
}

/// Where a credential is made: Kong, and how it counts a credential's rate limit.
#[derive(Debug, Clone)]
pub struct Gateway {
    pub kong: KongClient,
    /// Where Kong counts the requests of a credential's rate limit.
    pub counter_policy: CounterPolicy,
}

/// Mints credentials; cheap to clone.
#[derive(Debug, Clone)]
pub struct Minter {
    inner: Arc<MinterParts>,
}

/// What a [`Minter`] works with.
#[derive(Debug)]
pub struct MinterParts {
    pub store: Store,
    pub gateway: Gateway,
    pub clock: Arc<dyn Clock>,
    pub audit: AuditTrail,
    pub limits: MintLimiter,
    pub idempotency: IdempotencyKeys,
    /// The whole mint's deadline, from the start of its task: record, Kong side and activation.
    pub deadline: Duration,
    /// The mint tasks in flight; shutdown waits for them.
    pub tasks: TaskTracker,
    /// The mints in flight, which the usage ingest lets go first.
    pub in_flight: MintsInFlight,
}

impl Minter {
    pub fn new(parts: MinterParts) -> Self {
        Self {
            inner: Arc::new(parts),
        }
    }

    /// The mint tasks in flight, for shutdown to wait on.
    pub fn tasks(&self) -> &TaskTracker {
        &self.inner.tasks
    }

    /// The whole mint's deadline.
    pub fn deadline(&self) -> Duration {
        self.inner.deadline
    }

    /// Mints a credential for `caller`, decided by `policy` (one policy for the decision and the
    /// API it grants, even if the catalog refreshes meanwhile).
    pub async fn mint(
        &self,
        policy: &Policy,
        caller: Caller,
        order: MintOrder<'_>,
    ) -> Result<Minted, MintError> {
        let parts = &*self.inner;
        // 1. The policy decides.
        let grant = match policy.decide_mint(&caller.principal, order.api_id, &order.request) {
            Ok(grant) => grant,
            Err(denial) => {
                let action = AuditAction::Mint;
                let api_id = Some(order.api_id);
                return Err(parts
                    .audit
                    .deny(policy, &caller, action, denial, api_id, None)
                    .await
                    .into());
            }
        };
        let api = policy
            .api(&grant.api_id)
            .ok_or_else(|| MintError::GrantedApiMissing(grant.api_id.clone()))?
            .clone();
        // 2. The idempotency key, bound to the issuance about to be made.
        let idempotency_key = order
            .idempotency_key
            .map(|raw| {
                let request = CanonicalMint {
                    api_id: &grant.api_id,
                    scopes: &grant.scopes,
                    ttl_seconds: order.request.ttl_seconds,
                    purpose: order.purpose.as_deref(),
                };
                IdempotencyKey::new(raw, &caller, &request)
            })
            .transpose()?;
        let issuance = self.pending_issuance(policy, &caller, &grant, order.purpose);
        // From here the usage ingest lets the mint go first, so it cannot slip a command in
        // between the mint's own.
        let arriving = parts.in_flight.arriving(&caller.principal);
        if let Some(key) = &idempotency_key {
            parts.idempotency.claim(key, issuance.id).await?;
        }
        // 3. The caller's limits.
        if let Err(refusal) = parts.limits.reserve(&caller, &issuance).await {
            // A caller sending mints without pause makes the ingest wait no more often than
            // their limits count their mints.
            if let LimitError::Reached(reached) = &refusal {
                let retry_after = Duration::from_secs(reached.retry_after_seconds);
                parts.in_flight.refused(&caller.principal, retry_after);
            }
            if let Some(key) = &idempotency_key {
                parts.idempotency.release(key, issuance.id).await;
            }
            return Err(refusal.into());
        }
        let in_flight = arriving.counted();
        // 4 and 5. The record and the Kong side, in a task of their own.
        let (issuance, key) = self
            .run_detached(caller, &api, grant.rate_limit, issuance, in_flight)
            .await?;
        Ok(Minted {
            issuance,
            key,
            key_header: api.key_header,
            gateway_url: api.gateway_url,
        })
    }

    /// The `pending` record of a grant `policy` allowed, not yet written; it names the policy,
    /// and so do the mint's events (from the record).
    fn pending_issuance(
        &self,
        policy: &Policy,
        caller: &Caller,
        grant: &MintGrant,
        purpose: Option<String>,
    ) -> Issuance {
        Issuance::new_pending(
            NewIssuance {
                subject: caller.principal.subject.clone(),
                issuer: caller.principal.issuer.clone(),
                api_id: grant.api_id.clone(),
                scopes: grant.scopes.clone(),
                acl_groups: grant.acl_groups.clone(),
                caller_groups: caller.principal.groups.iter().cloned().collect(),
                granting_groups: grant.granting_groups.clone(),
                purpose,
                ttl_seconds: grant.ttl_seconds,
                request_id: caller.context.request_id.clone(),
                policy_revision: Some(policy.revision().digest.clone()),
            },
            self.inner.clock.now(),
        )
    }

    /// Runs [`Minter::issue`] as a tracked task that finishes even if the request is dropped,
    /// and withdraws the credential when its caller is gone by the time it is ready. The mint
    /// counts as in flight until `issue` ends.
    async fn run_detached(
        &self,
        caller: Caller,
        api: &ApiPolicy,
        rate_limit: Option<RateLimit>,
        issuance: Issuance,
        in_flight: MintInFlight,
    ) -> Result<(Issuance, SecretString), MintError> {
        let (deliver, delivered) = tokio::sync::oneshot::channel();
        let minter = self.clone();
        let api = api.clone();
        // The task logs inside the request's span, so its lines carry the request id.
        let task = async move {
            let caller_gone = || deliver.is_closed();
            let outcome = minter
                .issue(&caller, &api, rate_limit, issuance, &caller_gone)
                .await;
            drop(in_flight);
            if let Err(Ok((issuance, _key))) = deliver.send(outcome) {
                minter.withdraw_undelivered(&caller, &issuance).await;
            }
        };
        self.inner
            .tasks
            .spawn(tracing::Instrument::in_current_span(task));
        delivered.await.map_err(|_| MintError::TaskEnded)?
    }

    /// Records and creates the credential of an allowed, counted grant, within one deadline;
    /// rolls it back on any failure. `caller_gone` is asked before the record becomes `active`: a
    /// mint nobody waits for any more is rolled back instead.
    async fn issue(
        &self,
        caller: &Caller,
        api: &ApiPolicy,
        rate_limit: Option<RateLimit>,
        issuance: Issuance,
        caller_gone: &(dyn Fn() -> bool + Send + Sync),
    ) -> Result<(Issuance, SecretString), MintError> {
        let parts = &*self.inner;
        let deadline = Instant::now() + parts.deadline;
        let id = issuance.id;
        let mut granted = parts
            .audit
            .event(caller, AuditAction::Mint, Decision::Allow, "granted");
        granted.api_id = Some(issuance.api_id.clone());
        granted.issuance_id = Some(id);
        granted.scopes.clone_from(&issuance.scopes);
        granted
            .policy_revision
            .clone_from(&issuance.policy_revision);
        // Fail closed: no audit record, no credential. If the record write hangs past the
        // deadline it may still land as `pending`; the reconciler resolves it.
        let recorded = tokio::time::timeout_at(deadline, async {
            parts.audit.record(granted.clone()).await?;
            parts.store.issuances().insert_pending(&issuance).await
        })
        .await
        .map_or(Err(MintError::Timeout), |written| {
            written.map_err(MintError::from)
        });
        if let Err(err) = recorded {
            // Nothing was created in Kong: the mint's live-credential slot is free again.
            parts.limits.release(&issuance).await;
            return Err(err);
        }

        let create_and_activate = async {
            let key = generate_key()?;
            let kong_ref = self
                .create_kong_side(api, &issuance, &key, rate_limit, deadline)
                .await?;
            if caller_gone() {
                return Err(MintError::ClientGone);
            }
            let fingerprint = key_fingerprint(key.expose_secret());
            let active = parts
                .store
                .issuances()
                .mark_active(&issuance, kong_ref, fingerprint, parts.clock.now())
                .await?;
            Ok((active, key))
        };
        let outcome = tokio::time::timeout_at(deadline, create_and_activate)
            .await
            .unwrap_or(Err(MintError::Timeout));
        match outcome {
            Ok((active, key)) => {
                let mut issued = granted;
                issued.id = AuditEventId::new();
                issued.at = parts.clock.now();
                "issued".clone_into(&mut issued.reason);
                if let Err(err) = parts.audit.record(issued).await {
                    tracing::warn!(error = %err, issuance = %id, "issued, but the audit event was not written");
                }
                tracing::info!(issuance = %id, api = %active.api_id, ttl = active.ttl_seconds, "credential issued");
                Ok((active, key))
            }
            Err(err) => {
                self.roll_back(caller, &issuance, &err).await;
                Err(err)
            }
        }
    }

    async fn create_kong_side(
        &self,
        api: &ApiPolicy,
        issuance: &Issuance,
        key: &SecretString,
        rate_limit: Option<RateLimit>,
        deadline: Instant,
    ) -> Result<KongRef, KongError> {
        let Gateway {
            kong,
            counter_policy,
        } = &self.inner.gateway;
        let tags = consumer_tags(&api.id, &issuance.id);
        // Every write is a PUT to an id derived from the issuance, so the client's retries
        // (bounded by the mint's deadline) never create a second entity.
        let ids = EntityIds::from_seed(issuance.id.to_bytes());
        let kong = kong.with_deadline(deadline);
        let consumer = kong
            .put_consumer(
                &ids.consumer(),
                &NewConsumer {
                    username: Some(consumer_username(&issuance.id)),
                    custom_id: Some(issuance.id.to_string()),
                    tags: Some(tags.clone()),
                },
            )
            .await?;
        let acls = futures::future::try_join_all(issuance.acl_groups.iter().map(|group| {
            let acl = NewAcl {
                group: group.clone(),
                tags: Some(tags.clone()),
            };
            let (kong, consumer_id, acl_id) = (&kong, consumer.id.clone(), ids.acl(group));
            async move { kong.put_acl_group(&consumer_id, &acl_id, &acl).await }
        }));
        let credential = async {
            let new_key = NewKeyAuth {
                key: Some(key.clone()),
                ttl: Some(issuance.ttl_seconds),
                tags: Some(tags.clone()),
            };
            kong.put_key_auth(&consumer.id, &ids.key_auth(), &new_key)
                .await
        };
        let plugin = async {
            match rate_limit {
                Some(limit) => {
                    let windows = RateLimitWindows {
                        second: limit.second,
                        minute: limit.minute,
                        hour: limit.hour,
                        day: limit.day,
                    };
                    let plugin = rate_limiting_plugin(windows, counter_policy, tags.clone());
                    kong.put_consumer_plugin(&consumer.id, &ids.rate_limiting(), &plugin)
                        .await
                        .map(|_| ())
                }
                None => Ok(()),
            }
        };
        let (_, credential, ()) = futures::try_join!(acls, credential, plugin)?;
        Ok(KongRef {
            consumer_id: consumer.id,
            consumer_username: consumer_username(&issuance.id),
            credential_id: credential.id,
        })
    }

    /// After a failed mint: the record becomes `failed` first, then the consumer is deleted and
    /// the slot freed (see the module documentation for why in this order). Bounded by one mint
    /// deadline; what it cannot finish is left to the reconciler.
    ///
    /// The record and the audit event get the failure's code and sentence; the error itself
    /// (which may name Kong's or MongoDB's address) is logged here, with the request id, only.
    async fn roll_back(&self, caller: &Caller, issuance: &Issuance, cause: &MintError) {
        let parts = &*self.inner;
        let failure = cause.failure_code();
        tracing::error!(
            error = %cause,
            code = %failure,
            issuance = %issuance.id,
            request_id = caller.context.request_id.as_deref().unwrap_or("-"),
            "mint failed; rolling back"
        );
        let settled = tokio::time::timeout(parts.deadline, async {
            if !self.settle_failed(issuance, failure).await {
                return;
            }
            let username = consumer_username(&issuance.id);
            if let Err(err) = parts.gateway.kong.delete_consumer(&username).await {
                tracing::error!(error = %err, issuance = %issuance.id, "rollback of the Kong consumer failed; the reconciler will remove it");
            }
            parts.limits.release(issuance).await;
        })
        .await;
        if settled.is_err() {
            tracing::error!(issuance = %issuance.id, "the record could not be marked failed within the rollback's bound; its consumer is kept and the reconciler resolves it");
        }
        let mut failed =
            parts
                .audit
                .event(caller, AuditAction::Mint, Decision::Allow, "issue_failed");
        failed.detail = Some(failure_detail(failure));
        failed.api_id = Some(issuance.api_id.clone());
        failed.issuance_id = Some(issuance.id);
        failed.scopes.clone_from(&issuance.scopes);
        failed.policy_revision.clone_from(&issuance.policy_revision);
        if let Err(err) = parts.audit.record(failed).await {
            tracing::error!(error = %err, issuance = %issuance.id, "could not audit the failed mint");
        }
    }

    /// Marks the mint's record `failed` (from `pending`, or from an `active` whose activation
    /// landed although the mint failed), retrying while MongoDB does not answer. `false` when the
    /// record is in another state (revoked by its owner meanwhile): it is not this rollback's any
    /// more, and its consumer is left alone.
    async fn settle_failed(&self, issuance: &Issuance, failure: FailureCode) -> bool {
        let parts = &*self.inner;
        loop {
            let at = parts.clock.now();
            match parts
                .store
                .issuances()
                .fail_mint(&issuance.id, failure, at)
                .await
            {
                Ok(_) => return true,
                Err(StoreError::InvalidTransition { from, .. }) => {
                    tracing::warn!(issuance = %issuance.id, state = %from, "the record of a failed mint is no longer the mint's to fail");
                    return from == gatekey_core::issuance::IssuanceState::Failed;
                }
                Err(StoreError::NotFound { .. }) => {
                    // The pending record never landed: nothing can become active.
                    return true;
                }
                Err(err) => {
                    tracing::warn!(error = %err, issuance = %issuance.id, "could not mark a failed mint's record; retrying");
                    tokio::time::sleep(ROLLBACK_RETRY_PAUSE).await;
                }
            }
        }
    }

    /// A credential became `active` but its caller was gone before the key could be handed
    /// over: nobody holds the key, so the record is revoked and then the consumer deleted (the
    /// record first, so that it never says `active` without a consumer).
    async fn withdraw_undelivered(&self, caller: &Caller, issuance: &Issuance) {
        let parts = &*self.inner;
        let id = issuance.id;
        tracing::warn!(issuance = %id, "the caller left before the key was delivered; withdrawing it");
        if let Err(err) = parts
            .store
            .issuances()
            .mark_revoked(&id, WITHDRAWN_BY, parts.clock.now())
            .await
        {
            tracing::error!(error = %err, issuance = %id, "could not mark an undelivered credential revoked; it expires at its TTL");
            return;
        }
        if let Err(err) = parts
            .gateway
            .kong
            .delete_consumer(&consumer_username(&id))
            .await
        {
            tracing::error!(error = %err, issuance = %id, "could not delete an undelivered credential's consumer; the reconciler removes it");
        }
        parts.limits.release(issuance).await;
        let mut event =
            parts
                .audit
                .event(caller, AuditAction::Revoke, Decision::Allow, "undelivered");
        event.api_id = Some(issuance.api_id.clone());
        event.issuance_id = Some(id);
        event.scopes.clone_from(&issuance.scopes);
        event.policy_revision.clone_from(&issuance.policy_revision);
        if let Err(err) = parts.audit.record(event).await {
            tracing::error!(error = %err, issuance = %id, "could not audit an undelivered credential");
        }
    }
}

/// 256 random bits from the operating system, URL-safe, with the Gatekey prefix.
fn generate_key() -> Result<SecretString, rand::rand_core::OsError> {
    let mut bytes = [0_u8; 32];
    rand::rngs::OsRng.try_fill_bytes(&mut bytes)?;
    Ok(SecretString::from(format!(
        "{KEY_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(bytes)
    )))
}

#[cfg(test)]
mod tests {
    use gatekey_core::issuance::FailureCode;
    use gatekey_kong::KongError;
    use gatekey_store::StoreError;

    use super::MintError;

    #[test]
    fn failure_codes_name_the_failing_dependency_and_not_its_error() {
        let cases = [
            (
                MintError::Kong(KongError::Timeout),
                FailureCode::KongUnavailable,
            ),
            (
                MintError::Kong(KongError::Api {
                    status: 500,
                    code: None,
                    message: "An unexpected error occurred".to_owned(),
                }),
                FailureCode::KongRefused,
            ),
            (
                MintError::Store(StoreError::CorruptDocument {
                    collection: "issuances",
                    id: "x".to_owned(),
                    detail: "mongodb://db.internal:27017".to_owned(),
                }),
                FailureCode::StorageUnavailable,
            ),
            (MintError::Timeout, FailureCode::Timeout),
            (MintError::ClientGone, FailureCode::ClientGone),
            (MintError::TaskEnded, FailureCode::Internal),
        ];
        for (error, code) in cases {
            assert_eq!(error.failure_code(), code, "{error}");
            assert!(!code.message().contains("internal:"), "{code}");
        }
    }
}
