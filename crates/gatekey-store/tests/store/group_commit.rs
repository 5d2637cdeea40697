//! The group commit on both sides of MongoDB 8.0. Writes of every kind made at once leave as
//! `bulkWrite` commands where the server takes them, and per collection (`insert`, `update`)
//! where it predates them, here the same server presented as MongoDB 7.0. Either way each write
//! learns its own outcome: applied, a duplicate `_id`, an activation refused by the record's
//! state, a reservation refused by the caller's limit.

use chrono::{Duration, SubsecRound as _, Utc};
use gatekey_core::audit::{AuditAction, Decision};
use gatekey_core::issuance::{IssuanceId, IssuanceState, key_fingerprint};
use gatekey_store::{LimitVerdict, MintLimits, MintSlot, StoreError};
use mongodb::bson::doc;

use crate::support::{TestDb, event, in_state, issuance, kong_ref, t};

/// MongoDB 7.0's wire version; `bulkWrite` needs 25 (8.0).
const MONGODB_7_0: i32 = 21;
const BULK_WRITE_SINCE: i32 = 25;
const WRITE_COMMANDS: [&str; 3] = ["insert", "update", "bulkWrite"];

/// Makes, all at once: two activations (one of a record already `failed`), two inserts of new
/// records (one reusing an existing id), an audit append, and two limit reservations (one by a
/// caller already at its rate). Checks what each was told and what the database holds.
async fn writes_of_every_kind_at_once(db: &TestDb) {
    let issuances = db.store.issuances();
    let pending = issuance("user:default/ada", "orders", t(0));
    let failed = in_state(
        issuance("user:default/bob", "orders", t(0)),
        IssuanceState::Failed,
    );
    issuances.insert_pending(&pending).await.expect("insert");
    issuances.insert_pending(&failed).await.expect("insert");
    let counters = db.store.limit_counters();
    let now = Utc::now().trunc_subsecs(3);
    let limits = MintLimits {
        mints_per_window: 1,
        window: Duration::seconds(60),
        live_per_api: 10,
    };
    let slot = |subject| MintSlot {
        issuer: "https://idp.example",
        subject,
        api_id: "orders",
        issuance_id: IssuanceId::new(),
        expires_at: now + Duration::minutes(10),
    };
    let at_its_rate = slot("user:default/busy");
    assert_eq!(
        counters
            .reserve(&at_its_rate, &limits, now)
            .await
            .expect("reserve"),
        LimitVerdict::Reserved
    );

    let new_record = issuance("user:default/cy", "orders", t(1));
    let mut same_id = issuance("user:default/eve", "billing", t(1));
    same_id.id = pending.id;
    let appended = event(
        t(1),
        AuditAction::Mint,
        Decision::Allow,
        "user:default/ada",
        "orders",
    );
    let audit_trail = db.store.audit();
    let (idle_slot, busy_slot) = (slot("user:default/idle"), slot("user:default/busy"));
    let (active, refused, inserted, duplicate, audit, reserved, over_rate) = tokio::join!(
        issuances.mark_active(&pending, kong_ref(1), key_fingerprint("key-1"), t(1)),
        issuances.mark_active(&failed, kong_ref(2), key_fingerprint("key-2"), t(1)),
        issuances.insert_pending(&new_record),
        issuances.insert_pending(&same_id),
        audit_trail.append(&appended),
        counters.reserve(&idle_slot, &limits, now),
        counters.reserve(&busy_slot, &limits, now),
    );

    let active = active.expect("the pending record is activated");
    assert_eq!(active.state, IssuanceState::Active);
    assert_eq!(issuances.get(&pending.id).await.expect("get"), Some(active));
    assert!(
        matches!(
            refused,
            Err(StoreError::InvalidTransition {
                from: IssuanceState::Failed,
                to: IssuanceState::Active
            })
        ),
        "{refused:?}"
    );
    assert_eq!(issuances.get(&failed.id).await.expect("get"), Some(failed));
    inserted.expect("the new record is inserted");
    assert_eq!(
        issuances.get(&new_record.id).await.expect("get"),
        Some(new_record)
    );
    assert!(
        matches!(&duplicate, Err(StoreError::DuplicateId { id, .. }) if *id == pending.id.to_string()),
        "{duplicate:?}"
    );
    audit.expect("the event is appended");
    assert_eq!(
        db.raw("audit_events")
            .count_documents(doc! { "_id": appended.id.to_string() })
            .await
            .expect("count"),
        1
    );
    assert_eq!(reserved.expect("reserve"), LimitVerdict::Reserved);
    assert!(
        matches!(over_rate, Ok(LimitVerdict::RateReached { .. })),
        "{over_rate:?}"
    );
}

