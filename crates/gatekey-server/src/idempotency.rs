//! `Idempotency-Key` on mint: a client that lost a response can retry safely. The key is scoped to
//! the caller (issuer and subject) and bound, on first use, to one issuance and a hash of the
//! canonical request; the binding lives in `idempotency_keys` until its TTL.
//!
//! A retry never re-issues. Because Gatekey keeps only the key's fingerprint, a retry of a
//! completed mint cannot return the key: it answers 409 `already_issued` with the credential's
//! `Location`, so no client can mistake the replay for a fresh 201 carrying a key. A retry while
//! the first request runs answers 409 `idempotency_key_in_progress` (`Retry-After: 1`); a retry of
//! a mint that issued nothing (`failed`, withdrawn because its caller left before the key was
//! delivered, or never recorded) takes the key over and mints again.

use axum::http::HeaderMap;
use chrono::Duration;
use gatekey_core::issuance::{IssuanceId, IssuanceState};
use gatekey_store::Reservation;
use sha2::{Digest as _, Sha256};

use crate::error::ApiError;
use crate::extract::Caller;
use crate::issuing::WITHDRAWN_BY;
use crate::state::AppState;

/// The request header.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Longest accepted key.
const MAX_KEY_CHARS: usize = 255;

/// A validated key, scoped to its caller, with the hash of the request it came with.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    scope: String,
    request_hash: String,
}

/// The parts of a mint request that make two requests "the same".
#[derive(Debug, serde::Serialize)]
pub struct CanonicalMint<'a> {
    pub api_id: &'a str,
    /// Deduplicated and sorted.
    pub scopes: &'a [String],
    pub ttl_seconds: Option<u32>,
    pub purpose: Option<&'a str>,
}

fn sha256_hex(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
        hasher.update(part.len().to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

impl IdempotencyKey {
    /// The key from the request headers, if any. A key must be 1 to 255 visible ASCII
    /// characters; anything else is a 400.
    pub fn from_headers(
        headers: &HeaderMap,
        caller: &Caller,
        request: &CanonicalMint<'_>,
    ) -> Result<Option<Self>, ApiError> {
        let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
            return Ok(None);
        };
        let invalid = || ApiError::BadRequest {
            code: "invalid_idempotency_key",
            detail: format!(
                "Idempotency-Key must be 1 to {MAX_KEY_CHARS} visible ASCII characters"
            ),
        };
        let key = value.to_str().map_err(|_| invalid())?;
        if key.is_empty() || key.len() > MAX_KEY_CHARS || !key.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(invalid());
        }
        let principal = &caller.principal;
        let canonical = serde_json::to_string(request)
            .map_err(|e| ApiError::Internal(format!("cannot serialise the request: {e}")))?;
        Ok(Some(Self {
            scope: sha256_hex(&[&principal.issuer, &principal.subject, key]),
            request_hash: sha256_hex(&[&principal.issuer, &principal.subject, &canonical]),
        }))
    }
}

impl AppState {
    /// Binds `key` to the issuance about to be minted. `Ok` means: mint it. Errors are the
    /// replies to a retry (already issued, in progress, different request).
    pub async fn claim_idempotency_key(
        &self,
        key: &IdempotencyKey,
        issuance_id: IssuanceId,
    ) -> Result<(), ApiError> {
        let now = self.clock.now();
        let ttl = Duration::seconds(
            i64::try_from(self.reliability.limits.idempotency_key_ttl_seconds).unwrap_or(i64::MAX),
        );
        let keys = self.store.idempotency_keys();
        let existing = match keys
            .reserve(&key.scope, &key.request_hash, issuance_id, now, now + ttl)
            .await?
        {
            Reservation::Reserved => return Ok(()),
            Reservation::Existing(existing) => existing,
        };
        if existing.request_hash != key.request_hash {
            return Err(ApiError::IdempotencyKeyReused);
        }
        let earlier = self.store.issuances().get(&existing.issuance_id).await?;
        let issued_nothing = match earlier.as_ref().map(|i| (i.state, i.revoked_by.as_deref())) {
            // Failed, or withdrawn because its caller left before the key was delivered:
            // nobody has a key from it.
            Some((IssuanceState::Failed, _) | (IssuanceState::Revoked, Some(WITHDRAWN_BY))) => true,
            Some((IssuanceState::Active | IssuanceState::Revoked, _)) => {
                return Err(ApiError::AlreadyIssued {
                    id: existing.issuance_id,
                });
            }
            Some((IssuanceState::Pending, _)) => false,
            // Reserved but never recorded: the first request is between the reservation and
            // its pending record, or died there. Past one mint deadline it is dead.
            None => now - existing.created_at > self.reliability.mint_deadline_chrono(),
        };
        if issued_nothing
            && keys
                .take_over(&key.scope, existing.issuance_id, issuance_id, now)
                .await?
        {
            return Ok(());
        }
        Err(ApiError::IdempotencyKeyInProgress)
    }

    /// Frees a key claimed by a request that was then refused before minting (a limit), so a
    /// retry with the same key is judged afresh.
    pub async fn release_idempotency_key(&self, key: &IdempotencyKey, issuance_id: IssuanceId) {
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
