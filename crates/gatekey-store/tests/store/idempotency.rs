//! Idempotency keys: the first reservation wins, later ones see it, take-over is compare-and-set,
//! keys are free again at expiry, and the TTL index collects them.

use futures::TryStreamExt as _;
use gatekey_core::issuance::IssuanceId;
use gatekey_store::{IDEMPOTENCY_KEYS, Reservation};
use mongodb::IndexModel;
use mongodb::bson::doc;

use crate::support::{TestDb, t};

#[tokio::test]
async fn the_first_reservation_wins_and_later_ones_see_it() {
    let db = TestDb::start().await;
    let keys = db.store.idempotency_keys();
    let first = IssuanceId::new();
    let outcome = keys
        .reserve("scope-1", "hash-a", first, t(0), t(86_400))
        .await
        .expect("reserve");
    assert_eq!(outcome, Reservation::Reserved);

    let Reservation::Existing(existing) = keys
        .reserve("scope-1", "hash-b", IssuanceId::new(), t(1), t(86_401))
        .await
        .expect("second")
    else {
        panic!("the second reservation must see the first");
    };
    assert_eq!(existing.issuance_id, first);
    assert_eq!(existing.request_hash, "hash-a");
    assert_eq!(existing.created_at, t(0));

    // Another scope (another caller, or another key) is independent.
    assert_eq!(
        keys.reserve("scope-2", "hash-a", IssuanceId::new(), t(0), t(10))
            .await
            .expect("other scope"),
        Reservation::Reserved
    );
}

#[tokio::test]
async fn concurrent_reservations_of_one_key_elect_exactly_one() {
    let db = TestDb::start().await;
    let attempts = (0..8).map(|_| {
        let keys = db.store.idempotency_keys();
        async move {
            keys.reserve("scope", "hash", IssuanceId::new(), t(0), t(60))
                .await
                .expect("reserve")
        }
    });
    let outcomes = futures::future::join_all(attempts).await;
    let reserved = outcomes
        .iter()
        .filter(|o| **o == Reservation::Reserved)
        .count();
    assert_eq!(reserved, 1, "{outcomes:?}");
}

#[tokio::test]
async fn take_over_is_compare_and_set_on_the_previous_issuance() {
    let db = TestDb::start().await;
    let keys = db.store.idempotency_keys();
    let failed = IssuanceId::new();
    keys.reserve("scope", "hash", failed, t(0), t(60))
        .await
        .expect("reserve");
    let retry = IssuanceId::new();
    assert!(
        keys.take_over("scope", failed, retry, t(5))
            .await
            .expect("cas")
    );
    // A second retry that still believes in the failed attempt loses.
    assert!(
        !keys
            .take_over("scope", failed, IssuanceId::new(), t(6))
            .await
            .expect("cas lost")
    );
    let current = keys.get("scope").await.expect("get").expect("exists");
    assert_eq!(current.issuance_id, retry);
    assert_eq!(current.created_at, t(5));
}

#[tokio::test]
async fn keys_expire_through_a_ttl_index_on_expires_at() {
    let db = TestDb::start().await;
    let indexes: Vec<IndexModel> = db
        .raw(IDEMPOTENCY_KEYS)
        .list_indexes()
        .await
        .expect("list indexes")
        .try_collect()
        .await
        .expect("indexes");
    let ttl = indexes
        .iter()
        .find(|model| {
            model.options.as_ref().and_then(|o| o.name.as_deref())
                == Some("idempotency_keys_expires_at_ttl")
        })
        .unwrap_or_else(|| panic!("no TTL index in {indexes:?}"));
    assert_eq!(ttl.keys, doc! { "expires_at": 1 });
    let expire_after = ttl.options.as_ref().and_then(|o| o.expire_after);
    assert_eq!(expire_after.map(|d| d.as_secs()), Some(0));
}

#[tokio::test]
async fn an_expired_key_is_free_again_before_the_ttl_monitor_removes_it() {
    let db = TestDb::start().await;
    let keys = db.store.idempotency_keys();
    let first = IssuanceId::new();
    keys.reserve("scope-1", "hash-a", first, t(0), t(60))
        .await
        .expect("reserve");
    // Still bound one second before expiry.
    assert!(matches!(
        keys.reserve("scope-1", "hash-a", IssuanceId::new(), t(59), t(119))
            .await
            .expect("before expiry"),
        Reservation::Existing(existing) if existing.issuance_id == first
    ));
    // At expiry the key binds a new issuance and a new request.
    let second = IssuanceId::new();
    assert_eq!(
        keys.reserve("scope-1", "hash-b", second, t(60), t(120))
            .await
            .expect("at expiry"),
        Reservation::Reserved
    );
    let current = keys.get("scope-1").await.expect("get").expect("bound");
    assert_eq!(current.issuance_id, second);
    assert_eq!(current.request_hash, "hash-b");
}
