//! The `audit_events` collection: append-only. Events are inserted and read; the only update is
//! the count of a summary event (denials beyond the audit budget of a window), which only grows.
//! Events leave only through the optional retention TTL index on `at`.

use chrono::{DateTime, Utc};
use futures::TryStreamExt as _;
use gatekey_core::audit::{AuditAction, AuditEvent, AuditEventId, Decision};
use gatekey_core::issuance::IssuanceId;
use mongodb::bson::{self, Document, doc};
use mongodb::{Collection, Database};
use serde::{Deserialize, Serialize};

use crate::batch::BatchInserter;
use crate::error::is_duplicate_key;
use crate::page::{self, Page, PageRequest};
use crate::time::{from_bson, to_bson};
use crate::{AUDIT_EVENTS, StoreError, metered};

/// Most events [`AuditRepo::history`] returns for one issuance.
const HISTORY_LIMIT: i64 = 1_000;

/// The stored form of an [`AuditEvent`]: same field names, `_id` for the id, `at` a BSON date.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct AuditDoc {
    #[serde(rename = "_id")]
    id: AuditEventId,
    at: bson::DateTime,
    action: AuditAction,
    decision: Decision,
    reason: String,
    detail: Option<String>,
    subject: Option<String>,
    issuer: Option<String>,
    api_id: Option<String>,
    issuance_id: Option<IssuanceId>,
    scopes: Vec<String>,
    request_id: Option<String>,
    client_addr: Option<String>,
    /// Absent in documents written before summaries existed.
    #[serde(default = "one")]
    count: i64,
    /// Absent in documents written before bulk revocation existed, as are the owner fields.
    #[serde(default)]
    job_id: Option<String>,
    #[serde(default)]
    owner_issuer: Option<String>,
    #[serde(default)]
    owner_subject: Option<String>,
    /// The digest of the policy in force; absent in events of earlier versions.
    #[serde(default)]
    policy_revision: Option<String>,
}

fn one() -> i64 {
    1
}

impl From<&AuditEvent> for AuditDoc {
    fn from(event: &AuditEvent) -> Self {
        Self {
            id: event.id,
            at: to_bson(event.at),
            action: event.action,
            decision: event.decision,
            reason: event.reason.clone(),
            detail: event.detail.clone(),
            subject: event.subject.clone(),
            issuer: event.issuer.clone(),
            api_id: event.api_id.clone(),
            issuance_id: event.issuance_id,
            scopes: event.scopes.clone(),
            request_id: event.request_id.clone(),
            client_addr: event.client_addr.clone(),
            count: i64::try_from(event.count).unwrap_or(i64::MAX),
            job_id: event.job_id.clone(),
            owner_issuer: event.owner_issuer.clone(),
            owner_subject: event.owner_subject.clone(),
            policy_revision: event.policy_revision.clone(),
        }
    }
}

impl TryFrom<AuditDoc> for AuditEvent {
    type Error = StoreError;

    fn try_from(doc: AuditDoc) -> Result<Self, StoreError> {
        let at = from_bson(doc.at).ok_or_else(|| StoreError::CorruptDocument {
            collection: AUDIT_EVENTS,
            id: doc.id.to_string(),
            detail: format!("at {} is out of range", doc.at),
        })?;
        Ok(Self {
            id: doc.id,
            at,
            action: doc.action,
            decision: doc.decision,
            reason: doc.reason,
            detail: doc.detail,
            subject: doc.subject,
            issuer: doc.issuer,
            api_id: doc.api_id,
            issuance_id: doc.issuance_id,
            scopes: doc.scopes,
            request_id: doc.request_id,
            client_addr: doc.client_addr,
            count: u64::try_from(doc.count).unwrap_or_default(),
            job_id: doc.job_id,
            owner_issuer: doc.owner_issuer,
            owner_subject: doc.owner_subject,
            policy_revision: doc.policy_revision,
        })
    }
}

/// Which events to return; unset fields match everything, set ones combine with AND. A caller is
/// (issuer, subject): a subject alone matches that string at every issuer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Issuer URL (the token's `iss`), as stored in each event.
    pub issuer: Option<String>,
    pub subject: Option<String>,
    pub api_id: Option<String>,
    pub issuance_id: Option<IssuanceId>,
    pub decision: Option<Decision>,
    pub action: Option<AuditAction>,
    /// Events at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Events strictly before this instant.
    pub to: Option<DateTime<Utc>>,
    /// Events of one bulk revocation job.
    pub job_id: Option<String>,
    /// Events about someone's credentials acted on by another (see [`AuditEvent::owner_subject`]).
    pub owner_issuer: Option<String>,
    pub owner_subject: Option<String>,
}

