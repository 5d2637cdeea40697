//! The `issuances` collection: one document per credential, moved through its lifecycle only by
//! conditional updates (`_id` and an allowed prior state), so the state machine of
//! [`IssuanceState::can_transition_to`] holds even with many replicas writing at once.

use chrono::{DateTime, SubsecRound as _, Utc};
use futures::TryStreamExt as _;
use gatekey_core::issuance::{FailureCode, Issuance, IssuanceId, IssuanceState, KongRef};
use gatekey_core::revocation::{RevocationFilter, RevocationJobId};
use mongodb::bson::{self, Bson, Document, doc, rawdoc};
use mongodb::options::ReturnDocument;
use mongodb::{Collection, Database};
use serde::{Deserialize, Serialize};

use crate::batch::{BatchInserter, BatchUpdater, Matched};
use crate::page::{self, Page, PageRequest};
use crate::time::{from_bson, to_bson};
use crate::{ISSUANCES, StoreError, metered};

/// The stored form of an [`Issuance`]: same field names, `_id` for the id, BSON dates.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct IssuanceDoc {
    #[serde(rename = "_id")]
    id: IssuanceId,
    subject: String,
    issuer: String,
    api_id: String,
    scopes: Vec<String>,
    acl_groups: Vec<String>,
    /// Absent in records of earlier versions, which read as no groups.
    #[serde(default)]
    caller_groups: Vec<String>,
    #[serde(default)]
    granting_groups: Vec<String>,
    purpose: Option<String>,
    ttl_seconds: u32,
    state: IssuanceState,
    issued_at: bson::DateTime,
    expires_at: bson::DateTime,
    kong: Option<KongRef>,
    key_fingerprint: Option<String>,
    /// A [`FailureCode`] name; kept as text so a code unknown to this version still reads.
    failure_code: Option<String>,
    /// The raw error text that records failed before failure codes stored; read, never written
    /// (it may name internal hosts), and shown as [`FailureCode::Unspecified`].
    #[serde(default, skip_serializing)]
    failure_reason: Option<String>,
    revoked_at: Option<bson::DateTime>,
    revoked_by: Option<String>,
    request_id: Option<String>,
    updated_at: bson::DateTime,
    /// When the reconciler deleted the consumer of this expired credential; `None` (or absent,
    /// in records of earlier versions) until then. Keeps handled expiries out of its query.
    #[serde(default)]
    reaped_at: Option<bson::DateTime>,
    /// The bulk revocation job that revoked this record, if one did: the job's count of done
    /// credentials, and its proof that nothing was revoked twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    revocation_job_id: Option<String>,
    /// The digest of the policy that granted it; absent in records of earlier versions.
    #[serde(default)]
    policy_revision: Option<String>,
}

impl From<&Issuance> for IssuanceDoc {
    fn from(issuance: &Issuance) -> Self {
        Self {
            id: issuance.id,
            subject: issuance.subject.clone(),
            issuer: issuance.issuer.clone(),
            api_id: issuance.api_id.clone(),
            scopes: issuance.scopes.clone(),
            acl_groups: issuance.acl_groups.clone(),
            caller_groups: issuance.caller_groups.clone(),
            granting_groups: issuance.granting_groups.clone(),
            purpose: issuance.purpose.clone(),
            ttl_seconds: issuance.ttl_seconds,
            state: issuance.state,
            issued_at: to_bson(issuance.issued_at),
            expires_at: to_bson(issuance.expires_at),
            kong: issuance.kong.clone(),
            key_fingerprint: issuance.key_fingerprint.clone(),
            failure_code: issuance.failure.map(|code| code.as_str().to_owned()),
            failure_reason: None,
            revoked_at: issuance.revoked_at.map(to_bson),
            revoked_by: issuance.revoked_by.clone(),
            request_id: issuance.request_id.clone(),
            updated_at: to_bson(issuance.updated_at),
            reaped_at: None,
            revocation_job_id: None,
            policy_revision: issuance.policy_revision.clone(),
        }
    }
}

impl TryFrom<IssuanceDoc> for Issuance {
    type Error = StoreError;

