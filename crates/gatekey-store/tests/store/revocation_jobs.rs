//! Bulk revocation storage: which records a filter selects (and in which order a job walks
//! them), and a job's record, place, failures and end.

use gatekey_core::issuance::{Issuance, IssuanceState};
use gatekey_core::revocation::{
    JobState, Operator, RevocationFailure, RevocationFilter, RevocationJob,
};
use gatekey_store::ISSUANCES;
use mongodb::bson::doc;

use crate::support::{TestDb, in_state, issuance, t};

async fn insert(db: &TestDb, issuance: &Issuance) {
    db.store
        .issuances()
        .insert_pending(issuance)
        .await
        .expect("insert");
}

/// The records' ids in id order: the order of a job's walk (ids minted within one millisecond
/// are not in minting order).
fn ids(records: &[&Issuance]) -> Vec<String> {
    let mut ids: Vec<String> = records.iter().map(|r| r.id.to_string()).collect();
    ids.sort();
    ids
}

/// Jane's `active` orders and billing credentials (the first with granting groups), Bob's
/// `active` orders credential (with a policy revision), Jane's `pending` one, and a revoked one
/// of Jane's that no filter over `active` records selects.
async fn seed(db: &TestDb) -> [Issuance; 4] {
    let active = |subject: &str, api: &str, at: i64| {
        in_state(issuance(subject, api, t(at)), IssuanceState::Active)
    };
    let jane_orders = active("jane", "orders", 0);
    let jane_billing = active("jane", "billing", 100);
    let bob_orders = active("bob", "orders", 200);
    let jane_revoked = in_state(issuance("jane", "orders", t(300)), IssuanceState::Revoked);
    let jane_pending = issuance("jane", "orders", t(400));
    for record in [
        &jane_orders,
        &jane_billing,
        &bob_orders,
        &jane_revoked,
        &jane_pending,
    ] {
        insert(db, record).await;
    }
    // Fields the mint records next to the lifecycle (granting groups, policy revision).
    db.raw(ISSUANCES)
        .update_one(
            doc! { "_id": jane_orders.id.to_string() },
            doc! { "$set": { "granting_groups": ["payments-team", "all-staff"] } },
        )
        .await
        .expect("set groups");
    db.raw(ISSUANCES)
        .update_one(
            doc! { "_id": bob_orders.id.to_string() },
            doc! { "$set": { "policy_revision": "rev-1" } },
        )
        .await
        .expect("set revision");

    [jane_orders, jane_billing, bob_orders, jane_pending]
}

#[tokio::test]
async fn a_filter_selects_by_identity_api_scope_time_group_and_revision_in_creation_order() {
    let db = TestDb::start().await;
    let [jane_orders, jane_billing, bob_orders, jane_pending] = seed(&db).await;
    let issuances = db.store.issuances();
    let select = |filter: RevocationFilter, states: &'static [IssuanceState]| {
        let issuances = issuances.clone();
        async move {
            let listed = issuances
                .list_matching_after(&filter, states, None, 50)
                .await
                .expect("list");
            let count = issuances
                .count_matching(&filter, states)
                .await
                .expect("count");
            assert_eq!(count, listed.len() as u64, "{filter:?}");
            ids(&listed.iter().collect::<Vec<_>>())
        }
    };
    let active_only: &[IssuanceState] = &[IssuanceState::Active];
    let jane = RevocationFilter {
        issuer: Some("https://backstage.example".to_owned()),
        subject: Some("jane".to_owned()),
        ..RevocationFilter::default()
    };
    assert_eq!(
        select(jane.clone(), active_only).await,
        ids(&[&jane_orders, &jane_billing])
    );
    assert_eq!(
        select(
            jane.clone(),
            &[IssuanceState::Active, IssuanceState::Pending]
        )
        .await,
        ids(&[&jane_orders, &jane_billing, &jane_pending])
    );
    let orders = RevocationFilter {
        api_id: Some("orders".to_owned()),
        ..RevocationFilter::default()
    };
    assert_eq!(
        select(orders, active_only).await,
        ids(&[&jane_orders, &bob_orders])
    );
    let scope = RevocationFilter {
        scope: Some("billing:read".to_owned()),
        ..RevocationFilter::default()
    };
    assert_eq!(select(scope, active_only).await, ids(&[&jane_billing]));
    let window = RevocationFilter {
        issued_after: Some(t(100)),
        issued_before: Some(t(300)),
        ..RevocationFilter::default()
    };
    assert_eq!(
        select(window, active_only).await,
        ids(&[&jane_billing, &bob_orders])
    );
    let group = RevocationFilter {
        granting_group: Some("payments-team".to_owned()),
        ..RevocationFilter::default()
    };
    assert_eq!(select(group, active_only).await, ids(&[&jane_orders]));
    let revision = RevocationFilter {
        policy_revision: Some("rev-1".to_owned()),
        ..RevocationFilter::default()
    };
    assert_eq!(select(revision, active_only).await, ids(&[&bob_orders]));
    let everything = select(RevocationFilter::default(), active_only).await;
    assert_eq!(everything, ids(&[&jane_orders, &jane_billing, &bob_orders]));

    // The walk resumes after its saved place.
    let first = jane_orders.id.min(jane_billing.id);
    let rest = issuances
        .list_matching_after(&jane, active_only, Some(&first), 50)
        .await
        .expect("list");
    assert_eq!(
        ids(&rest.iter().collect::<Vec<_>>()),
        vec![jane_orders.id.max(jane_billing.id).to_string()]
    );
}

