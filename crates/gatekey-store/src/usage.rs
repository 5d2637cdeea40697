//! The `usage_entries` and `usage_summaries` collections: each call made with a minted key, as
//! the gateway logged it, and per credential its counters.
//!
//! ```text
//! usage_entries   { _id: <entry id>, issuance_id, at, method, route, service, path, status,
//!                   latencies: { request_ms, upstream_ms, gateway_ms }, client_ip }
//!                   TTL on `at` (usage retention)
//! usage_summaries { _id: <issuance id>, calls, success, redirect, client_error, server_error,
//!                   first_used_at, last_used_at, expires_at }
//!                   TTL on `expires_at` (the issuance retention, like the record it counts for)
//! ```
//!
//! Recording a batch is one unordered `insert_many` of its entries, whose `_id` is derived from
//! the call ([`gatekey_core::usage::entry_id`]): an entry posted again (the gateway retries a
//! batch it could not deliver) collides with its own `_id` and is skipped. Only the entries that
//! were new move the counters, with one upserting `$inc`/`$min`/`$max` statement per credential of
//! the batch, all in one unordered `update` command: two round trips per batch whatever the number
//! of credentials in it, no read, no scan. (The `update` command has taken many statements since
//! MongoDB 2.6, whereas the driver's bulk API sends MongoDB 8.0's `bulkWrite`; the driver has no
//! other way to send several statements, so the command is sent as it is, with the client's write
//! concern.) If MongoDB fails between the two writes, the counters of that batch stay short (the
//! entries themselves are complete); the failure answers the gateway with an error, so the batch
//! comes again, and its entries are then duplicates.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use futures::TryStreamExt as _;
use gatekey_core::issuance::IssuanceId;
use gatekey_core::usage::{Latencies, UsageEntry, UsageSummary};
use mongodb::bson::{self, Bson, Document, doc};
use mongodb::error::ErrorKind;
use mongodb::options::InsertManyOptions;
use mongodb::{Collection, Database};
use serde::{Deserialize, Serialize};

use crate::time::{from_bson, to_bson};
use crate::update_command::send_update;
use crate::{StoreError, USAGE_ENTRIES, USAGE_SUMMARIES, metered};

/// Server error code of a unique index violation.
const DUPLICATE_KEY: i32 = 11_000;

#[derive(Debug, Serialize, Deserialize)]
struct EntryDoc {
    #[serde(rename = "_id")]
    id: String,
    issuance_id: IssuanceId,
    at: bson::DateTime,
    method: String,
    route: Option<String>,
    service: Option<String>,
    path: String,
    status: u16,
    latencies: Latencies,
    client_ip: Option<String>,
}

impl From<&UsageEntry> for EntryDoc {
    fn from(entry: &UsageEntry) -> Self {
        Self {
            id: entry.id.clone(),
            issuance_id: entry.issuance_id,
            at: to_bson(entry.at),
            method: entry.method.clone(),
            route: entry.route.clone(),
            service: entry.service.clone(),
            path: entry.path.clone(),
            status: entry.status,
            latencies: entry.latencies,
            client_ip: entry.client_ip.clone(),
        }
    }
}

impl TryFrom<EntryDoc> for UsageEntry {
    type Error = StoreError;

    fn try_from(doc: EntryDoc) -> Result<Self, StoreError> {
        Ok(Self {
            at: from_bson(doc.at).ok_or_else(|| StoreError::CorruptDocument {
                collection: USAGE_ENTRIES,
                id: doc.id.clone(),
                detail: format!("at {} is out of range", doc.at),
            })?,
            id: doc.id,
            issuance_id: doc.issuance_id,
            method: doc.method,
            route: doc.route,
            service: doc.service,
            path: doc.path,
            status: doc.status,
            latencies: doc.latencies,
            client_ip: doc.client_ip,
        })
    }
}

#[derive(Debug, Deserialize)]
struct SummaryDoc {
    #[serde(rename = "_id")]
    id: IssuanceId,
    #[serde(default)]
    calls: i64,
    #[serde(default)]
    success: i64,
    #[serde(default)]
    redirect: i64,
    #[serde(default)]
    client_error: i64,
    #[serde(default)]
    server_error: i64,
    first_used_at: Option<bson::DateTime>,
    last_used_at: Option<bson::DateTime>,
}

impl From<SummaryDoc> for UsageSummary {
    fn from(doc: SummaryDoc) -> Self {
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        Self {
            calls: count(doc.calls),
            success: count(doc.success),
            redirect: count(doc.redirect),
            client_error: count(doc.client_error),
            server_error: count(doc.server_error),
            first_used_at: doc.first_used_at.and_then(from_bson),
            last_used_at: doc.last_used_at.and_then(from_bson),
        }
    }
}

/// What recording a batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recorded {
    /// Entries stored and counted now.
    pub stored: usize,
    /// Entries already stored (posted before); not counted again.
    pub duplicates: usize,
}

/// Usage entries and counters. Obtained from [`crate::Store::usage`].
#[derive(Debug, Clone)]
pub struct UsageRepo {
    db: Database,
    entries: Collection<EntryDoc>,
    summaries: Collection<SummaryDoc>,
}

impl UsageRepo {
    pub(crate) fn new(db: &Database) -> Self {
        Self {
            db: db.clone(),
            entries: db.collection(USAGE_ENTRIES),
            summaries: db.collection(USAGE_SUMMARIES),
        }
    }

