//! The audit trail: append, filtered and paginated queries, one credential's history.

use gatekey_core::audit::{AuditAction, AuditEvent, AuditEventId, Decision};
use gatekey_core::issuance::IssuanceId;
use gatekey_store::{AUDIT_EVENTS, AuditFilter, PageRequest, StoreError};
use mongodb::bson::{Bson, doc};

use crate::support::{POLICY_REVISION, TestDb, event, t};

fn ids(events: &[AuditEvent]) -> Vec<AuditEventId> {
    events.iter().map(|e| e.id).collect()
}

/// Newest first by id: the order queries promise.
fn newest_first(events: &[&AuditEvent]) -> Vec<AuditEventId> {
    let mut ids: Vec<AuditEventId> = events.iter().map(|e| e.id).collect();
    ids.sort_unstable_by(|a, b| b.cmp(a));
    ids
}

#[tokio::test]
async fn an_event_round_trips_with_every_field() {
    let db = TestDb::start().await;
    let mut appended = event(t(0), AuditAction::Mint, Decision::Deny, "ada", "orders");
    appended.detail = Some("orders:write is not open to group:default/payments".to_owned());
    appended.issuance_id = Some(IssuanceId::new());
    db.store.audit().append(&appended).await.expect("append");

    let page = db
        .store
        .audit()
        .query(
            &AuditFilter::default(),
            &PageRequest {
                limit: 10,
                cursor: None,
            },
        )
        .await
        .expect("query");
    assert_eq!(page.items, [appended.clone()]);
    assert_eq!(page.next_cursor, None);

    let raw = db
        .raw(AUDIT_EVENTS)
        .find_one(doc! {})
        .await
        .expect("raw read")
        .expect("a document");
    assert!(matches!(raw.get("at"), Some(Bson::DateTime(_))), "{raw}");
    assert_eq!(raw.get_str("_id").expect("_id"), appended.id.to_string());
    assert_eq!(raw.get_str("decision").expect("decision"), "deny");

    let err = db
        .store
        .audit()
        .append(&appended)
        .await
        .expect_err("duplicate");
    assert!(
        matches!(
            err,
            StoreError::DuplicateId {
                collection: AUDIT_EVENTS,
                ..
            }
        ),
        "{err:?}"
    );
}

/// Appends made at the same time leave in shared batches (group commit); each caller still gets
/// its own document's outcome: a duplicate id fails alone, the others of its batch are written.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_each_get_their_own_outcome() {
    let db = TestDb::start().await;
    let audit = db.store.audit();
    let first = event(t(0), AuditAction::Mint, Decision::Allow, "ada", "orders");
    audit.append(&first).await.expect("first append");

    let mut appends = Vec::new();
    for n in 0..300_i64 {
        // Every 50th append repeats the id of the first event.
        let mut appended = event(t(n), AuditAction::Mint, Decision::Allow, "ada", "orders");
        if n % 50 == 0 {
            appended.id = first.id;
        }
        let audit = audit.clone();
        appends.push(tokio::spawn(async move {
            let outcome = audit.append(&appended).await;
            (appended, outcome)
        }));
    }
    let mut written = Vec::new();
    let mut duplicates = 0;
    for append in appends {
        let (appended, outcome) = append.await.expect("task ran");
        match outcome {
            Ok(()) => written.push(appended.id),
            Err(StoreError::DuplicateId {
                collection: AUDIT_EVENTS,
                id,
            }) if id == first.id.to_string() => duplicates += 1,
            Err(err) => panic!("unexpected outcome: {err:?}"),
        }
    }
    assert_eq!(duplicates, 6);
    assert_eq!(written.len(), 294);
    let stored = db
        .raw(AUDIT_EVENTS)
        .count_documents(doc! {})
        .await
        .expect("count");
    assert_eq!(stored, 295, "the first event and every other append, once");
    for id in written.iter().step_by(37) {
        let found = db
            .raw(AUDIT_EVENTS)
            .find_one(doc! { "_id": id.to_string() })
            .await
            .expect("read");
        assert!(
            found.is_some(),
            "event {id} was acknowledged but is missing"
        );
    }
}

