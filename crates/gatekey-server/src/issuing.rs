//! The credential lifecycle: mint and revoke, in the order that keeps MongoDB the source of truth.
//!
//! Mint: audit the decision, write the `pending` record (majority write concern), create the Kong
//! side (consumer, ACL groups, key-auth with `ttl`, optional rate limit; each a PUT to an id
//! derived from the issuance id, so retried writes cannot double), then mark the record
//! `active` with the key's fingerprint. Any failure after the record exists rolls the Kong side
//! back (delete the consumer, which cascades) and marks the record `failed`. So a Kong credential
//! never exists without a record, and the key is returned only once its record is durable.
//!
//! A mint runs as its own task ([`AppState::mint_detached`]), not inside the request: a client
//! that disconnects or a request that times out cannot stop it half-way, shutdown waits for it,
//! and it has its own deadline (one request timeout) after which it rolls itself back. A key that
//! was minted but could not be handed to its caller any more is withdrawn at once. Whatever still
//! slips through (a crash, a rollback that failed) is left to [`crate::reconciler`].

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatekey_core::audit::{AuditAction, AuditEvent, AuditEventId, Decision};
use gatekey_core::issuance::{
    FailureCode, Issuance, IssuanceId, IssuanceState, KongRef, NewIssuance, key_fingerprint,
};
use gatekey_core::policy::{ApiPolicy, Denial, MintGrant, RateLimit};
use gatekey_kong::{
    EntityIds, KongError, NewAcl, NewConsumer, NewKeyAuth, RateLimitWindows, rate_limiting_plugin,
};
use rand::TryRngCore as _;
use secrecy::{ExposeSecret as _, SecretString};

use crate::error::ApiError;
use crate::extract::Caller;
use crate::state::AppState;

/// Prefix of every key Gatekey mints, so secret scanners can recognise leaked keys.
pub const KEY_PREFIX: &str = "gk_";

/// A freshly minted credential: the record and the key, which exists nowhere else.
pub struct Minted {
    pub issuance: Issuance,
    pub key: SecretString,
}

impl fmt::Debug for Minted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Minted")
            .field("issuance", &self.issuance.id)
            .field("key", &"[redacted]")
            .finish()
    }
}

/// 256 random bits from the operating system, URL-safe, with the Gatekey prefix.
fn generate_key() -> Result<SecretString, ApiError> {
    let mut bytes = [0_u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| ApiError::Internal(format!("no randomness available: {e}")))?;
    Ok(SecretString::from(format!(
        "{KEY_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(bytes)
    )))
}

/// Tag of every consumer Gatekey creates; the reconciler sweeps consumers by it.
pub const MANAGED_TAG: &str = "gatekey";
/// Prefix of the tag naming a consumer's issuance.
pub const ISSUANCE_TAG_PREFIX: &str = "gatekey-issuance:";
/// `revoked_by` of a credential withdrawn because its caller left before the key was delivered.
pub const WITHDRAWN_BY: &str = "gatekey:undelivered";

/// The audit detail of a failed mint: its code and sentence, e.g. `kong_unavailable: The gateway
/// could not be reached; nothing was issued.`
pub fn failure_detail(failure: FailureCode) -> String {
    format!("{failure}: {}", failure.message())
}

/// Kong tags that tie a consumer to its issuance; the reconciler finds orphans by them.
pub fn consumer_tags(api_id: &str, id: &IssuanceId) -> Vec<String> {
    vec![
        MANAGED_TAG.to_owned(),
        format!("gatekey-api:{api_id}"),
        format!("{ISSUANCE_TAG_PREFIX}{id}"),
    ]
}

/// Kong consumer username of an issuance: unique, and derivable without a Kong round trip.
pub fn consumer_username(id: &IssuanceId) -> String {
    format!("gatekey-{id}")
}

impl AppState {
    /// Appends an audit event built from the caller and request context; a denial within the
    /// audit budget of its window, or counted in a summary beyond it ([`crate::denials`]).
    /// Metrics count every event either way.
    pub async fn audit(&self, event: AuditEvent) -> Result<(), ApiError> {
        crate::metrics::record_audit(&event);
        if event.decision == Decision::Deny {
            self.denials.record(&self.store.audit(), event).await?;
        } else {
            self.store.audit().append(&event).await?;
        }
        Ok(())
    }

    pub fn audit_event(
        &self,
        caller: &Caller,
        action: AuditAction,
        decision: Decision,
        reason: &str,
    ) -> AuditEvent {
        AuditEvent {
            id: AuditEventId::new(),
            at: self.clock.now(),
            action,
            decision,
            reason: reason.to_owned(),
            detail: None,
            subject: Some(caller.principal.subject.clone()),
            issuer: Some(caller.principal.issuer.clone()),
            api_id: None,
            issuance_id: None,
            scopes: Vec::new(),
            request_id: caller.context.request_id.clone(),
            client_addr: caller.context.client_addr.clone(),
            count: 1,
        }
    }

