//! Limit counters: concurrent reservations through separate clients (as separate replicas would
//! make them) never exceed the cap or the rate; releases, expiry and the rolling window free
//! exactly what they should; callers and APIs are counted apart.
//!
//! Times are taken around the real clock: the counters' TTL index would delete documents whose
//! `expires_at` lies in the past while a test runs.

use chrono::{DateTime, Duration, SubsecRound as _, Utc};
use futures::future::join_all;
use gatekey_core::issuance::IssuanceId;
use gatekey_store::{LIMIT_COUNTERS, LimitVerdict, MintLimits, MintSlot, Store};
use mongodb::bson::{Document, doc};

use crate::support::TestDb;

const ISSUER: &str = "https://idp.example";
const SUBJECT: &str = "user:default/jane";

/// Now at BSON's millisecond precision, so times read back compare equal.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

fn limits(rate: u32, cap: u32) -> MintLimits {
    MintLimits {
        mints_per_window: rate,
        window: Duration::seconds(60),
        live_per_api: cap,
    }
}

fn slot(api_id: &str, expires_at: DateTime<Utc>) -> MintSlot<'_> {
    MintSlot {
        issuer: ISSUER,
        subject: SUBJECT,
        api_id,
        issuance_id: IssuanceId::new(),
        expires_at,
    }
}

/// The one counter document the test made.
async fn one_counter(db: &TestDb) -> Document {
    db.raw(LIMIT_COUNTERS)
        .find_one(doc! {})
        .await
        .expect("read")
        .expect("one counter")
}

/// Runs `count` reservations at once, spread round-robin over `stores`; the verdicts in order.
async fn reserve_concurrently(
    stores: &[Store],
    count: usize,
    limits: MintLimits,
    at: DateTime<Utc>,
) -> Vec<LimitVerdict> {
    join_all((0..count).map(|n| {
        let counters = stores[n % stores.len()].limit_counters();
        async move {
            counters
                .reserve(&slot("orders", at + Duration::minutes(10)), &limits, at)
                .await
                .expect("reserve")
        }
    }))
    .await
}

fn reserved(verdicts: &[LimitVerdict]) -> usize {
    verdicts
        .iter()
        .filter(|v| **v == LimitVerdict::Reserved)
        .count()
}

#[tokio::test]
async fn concurrent_reservations_through_three_clients_fill_the_cap_exactly() {
    let db = TestDb::start().await;
    let stores = [
        db.store.clone(),
        db.reconfigured(90, None).await,
        db.reconfigured(90, None).await,
    ];
    let at = now();
    let verdicts = reserve_concurrently(&stores, 60, limits(1_000, 5), at).await;
    assert_eq!(reserved(&verdicts), 5, "{verdicts:?}");
    for verdict in verdicts.iter().filter(|v| **v != LimitVerdict::Reserved) {
        let LimitVerdict::LiveCapReached { frees_at, holders } = verdict else {
            panic!("refused for the cap, not {verdict:?}");
        };
        assert_eq!(*frees_at, at + Duration::minutes(10));
        assert_eq!(holders.len(), 5);
    }
    let counter = one_counter(&db).await;
    assert_eq!(
        counter
            .get_document("live")
            .expect("live")
            .get_array("api:orders")
            .expect("slots")
            .len(),
        5
    );
}

#[tokio::test]
async fn concurrent_reservations_fill_the_rate_exactly_and_the_window_rolls() {
    let db = TestDb::start().await;
    let stores = [db.store.clone(), db.reconfigured(90, None).await];
    let at = now();
    let verdicts = reserve_concurrently(&stores, 40, limits(7, 1_000), at).await;
    assert_eq!(reserved(&verdicts), 7, "{verdicts:?}");
    assert!(
        verdicts.iter().all(|v| *v == LimitVerdict::Reserved
            || *v
                == LimitVerdict::RateReached {
                    frees_at: at + Duration::seconds(60)
                }),
        "{verdicts:?}"
    );
    // One minute later the seven have left the window: seven more fit, not eight.
    let later = at + Duration::seconds(60);
    let verdicts = reserve_concurrently(&stores, 10, limits(7, 1_000), later).await;
    assert_eq!(reserved(&verdicts), 7, "{verdicts:?}");
}

/// A reservation sent again after its reply was lost (the batch is retried once after a broken
/// connection) finds its mint counted and does not count it twice.
#[tokio::test]
async fn a_reservation_made_twice_counts_its_mint_once() {
    let db = TestDb::start().await;
    let counters = db.store.limit_counters();
    let at = now();
    let mint = slot("orders", at + Duration::minutes(10));
    let limits = limits(1_000, 2);
    for _ in 0..2 {
        let verdict = counters.reserve(&mint, &limits, at).await.expect("reserve");
        assert_eq!(verdict, LimitVerdict::Reserved);
    }
    let counter = one_counter(&db).await;
    assert_eq!(counter.get_array("recent").expect("recent").len(), 1);
    let live = counter.get_document("live").expect("live");
    assert_eq!(live.get_array("api:orders").expect("slots").len(), 1);
    // The second slot of the cap is still free for another mint, and then the cap is reached.
    let other = slot("orders", at + Duration::minutes(10));
    assert_eq!(
        counters
            .reserve(&other, &limits, at)
            .await
            .expect("reserve"),
        LimitVerdict::Reserved
    );
    let third = slot("orders", at + Duration::minutes(10));
    assert!(matches!(
        counters
            .reserve(&third, &limits, at)
            .await
            .expect("reserve"),
        LimitVerdict::LiveCapReached { .. }
    ));
}

