//! Index setup, run at every startup. Every index has an explicit name, so a changed definition
//! is detected by name rather than silently duplicated. Retention TTLs follow the configuration:
//! a changed retention is applied in place (`collMod`), an unset audit retention drops its index.
//! An index whose keys change gets a new name; the old name is listed as obsolete and dropped
//! after the new index is built.

use std::time::Duration;

use futures::TryStreamExt as _;
use mongodb::bson::{Bson, Document, doc};
use mongodb::options::IndexOptions;
use mongodb::{Collection, Database, IndexModel};

use crate::error::command_code;
use crate::{
    AUDIT_EVENTS, IDEMPOTENCY_KEYS, ISSUANCES, LIMIT_COUNTERS, REVOCATION_FAILURES,
    REVOCATION_JOBS, StoreError, USAGE_ENTRIES, USAGE_SUMMARIES,
};

/// Server error codes of `createIndexes` refusing an index that clashes with an existing one.
const INDEX_OPTIONS_CONFLICT: i32 = 85;
const INDEX_KEY_SPECS_CONFLICT: i32 = 86;
/// `listIndexes` on a collection that does not exist yet.
const NAMESPACE_NOT_FOUND: i32 = 26;
/// `dropIndexes` of an index another replica dropped first.
const INDEX_NOT_FOUND: i32 = 27;

/// Name of the retention index of `audit_events`, present only while a retention is configured.
const AUDIT_TTL: &str = "audit_events_at_ttl";

/// Indexes of earlier versions keyed by `subject` alone. An identity is (issuer, subject), so
/// their replacements lead with `issuer` under new names: a database created by an earlier
/// version gets the new index built first, then the old one dropped, and no index name ever
/// changes its keys (which `createIndexes` would refuse as a conflict).
const SUBJECT_ONLY_ISSUANCES: &str = "issuances_subject_issued_at";
const SUBJECT_ONLY_AUDIT: &str = "audit_events_subject_at";

/// One index Gatekey needs.
struct IndexSpec {
    name: &'static str,
    keys: Document,
    /// `expireAfterSeconds` of a TTL index.
    ttl_secs: Option<u32>,
}

impl IndexSpec {
    fn new(name: &'static str, keys: Document) -> Self {
        Self {
            name,
            keys,
            ttl_secs: None,
        }
    }

    fn ttl(name: &'static str, field: &str, secs: u32) -> Self {
        Self {
            name,
            keys: doc! { field: 1 },
            ttl_secs: Some(secs),
        }
    }

    fn model(&self) -> IndexModel {
        IndexModel::builder()
            .keys(self.keys.clone())
            .options(
                IndexOptions::builder()
                    .name(self.name.to_owned())
                    .expire_after(self.ttl_secs.map(|secs| Duration::from_secs(secs.into())))
                    .build(),
            )
            .build()
    }
}

