//! Mints before telemetry. A mint is what a person or a CI job waits for; the usage ingest is
//! telemetry that Kong's queue keeps and posts again. Both write to the same MongoDB, and a
//! database command of the ingest that a mint's command queues behind adds its whole duration to
//! the mint. So the ingest asks, before each of its commands, whether a mint is in flight in this
//! replica, and if one is, waits until none is ([`MintsInFlight::wait_for_quiet`]), for a bounded
//! time so that it still advances when mints never pause. While mints keep coming it also writes
//! in small commands ([`MintsInFlight::recently_active`]), so that a mint arriving just after one
//! started waits for at most a short one.
//!
//! A mint counts from the moment the policy allows it ([`MintsInFlight::arriving`]), so that
//! the ingest does not slip a command in between the mint's first database command (its
//! limits) and the next. Only a mint its limits then counted marks mints as recent
//! ([`Arriving::counted`]), and a caller the limits refused does not count before its limits
//! again until the refusal ends ([`MintsInFlight::refused`]): whoever sends mints without pause
//! holds the ingest back no more often than the mint rate lets them mint.
//!
//! The signal is per replica: a replica does not see another one's mints. Across replicas the
//! ingest's bound of concurrent writers per replica still holds.

use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use gatekey_core::principal::Principal;
use tokio::sync::watch;
use tokio::time::Instant;

/// Callers remembered as refused by their limits, per replica; beyond it the least used are
/// forgotten (a forgotten caller's next mint counts before its limits once more).
const REFUSED_CALLERS: u64 = 10_000;

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
    /// Of those, the mints the limits counted.
    counted: AtomicUsize,
    /// When the latest counted mint started, in milliseconds since `epoch`, plus one (0: none
    /// yet).
    last_start_ms: AtomicU64,
    epoch: Instant,
    /// Callers (hashed issuer and subject) the limits refused, and until when.
    refused: moka::sync::Cache<u64, Instant>,
    /// Keyed per process, so nobody can choose subjects that collide with another caller's.
    caller_hasher: RandomState,
}

/// A mint the policy allowed, until its limits count it ([`Arriving::counted`]) or refuse it
/// (dropped).
#[derive(Debug)]
#[must_use = "the mint counts as in flight only while this is held"]
pub struct Arriving {
    mints: MintsInFlight,
    /// Absent for a caller the limits refused lately.
    early: Option<MintInFlight>,
}

impl Arriving {
    /// The limits counted the mint: it is in flight, and marks mints as recent, until the guard
    /// is dropped.
    pub fn counted(self) -> MintInFlight {
        let mut mint = self.early.unwrap_or_else(|| self.mints.count_one());
        self.mints.mark_counted(&mut mint);
        mint
    }
}

/// One mint in flight, until dropped.
#[derive(Debug)]
#[must_use = "the mint counts as in flight only while this is held"]
pub struct MintInFlight {
    inner: Arc<Shared>,
    /// Whether the limits counted it (see [`MintsInFlight::recently_active`]).
    counted: bool,
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
                counted: AtomicUsize::new(0),
                last_start_ms: AtomicU64::new(0),
                epoch: Instant::now(),
                refused: moka::sync::Cache::builder()
                    .max_capacity(REFUSED_CALLERS)
                    .build(),
                caller_hasher: RandomState::new(),
            }),
        }
    }
}

impl MintsInFlight {
    /// A mint of `caller` that the policy allowed: in flight from now, unless the limits
    /// refused `caller` lately, in which case only once they count it.
    pub fn arriving(&self, caller: &Principal) -> Arriving {
        let refused_until = self.inner.refused.get(&self.caller_key(caller));
        let refused = refused_until.is_some_and(|until| until > Instant::now());
        Arriving {
            mints: self.clone(),
            early: (!refused).then(|| self.count_one()),
        }
    }

    /// The limits refused a mint of `caller` for `retry_after`: until then their mints count as
    /// in flight only once the limits count them.
    pub fn refused(&self, caller: &Principal, retry_after: Duration) {
        let until = Instant::now() + retry_after;
        self.inner.refused.insert(self.caller_key(caller), until);
    }

    fn caller_key(&self, caller: &Principal) -> u64 {
        self.inner
            .caller_hasher
            .hash_one((&caller.issuer, &caller.subject))
    }