#[tokio::test]
async fn queries_filter_by_issuer_subject_api_decision_action_issuance_and_time() {
    let db = TestDb::start().await;
    let audit = db.store.audit();
    let issuance = IssuanceId::new();
    let mut issued = event(t(10), AuditAction::Mint, Decision::Allow, "ada", "orders");
    issued.issuance_id = Some(issuance);
    let events = [
        event(t(0), AuditAction::Mint, Decision::Deny, "ada", "orders"),
        issued,
        event(t(20), AuditAction::Mint, Decision::Allow, "eve", "billing"),
        event(
            t(30),
            AuditAction::ReadAudit,
            Decision::Deny,
            "eve",
            "orders",
        ),
        event(
            t(40),
            AuditAction::Revoke,
            Decision::Allow,
            "ada",
            "billing",
        ),
        // Another issuer's "ada": the same subject string, someone else.
        AuditEvent {
            issuer: Some("https://ci.example".to_owned()),
            ..event(t(50), AuditAction::Mint, Decision::Deny, "ada", "orders")
        },
    ];
    for e in &events {
        audit.append(e).await.expect("append");
    }
    let query = |filter: AuditFilter| {
        let audit = audit.clone();
        async move {
            ids(&audit
                .query(
                    &filter,
                    &PageRequest {
                        limit: 50,
                        cursor: None,
                    },
                )
                .await
                .expect("query")
                .items)
        }
    };
    let pick = |n: &[usize]| newest_first(&n.iter().map(|&i| &events[i]).collect::<Vec<_>>());

    let everything = pick(&[0, 1, 2, 3, 4, 5]);
    assert_eq!(query(AuditFilter::default()).await, everything);
    let subject = AuditFilter {
        issuer: Some("https://backstage.example".to_owned()),
        subject: Some("ada".to_owned()),
        ..AuditFilter::default()
    };
    assert_eq!(query(subject.clone()).await, pick(&[0, 1, 4]));
    // A subject alone matches it at every issuer; with the other issuer, the other "ada".
    for (issuer, expected) in [
        (None, pick(&[0, 1, 4, 5])),
        (Some("https://ci.example"), pick(&[5])),
    ] {
        let filter = AuditFilter {
            issuer: issuer.map(str::to_owned),
            ..subject.clone()
        };
        assert_eq!(query(filter).await, expected);
    }
    let api = AuditFilter {
        api_id: Some("orders".to_owned()),
        ..AuditFilter::default()
    };
    assert_eq!(query(api).await, pick(&[0, 1, 3, 5]));
    let denials = AuditFilter {
        decision: Some(Decision::Deny),
        ..AuditFilter::default()
    };
    assert_eq!(query(denials).await, pick(&[0, 3, 5]));
    let mints_allowed = AuditFilter {
        action: Some(AuditAction::Mint),
        decision: Some(Decision::Allow),
        ..AuditFilter::default()
    };
    assert_eq!(query(mints_allowed).await, pick(&[1, 2]));
    let one_credential = AuditFilter {
        issuance_id: Some(issuance),
        ..AuditFilter::default()
    };
    assert_eq!(query(one_credential).await, pick(&[1]));
    // `from` is inclusive, `to` exclusive.
    let window = AuditFilter {
        from: Some(t(10)),
        to: Some(t(30)),
        ..AuditFilter::default()
    };
    assert_eq!(query(window).await, pick(&[1, 2]));
    let ada_since = AuditFilter {
        from: Some(t(10)),
        ..subject
    };
    assert_eq!(query(ada_since).await, pick(&[1, 4]));
}

