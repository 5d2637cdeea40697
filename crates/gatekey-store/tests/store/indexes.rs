//! Index setup: names, keys, TTLs, idempotence, retention changes and conflicts.

use std::collections::BTreeMap;

use futures::TryStreamExt as _;
use gatekey_store::{AUDIT_EVENTS, ISSUANCES, StoreError};
use mongodb::IndexModel;
use mongodb::bson::{Document, doc};
use mongodb::options::IndexOptions;

use crate::support::TestDb;

/// Index name -> (keys, expireAfterSeconds), `_id_` left out.
async fn indexes(db: &TestDb, collection: &str) -> BTreeMap<String, (Document, Option<u64>)> {
    db.raw(collection)
        .list_indexes()
        .await
        .expect("list indexes")
        .try_collect::<Vec<IndexModel>>()
        .await
        .expect("indexes")
        .into_iter()
        .filter_map(|model| {
            let options = model.options?;
            let name = options.name?;
            (name != "_id_").then(|| {
                (
                    name,
                    (model.keys, options.expire_after.map(|d| d.as_secs())),
                )
            })
        })
        .collect()
}

fn key_names(keys: &Document) -> Vec<(&str, i64)> {
    keys.iter()
        .map(|(k, v)| {
            let direction = v
                .as_i32()
                .map(i64::from)
                .or_else(|| v.as_i64())
                .or_else(|| v.as_f64().map(|f| if f < 0.0 { -1 } else { 1 }))
                .expect("numeric direction");
            (k.as_str(), direction)
        })
        .collect()
}

#[tokio::test]
async fn indexes_have_the_right_names_keys_and_ttls() {
    let db = TestDb::empty(90, Some(30)).await;
    db.store.ensure_indexes().await.expect("indexes");

    let issuances = indexes(&db, ISSUANCES).await;
    let expected = [
        (
            "issuances_issuer_subject_issued_at",
            vec![("issuer", 1), ("subject", 1), ("issued_at", 1)],
            None,
        ),
        (
            "issuances_api_id_issued_at",
            vec![("api_id", 1), ("issued_at", 1)],
            None,
        ),
        (
            "issuances_state_expires_at",
            vec![("state", 1), ("expires_at", 1)],
            None,
        ),
        (
            "issuances_state_reaped_at_expires_at",
            vec![("state", 1), ("reaped_at", 1), ("expires_at", 1)],
            None,
        ),
        ("issuances_state_id", vec![("state", 1), ("_id", 1)], None),
        (
            "issuances_revocation_job_id",
            vec![("revocation_job_id", 1)],
            None,
        ),
        (
            "issuances_expires_at_ttl",
            vec![("expires_at", 1)],
            Some(90 * 86_400),
        ),
    ];
    assert_eq!(issuances.len(), expected.len(), "{issuances:?}");
    for (name, keys, ttl) in expected {
        let (actual_keys, actual_ttl) = &issuances[name];
        assert_eq!(key_names(actual_keys), keys, "{name}");
        assert_eq!(*actual_ttl, ttl, "{name}");
    }

    let audit = indexes(&db, AUDIT_EVENTS).await;
    let expected = [
        (
            "audit_events_issuer_subject_at",
            vec![("issuer", 1), ("subject", 1), ("at", 1)],
            None,
        ),
        (
            "audit_events_api_id_at",
            vec![("api_id", 1), ("at", 1)],
            None,
        ),
        (
            "audit_events_issuance_id_at",
            vec![("issuance_id", 1), ("at", 1)],
            None,
        ),
        (
            "audit_events_decision_at",
            vec![("decision", 1), ("at", 1)],
            None,
        ),
        (
            "audit_events_owner_subject_at",
            vec![("owner_subject", 1), ("at", 1)],
            None,
        ),
        (
            "audit_events_job_id_at",
            vec![("job_id", 1), ("at", 1)],
            None,
        ),
        ("audit_events_at_ttl", vec![("at", 1)], Some(30 * 86_400)),
    ];
    assert_eq!(audit.len(), expected.len(), "{audit:?}");
    for (name, keys, ttl) in expected {
        let (actual_keys, actual_ttl) = &audit[name];
        assert_eq!(key_names(actual_keys), keys, "{name}");
        assert_eq!(*actual_ttl, ttl, "{name}");
    }
}

#[tokio::test]
async fn ensure_indexes_is_idempotent_and_keeps_audit_forever_by_default() {
    let db = TestDb::start().await;
    let before = (
        indexes(&db, ISSUANCES).await,
        indexes(&db, AUDIT_EVENTS).await,
    );
    db.store.ensure_indexes().await.expect("second run");
    db.store.ensure_indexes().await.expect("third run");
    let after = (
        indexes(&db, ISSUANCES).await,
        indexes(&db, AUDIT_EVENTS).await,
    );
    assert_eq!(before, after);
    assert!(
        !after.1.contains_key("audit_events_at_ttl"),
        "{:?}",
        after.1
    );
}