    fn try_from(doc: IssuanceDoc) -> Result<Self, StoreError> {
        let id = doc.id;
        let date = |at: bson::DateTime, field: &str| {
            from_bson(at).ok_or_else(|| StoreError::CorruptDocument {
                collection: ISSUANCES,
                id: id.to_string(),
                detail: format!("{field} {at} is out of range"),
            })
        };
        Ok(Self {
            id,
            subject: doc.subject,
            issuer: doc.issuer,
            api_id: doc.api_id,
            scopes: doc.scopes,
            acl_groups: doc.acl_groups,
            caller_groups: doc.caller_groups,
            granting_groups: doc.granting_groups,
            purpose: doc.purpose,
            ttl_seconds: doc.ttl_seconds,
            state: doc.state,
            issued_at: date(doc.issued_at, "issued_at")?,
            expires_at: date(doc.expires_at, "expires_at")?,
            kong: doc.kong,
            key_fingerprint: doc.key_fingerprint,
            failure: match (doc.failure_code, doc.failure_reason) {
                (Some(name), _) => {
                    Some(FailureCode::parse(&name).unwrap_or(FailureCode::Unspecified))
                }
                (None, Some(_)) => Some(FailureCode::Unspecified),
                (None, None) => None,
            },
            revoked_at: doc
                .revoked_at
                .map(|at| date(at, "revoked_at"))
                .transpose()?,
            revoked_by: doc.revoked_by,
            request_id: doc.request_id,
            updated_at: date(doc.updated_at, "updated_at")?,
            policy_revision: doc.policy_revision,
        })
    }
}

/// Which issuances to list; unset fields match everything, set ones combine with AND. A caller is
/// (issuer, subject): a subject alone matches that string at every issuer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IssuanceFilter {
    /// Issuer URL (the token's `iss`), as stored in each record.
    pub issuer: Option<String>,
    pub subject: Option<String>,
    pub api_id: Option<String>,
    pub state: Option<IssuanceState>,
}

impl IssuanceFilter {
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
        if let Some(state) = self.state {
            filter.insert("state", state.as_str());
        }
        filter
    }
}

/// The query of a revocation filter over records in `states`. `granting_groups` and
/// `policy_revision` are fields the mint records (records written before they existed match no
/// filter on them).
fn revocation_query(filter: &RevocationFilter, states: &[IssuanceState]) -> Document {
    let states: Vec<&str> = states.iter().map(|state| state.as_str()).collect();
    let mut query = doc! { "state": { "$in": states } };
    let texts = [
        ("issuer", &filter.issuer),
        ("subject", &filter.subject),
        ("api_id", &filter.api_id),
        ("scopes", &filter.scope),
        ("granting_groups", &filter.granting_group),
        ("policy_revision", &filter.policy_revision),
    ];
    for (field, value) in texts {
        if let Some(value) = value {
            // Equality on an array field matches an element, as `scopes` and `granting_groups`
            // need.
            query.insert(field, value.as_str());
        }
    }
    let mut issued_at = Document::new();
    if let Some(after) = filter.issued_after {
        issued_at.insert("$gte", to_bson(after));
    }
    if let Some(before) = filter.issued_before {
        issued_at.insert("$lt", to_bson(before));
    }
    if !issued_at.is_empty() {
        query.insert("issued_at", issued_at);
    }
    query
}

/// Reads and writes issuance records. Obtained from [`crate::Store::issuances`].
#[derive(Debug, Clone)]
pub struct IssuanceRepo {
    collection: Collection<IssuanceDoc>,
    inserts: BatchInserter<IssuanceDoc>,
    activations: BatchUpdater,
}

impl IssuanceRepo {
    pub(crate) fn new(
        db: &Database,
        inserts: BatchInserter<IssuanceDoc>,
        activations: BatchUpdater,
    ) -> Self {
        Self {
            collection: db.collection(ISSUANCES),
            inserts,
            activations,
        }
    }

    /// Records a new issuance (normally `pending`), with the records other requests insert at
    /// the same time ([`crate::batch`]). An existing id is [`StoreError::DuplicateId`].
    pub async fn insert_pending(&self, issuance: &Issuance) -> Result<(), StoreError> {
        self.inserts
            .insert(issuance.id.to_string(), IssuanceDoc::from(issuance))
            .await
    }