/// Creates or updates the indexes of every collection (`leases` needs only its `_id`).
pub(crate) async fn ensure(
    db: &Database,
    issuance_ttl_secs: u32,
    audit_ttl_secs: Option<u32>,
    usage_ttl_secs: u32,
) -> Result<(), StoreError> {
    let issuances = [
        IndexSpec::new(
            "issuances_issuer_subject_issued_at",
            doc! { "issuer": 1, "subject": 1, "issued_at": 1 },
        ),
        IndexSpec::new(
            "issuances_api_id_issued_at",
            doc! { "api_id": 1, "issued_at": 1 },
        ),
        IndexSpec::new(
            "issuances_state_expires_at",
            doc! { "state": 1, "expires_at": 1 },
        ),
        // The reconciler's expiry query: equality on state and on a null `reaped_at`, range on
        // `expires_at`, so expiries already handled are never scanned.
        IndexSpec::new(
            "issuances_state_reaped_at_expires_at",
            doc! { "state": 1, "reaped_at": 1, "expires_at": 1 },
        ),
        // The reconciler's walk over live records, a batch per pass from where it stopped.
        IndexSpec::new("issuances_state_id", doc! { "state": 1, "_id": 1 }),
        // A bulk revocation job's count of the records it revoked.
        IndexSpec::new(
            "issuances_revocation_job_id",
            doc! { "revocation_job_id": 1 },
        ),
        IndexSpec::ttl("issuances_expires_at_ttl", "expires_at", issuance_ttl_secs),
    ];
    ensure_collection(db, ISSUANCES, &issuances, &[SUBJECT_ONLY_ISSUANCES]).await?;

    let mut audit = vec![
        IndexSpec::new(
            "audit_events_issuer_subject_at",
            doc! { "issuer": 1, "subject": 1, "at": 1 },
        ),
        IndexSpec::new("audit_events_api_id_at", doc! { "api_id": 1, "at": 1 }),
        IndexSpec::new(
            "audit_events_issuance_id_at",
            doc! { "issuance_id": 1, "at": 1 },
        ),
        IndexSpec::new("audit_events_decision_at", doc! { "decision": 1, "at": 1 }),
        // "Who revoked jane's keys?" and one bulk revocation job's events.
        IndexSpec::new(
            "audit_events_owner_subject_at",
            doc! { "owner_subject": 1, "at": 1 },
        ),
        IndexSpec::new("audit_events_job_id_at", doc! { "job_id": 1, "at": 1 }),
    ];
    let obsolete: &[&str] = match audit_ttl_secs {
        Some(secs) => {
            audit.push(IndexSpec::ttl(AUDIT_TTL, "at", secs));
            &[SUBJECT_ONLY_AUDIT]
        }
        None => &[SUBJECT_ONLY_AUDIT, AUDIT_TTL],
    };
    ensure_collection(db, AUDIT_EVENTS, &audit, obsolete).await?;

    // Each idempotency key document carries its own expiry.
    let idempotency = [IndexSpec::ttl(
        "idempotency_keys_expires_at_ttl",
        "expires_at",
        0,
    )];
    ensure_collection(db, IDEMPOTENCY_KEYS, &idempotency, &[]).await?;

    // A caller's counter goes once nothing in it counts any more.
    let limit_counters = [IndexSpec::ttl(
        "limit_counters_expires_at_ttl",
        "expires_at",
        0,
    )];
    ensure_collection(db, LIMIT_COUNTERS, &limit_counters, &[]).await?;

    // A credential's latest calls; the raw entries go after the usage retention.
    let usage_entries = [
        IndexSpec::new(
            "usage_entries_issuance_id_at",
            doc! { "issuance_id": 1, "at": -1 },
        ),
        IndexSpec::ttl("usage_entries_at_ttl", "at", usage_ttl_secs),
    ];
    ensure_collection(db, USAGE_ENTRIES, &usage_entries, &[]).await?;

    // A credential's counters go with its issuance record.
    let usage_summaries = [IndexSpec::ttl(
        "usage_summaries_expires_at_ttl",
        "expires_at",
        issuance_ttl_secs,
    )];
    ensure_collection(db, USAGE_SUMMARIES, &usage_summaries, &[]).await?;

    // The workers' look for unfinished jobs.
    let jobs = [IndexSpec::new(
        "revocation_jobs_state_id",
        doc! { "state": 1, "_id": 1 },
    )];
    ensure_collection(db, REVOCATION_JOBS, &jobs, &[]).await?;
    let failures = [IndexSpec::new(
        "revocation_failures_job_id_id",
        doc! { "job_id": 1, "_id": 1 },
    )];
    ensure_collection(db, REVOCATION_FAILURES, &failures, &[]).await
}

async fn ensure_collection(
    db: &Database,
    name: &'static str,
    specs: &[IndexSpec],
    obsolete: &[&str],
) -> Result<(), StoreError> {
    let collection = db.collection::<Document>(name);
    let existing = existing_indexes(&collection).await?;
    for spec in specs {
        let current = existing
            .iter()
            .find(|model| index_name(model) == Some(spec.name));
        match current {
            None => create(&collection, name, spec).await?,
            Some(current) => reconcile(db, name, spec, current).await?,
        }
    }
    for &obsolete_name in obsolete {
        if existing
            .iter()
            .any(|model| index_name(model) == Some(obsolete_name))
        {
            match collection.drop_index(obsolete_name).await {
                Err(err) if command_code(&err) != Some(INDEX_NOT_FOUND) => return Err(err.into()),
                _ => tracing::info!(collection = name, index = obsolete_name, "dropped index"),
            }
        }
    }
    Ok(())
}