#[tokio::test]
async fn a_changed_retention_is_applied_in_place_and_unset_audit_retention_drops_its_ttl() {
    let db = TestDb::empty(90, Some(30)).await;
    db.store.ensure_indexes().await.expect("indexes");

    let longer = db.reconfigured(120, Some(365)).await;
    longer.ensure_indexes().await.expect("retention changed");
    assert_eq!(
        indexes(&db, ISSUANCES).await["issuances_expires_at_ttl"].1,
        Some(120 * 86_400)
    );
    assert_eq!(
        indexes(&db, AUDIT_EVENTS).await["audit_events_at_ttl"].1,
        Some(365 * 86_400)
    );

    let forever = db.reconfigured(120, None).await;
    forever
        .ensure_indexes()
        .await
        .expect("audit retention unset");
    let audit = indexes(&db, AUDIT_EVENTS).await;
    assert!(!audit.contains_key("audit_events_at_ttl"), "{audit:?}");
    assert_eq!(audit.len(), 6);
    forever.ensure_indexes().await.expect("still idempotent");
}

#[tokio::test]
async fn an_index_with_gatekeys_name_but_other_keys_is_a_conflict_naming_it() {
    let db = TestDb::empty(90, None).await;
    db.raw(ISSUANCES)
        .create_index(
            IndexModel::builder()
                .keys(doc! { "subject": 1 })
                .options(
                    IndexOptions::builder()
                        .name("issuances_issuer_subject_issued_at".to_owned())
                        .build(),
                )
                .build(),
        )
        .await
        .expect("foreign index");
    let err = db.store.ensure_indexes().await.expect_err("conflict");
    match &err {
        StoreError::IndexConflict {
            collection, name, ..
        } => {
            assert_eq!(*collection, ISSUANCES);
            assert_eq!(name, "issuances_issuer_subject_issued_at");
        }
        other => panic!("expected an index conflict, got {other:?}"),
    }
    assert!(
        err.to_string()
            .contains("issuances_issuer_subject_issued_at"),
        "{err}"
    );
}

#[tokio::test]
async fn subject_only_indexes_of_earlier_versions_are_replaced_by_issuer_subject_ones() {
    let db = TestDb::empty(90, None).await;
    for (collection, name, keys) in [
        (
            ISSUANCES,
            "issuances_subject_issued_at",
            doc! { "subject": 1, "issued_at": 1 },
        ),
        (
            AUDIT_EVENTS,
            "audit_events_subject_at",
            doc! { "subject": 1, "at": 1 },
        ),
    ] {
        db.raw(collection)
            .create_index(
                IndexModel::builder()
                    .keys(keys)
                    .options(IndexOptions::builder().name(name.to_owned()).build())
                    .build(),
            )
            .await
            .expect("index of an earlier version");
    }
    db.store.ensure_indexes().await.expect("migrated");
    db.store.ensure_indexes().await.expect("still idempotent");
    let issuances = indexes(&db, ISSUANCES).await;
    assert!(
        !issuances.contains_key("issuances_subject_issued_at"),
        "{issuances:?}"
    );
    assert_eq!(
        key_names(&issuances["issuances_issuer_subject_issued_at"].0),
        [("issuer", 1), ("subject", 1), ("issued_at", 1)]
    );
    let audit = indexes(&db, AUDIT_EVENTS).await;
    assert!(!audit.contains_key("audit_events_subject_at"), "{audit:?}");
    assert_eq!(
        key_names(&audit["audit_events_issuer_subject_at"].0),
        [("issuer", 1), ("subject", 1), ("at", 1)]
    );
}

#[tokio::test]
async fn the_same_keys_under_another_name_or_without_ttl_are_conflicts() {
    let db = TestDb::empty(90, None).await;
    db.raw(ISSUANCES)
        .create_index(
            IndexModel::builder()
                .keys(doc! { "state": 1, "expires_at": 1 })
                .options(IndexOptions::builder().name("by_state".to_owned()).build())
                .build(),
        )
        .await
        .expect("foreign index");
    let err = db.store.ensure_indexes().await.expect_err("conflict");
    assert!(
        matches!(&err, StoreError::IndexConflict { name, .. } if name == "issuances_state_expires_at"),
        "{err:?}"
    );

    let db = TestDb::empty(90, None).await;
    db.raw(ISSUANCES)
        .create_index(
            IndexModel::builder()
                .keys(doc! { "expires_at": 1 })
                .options(
                    IndexOptions::builder()
                        .name("issuances_expires_at_ttl".to_owned())
                        .build(),
                )
                .build(),
        )
        .await
        .expect("index without TTL");
    let err = db.store.ensure_indexes().await.expect_err("conflict");
    assert!(
        matches!(&err, StoreError::IndexConflict { name, .. } if name == "issuances_expires_at_ttl"),
        "{err:?}"
    );
}