    /// `pending -> active`: the Kong side exists; records where it is and the key's fingerprint,
    /// and returns `pending` as it now reads. One conditional update with no document in the
    /// reply (the mint holds the record already), sent with the activations other mints make at
    /// the same time ([`crate::batch`]); when that batch's reply counts fewer matches than
    /// activations, each of them reads its record to learn whether it was the one.
    pub async fn mark_active(
        &self,
        pending: &Issuance,
        kong: KongRef,
        key_fingerprint: String,
        at: DateTime<Utc>,
    ) -> Result<Issuance, StoreError> {
        let at = at.trunc_subsecs(3);
        let kong_doc = rawdoc! {
            "consumer_id": kong.consumer_id.as_str(),
            "consumer_username": kong.consumer_username.as_str(),
            "credential_id": kong.credential_id.as_str(),
        };
        let activated = self
            .activations
            .update(
                pending.id.to_string(),
                rawdoc! { "_id": pending.id.to_string(), "state": IssuanceState::Pending.as_str() },
                rawdoc! { "$set": {
                    "state": IssuanceState::Active.as_str(),
                    "kong": kong_doc,
                    "key_fingerprint": key_fingerprint.as_str(),
                    "updated_at": to_bson(at),
                } },
            )
            .await?;
        if activated == Matched::Unknown {
            return self
                .already_activated(pending, &kong, &key_fingerprint)
                .await;
        }
        Ok(Issuance {
            state: IssuanceState::Active,
            kong: Some(kong),
            key_fingerprint: Some(key_fingerprint),
            updated_at: at,
            ..pending.clone()
        })
    }

    /// Why an activation matched no `pending` record, unless it is this very activation that
    /// already landed: the driver retries a write whose reply it lost (a connection broken after
    /// the server applied it), and a retry that the server does not recognise as one finds the
    /// record `active` already. Only the mint holding `pending` can have written this Kong
    /// credential and this key's fingerprint (of a secret nobody else has seen), so a record that
    /// carries both is that mint's activation, and is returned as it reads.
    async fn already_activated(
        &self,
        pending: &Issuance,
        kong: &KongRef,
        key_fingerprint: &str,
    ) -> Result<Issuance, StoreError> {
        match self.get(&pending.id).await? {
            Some(current)
                if current.state == IssuanceState::Active
                    && current.kong.as_ref() == Some(kong)
                    && current.key_fingerprint.as_deref() == Some(key_fingerprint) =>
            {
                Ok(current)
            }
            Some(current) => Err(StoreError::InvalidTransition {
                from: current.state,
                to: IssuanceState::Active,
            }),
            None => Err(StoreError::NotFound { id: pending.id }),
        }
    }

    /// `pending -> failed`, with the code of why the mint failed.
    pub async fn mark_failed(
        &self,
        id: &IssuanceId,
        failure: FailureCode,
        at: DateTime<Utc>,
    ) -> Result<Issuance, StoreError> {
        self.transition(
            id,
            IssuanceState::Failed,
            doc! { "failure_code": failure.as_str(), "updated_at": to_bson(at) },
        )
        .await
    }

    /// The rollback of the mint that owns the record: `pending -> failed`, which also refuses an
    /// activation still in flight, or `active -> failed` when that activation landed although
    /// the mint failed (MongoDB acknowledged it too late, so the key never reached anyone).
    /// Nothing else may move an `active` record to `failed`.
    pub async fn fail_mint(
        &self,
        id: &IssuanceId,
        failure: FailureCode,
        at: DateTime<Utc>,
    ) -> Result<Issuance, StoreError> {
        self.transition_from(
            id,
            &[IssuanceState::Pending, IssuanceState::Active],
            IssuanceState::Failed,
            doc! { "failure_code": failure.as_str(), "updated_at": to_bson(at) },
        )
        .await
    }