    /// Stores the entries not stored before and adds them to their credentials' counters.
    /// `expiries` gives each credential's expiry (its summary is kept as long as its record).
    pub async fn record(
        &self,
        entries: &[UsageEntry],
        expiries: &HashMap<IssuanceId, DateTime<Utc>>,
    ) -> Result<Recorded, StoreError> {
        if entries.is_empty() {
            return Ok(Recorded::default());
        }
        let duplicates = self.insert_new(entries).await?;
        let mut fresh: HashMap<IssuanceId, Vec<&UsageEntry>> = HashMap::new();
        for (index, entry) in entries.iter().enumerate() {
            if !duplicates.contains(&index) {
                fresh.entry(entry.issuance_id).or_default().push(entry);
            }
        }
        let counted: Vec<(IssuanceId, UsageSummary)> = fresh
            .into_iter()
            .map(|(id, entries)| (id, UsageSummary::of(entries)))
            .collect();
        self.add_to_summaries(&counted, expiries).await?;
        Ok(Recorded {
            stored: entries.len() - duplicates.len(),
            duplicates: duplicates.len(),
        })
    }

    /// Inserts every entry it can; returns the positions of those whose id was already stored.
    async fn insert_new(&self, entries: &[UsageEntry]) -> Result<HashSet<usize>, StoreError> {
        let docs = entries.iter().map(EntryDoc::from);
        let unordered = InsertManyOptions::builder().ordered(false).build();
        let inserted = metered(
            "insert",
            self.entries.insert_many(docs).with_options(unordered),
        );
        let Err(err) = inserted.await else {
            return Ok(HashSet::new());
        };
        let ErrorKind::InsertMany(failure) = err.kind.as_ref() else {
            return Err(err.into());
        };
        if failure.write_concern_error.is_some() {
            return Err(err.into());
        }
        let write_errors = failure.write_errors.as_deref().unwrap_or_default();
        if write_errors.iter().any(|e| e.code != DUPLICATE_KEY) {
            return Err(err.into());
        }
        Ok(write_errors.iter().map(|e| e.index).collect())
    }

    /// Adds each credential's new calls to its counters, creating the counters of a credential
    /// used for the first time: one `update` command, one statement per credential.
    async fn add_to_summaries(
        &self,
        counted: &[(IssuanceId, UsageSummary)],
        expiries: &HashMap<IssuanceId, DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        if counted.is_empty() {
            return Ok(());
        }
        let statements = counted
            .iter()
            .map(|(id, added)| {
                bson::to_raw_document_buf(&doc! {
                    "q": { "_id": id.to_string() },
                    "u": summary_update(added, expiries.get(id).copied()),
                    "upsert": true,
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(mongodb::error::Error::from)?;
        let reply = send_update(&self.db, USAGE_SUMMARIES, statements).await?;
        if let Some(refused) = reply.write_errors.first() {
            let id = counted
                .get(refused.index)
                .map(|(id, _)| id.to_string())
                .unwrap_or_default();
            return Err(StoreError::WriteRefused {
                collection: USAGE_SUMMARIES,
                id,
                code: refused.code,
                message: refused.message.clone(),
            });
        }
        if let Some(concern) = reply.write_concern_error {
            return Err(StoreError::WriteConcernFailed {
                collection: USAGE_SUMMARIES,
                code: concern.code,
                message: concern.message,
            });
        }
        Ok(())
    }

    /// The counters of one credential; the zero summary when it was never used.
    pub async fn summary(&self, id: &IssuanceId) -> Result<UsageSummary, StoreError> {
        Ok(metered(
            "find",
            self.summaries.find_one(doc! { "_id": id.to_string() }),
        )
        .await?
        .map(UsageSummary::from)
        .unwrap_or_default())
    }

    /// The counters of the credentials among `ids` that were used, in one query.
    pub async fn summaries(
        &self,
        ids: &[IssuanceId],
    ) -> Result<HashMap<IssuanceId, UsageSummary>, StoreError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let ids: Vec<Bson> = ids.iter().map(|id| Bson::String(id.to_string())).collect();
        let read = async {
            self.summaries
                .find(doc! { "_id": { "$in": ids } })
                .await?
                .map_err(StoreError::from)
                .map_ok(|doc| (doc.id, UsageSummary::from(doc)))
                .try_collect()
                .await
        };
        metered("find", read).await
    }

    /// The latest `limit` calls of one credential, newest first (within the retention).
    pub async fn recent(&self, id: &IssuanceId, limit: u32) -> Result<Vec<UsageEntry>, StoreError> {
        let read = async {
            self.entries
                .find(doc! { "issuance_id": id.to_string() })
                .sort(doc! { "at": -1, "_id": -1 })
                .limit(i64::from(limit))
                .await?
                .map_err(StoreError::from)
                .and_then(|doc| async { UsageEntry::try_from(doc) })
                .try_collect()
                .await
        };
        metered("find", read).await
    }
}

/// `$inc` the counters by `added`, move the first and last use, and keep the counters as long as
/// the credential's record (`expires_at`, the TTL index's field).
fn summary_update(added: &UsageSummary, expires_at: Option<DateTime<Utc>>) -> Document {
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let mut update = doc! {
        "$inc": {
            "calls": count(added.calls),
            "success": count(added.success),
            "redirect": count(added.redirect),
            "client_error": count(added.client_error),
            "server_error": count(added.server_error),
        },
    };
    if let Some(first) = added.first_used_at {
        update.insert("$min", doc! { "first_used_at": to_bson(first) });
    }
    if let Some(last) = added.last_used_at {
        update.insert("$max", doc! { "last_used_at": to_bson(last) });
    }
    if let Some(expires_at) = expires_at {
        update.insert("$set", doc! { "expires_at": to_bson(expires_at) });
    }
    update
}
