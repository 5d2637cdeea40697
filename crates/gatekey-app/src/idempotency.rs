//! `Idempotency-Key` on mint: a client that lost a response can retry safely. The key is scoped to
//! the caller (issuer and subject) and bound, on first use, to one issuance and a hash of the
//! canonical request; the binding lives in `idempotency_keys` until its TTL.
//!
//! A retry never re-issues. Because Gatekey keeps only the key's fingerprint, a retry of a
//! completed mint cannot return the key: it is refused as [`IdempotencyError::AlreadyIssued`]
//! with the credential's id, so no client can mistake the replay for a fresh mint carrying a key.
//! A retry while the first request runs is [`IdempotencyError::InProgress`]; a retry of a mint
//! that issued nothing (`failed`, withdrawn because its caller left before the key was
//! delivered, or never recorded) takes the key over and mints again.

use std::sync::Arc;

use gatekey_core::Clock;
use gatekey_core::issuance::{IssuanceId, IssuanceState};
use gatekey_store::{Reservation, Store, StoreError};
use sha2::{Digest as _, Sha256};

use crate::caller::Caller;
use crate::consumers::WITHDRAWN_BY;

/// Longest accepted key.
pub const MAX_KEY_CHARS: usize = 255;

/// Why a key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum InvalidIdempotencyKey {
    /// Not 1 to [`MAX_KEY_CHARS`] visible ASCII characters.
    #[error("an Idempotency-Key must be 1 to {MAX_KEY_CHARS} visible ASCII characters")]
    Malformed,
    /// The request could not be written in its canonical form (a bug, not the caller's fault).
    #[error("cannot write the request in its canonical form: {0}")]
    Canonical(#[from] serde_json::Error),
}

/// Why a retry with a known key does not mint.
#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError {
    /// The key was used before with another request.
    #[error("idempotency key reused with a different request")]
    Reused,
    /// The request that first used the key is still being processed.
    #[error("idempotency key in use by a request still in progress")]
    InProgress,
    /// The key already produced this credential; its key was shown once.
    #[error("credential {id} was already issued for this idempotency key")]
    AlreadyIssued { id: IssuanceId },
    #[error("the idempotency keys could not be read or written: {0}")]
    Store(#[from] StoreError),
}

/// A validated key, scoped to its caller, with the hash of the request it came with.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    scope: String,
    request_hash: String,
}

/// The parts of a mint request that make two requests "the same"; its JSON form is hashed.
#[derive(Debug, serde::Serialize)]
pub struct CanonicalMint<'a> {
    pub api_id: &'a str,
    /// Deduplicated and sorted.
    pub scopes: &'a [String],
    pub ttl_seconds: Option<u32>,
    pub purpose: Option<&'a str>,
}

/// SHA-256 of length-prefixed parts, so ("ab", "c") and ("a", "bc") differ.
fn sha256_hex(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.len().to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

impl IdempotencyKey {
    /// Checks the raw key as received and scopes it to `caller`.
    pub fn new(
        raw: &[u8],
        caller: &Caller,
        request: &CanonicalMint<'_>,
    ) -> Result<Self, InvalidIdempotencyKey> {
        if raw.is_empty() || raw.len() > MAX_KEY_CHARS || !raw.iter().all(u8::is_ascii_graphic) {
            return Err(InvalidIdempotencyKey::Malformed);
        }
        let key = std::str::from_utf8(raw).map_err(|_| InvalidIdempotencyKey::Malformed)?;
        let principal = &caller.principal;
        let canonical = serde_json::to_string(request)?;
        Ok(Self {
            scope: sha256_hex(&[&principal.issuer, &principal.subject, key]),
            request_hash: sha256_hex(&[&principal.issuer, &principal.subject, &canonical]),
        })
    }
}

/// Binds keys to mints; cheap to clone.
#[derive(Debug, Clone)]
pub struct IdempotencyKeys {
    store: Store,
    clock: Arc<dyn Clock>,
    ttl: chrono::Duration,
    mint_deadline: chrono::Duration,
}

impl IdempotencyKeys {
    /// Keys stay bound for `ttl`; a key reserved but never recorded is dead after
    /// `mint_deadline`.
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        ttl: std::time::Duration,
        mint_deadline: std::time::Duration,
    ) -> Self {
        Self {
            store,
            clock,
            ttl: crate::chrono_duration(ttl),
            mint_deadline: crate::chrono_duration(mint_deadline),
        }
    }

    /// Binds `key` to the issuance about to be minted. `Ok` means: mint it. Errors are the
    /// replies to a retry (already issued, in progress, different request).
    pub async fn claim(
        &self,
        key: &IdempotencyKey,
        issuance_id: IssuanceId,
    ) -> Result<(), IdempotencyError> {
        let now = self.clock.now();
        let keys = self.store.idempotency_keys();
        let existing = match keys
            .reserve(
                &key.scope,
                &key.request_hash,
                issuance_id,
                now,
                now + self.ttl,
            )
            .await?
        {
            Reservation::Reserved => return Ok(()),
            Reservation::Existing(existing) => existing,
        };
        if existing.request_hash != key.request_hash {
            return Err(IdempotencyError::Reused);
        }
        let earlier = self.store.issuances().get(&existing.issuance_id).await?;
        let issued_nothing = match earlier.as_ref().map(|i| (i.state, i.revoked_by.as_deref())) {
            // Failed, or withdrawn because its caller left before the key was delivered:
            // nobody has a key from it.
            Some((IssuanceState::Failed, _) | (IssuanceState::Revoked, Some(WITHDRAWN_BY))) => true,
            Some((IssuanceState::Active | IssuanceState::Revoked, _)) => {
                return Err(IdempotencyError::AlreadyIssued {
                    id: existing.issuance_id,
                });
            }
            Some((IssuanceState::Pending, _)) => false,
            // Reserved but never recorded: the first request is between the reservation and
            // its pending record, or died there. Past one mint deadline it is dead.
            None => now - existing.created_at > self.mint_deadline,
        };
        if issued_nothing
            && keys
                .take_over(&key.scope, existing.issuance_id, issuance_id, now)
                .await?
        {
            return Ok(());
        }
        Err(IdempotencyError::InProgress)
    }

    /// Frees a key claimed by a request that was then refused before minting (a limit), so a
    /// retry with the same key is judged afresh.
    pub async fn release(&self, key: &IdempotencyKey, issuance_id: IssuanceId) {
        if let Err(err) = self
            .store
            .idempotency_keys()
            .release(&key.scope, issuance_id)
            .await
        {
            tracing::warn!(error = %err, "could not release an idempotency key");
        }
    }
}
