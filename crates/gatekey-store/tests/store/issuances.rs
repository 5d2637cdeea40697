//! Issuance records: storage format, the state machine as conditional updates, listing.

use chrono::Duration;
use gatekey_core::issuance::{FailureCode, Issuance, IssuanceId, IssuanceState, key_fingerprint};
use gatekey_store::{ISSUANCES, IssuanceFilter, IssuanceRepo, PageRequest, StoreError};
use mongodb::bson::{Bson, doc};

use crate::support::{TestDb, in_state, issuance, kong_ref, t};

/// Activates `record` with Kong side and key number `n`, in a task of its own.
fn activate_in_task(
    repo: &IssuanceRepo,
    record: &Issuance,
    n: u32,
) -> tokio::task::JoinHandle<Result<Issuance, StoreError>> {
    let (repo, record) = (repo.clone(), record.clone());
    tokio::spawn(async move {
        repo.mark_active(
            &record,
            kong_ref(n),
            key_fingerprint(&format!("key-{n}")),
            t(1),
        )
        .await
    })
}

fn page(limit: u32, cursor: Option<String>) -> PageRequest {
    PageRequest { limit, cursor }
}

#[tokio::test]
async fn a_record_round_trips_with_ulid_ids_and_bson_dates() {
    let db = TestDb::start().await;
    let record = issuance(
        "user:default/ada",
        "orders",
        t(0) + Duration::microseconds(1_234_567),
    );
    db.store
        .issuances()
        .insert_pending(&record)
        .await
        .expect("insert");

    let read = db.store.issuances().get(&record.id).await.expect("get");
    assert_eq!(read.as_ref(), Some(&record));

    let raw = db
        .raw(ISSUANCES)
        .find_one(doc! {})
        .await
        .expect("raw read")
        .expect("a document");
    assert_eq!(raw.get("_id"), Some(&Bson::String(record.id.to_string())));
    for field in ["issued_at", "expires_at", "updated_at"] {
        assert!(
            matches!(raw.get(field), Some(Bson::DateTime(_))),
            "{field} is a BSON date: {raw}"
        );
    }
    assert_eq!(raw.get_str("state").expect("state"), "pending");
    assert_eq!(
        db.store
            .issuances()
            .get(&IssuanceId::new())
            .await
            .expect("get"),
        None
    );
}

#[tokio::test]
async fn allowed_transitions_record_their_details() {
    let db = TestDb::start().await;
    let repo = db.store.issuances();
    let record = issuance("user:default/ada", "orders", t(0));
    repo.insert_pending(&record).await.expect("insert");

    let fingerprint = key_fingerprint("gk_example");
    let active = repo
        .mark_active(&record, kong_ref(1), fingerprint.clone(), t(1))
        .await
        .expect("pending -> active");
    assert_eq!(active.state, IssuanceState::Active);
    assert_eq!(active.kong, Some(kong_ref(1)));
    assert_eq!(
        active.key_fingerprint.as_deref(),
        Some(fingerprint.as_str())
    );
    assert_eq!(active.updated_at, t(1));
    assert_eq!(active.issued_at, record.issued_at);
    let stored = repo.get(&record.id).await.expect("get").expect("exists");
    assert_eq!(
        active, stored,
        "the activated record as returned is the one stored"
    );

    // The same activation again (a driver's retry of a write whose reply was lost) reads as
    // done; any other activation of the active record is refused.
    assert_eq!(
        repo.mark_active(&record, kong_ref(1), fingerprint.clone(), t(1))
            .await
            .expect("the same activation again"),
        stored
    );
    for (kong, fingerprint) in [
        (kong_ref(2), fingerprint.clone()),
        (kong_ref(1), key_fingerprint("gk_other")),
    ] {
        let err = repo
            .mark_active(&record, kong, fingerprint, t(1))
            .await
            .expect_err("another activation");
        assert!(
            matches!(
                err,
                StoreError::InvalidTransition {
                    from: IssuanceState::Active,
                    to: IssuanceState::Active
                }
            ),
            "{err:?}"
        );
    }

    let revoked = repo
        .mark_revoked(&record.id, "user:default/admin", t(2))
        .await
        .expect("active -> revoked");
    assert_eq!(revoked.state, IssuanceState::Revoked);
    assert_eq!(revoked.revoked_by.as_deref(), Some("user:default/admin"));
    assert_eq!(revoked.revoked_at, Some(t(2)));
    assert_eq!(revoked.kong, Some(kong_ref(1)));
    assert_eq!(repo.get(&record.id).await.expect("get"), Some(revoked));

    let other = issuance("user:default/ada", "orders", t(0));
    repo.insert_pending(&other).await.expect("insert");
    let failed = repo
        .mark_failed(&other.id, FailureCode::KongUnavailable, t(3))
        .await
        .expect("pending -> failed");
    assert_eq!(failed.state, IssuanceState::Failed);
    assert_eq!(failed.failure, Some(FailureCode::KongUnavailable));
    assert_eq!(failed.kong, None);
    let raw = db
        .raw(ISSUANCES)
        .find_one(doc! { "_id": other.id.to_string() })
        .await
        .expect("find")
        .expect("stored");
    assert_eq!(raw.get_str("failure_code"), Ok("kong_unavailable"));
    assert!(
        !raw.contains_key("failure_reason"),
        "no free text is written"
    );
}

