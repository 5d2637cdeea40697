//! The `leases` collection: named leases with a holder and an expiry, so exactly one replica runs
//! a singleton job (the reconciler) at a time. Taking or renewing a lease is one conditional
//! upsert: it matches only when the caller already holds the lease or the lease has expired, and
//! a concurrent taker loses on the unique `_id`. A holder that dies simply stops renewing; another
//! replica takes over once the expiry passes.
//!
//! Expiry is compared against the callers' clocks, so replicas' clocks must agree to well within
//! the lease duration (NTP is enough for leases of tens of seconds).

use chrono::{DateTime, Utc};
use mongodb::bson::{self, doc};
use mongodb::options::ReturnDocument;
use mongodb::{Collection, Database};
use serde::{Deserialize, Serialize};

use crate::error::is_duplicate_key;
use crate::time::{from_bson, to_bson};
use crate::{LEASES, StoreError};

#[derive(Debug, Serialize, Deserialize)]
struct LeaseDoc {
    #[serde(rename = "_id")]
    name: String,
    holder: String,
    expires_at: bson::DateTime,
    acquired_at: bson::DateTime,
}

/// Who holds a lease, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub name: String,
    pub holder: String,
    pub expires_at: DateTime<Utc>,
}

/// Takes, renews, releases and reads leases. Obtained from [`crate::Store::leases`].
#[derive(Debug, Clone)]
pub struct LeaseRepo {
    collection: Collection<LeaseDoc>,
}

impl LeaseRepo {
    pub(crate) fn new(db: &Database) -> Self {
        Self {
            collection: db.collection(LEASES),
        }
    }

    /// Takes the lease `name` for `holder` until `until`, or renews it when `holder` already
    /// has it. Returns whether `holder` now holds it; `false` means another holder's lease has
    /// not expired at `now`.
    pub async fn try_acquire(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let filter = doc! {
            "_id": name,
            "$or": [ { "holder": holder }, { "expires_at": { "$lte": to_bson(now) } } ],
        };
        let update = doc! {
            "$set": { "holder": holder, "expires_at": to_bson(until) },
            "$setOnInsert": { "acquired_at": to_bson(now) },
        };
        let result = self
            .collection
            .find_one_and_update(filter, update)
            .upsert(true)
            .return_document(ReturnDocument::After)
            .await;
        match result {
            Ok(Some(lease)) => Ok(lease.holder == holder),
            Ok(None) => Ok(false),
            // The filter missed (someone else holds a live lease) and the upsert hit the `_id`.
            Err(err) if is_duplicate_key(&err) => Ok(false),
            Err(err) => Err(err.into()),
        }
    }

    /// Gives the lease up at once (on shutdown), so another replica need not wait for expiry.
    /// Does nothing when `holder` does not hold it.
    pub async fn release(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.collection
            .update_one(
                doc! { "_id": name, "holder": holder },
                doc! { "$set": { "expires_at": to_bson(now) } },
            )
            .await?;
        Ok(())
    }

    /// The lease's current document, expired or not.
    pub async fn get(&self, name: &str) -> Result<Option<Lease>, StoreError> {
        let Some(doc) = self.collection.find_one(doc! { "_id": name }).await? else {
            return Ok(None);
        };
        let expires_at = from_bson(doc.expires_at).ok_or_else(|| StoreError::CorruptDocument {
            collection: LEASES,
            id: doc.name.clone(),
            detail: "expires_at is out of range".to_owned(),
        })?;
        Ok(Some(Lease {
            name: doc.name,
            holder: doc.holder,
            expires_at,
        }))
    }
}
