//! Leases: one holder at a time, renewal by the holder, takeover after expiry, release.

use chrono::Duration;

use crate::support::{TestDb, t};

const LEASE: &str = "reconciler";

#[tokio::test]
async fn only_one_holder_until_the_lease_expires_or_is_released() {
    let db = TestDb::start().await;
    let leases = db.store.leases();
    let ttl = Duration::seconds(30);

    assert!(
        leases
            .try_acquire(LEASE, "a", t(0), t(0) + ttl)
            .await
            .expect("a takes")
    );
    assert!(
        !leases
            .try_acquire(LEASE, "b", t(10), t(10) + ttl)
            .await
            .expect("b refused")
    );
    // The holder renews; the other still cannot take it before the renewed expiry.
    assert!(
        leases
            .try_acquire(LEASE, "a", t(20), t(20) + ttl)
            .await
            .expect("a renews")
    );
    assert!(
        !leases
            .try_acquire(LEASE, "b", t(40), t(40) + ttl)
            .await
            .expect("b refused")
    );
    // a stops renewing (it died): b takes over once the expiry has passed.
    assert!(
        leases
            .try_acquire(LEASE, "b", t(50), t(50) + ttl)
            .await
            .expect("b takes over")
    );
    let lease = leases.get(LEASE).await.expect("get").expect("exists");
    assert_eq!(lease.holder, "b");
    assert_eq!(lease.expires_at, t(80));
    assert!(
        !leases
            .try_acquire(LEASE, "a", t(51), t(51) + ttl)
            .await
            .expect("a refused")
    );

    // Releasing by someone else does nothing; the holder's release frees it at once.
    leases
        .release(LEASE, "a", t(52))
        .await
        .expect("no-op release");
    assert!(
        !leases
            .try_acquire(LEASE, "a", t(53), t(53) + ttl)
            .await
            .expect("still b")
    );
    leases.release(LEASE, "b", t(54)).await.expect("release");
    assert!(
        leases
            .try_acquire(LEASE, "a", t(54), t(54) + ttl)
            .await
            .expect("a takes")
    );
}

#[tokio::test]
async fn concurrent_takers_of_a_free_lease_elect_exactly_one() {
    let db = TestDb::start().await;
    let attempts = (0..8).map(|n| {
        let leases = db.store.leases();
        async move {
            leases
                .try_acquire(LEASE, &format!("replica-{n}"), t(0), t(30))
                .await
                .expect("attempt")
        }
    });
    let won = futures::future::join_all(attempts).await;
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "{won:?}");
}