    /// Records a denial and hands it back as the error to return.
    pub async fn deny(
        &self,
        caller: &Caller,
        action: AuditAction,
        denial: Denial,
        api_id: Option<&str>,
        issuance_id: Option<IssuanceId>,
    ) -> ApiError {
        let mut event = self.audit_event(caller, action, Decision::Deny, denial.reason.as_str());
        event.detail = Some(denial.detail.clone());
        event.api_id = api_id.map(str::to_owned);
        event.issuance_id = issuance_id;
        if let Err(err) = self.audit(event).await {
            // The request is refused either way; losing the record of a refusal is logged loudly.
            tracing::error!(error = %err, "could not record a denial in the audit trail");
        }
        ApiError::Denied(denial)
    }

    /// The `pending` record of an allowed grant, not yet written.
    pub fn pending_issuance(
        &self,
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
                purpose,
                ttl_seconds: grant.ttl_seconds,
                request_id: caller.context.request_id.clone(),
            },
            self.clock.now(),
        )
    }

    /// Runs [`AppState::mint`] as a tracked task that finishes even if the request is dropped,
    /// and withdraws the credential when its caller is gone by the time it is ready.
    pub async fn mint_detached(
        &self,
        caller: Caller,
        api: ApiPolicy,
        rate_limit: Option<RateLimit>,
        issuance: Issuance,
    ) -> Result<Minted, ApiError> {
        let (deliver, delivered) = tokio::sync::oneshot::channel();
        let state = self.clone();
        // The task logs inside the request's span, so its lines carry the request id.
        let task = async move {
            let caller_gone = || deliver.is_closed();
            let outcome = state
                .mint(&caller, &api, rate_limit, issuance, &caller_gone)
                .await;
            if let Err(Ok(minted)) = deliver.send(outcome) {
                state.withdraw_undelivered(&caller, minted).await;
            }
        };
        self.reliability
            .mint_tasks
            .spawn(tracing::Instrument::in_current_span(task));
        delivered
            .await
            .map_err(|_| ApiError::Internal("the mint task ended without an outcome".to_owned()))?
    }

    /// Mints a credential for an allowed grant. The caller has already been authorized.
    /// `caller_gone` is asked before the record becomes `active`: a mint nobody waits for any
    /// more is rolled back instead.
    pub async fn mint(
        &self,
        caller: &Caller,
        api: &ApiPolicy,
        rate_limit: Option<RateLimit>,
        issuance: Issuance,
        caller_gone: &(dyn Fn() -> bool + Send + Sync),
    ) -> Result<Minted, ApiError> {
        let id = issuance.id;
        let mut granted = self.audit_event(caller, AuditAction::Mint, Decision::Allow, "granted");
        granted.api_id = Some(issuance.api_id.clone());
        granted.issuance_id = Some(id);
        granted.scopes.clone_from(&issuance.scopes);
        let deadline = self.reliability.mint_deadline;
        // Fail closed: no audit record, no credential. If the record write hangs past the
        // deadline it may still land as `pending`; the reconciler resolves it.
        let recorded = tokio::time::timeout(deadline, async {
            self.audit(granted.clone()).await?;
            self.store.issuances().insert_pending(&issuance).await?;
            Ok::<_, ApiError>(())
        })
        .await
        .unwrap_or(Err(ApiError::Timeout));
        if let Err(err) = recorded {
            // Nothing was created in Kong: the mint's live-credential slot is free again.
            self.release_live_slot(&issuance).await;
            return Err(err);
        }

        let key = generate_key()?;
        let kong_deadline = tokio::time::Instant::now() + deadline;
        let create_and_record = async {
            let kong_ref = self
                .create_kong_side(api, &issuance, &key, rate_limit, kong_deadline)
                .await?;
            if caller_gone() {
                return Err(ApiError::ClientGone);
            }
            let active = self
                .store
                .issuances()
                .mark_active(
                    &id,
                    kong_ref,
                    key_fingerprint(key.expose_secret()),
                    self.clock.now(),
                )
                .await?;
            Ok(active)
        };
        let outcome = tokio::time::timeout(deadline, create_and_record)
            .await
            .unwrap_or(Err(ApiError::Timeout));
        match outcome {
            Ok(active) => {
                let mut issued = granted;
                issued.id = AuditEventId::new();
                issued.at = self.clock.now();
                "issued".clone_into(&mut issued.reason);
                if let Err(err) = self.audit(issued).await {
                    tracing::warn!(error = %err, issuance = %id, "issued, but the audit event was not written");
                }
                tracing::info!(issuance = %id, api = %active.api_id, ttl = active.ttl_seconds, "credential issued");
                Ok(Minted {
                    issuance: active,
                    key,
                })
            }
            Err(err) => {
                // A rollback that hangs (MongoDB or Kong unreachable) is left to the reconciler.
                if tokio::time::timeout(deadline, self.abandon_mint(caller, &issuance, &err))
                    .await
                    .is_err()
                {
                    tracing::error!(issuance = %id, "rollback timed out; the reconciler will finish it");
                }
                Err(err)
            }
        }
    }

    /// A credential became `active` but its caller was gone before the key could be handed
    /// over: nobody holds the key, so it is deleted from Kong and the record revoked.
    async fn withdraw_undelivered(&self, caller: &Caller, minted: Minted) {
        let id = minted.issuance.id;
        tracing::warn!(issuance = %id, "the caller left before the key was delivered; withdrawing it");
        if let Err(err) = self.kong.delete_consumer(&consumer_username(&id)).await {
            tracing::error!(error = %err, issuance = %id, "could not delete an undelivered credential; it expires at its TTL");
            return;
        }
        if let Err(err) = self
            .store
            .issuances()
            .mark_revoked(&id, WITHDRAWN_BY, self.clock.now())
            .await
        {
            tracing::error!(error = %err, issuance = %id, "could not mark an undelivered credential revoked");
        }
        self.release_live_slot(&minted.issuance).await;
        let mut event =
            self.audit_event(caller, AuditAction::Revoke, Decision::Allow, "undelivered");
        event.api_id = Some(minted.issuance.api_id.clone());
        event.issuance_id = Some(id);
        event.scopes.clone_from(&minted.issuance.scopes);
        if let Err(err) = self.audit(event).await {
            tracing::error!(error = %err, issuance = %id, "could not audit an undelivered credential");
        }
    }

    async fn create_kong_side(
        &self,
        api: &ApiPolicy,
        issuance: &Issuance,
        key: &SecretString,
        rate_limit: Option<RateLimit>,
        deadline: tokio::time::Instant,
    ) -> Result<KongRef, KongError> {
        let tags = consumer_tags(&api.id, &issuance.id);
        // Every write is a PUT to an id derived from the issuance, so the client's retries
        // (bounded by the mint's deadline) never create a second entity.
        let ids = EntityIds::from_seed(issuance.id.to_bytes());
        let kong = self.kong.with_deadline(deadline);
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
                    let plugin = rate_limiting_plugin(windows, &self.counter_policy, tags.clone());
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

    /// Best effort after a failed mint: remove whatever Kong has, then record the failure. If
    /// either step fails, the reconciler finds the `pending` record or the tagged consumer.
    ///
    /// The record and the audit event get the failure's code and sentence; the error itself
    /// (which may name Kong's or MongoDB's address) is logged here, with the request id, only.
    async fn abandon_mint(&self, caller: &Caller, issuance: &Issuance, cause: &ApiError) {
        let failure = cause.failure_code();
        tracing::error!(
            error = %cause,
            code = %failure,
            issuance = %issuance.id,
            request_id = caller.context.request_id.as_deref().unwrap_or("-"),
            "mint failed; rolling back"
        );
        let username = consumer_username(&issuance.id);
        if let Err(err) = self.kong.delete_consumer(&username).await {
            tracing::error!(error = %err, issuance = %issuance.id, "rollback of the Kong consumer failed; the reconciler will remove it");
        }
        if let Err(err) = self
            .store
            .issuances()
            .mark_failed(&issuance.id, failure, self.clock.now())
            .await
        {
            tracing::error!(error = %err, issuance = %issuance.id, "could not mark the issuance failed");
        }
        self.release_live_slot(issuance).await;
        let mut failed =
            self.audit_event(caller, AuditAction::Mint, Decision::Allow, "issue_failed");
        failed.detail = Some(failure_detail(failure));
        failed.api_id = Some(issuance.api_id.clone());
        failed.issuance_id = Some(issuance.id);
        failed.scopes.clone_from(&issuance.scopes);
        if let Err(err) = self.audit(failed).await {
            tracing::error!(error = %err, issuance = %issuance.id, "could not audit the failed mint");
        }
    }

    /// Revokes an active credential: Kong first (the key stops working), then the record.
    pub async fn revoke(&self, caller: &Caller, issuance: Issuance) -> Result<Issuance, ApiError> {
        match issuance.state {
            IssuanceState::Revoked => return Ok(issuance),
            IssuanceState::Active => {}
            IssuanceState::Pending | IssuanceState::Failed => {
                return Err(ApiError::Conflict {
                    detail: format!(
                        "credential {} is {} and cannot be revoked",
                        issuance.id,
                        issuance.state.as_str()
                    ),
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
        self.release_live_slot(&revoked).await;
        let mut event = self.audit_event(caller, AuditAction::Revoke, Decision::Allow, "revoked");
        event.api_id = Some(revoked.api_id.clone());
        event.issuance_id = Some(revoked.id);
        event.scopes.clone_from(&revoked.scopes);
        self.audit(event).await?;
        tracing::info!(issuance = %revoked.id, "credential revoked");
        Ok(revoked)
    }
}