impl AuditFilter {
    fn to_document(&self) -> Document {
        let mut filter = Document::new();
        if let Some(issuer) = &self.issuer {
            filter.insert("issuer", issuer);
        }
        if let Some(subject) = &self.subject {
            filter.insert("subject", subject);
        }
        if let Some(api_id) = &self.api_id {
            filter.insert("api_id", api_id);
        }
        if let Some(issuance_id) = self.issuance_id {
            filter.insert("issuance_id", issuance_id.to_string());
        }
        if let Some(decision) = self.decision {
            filter.insert("decision", decision.as_str());
        }
        if let Some(action) = self.action {
            filter.insert("action", action.as_str());
        }
        if let Some(job_id) = &self.job_id {
            filter.insert("job_id", job_id);
        }
        if let Some(owner_issuer) = &self.owner_issuer {
            filter.insert("owner_issuer", owner_issuer);
        }
        if let Some(owner_subject) = &self.owner_subject {
            filter.insert("owner_subject", owner_subject);
        }
        let mut at = Document::new();
        if let Some(from) = self.from {
            at.insert("$gte", to_bson(from));
        }
        if let Some(to) = self.to {
            at.insert("$lt", to_bson(to));
        }
        if !at.is_empty() {
            filter.insert("at", at);
        }
        filter
    }
}

/// Appends and reads audit events. Obtained from [`crate::Store::audit`].
#[derive(Debug, Clone)]
pub struct AuditRepo {
    collection: Collection<AuditDoc>,
    appends: BatchInserter<AuditDoc>,
}

impl AuditRepo {
    pub(crate) fn new(db: &Database, appends: BatchInserter<AuditDoc>) -> Self {
        Self {
            collection: db.collection(AUDIT_EVENTS),
            appends,
        }
    }

    /// Appends one event (write concern `majority`), with the events other requests append at
    /// the same time ([`crate::batch`]). An existing id is [`StoreError::DuplicateId`].
    pub async fn append(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.appends
            .insert(event.id.to_string(), AuditDoc::from(event))
            .await
    }

    /// Appends `event` unless an event with its id exists: for events whose id is derived from
    /// what they record, so that a replica resuming another's work records each fact once.
    pub async fn append_once(&self, event: &AuditEvent) -> Result<(), StoreError> {
        match self.append(event).await {
            Err(StoreError::DuplicateId { .. }) => Ok(()),
            result => result,
        }
    }

    /// Adds one to the count of the summary event `summary.id`, creating it from `summary` with a
    /// count of 1 if it does not exist yet. One atomic upsert, so replicas counting into the same
    /// summary (same derived id) lose no count.
    pub async fn count_in_summary(&self, summary: &AuditEvent) -> Result<(), StoreError> {
        let corrupt = |detail: String| StoreError::CorruptDocument {
            collection: AUDIT_EVENTS,
            id: summary.id.to_string(),
            detail,
        };
        let mut fields = bson::to_document(&AuditDoc::from(summary))
            .map_err(|e| corrupt(format!("cannot encode the summary: {e}")))?;
        fields.remove("_id");
        fields.remove("count");
        let update = doc! { "$setOnInsert": fields, "$inc": { "count": 1_i64 } };
        let filter = doc! { "_id": summary.id.to_string() };
        let upsert = || {
            metered(
                "update",
                self.collection
                    .update_one(filter.clone(), update.clone())
                    .upsert(true),
            )
        };
        match upsert().await {
            // Two first counts raced to insert; the loser's retry finds the document.
            Err(err) if is_duplicate_key(&err) => upsert().await.map(drop)?,
            result => result.map(drop)?,
        }
        Ok(())
    }

    /// Events matching `filter`, newest first (by id), one page at a time.
    pub async fn query(
        &self,
        filter: &AuditFilter,
        request: &PageRequest,
    ) -> Result<Page<AuditEvent>, StoreError> {
        page::fetch::<_, AuditEventId, _>(
            &self.collection,
            filter.to_document(),
            request,
            |event: &AuditEvent| event.id.to_string(),
            AuditEvent::try_from,
        )
        .await
    }

    /// The whole story of one credential, oldest first (by `at`, then id): the decision, the
    /// issue or failure, reads, the revocation or expiry. At most 1000 events.
    pub async fn history(&self, issuance_id: &IssuanceId) -> Result<Vec<AuditEvent>, StoreError> {
        let read = async {
            self.collection
                .find(doc! { "issuance_id": issuance_id.to_string() })
                .sort(doc! { "at": 1, "_id": 1 })
                .limit(HISTORY_LIMIT)
                .await?
                .map_err(StoreError::from)
                .and_then(|doc| async { AuditEvent::try_from(doc) })
                .try_collect()
                .await
        };
        metered("find", read).await
    }
}