    /// `active -> revoked`, by the given subject.
    pub async fn mark_revoked(
        &self,
        id: &IssuanceId,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<Issuance, StoreError> {
        let at = to_bson(at);
        self.transition(
            id,
            IssuanceState::Revoked,
            doc! { "revoked_by": by, "revoked_at": at, "updated_at": at },
        )
        .await
    }

    /// `active -> revoked` by a bulk revocation job, on behalf of its operator `by`.
    pub async fn mark_revoked_by_job(
        &self,
        id: &IssuanceId,
        by: &str,
        job_id: &RevocationJobId,
        at: DateTime<Utc>,
    ) -> Result<Issuance, StoreError> {
        let at = to_bson(at);
        self.transition(
            id,
            IssuanceState::Revoked,
            doc! {
                "revoked_by": by,
                "revoked_at": at,
                "updated_at": at,
                "revocation_job_id": job_id.to_string(),
            },
        )
        .await
    }

    /// Records in `states` matching `filter` with an id above `after`, in id order (creation
    /// order), at most `limit`: a bulk revocation job's walk, a batch at a time.
    pub async fn list_matching_after(
        &self,
        filter: &RevocationFilter,
        states: &[IssuanceState],
        after: Option<&IssuanceId>,
        limit: u32,
    ) -> Result<Vec<Issuance>, StoreError> {
        let mut query = revocation_query(filter, states);
        if let Some(after) = after {
            query.insert("_id", doc! { "$gt": after.to_string() });
        }
        self.find_sorted(query, doc! { "_id": 1 }, i64::from(limit))
            .await
    }

    /// How many records in `states` match `filter`.
    pub async fn count_matching(
        &self,
        filter: &RevocationFilter,
        states: &[IssuanceState],
    ) -> Result<u64, StoreError> {
        Ok(self
            .collection
            .count_documents(revocation_query(filter, states))
            .await?)
    }

    /// How many records the job revoked.
    pub async fn count_revoked_by_job(&self, job_id: &RevocationJobId) -> Result<u64, StoreError> {
        Ok(self
            .collection
            .count_documents(doc! { "revocation_job_id": job_id.to_string() })
            .await?)
    }

    /// Moves the record to `to` in one atomic update guarded on a prior state that may move
    /// there, and returns the updated record. When the guard fails, nothing changes and the
    /// current state is reported as [`StoreError::InvalidTransition`] (or the record is missing).
    async fn transition(
        &self,
        id: &IssuanceId,
        to: IssuanceState,
        set: Document,
    ) -> Result<Issuance, StoreError> {
        let allowed_from: Vec<IssuanceState> = IssuanceState::ALL
            .into_iter()
            .filter(|from| from.can_transition_to(to))
            .collect();
        self.transition_from(id, &allowed_from, to, set).await
    }

    /// Moves the record to `to` in one atomic update guarded on `allowed_from`; see
    /// [`IssuanceRepo::transition`].
    async fn transition_from(
        &self,
        id: &IssuanceId,
        allowed_from: &[IssuanceState],
        to: IssuanceState,
        mut set: Document,
    ) -> Result<Issuance, StoreError> {
        let allowed_from: Vec<&str> = allowed_from.iter().map(|from| from.as_str()).collect();
        set.insert("state", to.as_str());
        let updated = metered(
            "findAndModify",
            self.collection
                .find_one_and_update(
                    doc! { "_id": id.to_string(), "state": { "$in": allowed_from } },
                    doc! { "$set": set },
                )
                .return_document(ReturnDocument::After),
        )
        .await?;
        match updated {
            Some(doc) => Issuance::try_from(doc),
            None => Err(self.refused(id, to).await),
        }
    }

    /// Why a transition to `to` matched no record: the state it is in, or that it is missing.
    async fn refused(&self, id: &IssuanceId, to: IssuanceState) -> StoreError {
        match self.get(id).await {
            Ok(Some(current)) => StoreError::InvalidTransition {
                from: current.state,
                to,
            },
            Ok(None) => StoreError::NotFound { id: *id },
            Err(err) => err,
        }
    }

    /// One record by id.
    pub async fn get(&self, id: &IssuanceId) -> Result<Option<Issuance>, StoreError> {
        metered(
            "find",
            self.collection.find_one(doc! { "_id": id.to_string() }),
        )
        .await?
        .map(Issuance::try_from)
        .transpose()
    }

    /// Records matching `filter`, newest first, one page at a time.
    pub async fn list(
        &self,
        filter: &IssuanceFilter,
        request: &PageRequest,
    ) -> Result<Page<Issuance>, StoreError> {
        page::fetch::<_, IssuanceId, _>(
            &self.collection,
            filter.to_document(),
            request,
            |issuance: &Issuance| issuance.id.to_string(),
            Issuance::try_from,
        )
        .await
    }

    /// `pending` records issued before `cutoff`, oldest first, at most `limit`: mints that never
    /// finished (a crash between the record and Kong), for the reconciler to resolve. Served by
    /// the `(state, expires_at)` index's `state` prefix.
    pub async fn list_pending_older_than(
        &self,
        cutoff: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Issuance>, StoreError> {
        self.reconciler_batch(
            doc! { "state": IssuanceState::Pending.as_str(), "issued_at": { "$lt": to_bson(cutoff) } },
            doc! { "issued_at": 1 },
            limit,
        )
        .await
    }

    /// `active` records whose lifetime is over at `now` (`expires_at <= now`, as in
    /// [`Issuance::is_expired`]) and whose consumer the reconciler has not deleted yet, earliest
    /// expiry first, at most `limit`. Served by the `(state, reaped_at, expires_at)` index, so
    /// the expiries already handled cost nothing however many there are.
    pub async fn list_expired_unreaped(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Issuance>, StoreError> {
        self.reconciler_batch(
            doc! {
                "state": IssuanceState::Active.as_str(),
                "reaped_at": Bson::Null,
                "expires_at": { "$lte": to_bson(now) },
            },
            doc! { "expires_at": 1 },
            limit,
        )
        .await
    }

    /// Notes that the consumers of these expired `active` records are gone, in one update. The
    /// records stay `active` (they show as expired). Returns how many it marked: fewer than
    /// `ids` when some are no longer `active` (revoked meanwhile).
    pub async fn mark_reaped(
        &self,
        ids: &[IssuanceId],
        at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let at = to_bson(at);
        let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let updated = metered(
            "update",
            self.collection.update_many(
                doc! { "_id": { "$in": ids }, "state": IssuanceState::Active.as_str() },
                doc! { "$set": { "reaped_at": at, "updated_at": at } },
            ),
        )
        .await?;
        Ok(updated.matched_count)
    }

    /// Live (`active`, unexpired at `now`) records with an id above `after`, in id order, at most
    /// `limit`: the reconciler walks them a batch per pass to find those whose consumer is gone.
    /// Served by the `(state, _id)` index.
    pub async fn list_live_after(
        &self,
        after: Option<&IssuanceId>,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Issuance>, StoreError> {
        let mut filter = doc! {
            "state": IssuanceState::Active.as_str(),
            "expires_at": { "$gt": to_bson(now) },
        };
        if let Some(after) = after {
            filter.insert("_id", doc! { "$gt": after.to_string() });
        }
        self.find_sorted(filter, doc! { "_id": 1 }, i64::from(limit))
            .await
    }

    /// The records with the given ids that exist, in no particular order.
    pub async fn get_many(&self, ids: &[IssuanceId]) -> Result<Vec<Issuance>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let read = async {
            self.collection
                .find(doc! { "_id": { "$in": ids } })
                .await?
                .map_err(StoreError::from)
                .and_then(|doc| async { Issuance::try_from(doc) })
                .try_collect()
                .await
        };
        metered("find", read).await
    }

    async fn find_sorted(
        &self,
        filter: Document,
        sort: Document,
        limit: i64,
    ) -> Result<Vec<Issuance>, StoreError> {
        let read = async {
            self.collection
                .find(filter)
                .sort(sort)
                .limit(limit)
                .await?
                .map_err(StoreError::from)
                .and_then(|doc| async { Issuance::try_from(doc) })
                .try_collect()
                .await
        };
        metered("find", read).await
    }

    /// How many credentials are usable at `now`: `active` and not yet expired (the
    /// `gatekey_active_credentials` gauge). Served by the `(state, expires_at)` index.
    pub async fn count_live(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let live = doc! {
            "state": IssuanceState::Active.as_str(),
            "expires_at": { "$gt": to_bson(now) },
        };
        Ok(metered("aggregate", self.collection.count_documents(live)).await?)
    }

    async fn reconciler_batch(
        &self,
        filter: Document,
        mut sort: Document,
        limit: u32,
    ) -> Result<Vec<Issuance>, StoreError> {
        // `_id` breaks ties, so batches come in a stable order.
        sort.insert("_id", 1);
        self.find_sorted(filter, sort, i64::from(limit)).await
    }
}