#[tokio::test]
async fn a_job_keeps_its_place_reports_each_failure_once_and_ends_once() {
    let db = TestDb::start().await;
    let jobs = db.store.revocation_jobs();
    let filter = RevocationFilter {
        subject: Some("jane".to_owned()),
        issued_before: Some(t(1_000)),
        ..RevocationFilter::default()
    };
    let job = RevocationJob::start(
        filter,
        "laptop stolen".to_owned(),
        Operator {
            issuer: "https://idp.example".to_owned(),
            subject: "admin".to_owned(),
        },
        t(0),
        Some("req-1".to_owned()),
    );
    jobs.insert(&job).await.expect("insert");
    assert_eq!(jobs.get(&job.id).await.expect("get"), Some(job.clone()));
    assert_eq!(
        jobs.list_running(10).await.expect("running"),
        std::slice::from_ref(&job)
    );

    let record = in_state(issuance("jane", "orders", t(10)), IssuanceState::Active);
    insert(&db, &record).await;
    jobs.advance(&job.id, &record.id).await.expect("advance");
    let saved = jobs.get(&job.id).await.expect("get").expect("job");
    assert_eq!(saved.cursor, Some(record.id));

    for reason in ["first", "second"] {
        let failure = RevocationFailure {
            credential_id: record.id,
            reason: reason.to_owned(),
            at: t(20),
        };
        jobs.record_failure(&job.id, &failure)
            .await
            .expect("failure");
    }
    assert_eq!(jobs.count_failures(&job.id).await.expect("count"), 1);
    let failures = jobs.failures(&job.id, 10).await.expect("failures");
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].reason, "second");
    jobs.clear_failure(&job.id, &record.id)
        .await
        .expect("clear");
    assert_eq!(jobs.count_failures(&job.id).await.expect("count"), 0);

    db.store
        .issuances()
        .mark_revoked_by_job(&record.id, "admin", &job.id, t(30))
        .await
        .expect("revoke");
    assert_eq!(
        db.store
            .issuances()
            .count_revoked_by_job(&job.id)
            .await
            .expect("count"),
        1
    );
    assert!(
        db.store
            .issuances()
            .mark_revoked_by_job(&record.id, "admin", &job.id, t(31))
            .await
            .is_err(),
        "revoked twice"
    );

    assert!(jobs.finish(&job.id, t(40)).await.expect("finish"));
    assert!(!jobs.finish(&job.id, t(41)).await.expect("finish again"));
    let done = jobs.get(&job.id).await.expect("get").expect("job");
    assert_eq!(done.state, JobState::Done);
    assert_eq!(done.ended_at, Some(t(40)));
    assert!(jobs.list_running(10).await.expect("running").is_empty());
}
