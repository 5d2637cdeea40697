//! The `leases` collection: named leases with a holder and an expiry, so exactly one replica runs
//! a singleton job (the reconciler) at a time. Taking or renewing a lease is one conditional
//! upsert: it matches only when the caller already holds the lease or the lease has expired, and
//! a concurrent taker loses on the unique `_id`. A holder that dies simply stops renewing; another
//! replica takes over once the expiry passes.
//!
//! Every time in a lease is MongoDB's: the comparison and the new expiry are computed by the
//! server from `$$NOW` in an aggregation-pipeline update, never from a replica's clock, so a
//! replica whose clock runs ahead cannot take a lease that has not expired, and one whose clock
//! runs behind cannot keep one that has.

use std::time::Duration;

use chrono::{DateTime, Utc};
use mongodb::bson::{self, Bson, doc};
use mongodb::options::ReturnDocument;
use mongodb::{Collection, Database};
use serde::{Deserialize, Serialize};

use crate::error::is_duplicate_key;
use crate::time::from_bson;
use crate::{LEASES, StoreError, metered};

#[derive(Debug, Serialize, Deserialize)]
struct LeaseDoc {
    #[serde(rename = "_id")]
    name: String,
    holder: String,
    expires_at: bson::DateTime,
    acquired_at: bson::DateTime,
    /// MongoDB's time of the last take or renewal.
    renewed_at: Option<bson::DateTime>,
}

/// Who holds a lease, and until when (MongoDB's clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub name: String,
    pub holder: String,
    pub expires_at: DateTime<Utc>,
    /// When the current holder took it (it keeps this across renewals).
    pub acquired_at: DateTime<Utc>,
    /// MongoDB's time at the last take or renewal: "now" as the database saw it.
    pub renewed_at: Option<DateTime<Utc>>,
}

impl TryFrom<LeaseDoc> for Lease {
    type Error = StoreError;

    fn try_from(doc: LeaseDoc) -> Result<Self, StoreError> {
        let date = |at: bson::DateTime| {
            from_bson(at).ok_or_else(|| StoreError::CorruptDocument {
                collection: LEASES,
                id: doc.name.clone(),
                detail: format!("date {at} is out of range"),
            })
        };
        Ok(Self {
            expires_at: date(doc.expires_at)?,
            acquired_at: date(doc.acquired_at)?,
            renewed_at: doc.renewed_at.map(date).transpose()?,
            name: doc.name,
            holder: doc.holder,
        })
    }
}

/// Takes, renews, releases and reads leases. Obtained from [`crate::Store::leases`].
#[derive(Debug, Clone)]
pub struct LeaseRepo {
    collection: Collection<LeaseDoc>,
}

/// A duration as whole milliseconds for `$add` to a date, saturating.
fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl LeaseRepo {
    pub(crate) fn new(db: &Database) -> Self {
        Self {
            collection: db.collection(LEASES),
        }
    }

    /// Takes the lease `name` for `holder` for `duration` from MongoDB's now, or renews it when
    /// `holder` already has it. Returns the lease when `holder` now holds it; `None` means
    /// another holder's lease has not expired by MongoDB's clock.
    pub async fn try_acquire(
        &self,
        name: &str,
        holder: &str,
        duration: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        let holder_literal = doc! { "$literal": holder };
        // Dates compared as milliseconds since the epoch (`$toLong`): the same on MongoDB, and
        // SecantusDB (the test server) compares a stored date with `$$NOW` wrongly otherwise.
        let filter = doc! {
            "_id": name,
            "$expr": { "$or": [
                { "$eq": ["$holder", holder_literal.clone()] },
                { "$lte": [{ "$toLong": "$expires_at" }, { "$toLong": "$$NOW" }] },
            ] },
        };
        // A pipeline update, so `$$NOW` is the server's clock; `acquired_at` moves only when the
        // holder changes.
        let update = vec![doc! { "$set": {
            "acquired_at": { "$cond": [
                { "$eq": ["$holder", holder_literal.clone()] },
                "$acquired_at",
                "$$NOW",
            ] },
            "holder": holder_literal,
            "expires_at": { "$add": ["$$NOW", Bson::Int64(millis(duration))] },
            "renewed_at": "$$NOW",
        } }];
        let result = metered(
            "findAndModify",
            self.collection
                .find_one_and_update(filter, update)
                .upsert(true)
                .return_document(ReturnDocument::After),
        )
        .await;
        match result {
            Ok(Some(lease)) if lease.holder == holder => Ok(Some(Lease::try_from(lease)?)),
            Ok(_) => Ok(None),
            // The filter missed (someone else holds a live lease) and the upsert hit the `_id`.
            Err(err) if is_duplicate_key(&err) => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    /// Gives the lease up at once (on shutdown), so another replica need not wait for expiry.
    /// Does nothing when `holder` does not hold it.
    pub async fn release(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        metered(
            "update",
            self.collection.update_one(
                doc! { "_id": name, "holder": holder },
                vec![doc! { "$set": { "expires_at": "$$NOW" } }],
            ),
        )
        .await?;
        Ok(())
    }

    /// The lease's current document, expired or not.
    pub async fn get(&self, name: &str) -> Result<Option<Lease>, StoreError> {
        metered("find", self.collection.find_one(doc! { "_id": name }))
            .await?
            .map(Lease::try_from)
            .transpose()
    }
}