#[tokio::test]
async fn a_release_frees_exactly_the_named_slot_and_releasing_twice_is_harmless() {
    let db = TestDb::start().await;
    let counters = db.store.limit_counters();
    let at = now();
    let limits = limits(100, 2);
    let first = slot("orders", at + Duration::minutes(10));
    for held in [first, slot("orders", at + Duration::minutes(20))] {
        assert_eq!(
            counters.reserve(&held, &limits, at).await.expect("reserve"),
            LimitVerdict::Reserved
        );
    }
    let third = slot("orders", at + Duration::minutes(30));
    assert!(matches!(
        counters.reserve(&third, &limits, at).await.expect("reserve"),
        LimitVerdict::LiveCapReached { frees_at, .. } if frees_at == at + Duration::minutes(10)
    ));
    for _ in 0..2 {
        counters
            .release(ISSUER, SUBJECT, "orders", &[first.issuance_id])
            .await
            .expect("release");
    }
    assert_eq!(
        counters
            .reserve(&third, &limits, at)
            .await
            .expect("reserve"),
        LimitVerdict::Reserved
    );
    assert!(matches!(
        counters
            .reserve(&slot("orders", at + Duration::minutes(5)), &limits, at)
            .await
            .expect("reserve"),
        LimitVerdict::LiveCapReached { frees_at, .. } if frees_at == at + Duration::minutes(20)
    ));
}

#[tokio::test]
async fn expired_slots_stop_counting_even_after_the_cap_was_lowered() {
    let db = TestDb::start().await;
    let counters = db.store.limit_counters();
    let at = now();
    for minutes in [1, 2, 3, 4] {
        let held = slot("orders", at + Duration::minutes(minutes));
        assert_eq!(
            counters
                .reserve(&held, &limits(100, 4), at)
                .await
                .expect("reserve"),
            LimitVerdict::Reserved
        );
    }
    // The cap drops to 2. After the first expiry three slots still count: refused.
    let after_first = at + Duration::seconds(90);
    assert!(matches!(
        counters
            .reserve(&slot("orders", at + Duration::minutes(30)), &limits(100, 2), after_first)
            .await
            .expect("reserve"),
        LimitVerdict::LiveCapReached { holders, .. } if holders.len() == 3
    ));
    // After the third expiry one counts: one more fits, then the cap is full again.
    let after_third = at + Duration::seconds(210);
    let verdicts = [
        counters
            .reserve(
                &slot("orders", at + Duration::minutes(30)),
                &limits(100, 2),
                after_third,
            )
            .await
            .expect("reserve"),
        counters
            .reserve(
                &slot("orders", at + Duration::minutes(30)),
                &limits(100, 2),
                after_third,
            )
            .await
            .expect("reserve"),
    ];
    assert_eq!(verdicts[0], LimitVerdict::Reserved);
    assert!(
        matches!(&verdicts[1], LimitVerdict::LiveCapReached { frees_at, .. } if *frees_at == at + Duration::minutes(4)),
        "{verdicts:?}"
    );
}

#[tokio::test]
async fn callers_and_apis_are_counted_apart() {
    let db = TestDb::start().await;
    let counters = db.store.limit_counters();
    let at = now();
    let limits = limits(100, 1);
    let expires_at = at + Duration::minutes(10);
    for api_id in ["orders", "orders.v2", "123"] {
        assert_eq!(
            counters
                .reserve(&slot(api_id, expires_at), &limits, at)
                .await
                .expect("reserve"),
            LimitVerdict::Reserved,
            "{api_id}"
        );
    }
    // The same subject at another issuer is another caller.
    let elsewhere = MintSlot {
        issuer: "https://other-idp.example",
        ..slot("orders", expires_at)
    };
    assert_eq!(
        counters
            .reserve(&elsewhere, &limits, at)
            .await
            .expect("reserve"),
        LimitVerdict::Reserved
    );
    for api_id in ["orders", "orders.v2", "123"] {
        assert!(
            matches!(
                counters
                    .reserve(&slot(api_id, expires_at), &limits, at)
                    .await
                    .expect("reserve"),
                LimitVerdict::LiveCapReached { .. }
            ),
            "{api_id}"
        );
    }
}

#[tokio::test]
async fn a_counter_expires_when_nothing_in_it_counts_any_more() {
    let db = TestDb::start().await;
    let at = now();
    let counters = db.store.limit_counters();
    let expires_at = at + Duration::minutes(10);
    counters
        .reserve(&slot("orders", expires_at), &limits(100, 5), at)
        .await
        .expect("reserve");
    // A rate entry counts for the window even when the credential is shorter.
    counters
        .reserve(
            &slot("billing", at + Duration::seconds(5)),
            &limits(100, 5),
            at,
        )
        .await
        .expect("reserve");
    let counter = one_counter(&db).await;
    assert_eq!(
        counter.get_datetime("expires_at").expect("expires_at"),
        &mongodb::bson::DateTime::from_millis(expires_at.timestamp_millis())
    );
    assert_eq!(counter.get_str("issuer").expect("issuer"), ISSUER);
    assert_eq!(counter.get_str("subject").expect("subject"), SUBJECT);
    let ttl = db
        .raw(LIMIT_COUNTERS)
        .list_indexes()
        .await
        .expect("indexes");
    let ttl: Vec<_> = futures::TryStreamExt::try_collect(ttl)
        .await
        .expect("indexes");
    let index = ttl
        .iter()
        .find(|model| {
            model.options.as_ref().and_then(|o| o.name.as_deref())
                == Some("limit_counters_expires_at_ttl")
        })
        .expect("the TTL index exists");
    assert_eq!(index.keys.keys().collect::<Vec<_>>(), ["expires_at"]);
    assert_eq!(
        index.options.as_ref().and_then(|o| o.expire_after),
        Some(std::time::Duration::ZERO)
    );
}