#[tokio::test]
async fn a_mints_rollback_fails_its_pending_or_late_activated_record_and_nothing_later() {
    let db = TestDb::start().await;
    let repo = db.store.issuances();
    let pending = issuance("user:default/ada", "orders", t(0));
    repo.insert_pending(&pending).await.expect("insert");
    let failed = repo
        .fail_mint(&pending.id, FailureCode::Timeout, t(1))
        .await
        .expect("pending -> failed");
    assert_eq!(failed.state, IssuanceState::Failed);
    assert_eq!(failed.failure, Some(FailureCode::Timeout));
    // The activation that was still in flight cannot land any more.
    let late = repo
        .mark_active(&pending, kong_ref(1), key_fingerprint("gk_late"), t(2))
        .await;
    assert!(
        matches!(
            late,
            Err(StoreError::InvalidTransition {
                from: IssuanceState::Failed,
                to: IssuanceState::Active
            })
        ),
        "{late:?}"
    );

    // An activation that landed before the rollback is undone by it.
    let activated = issuance("user:default/ada", "orders", t(0));
    repo.insert_pending(&activated).await.expect("insert");
    repo.mark_active(&activated, kong_ref(2), key_fingerprint("gk_2"), t(1))
        .await
        .expect("pending -> active");
    let failed = repo
        .fail_mint(&activated.id, FailureCode::Timeout, t(2))
        .await
        .expect("active -> failed, by the mint's own rollback");
    assert_eq!(failed.state, IssuanceState::Failed);

    // A record revoked meanwhile is not the rollback's to change.
    let revoked = issuance("user:default/ada", "orders", t(0));
    repo.insert_pending(&revoked).await.expect("insert");
    repo.mark_active(&revoked, kong_ref(3), key_fingerprint("gk_3"), t(1))
        .await
        .expect("pending -> active");
    repo.mark_revoked(&revoked.id, "user:default/ada", t(2))
        .await
        .expect("active -> revoked");
    let refused = repo
        .fail_mint(&revoked.id, FailureCode::Timeout, t(3))
        .await;
    assert!(
        matches!(
            refused,
            Err(StoreError::InvalidTransition {
                from: IssuanceState::Revoked,
                to: IssuanceState::Failed
            })
        ),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_record_failed_with_free_text_before_codes_reads_as_unspecified() {
    let db = TestDb::start().await;
    let repo = db.store.issuances();
    let legacy = issuance("user:default/ada", "orders", t(0));
    repo.insert_pending(&legacy).await.expect("insert");
    db.raw(ISSUANCES)
        .update_one(
            doc! { "_id": legacy.id.to_string() },
            doc! { "$set": {
                "state": "failed",
                "failure_reason": "Kong Admin API failed: error sending request for url \
                                   (http://kong-admin.internal:8001/consumers)",
            }, "$unset": { "failure_code": "" } },
        )
        .await
        .expect("write a record the way older versions did");
    let read = repo.get(&legacy.id).await.expect("get").expect("exists");
    assert_eq!(read.state, IssuanceState::Failed);
    assert_eq!(read.failure, Some(FailureCode::Unspecified));
}

#[tokio::test]
async fn refused_transitions_report_the_current_state_and_change_nothing() {
    let db = TestDb::start().await;
    let repo = db.store.issuances();

    let pending = issuance("user:default/ada", "orders", t(0));
    repo.insert_pending(&pending).await.expect("insert");
    let err = repo
        .mark_revoked(&pending.id, "user:default/admin", t(5))
        .await
        .expect_err("pending cannot be revoked");
    assert!(
        matches!(
            err,
            StoreError::InvalidTransition {
                from: IssuanceState::Pending,
                to: IssuanceState::Revoked
            }
        ),
        "{err:?}"
    );
    assert_eq!(repo.get(&pending.id).await.expect("get"), Some(pending));

    let failed = in_state(
        issuance("user:default/ada", "orders", t(0)),
        IssuanceState::Failed,
    );
    repo.insert_pending(&failed).await.expect("insert");
    let err = repo
        .mark_active(&failed, kong_ref(1), key_fingerprint("k"), t(5))
        .await
        .expect_err("failed is final");
    assert!(
        matches!(
            err,
            StoreError::InvalidTransition {
                from: IssuanceState::Failed,
                to: IssuanceState::Active
            }
        ),
        "{err:?}"
    );
    assert_eq!(repo.get(&failed.id).await.expect("get"), Some(failed));

    let active = in_state(
        issuance("user:default/ada", "orders", t(0)),
        IssuanceState::Active,
    );
    repo.insert_pending(&active).await.expect("insert");
    let err = repo
        .mark_failed(&active.id, FailureCode::Internal, t(5))
        .await
        .expect_err("active cannot fail");
    assert!(
        matches!(
            err,
            StoreError::InvalidTransition {
                from: IssuanceState::Active,
                to: IssuanceState::Failed
            }
        ),
        "{err:?}"
    );
    repo.mark_revoked(&active.id, "a", t(6))
        .await
        .expect("revoke");
    let err = repo
        .mark_revoked(&active.id, "b", t(7))
        .await
        .expect_err("revoked is final");
    assert!(
        matches!(
            err,
            StoreError::InvalidTransition {
                from: IssuanceState::Revoked,
                to: IssuanceState::Revoked
            }
        ),
        "{err:?}"
    );
    let revoked = repo.get(&active.id).await.expect("get").expect("exists");
    assert_eq!(revoked.revoked_by.as_deref(), Some("a"));
    assert_eq!(revoked.revoked_at, Some(t(6)));

    let missing = issuance("user:default/ada", "orders", t(0));
    let err = repo
        .mark_active(&missing, kong_ref(1), key_fingerprint("k"), t(5))
        .await
        .expect_err("no such record");
    assert!(
        matches!(err, StoreError::NotFound { id } if id == missing.id),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_concurrent_activations_exactly_one_wins() {
    let db = TestDb::start().await;
    let repo = db.store.issuances();
    let record = issuance("user:default/ada", "orders", t(0));
    repo.insert_pending(&record).await.expect("insert");

    let attempts = (0..8_u32).map(|n| activate_in_task(&repo, &record, n));
    let mut winners = Vec::new();
    for outcome in futures::future::join_all(attempts).await {
        match outcome.expect("task ran") {
            Ok(active) => winners.push(active),
            Err(StoreError::InvalidTransition {
                from: IssuanceState::Active,
                to: IssuanceState::Active,
            }) => {}
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let stored = repo.get(&record.id).await.expect("get").expect("exists");
    assert_eq!(stored, winners[0], "the stored record is the winner's");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn activations_sent_together_each_learn_their_own_outcome() {
    let db = TestDb::start().await;
    let repo = db.store.issuances();
    let mut records = Vec::new();
    for n in 0..30 {
        let record = issuance("user:default/ada", "orders", t(0));
        // Every third mint was rolled back before its activation arrived.
        let record = if n % 3 == 0 {
            in_state(record, IssuanceState::Failed)
        } else {
            record
        };
        repo.insert_pending(&record).await.expect("insert");
        records.push(record);
    }
    let activations = records
        .iter()
        .zip(0_u32..)
        .map(|(record, n)| activate_in_task(&repo, record, n));
    let outcomes = futures::future::join_all(activations).await;
    for ((record, outcome), n) in records.iter().zip(outcomes).zip(0_u32..) {
        let stored = repo.get(&record.id).await.expect("get").expect("exists");
        match outcome.expect("task ran") {
            Ok(active) => {
                assert_eq!(record.state, IssuanceState::Pending, "record {n}");
                assert_eq!(active.state, IssuanceState::Active);
                assert_eq!(active.kong, Some(kong_ref(n)));
                assert_eq!(
                    stored, active,
                    "record {n} reads as its activation answered"
                );
            }
            Err(StoreError::InvalidTransition {
                from: IssuanceState::Failed,
                to: IssuanceState::Active,
            }) => {
                assert_eq!(record.state, IssuanceState::Failed, "record {n}");
                assert_eq!(&stored, record, "record {n} is unchanged");
            }
            Err(other) => panic!("record {n}: unexpected error: {other:?}"),
        }
    }
}

#[tokio::test]
async fn inserting_an_existing_id_is_a_typed_error() {
    let db = TestDb::start().await;
    let repo = db.store.issuances();
    let record = issuance("user:default/ada", "orders", t(0));
    repo.insert_pending(&record).await.expect("insert");
    let mut again = issuance("user:default/eve", "billing", t(9));
    again.id = record.id;
    let err = repo.insert_pending(&again).await.expect_err("duplicate");
    assert!(
        matches!(&err, StoreError::DuplicateId { collection: ISSUANCES, id } if *id == record.id.to_string()),
        "{err:?}"
    );
    assert_eq!(repo.get(&record.id).await.expect("get"), Some(record));
}

#[tokio::test]
async fn pages_run_newest_first_without_duplicates_or_gaps() {
    let db = TestDb::start().await;
    let repo = db.store.issuances();
    let mut ids = Vec::new();
    for n in 0..25 {
        let record = issuance("user:default/ada", "orders", t(n));
        repo.insert_pending(&record).await.expect("insert");
        ids.push(record.id);
    }
    ids.sort_unstable_by(|a, b| b.cmp(a));

    let all = IssuanceFilter::default();
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut sizes = Vec::new();
    loop {
        let page = repo.list(&all, &page(10, cursor)).await.expect("page");
        sizes.push(page.items.len());
        seen.extend(page.items.iter().map(|i| i.id));
        match page.next_cursor {
            Some(next) => {
                assert_eq!(next, page.items.last().expect("non-empty").id.to_string());
                cursor = Some(next);
            }
            None => break,
        }
    }
    assert_eq!(sizes, [10, 10, 5]);
    assert_eq!(seen, ids);

    // An exact multiple of the page size ends without an empty extra page.
    let first = repo.list(&all, &page(5, None)).await.expect("page");
    let fifth = repo
        .list(&all, &page(5, Some(ids[19].to_string())))
        .await
        .expect("page");
    assert_eq!(fifth.items.len(), 5);
    assert_eq!(fifth.next_cursor, None);
    assert_eq!(first.items[0].id, ids[0]);

    // Records created after the first page was read do not shift later pages.
    let newer = issuance("user:default/ada", "orders", t(100));
    repo.insert_pending(&newer).await.expect("insert");
    let second = repo
        .list(&all, &page(10, Some(ids[9].to_string())))
        .await
        .expect("page");
    assert_eq!(
        second.items.iter().map(|i| i.id).collect::<Vec<_>>(),
        ids[10..20]
    );
}

#[tokio::test]
async fn bad_page_requests_are_refused() {
    let db = TestDb::start().await;
    let repo = db.store.issuances();
    let all = IssuanceFilter::default();
    for limit in [0, 201] {
        let err = repo
            .list(&all, &page(limit, None))
            .await
            .expect_err("bad limit");
        assert!(
            matches!(err, StoreError::InvalidLimit { max: 200, .. }),
            "{err:?}"
        );
    }
    assert!(repo.list(&all, &page(200, None)).await.is_ok());
    let err = repo
        .list(&all, &page(10, Some("not-a-cursor".to_owned())))
        .await
        .expect_err("bad cursor");
    assert!(matches!(err, StoreError::InvalidCursor(_)), "{err:?}");
}

#[tokio::test]
async fn filters_combine_issuer_subject_api_and_state() {
    let db = TestDb::start().await;
    let repo = db.store.issuances();
    let records = [
        issuance("ada", "orders", t(0)),
        in_state(issuance("ada", "orders", t(1)), IssuanceState::Active),
        in_state(issuance("ada", "billing", t(2)), IssuanceState::Active),
        issuance("eve", "orders", t(3)),
        // Another issuer's "ada": the same subject string, someone else.
        Issuance {
            issuer: "https://ci.example".to_owned(),
            ..issuance("ada", "orders", t(4))
        },
    ];
    for record in &records {
        repo.insert_pending(record).await.expect("insert");
    }
    let ids = |filter: IssuanceFilter| {
        let repo = repo.clone();
        async move {
            let mut ids: Vec<IssuanceId> = repo
                .list(&filter, &page(50, None))
                .await
                .expect("list")
                .items
                .iter()
                .map(|i| i.id)
                .collect();
            ids.sort_unstable();
            ids
        }
    };
    let expect = |picked: &[usize]| {
        let mut ids: Vec<IssuanceId> = picked.iter().map(|&n| records[n].id).collect();
        ids.sort_unstable();
        ids
    };
    let by = |subject: Option<&str>, api_id: Option<&str>, state: Option<IssuanceState>| {
        IssuanceFilter {
            issuer: Some("https://backstage.example".to_owned()),
            subject: subject.map(str::to_owned),
            api_id: api_id.map(str::to_owned),
            state,
        }
    };
    assert_eq!(ids(by(Some("ada"), None, None)).await, expect(&[0, 1, 2]));
    let any_issuer = IssuanceFilter {
        issuer: None,
        ..by(Some("ada"), None, None)
    };
    assert_eq!(ids(any_issuer).await, expect(&[0, 1, 2, 4]));
    let ci = IssuanceFilter {
        issuer: Some("https://ci.example".to_owned()),
        ..by(Some("ada"), None, None)
    };
    assert_eq!(ids(ci).await, expect(&[4]));
    assert_eq!(
        ids(by(None, Some("orders"), None)).await,
        expect(&[0, 1, 3])
    );
    assert_eq!(
        ids(by(None, None, Some(IssuanceState::Active))).await,
        expect(&[1, 2])
    );
    assert_eq!(
        ids(by(Some("ada"), Some("orders"), Some(IssuanceState::Active))).await,
        expect(&[1])
    );
    assert_eq!(ids(by(Some("nobody"), None, None)).await, expect(&[]));
}

#[tokio::test]
async fn the_reaper_finds_stale_pending_and_expired_active_records() {
    let db = TestDb::start().await;
    let repo = db.store.issuances();
    // Every record lives 600 s from its issue time.
    let stale_pending = issuance("ada", "orders", t(0));
    let fresh_pending = issuance("ada", "orders", t(100));
    let expired_active = in_state(issuance("ada", "orders", t(-1000)), IssuanceState::Active);
    let expiring_now = in_state(issuance("ada", "orders", t(0)), IssuanceState::Active);
    let live_active = in_state(issuance("ada", "orders", t(50)), IssuanceState::Active);
    let expired_revoked = in_state(issuance("ada", "orders", t(-1000)), IssuanceState::Revoked);
    let expired_failed = in_state(issuance("ada", "orders", t(-1000)), IssuanceState::Failed);
    for record in [
        &stale_pending,
        &fresh_pending,
        &expired_active,
        &expiring_now,
        &live_active,
        &expired_revoked,
        &expired_failed,
    ] {
        repo.insert_pending(record).await.expect("insert");
    }
    let ids = |records: Vec<Issuance>| records.into_iter().map(|i| i.id).collect::<Vec<_>>();

    let pending = repo
        .list_pending_older_than(t(100), 10)
        .await
        .expect("pending");
    assert_eq!(ids(pending), [stale_pending.id]);

    let expired = repo
        .list_expired_unreaped(t(600), 10)
        .await
        .expect("expired");
    assert_eq!(
        ids(expired),
        [expired_active.id, expiring_now.id],
        "earliest expiry first"
    );
    assert!(expiring_now.is_expired(t(600)));
    assert!(!live_active.is_expired(t(600)));
    let first = repo
        .list_expired_unreaped(t(600), 1)
        .await
        .expect("one expired");
    assert_eq!(ids(first), [expired_active.id], "at most the limit");

    // A reaped expiry leaves the query; a record that is no longer active cannot be reaped.
    let marked = repo
        .mark_reaped(&[expired_active.id, expired_revoked.id], t(601))
        .await
        .expect("reaped");
    assert_eq!(marked, 1, "a revoked record is not reaped");
    let expired = repo
        .list_expired_unreaped(t(600), 10)
        .await
        .expect("expired");
    assert_eq!(ids(expired), [expiring_now.id]);
    let reaped = repo
        .get(&expired_active.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        reaped.state,
        IssuanceState::Active,
        "an expired record stays active"
    );

    // The walk over live records, in id order from a cursor.
    let live = repo.list_live_after(None, t(0), 10).await.expect("live");
    let mut expected_live = vec![expiring_now.id, live_active.id];
    expected_live.sort();
    assert_eq!(ids(live), expected_live);
    let rest = repo
        .list_live_after(Some(&expected_live[0]), t(0), 10)
        .await
        .expect("rest");
    assert_eq!(ids(rest), expected_live[1..]);
}
