//! The `idempotency_keys` collection: one document per (caller, `Idempotency-Key`) naming the
//! issuance that key produced and a hash of the request it came with. The unique `_id` makes the
//! first reservation win, so concurrent duplicates can never both mint. A key is free again the
//! moment its `expires_at` passes (a reservation replaces an expired document); the TTL index on
//! `expires_at` only collects the garbage, whenever MongoDB's TTL monitor runs.
//!
//! The store does not interpret the values: the server derives `_id` from the caller and the key,
//! and the request hash from the canonical request.

use chrono::{DateTime, Utc};
use gatekey_core::issuance::IssuanceId;
use mongodb::bson::{self, doc};
use mongodb::{Collection, Database};
use serde::{Deserialize, Serialize};

use crate::error::is_duplicate_key;
use crate::time::{from_bson, to_bson};
use crate::{IDEMPOTENCY_KEYS, StoreError, metered};

#[derive(Debug, Serialize, Deserialize)]
struct IdempotencyDoc {
    #[serde(rename = "_id")]
    scope: String,
    request_hash: String,
    issuance_id: IssuanceId,
    created_at: bson::DateTime,
    expires_at: bson::DateTime,
}

/// What an idempotency key is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// The caller-scoped key (derived by the server).
    pub scope: String,
    /// Hash of the canonical request the key was first used with.
    pub request_hash: String,
    /// The issuance the key produced (or is producing).
    pub issuance_id: IssuanceId,
    /// When the current issuance attempt took the key.
    pub created_at: DateTime<Utc>,
}

/// The outcome of [`IdempotencyRepo::reserve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// The key was free; it now names the given issuance.
    Reserved,
    /// The key was taken before; here is what it names.
    Existing(IdempotencyRecord),
}

/// Reserves and reads idempotency keys. Obtained from [`crate::Store::idempotency_keys`].
#[derive(Debug, Clone)]
pub struct IdempotencyRepo {
    collection: Collection<IdempotencyDoc>,
}

impl IdempotencyRepo {
    pub(crate) fn new(db: &Database) -> Self {
        Self {
            collection: db.collection(IDEMPOTENCY_KEYS),
        }
    }

    /// Binds `scope` to `issuance_id` and `request_hash` unless it is bound already.
    pub async fn reserve(
        &self,
        scope: &str,
        request_hash: &str,
        issuance_id: IssuanceId,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Reservation, StoreError> {
        let doc = IdempotencyDoc {
            scope: scope.to_owned(),
            request_hash: request_hash.to_owned(),
            issuance_id,
            created_at: to_bson(now),
            expires_at: to_bson(expires_at),
        };
        match metered("insert", self.collection.insert_one(&doc)).await {
            Ok(_) => Ok(Reservation::Reserved),
            Err(err) if is_duplicate_key(&err) => {
                // Compare-and-set on expiry: of concurrent reservations of an expired key, one
                // replaces it and the others then see the new binding.
                let expired = doc! { "_id": scope, "expires_at": { "$lte": to_bson(now) } };
                let replaced =
                    metered("update", self.collection.replace_one(expired, &doc)).await?;
                if replaced.matched_count == 1 {
                    return Ok(Reservation::Reserved);
                }
                match self.get(scope).await? {
                    Some(existing) => Ok(Reservation::Existing(existing)),
                    // Removed by the TTL monitor between the insert and the read: the caller
                    // retries.
                    None => Err(StoreError::Mongo(err)),
                }
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Moves the key from an attempt that issued nothing (`failed`, or never recorded) to a new
    /// issuance. Compare-and-set on the old issuance id: of concurrent retries, one wins.
    pub async fn take_over(
        &self,
        scope: &str,
        from: IssuanceId,
        to: IssuanceId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = metered(
            "update",
            self.collection.update_one(
                doc! { "_id": scope, "issuance_id": from.to_string() },
                doc! { "$set": { "issuance_id": to.to_string(), "created_at": to_bson(now) } },
            ),
        )
        .await?;
        Ok(result.modified_count == 1)
    }

    /// Unbinds `scope` if it still names `issuance_id` (a request refused before minting).
    pub async fn release(&self, scope: &str, issuance_id: IssuanceId) -> Result<(), StoreError> {
        let bound = doc! { "_id": scope, "issuance_id": issuance_id.to_string() };
        metered("delete", self.collection.delete_one(bound)).await?;
        Ok(())
    }

    /// What `scope` is bound to, if anything.
    pub async fn get(&self, scope: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        let Some(doc) = metered("find", self.collection.find_one(doc! { "_id": scope })).await?
        else {
            return Ok(None);
        };
        let created_at = from_bson(doc.created_at).ok_or_else(|| StoreError::CorruptDocument {
            collection: IDEMPOTENCY_KEYS,
            id: doc.scope.clone(),
            detail: "created_at is out of range".to_owned(),
        })?;
        Ok(Some(IdempotencyRecord {
            scope: doc.scope,
            request_hash: doc.request_hash,
            issuance_id: doc.issuance_id,
            created_at,
        }))
    }
}