    fn count_one(&self) -> MintInFlight {
        self.inner.count.send_modify(|count| *count += 1);
        MintInFlight {
            inner: Arc::clone(&self.inner),
            counted: false,
        }
    }

    fn mark_counted(&self, mint: &mut MintInFlight) {
        let since_epoch = self.inner.epoch.elapsed().as_millis();
        let stamp = u64::try_from(since_epoch).unwrap_or(u64::MAX - 1) + 1;
        self.inner.last_start_ms.store(stamp, Ordering::Relaxed);
        self.inner.counted.fetch_add(1, Ordering::Relaxed);
        mint.counted = true;
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

    /// Whether a mint the limits counted is in flight, or one started within `window`.
    pub fn recently_active(&self, window: Duration) -> bool {
        if self.inner.counted.load(Ordering::Relaxed) > 0 {
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
        if self.counted {
            self.inner.counted.fetch_sub(1, Ordering::Relaxed);
        }
        self.inner
            .count
            .send_modify(|count| *count = count.saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mint of one caller that the policy allowed and the limits counted, as `Minter` makes it.
    fn counted_mint(mints: &MintsInFlight) -> MintInFlight {
        let caller = Principal::new("https://idp.example", "someone", []);
        mints.arriving(&caller).counted()
    }

    #[tokio::test(start_paused = true)]
    async fn the_wait_ends_when_the_last_mint_in_flight_ends() {
        let mints = MintsInFlight::default();
        assert_eq!(
            mints.wait_for_quiet(Duration::from_secs(1)).await,
            Quiet::Already
        );
        let first = counted_mint(&mints);
        let second = counted_mint(&mints);
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
        let _endless = counted_mint(&mints);
        let asked = Instant::now();
        assert_eq!(
            mints.wait_for_quiet(Duration::from_millis(250)).await,
            Quiet::GaveUp
        );
        assert_eq!(asked.elapsed(), Duration::from_millis(250));
    }

    #[tokio::test(start_paused = true)]
    async fn an_allowed_mint_counts_before_its_limits_unless_they_refused_its_caller_lately() {
        let mints = MintsInFlight::default();
        let (jane, joe) = (
            Principal::new("https://idp.example", "jane", []),
            Principal::new("https://idp.example", "joe", []),
        );
        let window = Duration::from_secs(1);
        let arriving = mints.arriving(&jane);
        assert_eq!(
            mints.wait_for_quiet(Duration::ZERO).await,
            Quiet::GaveUp,
            "in flight before its limits"
        );
        assert!(
            !mints.recently_active(Duration::ZERO),
            "not recent until counted"
        );
        drop(arriving);
        assert_eq!(mints.wait_for_quiet(Duration::ZERO).await, Quiet::Already);

        mints.refused(&jane, Duration::from_secs(30));
        let refused_arrival = mints.arriving(&jane);
        assert_eq!(
            mints.wait_for_quiet(Duration::ZERO).await,
            Quiet::Already,
            "jane was refused 0 s ago"
        );
        let other = mints.arriving(&joe);
        assert_eq!(mints.wait_for_quiet(Duration::ZERO).await, Quiet::GaveUp);
        drop(other);
        // Counted after all (a slot freed up): in flight and recent.
        let counted = refused_arrival.counted();
        assert_eq!(mints.wait_for_quiet(Duration::ZERO).await, Quiet::GaveUp);
        assert!(mints.recently_active(window));
        drop(counted);
        assert_eq!(mints.wait_for_quiet(Duration::ZERO).await, Quiet::Already);

        // Once the refusal has run out, jane's mints count early again.
        tokio::time::sleep(Duration::from_secs(31)).await;
        let _arriving = mints.arriving(&jane);
        assert_eq!(mints.wait_for_quiet(Duration::ZERO).await, Quiet::GaveUp);
    }

    #[tokio::test(start_paused = true)]
    async fn mints_count_as_recent_while_in_flight_and_for_the_window_after_they_start() {
        let mints = MintsInFlight::default();
        let window = Duration::from_secs(1);
        assert!(!mints.recently_active(window), "no mint yet");
        let mint = counted_mint(&mints);
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(mints.recently_active(window), "a mint in flight");
        drop(mint);
        assert!(!mints.recently_active(window), "it started 5 s ago");
        drop(counted_mint(&mints));
        tokio::time::sleep(Duration::from_millis(900)).await;
        assert!(mints.recently_active(window));
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!mints.recently_active(window));
    }
}