async fn existing_indexes(
    collection: &Collection<Document>,
) -> Result<Vec<IndexModel>, StoreError> {
    match collection.list_indexes().await {
        Ok(cursor) => Ok(cursor.try_collect().await?),
        Err(err) if command_code(&err) == Some(NAMESPACE_NOT_FOUND) => Ok(Vec::new()),
        Err(err) => Err(err.into()),
    }
}

async fn create(
    collection: &Collection<Document>,
    name: &'static str,
    spec: &IndexSpec,
) -> Result<(), StoreError> {
    match collection.create_index(spec.model()).await {
        Ok(_) => {
            tracing::info!(collection = name, index = spec.name, "created index");
            Ok(())
        }
        Err(err)
            if matches!(
                command_code(&err),
                Some(INDEX_OPTIONS_CONFLICT | INDEX_KEY_SPECS_CONFLICT)
            ) =>
        {
            Err(StoreError::IndexConflict {
                collection: name,
                name: spec.name.to_owned(),
                detail: err.to_string(),
            })
        }
        Err(err) => Err(err.into()),
    }
}

/// An index of the right name exists: accept it, update its TTL, or report the conflict.
async fn reconcile(
    db: &Database,
    name: &'static str,
    spec: &IndexSpec,
    current: &IndexModel,
) -> Result<(), StoreError> {
    let conflict = |detail: String| StoreError::IndexConflict {
        collection: name,
        name: spec.name.to_owned(),
        detail,
    };
    if !same_keys(&current.keys, &spec.keys) {
        return Err(conflict(format!(
            "it has keys {}, Gatekey needs {}",
            current.keys, spec.keys
        )));
    }
    let options = current.options.as_ref();
    if options.is_some_and(|o| {
        o.unique == Some(true) || o.sparse == Some(true) || o.partial_filter_expression.is_some()
    }) {
        return Err(conflict(
            "it is unique, sparse or partial; Gatekey needs a plain index".to_owned(),
        ));
    }
    let current_ttl = options.and_then(|o| o.expire_after).map(|d| d.as_secs());
    let wanted_ttl = spec.ttl_secs.map(u64::from);
    match (current_ttl, spec.ttl_secs) {
        _ if current_ttl == wanted_ttl => Ok(()),
        (Some(old), Some(new)) => {
            db.run_command(doc! {
                "collMod": name,
                "index": { "name": spec.name, "expireAfterSeconds": i64::from(new) },
            })
            .await?;
            tracing::info!(
                collection = name,
                index = spec.name,
                old_secs = old,
                new_secs = new,
                "updated retention"
            );
            Ok(())
        }
        _ => Err(conflict(format!(
            "its expireAfterSeconds is {current_ttl:?}, Gatekey needs {wanted_ttl:?}"
        ))),
    }
}

fn index_name(model: &IndexModel) -> Option<&str> {
    model.options.as_ref()?.name.as_deref()
}

/// Same fields in the same order and directions; servers may answer `1` as an int or a double.
fn same_keys(a: &Document, b: &Document) -> bool {
    fn direction(value: &Bson) -> Option<f64> {
        match value {
            Bson::Int32(n) => Some(f64::from(*n)),
            Bson::Int64(n) => Some(f64::from(i32::try_from(*n).ok()?)),
            Bson::Double(n) => Some(*n),
            _ => None,
        }
    }
    a.len() == b.len()
        && a.iter().zip(b.iter()).all(|((ka, va), (kb, vb))| {
            ka == kb && direction(va).is_some() && direction(va) == direction(vb)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_compare_by_order_and_direction_whatever_the_number_type() {
        let wanted = doc! { "subject": 1, "issued_at": 1 };
        assert!(same_keys(
            &doc! { "subject": 1.0, "issued_at": 1_i64 },
            &wanted
        ));
        assert!(!same_keys(&doc! { "issued_at": 1, "subject": 1 }, &wanted));
        assert!(!same_keys(&doc! { "subject": 1, "issued_at": -1 }, &wanted));
        assert!(!same_keys(&doc! { "subject": 1 }, &wanted));
        assert!(!same_keys(
            &doc! { "subject": "text", "issued_at": 1 },
            &doc! { "subject": "text", "issued_at": 1 }
        ));
    }
}
