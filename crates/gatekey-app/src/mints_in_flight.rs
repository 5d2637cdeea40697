//! Mints before telemetry. A mint is what a person or a CI job waits for; the usage ingest is
//! telemetry that Kong's queue keeps and posts again. Both write to the same MongoDB, and a
//! database command of the ingest that a mint's command queues behind adds its whole duration to
//! the mint. So the ingest asks, before each of its commands, whether a mint is in flight in this
//! replica, and if one is, waits until none is ([`MintsInFlight::wait_for_quiet`]), for a bounded
//! time so that it still advances when mints never pause. While mints keep coming it also writes
//! in small commands ([`MintsInFlight::recently_active`]), so that a mint arriving just after one
//! started waits for at most a short one.
//!
//! The signal is per replica: a replica does not see another one's mints. Across replicas the
//! ingest's bound of concurrent writers per replica still holds.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// The mints of this replica under way: allowed, counted against the limits, not yet ended; cheap
/// to clone.
#[derive(Debug, Clone)]
pub struct MintsInFlight {
    inner: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// Mints in flight; receivers wake when it changes.
    count: watch::Sender<usize>,
    /// When the latest mint started, in milliseconds since `epoch`, plus one (0: none yet).
    last_start_ms: AtomicU64,
    epoch: Instant,
}

/// One mint in flight, until dropped.
#[derive(Debug)]
#[must_use = "the mint counts as in flight only while this is held"]
pub struct MintInFlight {
    inner: Arc<Shared>,
}

/// How [`MintsInFlight::wait_for_quiet`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quiet {
    /// No mint was in flight when asked.
    Already,
    /// The mints in flight when asked have ended (others may have started since).
    AfterWaiting,
    /// Mints were still in flight when the patience ran out.
    GaveUp,
}

impl Default for MintsInFlight {
    fn default() -> Self {
        Self {
            inner: Arc::new(Shared {
                count: watch::Sender::new(0),
                last_start_ms: AtomicU64::new(0),
                epoch: Instant::now(),
            }),
        }
    }
}

impl MintsInFlight {
    /// Counts a mint as in flight until the returned guard is dropped.
    pub fn enter(&self) -> MintInFlight {
        let since_epoch = self.inner.epoch.elapsed().as_millis();
        let stamp = u64::try_from(since_epoch).unwrap_or(u64::MAX - 1) + 1;
        self.inner.last_start_ms.store(stamp, Ordering::Relaxed);
        self.inner.count.send_modify(|count| *count += 1);
        MintInFlight {
            inner: Arc::clone(&self.inner),
        }
    }

    /// Waits until no mint is in flight, or `patience` has passed.
    pub async fn wait_for_quiet(&self, patience: Duration) -> Quiet {
        let mut count = self.inner.count.subscribe();
        if *count.borrow_and_update() == 0 {
            return Quiet::Already;
        }
        // The sender lives in `self`, so the channel cannot close while this waits.
        match tokio::time::timeout(patience, count.wait_for(|count| *count == 0)).await {
            Ok(_) => Quiet::AfterWaiting,
            Err(_) => Quiet::GaveUp,
        }
    }

    /// Whether a mint is in flight or one started within `window`.
    pub fn recently_active(&self, window: Duration) -> bool {
        if *self.inner.count.borrow() > 0 {
            return true;
        }
        match self.inner.last_start_ms.load(Ordering::Relaxed) {
            0 => false,
            stamp => {
                let started = self.inner.epoch + Duration::from_millis(stamp - 1);
                started.elapsed() < window
            }
        }
    }
}

impl Drop for MintInFlight {
    fn drop(&mut self) {
        self.inner
            .count
            .send_modify(|count| *count = count.saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_wait_ends_when_the_last_mint_in_flight_ends() {
        let mints = MintsInFlight::default();
        assert_eq!(
            mints.wait_for_quiet(Duration::from_secs(1)).await,
            Quiet::Already
        );
        let first = mints.enter();
        let second = mints.enter();
        let waiter = tokio::spawn({
            let mints = mints.clone();
            async move { mints.wait_for_quiet(Duration::from_secs(60)).await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(first);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!waiter.is_finished(), "one mint is still in flight");
        drop(second);
        assert_eq!(waiter.await.expect("waiter"), Quiet::AfterWaiting);
    }

    #[tokio::test(start_paused = true)]
    async fn the_wait_gives_up_after_its_patience_while_mints_never_pause() {
        let mints = MintsInFlight::default();
        let _endless = mints.enter();
        let asked = Instant::now();
        assert_eq!(
            mints.wait_for_quiet(Duration::from_millis(250)).await,
            Quiet::GaveUp
        );
        assert_eq!(asked.elapsed(), Duration::from_millis(250));
    }

    #[tokio::test(start_paused = true)]
    async fn mints_count_as_recent_while_in_flight_and_for_the_window_after_they_start() {
        let mints = MintsInFlight::default();
        let window = Duration::from_secs(1);
        assert!(!mints.recently_active(window), "no mint yet");
        let mint = mints.enter();
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(mints.recently_active(window), "a mint in flight");
        drop(mint);
        assert!(!mints.recently_active(window), "it started 5 s ago");
        drop(mints.enter());
        tokio::time::sleep(Duration::from_millis(900)).await;
        assert!(mints.recently_active(window));
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!mints.recently_active(window));
    }
}
