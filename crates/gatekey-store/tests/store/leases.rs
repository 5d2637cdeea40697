//! Leases: one holder at a time, renewal by the holder, takeover after expiry, release; every
//! time is MongoDB's (`$$NOW`), so these run against the server's real clock.

use std::time::Duration;

use crate::support::TestDb;

const LEASE: &str = "reconciler";
const SHORT: Duration = Duration::from_millis(600);
const LONG: Duration = Duration::from_secs(60);

#[tokio::test]
async fn only_one_holder_until_the_lease_expires_or_is_released() {
    let db = TestDb::start().await;
    let leases = db.store.leases();

    let taken = leases
        .try_acquire(LEASE, "a", SHORT)
        .await
        .expect("a takes")
        .expect("a holds");
    let renewed_at = taken.renewed_at.expect("renewed_at");
    assert_eq!(
        taken.expires_at - renewed_at,
        chrono::Duration::milliseconds(600)
    );
    assert!(
        leases
            .try_acquire(LEASE, "b", LONG)
            .await
            .expect("b refused")
            .is_none()
    );
    // The holder renews: the expiry moves, the time it took the lease does not.
    let renewed = leases
        .try_acquire(LEASE, "a", SHORT)
        .await
        .expect("a renews")
        .expect("a holds");
    assert!(renewed.expires_at >= taken.expires_at);
    assert_eq!(renewed.acquired_at, taken.acquired_at);
    assert!(
        leases
            .try_acquire(LEASE, "b", LONG)
            .await
            .expect("b refused")
            .is_none()
    );
    // a stops renewing (it died): b takes over once the expiry has passed on MongoDB's clock.
    tokio::time::sleep(SHORT + Duration::from_millis(100)).await;
    let b = leases
        .try_acquire(LEASE, "b", LONG)
        .await
        .expect("b takes over")
        .expect("b holds");
    assert!(b.acquired_at > taken.acquired_at);
    let stored = leases.get(LEASE).await.expect("get").expect("exists");
    assert_eq!(stored, b);
    assert!(
        leases
            .try_acquire(LEASE, "a", SHORT)
            .await
            .expect("a refused")
            .is_none()
    );

    // Releasing by someone else does nothing; the holder's release frees it at once.
    leases.release(LEASE, "a").await.expect("no-op release");
    assert!(
        leases
            .try_acquire(LEASE, "a", SHORT)
            .await
            .expect("still b")
            .is_none()
    );
    leases.release(LEASE, "b").await.expect("release");
    assert!(
        leases
            .try_acquire(LEASE, "a", SHORT)
            .await
            .expect("a takes")
            .is_some()
    );
}

#[tokio::test]
async fn concurrent_takers_of_a_free_lease_elect_exactly_one() {
    let db = TestDb::start().await;
    let attempts = (0..8).map(|n| {
        let leases = db.store.leases();
        async move {
            leases
                .try_acquire(LEASE, &format!("replica-{n}"), LONG)
                .await
                .expect("attempt")
        }
    });
    let won = futures::future::join_all(attempts).await;
    assert_eq!(won.iter().filter(|w| w.is_some()).count(), 1, "{won:?}");
}