#[tokio::test]
async fn audit_pages_run_newest_first_across_cursors() {
    let db = TestDb::start().await;
    let audit = db.store.audit();
    let mut events = Vec::new();
    for n in 0..7 {
        let e = event(
            t(n),
            AuditAction::ListCredentials,
            Decision::Allow,
            "ada",
            "orders",
        );
        audit.append(&e).await.expect("append");
        events.push(e);
    }
    let expected = newest_first(&events.iter().collect::<Vec<_>>());
    let filter = AuditFilter {
        subject: Some("ada".to_owned()),
        ..AuditFilter::default()
    };
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = audit
            .query(&filter, &PageRequest { limit: 3, cursor })
            .await
            .expect("page");
        seen.extend(ids(&page.items));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen, expected);

    let err = audit
        .query(
            &filter,
            &PageRequest {
                limit: 3,
                cursor: Some(IssuanceId::new().to_string() + "x"),
            },
        )
        .await
        .expect_err("bad cursor");
    assert!(matches!(err, StoreError::InvalidCursor(_)), "{err:?}");
}

#[tokio::test]
async fn history_tells_one_credentials_story_oldest_first() {
    let db = TestDb::start().await;
    let audit = db.store.audit();
    let issuance = IssuanceId::new();
    let story = [
        (t(0), AuditAction::Mint, "granted"),
        (t(1), AuditAction::Mint, "issued"),
        (t(5), AuditAction::ReadCredential, "granted"),
        (t(9), AuditAction::Revoke, "revoked"),
    ];
    // Appended out of order, and mixed with another credential's events.
    for &(at, action, reason) in story.iter().rev() {
        let mut e = event(at, action, Decision::Allow, "ada", "orders");
        e.reason = reason.to_owned();
        e.issuance_id = Some(issuance);
        audit.append(&e).await.expect("append");
        let mut other = event(at, action, Decision::Allow, "eve", "orders");
        other.issuance_id = Some(IssuanceId::new());
        audit.append(&other).await.expect("append");
    }
    let history = audit.history(&issuance).await.expect("history");
    let told: Vec<_> = history
        .iter()
        .map(|e| (e.at, e.action, e.reason.as_str()))
        .collect();
    assert_eq!(told, story);
    assert!(
        audit
            .history(&IssuanceId::new())
            .await
            .expect("history")
            .is_empty()
    );
}

#[tokio::test]
async fn concurrent_counts_into_one_summary_lose_nothing() {
    let db = TestDb::start().await;
    let mut summary = event(t(0), AuditAction::Mint, Decision::Deny, "ada", "orders");
    summary.id = AuditEventId::derived(t(0), &["summary", "ada", "scope_not_allowed"]);
    let audit = db.store.audit();
    let counts = (0..40).map(|_| audit.count_in_summary(&summary));
    for result in futures::future::join_all(counts).await {
        result.expect("counted");
    }
    let page = db
        .store
        .audit()
        .query(
            &AuditFilter::default(),
            &PageRequest {
                limit: 10,
                cursor: None,
            },
        )
        .await
        .expect("query");
    assert_eq!(
        page.items,
        [AuditEvent {
            count: 40,
            ..summary
        }],
        "one document, every count in it, the other fields as first written"
    );
}

#[tokio::test]
async fn events_written_before_counts_and_revisions_existed_read_as_one_without_revision() {
    let db = TestDb::start().await;
    let appended = event(t(0), AuditAction::Mint, Decision::Deny, "ada", "orders");
    db.store.audit().append(&appended).await.expect("append");
    db.raw(AUDIT_EVENTS)
        .update_one(
            doc! {},
            doc! { "$unset": { "count": "", "policy_revision": "" } },
        )
        .await
        .expect("unset");
    let history = db
        .store
        .audit()
        .query(
            &AuditFilter::default(),
            &PageRequest {
                limit: 10,
                cursor: None,
            },
        )
        .await
        .expect("query");
    assert_eq!(history.items[0].count, 1);
    assert_eq!(history.items[0].policy_revision, None);
    assert_eq!(appended.policy_revision.as_deref(), Some(POLICY_REVISION));
}
