//! One replica's term as the holder of a lease taken on MongoDB's clock (the `reconciler` lease,
//! or a bulk revocation job's), renewed between batches, and the local bounds derived from it.
//!
//! The lease's expiry is MongoDB's `$$NOW` plus its length, so replicas' clocks never take part
//! in the election. Locally, the term only trusts its monotonic clock: the lease is held at least
//! until the moment the renewal was *sent* plus the lease length (MongoDB read its clock after
//! that), so work bounded by that instant ends before any other replica can take over. The pass's
//! notion of "now" for expiry queries is MongoDB's time at the last renewal plus the monotonic
//! time since, so a replica with a skewed clock neither takes the lease early nor expires
//! credentials early.

use std::time::Duration;

use chrono::{DateTime, Utc};
use gatekey_store::{LeaseRepo, StoreError};
use tokio::time::Instant;

/// This replica's hold on the lease, while it lasts.
#[derive(Debug)]
pub(crate) struct Term {
    leases: LeaseRepo,
    /// The lease document's name.
    name: String,
    holder: String,
    length: Duration,
    /// Until when the lease is surely held (local monotonic clock).
    held_until: Instant,
    /// MongoDB's time at the last renewal, and when (locally) that answer came back.
    db_time: DateTime<Utc>,
    db_time_read_at: Instant,
}

impl Term {
    /// Takes or renews the lease `name` for `holder`; `None` when another replica holds it.
    pub(crate) async fn begin(
        leases: LeaseRepo,
        name: &str,
        holder: &str,
        length: Duration,
    ) -> Result<Option<Self>, StoreError> {
        let mut term = Self {
            leases,
            name: name.to_owned(),
            holder: holder.to_owned(),
            length,
            held_until: Instant::now(),
            db_time: DateTime::<Utc>::MIN_UTC,
            db_time_read_at: Instant::now(),
        };
        Ok(term.renew().await?.then_some(term))
    }

    /// Renews the lease; `false` when it was lost (another replica took it after it expired).
    pub(crate) async fn renew(&mut self) -> Result<bool, StoreError> {
        let sent_at = Instant::now();
        let Some(lease) = self
            .leases
            .try_acquire(&self.name, &self.holder, self.length)
            .await?
        else {
            self.held_until = sent_at;
            return Ok(false);
        };
        let read_at = Instant::now();
        self.held_until = sent_at + self.length;
        self.db_time = lease
            .renewed_at
            .unwrap_or(lease.expires_at - crate::chrono_duration(self.length));
        self.db_time_read_at = read_at;
        Ok(true)
    }

    /// Until when (local monotonic clock) this replica surely holds the lease.
    pub(crate) fn held_until(&self) -> Instant {
        self.held_until
    }

    /// Gives the lease up at once, so another replica need not wait for its expiry.
    pub(crate) async fn release(self) -> Result<(), StoreError> {
        self.leases.release(&self.name, &self.holder).await
    }

    /// MongoDB's time now, estimated from the last renewal.
    pub(crate) fn db_now(&self) -> DateTime<Utc> {
        self.db_time + crate::chrono_duration(self.db_time_read_at.elapsed())
    }
}