/// The write commands the proxy saw.
fn write_commands(commands: &[String]) -> Vec<&str> {
    commands
        .iter()
        .map(String::as_str)
        .filter(|command| WRITE_COMMANDS.contains(command))
        .collect()
}

#[tokio::test]
async fn writes_of_every_kind_leave_in_bulk_writes_where_the_server_takes_them() {
    let (db, proxy) = TestDb::through_proxy(None).await;
    Box::pin(writes_of_every_kind_at_once(&db)).await;
    let hello = db.db.run_command(doc! { "hello": 1 }).await.expect("hello");
    let wire_version = hello.get_i32("maxWireVersion").expect("maxWireVersion");
    let commands = proxy.commands();
    let writes = write_commands(&commands);
    if wire_version >= BULK_WRITE_SINCE {
        assert!(
            !writes.is_empty() && writes.iter().all(|command| *command == "bulkWrite"),
            "{commands:?}"
        );
    } else {
        // A real server before 8.0 behind MONGODB_URI: the fallback, as in the test below.
        assert!(!writes.contains(&"bulkWrite"), "{commands:?}");
    }
}

#[tokio::test]
async fn before_mongodb_8_writes_leave_per_collection_with_the_same_outcomes() {
    let (db, proxy) = TestDb::through_proxy(Some(MONGODB_7_0)).await;
    Box::pin(writes_of_every_kind_at_once(&db)).await;
    let commands = proxy.commands();
    let writes = write_commands(&commands);
    assert!(
        writes.contains(&"insert") && writes.contains(&"update"),
        "{commands:?}"
    );
    assert!(!writes.contains(&"bulkWrite"), "{commands:?}");
}

/// Loses the reply to a batch holding an insert, then to one holding an activation: each is
/// applied, its connection cut, the batch sent again, and each write learns it was applied.
async fn lost_replies_settle(max_wire_version: Option<i32>) {
    let (db, proxy) = TestDb::through_proxy(max_wire_version).await;
    let issuances = db.store.issuances();
    let pending = issuance("user:default/ada", "orders", t(0));
    issuances.insert_pending(&pending).await.expect("insert");
    let bulk = write_commands(&proxy.commands()).contains(&"bulkWrite");
    let (inserts, updates) = if bulk {
        ("bulkWrite", "bulkWrite")
    } else {
        ("insert", "update")
    };

    proxy.lose_the_reply_to_the_next(inserts);
    let record = issuance("user:default/bob", "orders", t(1));
    issuances
        .insert_pending(&record)
        .await
        .expect("the insert counts as written");
    assert_eq!(issuances.get(&record.id).await.expect("get"), Some(record));
    let sent = |command| {
        proxy
            .commands()
            .iter()
            .filter(|sent| *sent == command)
            .count()
    };
    // The setup's insert, the lost one, and at least one more attempt (the driver may make one
    // of its own where the server numbers retried writes).
    assert!(sent(inserts) >= 3, "{:?}", proxy.commands());

    proxy.lose_the_reply_to_the_next(updates);
    let active = issuances
        .mark_active(&pending, kong_ref(1), key_fingerprint("key-1"), t(2))
        .await
        .expect("the activation counts as done");
    assert_eq!(issuances.get(&pending.id).await.expect("get"), Some(active));
    assert!(sent(updates) >= 2, "{:?}", proxy.commands());
}

#[tokio::test]
async fn a_batch_whose_reply_is_lost_is_sent_again_and_each_write_learns_it_was_applied() {
    Box::pin(lost_replies_settle(None)).await;
}

#[tokio::test]
async fn before_mongodb_8_a_batch_whose_reply_is_lost_settles_the_same_way() {
    Box::pin(lost_replies_settle(Some(MONGODB_7_0))).await;
}
