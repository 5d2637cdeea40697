//! Usage of minted keys, from the gateway's own logs: Kong's `http-log` plugin posts an entry per
//! proxied request, and this service keeps those of consumers Gatekey minted, reduced to what the
//! audit needs ([`UsageEntry`]), and counts them per credential.
//!
//! An entry is attached to a credential only when everything Kong says about its consumer
//! matches the issuance record: the `custom_id` names the issuance, and the consumer id (a UUID
//! Gatekey never shows to callers) and username are those the record holds. Whoever can post to
//! the ingest endpoint holds its secret; without the consumer's id they still cannot attach calls
//! to a credential they only know the id of. Entries of other consumers, of no consumer
//! (anonymous or refused before authentication), and entries that are not Kong log entries are
//! dropped and only counted.
//!
//! Usage is best-effort telemetry that Kong's queue keeps and retries until it is accepted, while
//! mints are what callers wait for, on the same database. So the ingest takes a bounded share of
//! MongoDB: at most [`IngestCapacity::max_concurrent_writes`] batches touch it at once per
//! replica, at most [`IngestCapacity::max_waiting_batches`] more wait for their turn, and any
//! batch beyond those is refused at once ([`IngestError::Busy`]) without being read: Kong keeps it
//! and posts it again later, and the entries it already delivered count once. Within that share,
//! mints of this replica come first ([`crate::mints_in_flight`]): before each of its commands the
//! ingest waits while a mint is in flight (at most [`IngestCapacity::mint_patience`]), and while
//! mints keep coming it writes at most [`CONTENDED_CHUNK`] entries per command and takes at most
//! [`CONTENDED_SHARE_PERCENT`] % of the time; within a [`QUIET_SPELL`] of a mint each command
//! holds the database for about [`COMMAND_BUDGET`]. A mint then rarely finds an ingest command in
//! the database before its own, and only the first after a quiet spell a long one; the ingest
//! catches up once mints pause, Kong's queue holding the entries meanwhile.

mod minted;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use gatekey_core::issuance::{Issuance, IssuanceId};
use gatekey_core::usage::{
    CallIdentity, Latencies, MAX_METHOD_BYTES, MAX_NAME_BYTES, UsageEntry, entry_id,
    path_without_query, truncated,
};
use gatekey_kong::http_log::{LogBatch, LogEntry, NamedEntity};
use gatekey_store::{Recorded, Store, StoreError};
use tokio::sync::{Semaphore, SemaphorePermit};

use self::minted::{MintedConsumer, MintedConsumers};
use crate::mints_in_flight::{MintsInFlight, Quiet};

/// How recently a mint must have started for the ingest to write its smallest commands and rest
/// between them.
const MINT_WINDOW: Duration = Duration::from_secs(1);

/// Entries per command while mints keep coming: a mint that arrives just after one started waits
/// for a command of this size, not for a whole batch.
pub const CONTENDED_CHUNK: usize = 5;

/// How recently a mint must have started for the ingest to keep each command within
/// [`COMMAND_BUDGET`]. A mint seldom comes alone (a person tries a key and mints another, a
/// pipeline's jobs mint one after the other); the first after this long a quiet spell may wait for
/// one command of up to [`UNCONTENDED_CHUNK`] entries.
pub const QUIET_SPELL: Duration = Duration::from_secs(10);

/// Entries per command after a [`QUIET_SPELL`] without mints (Kong's batches in
/// `deploy/kong/http-log.yaml`), whatever `ingest.max_entries` allows. Small commands cost the
/// ingest about 40 % of its speed alone (each is a round trip, with the database idle meanwhile),
/// so it writes them only while mints are likely.
pub const UNCONTENDED_CHUNK: usize = 100;

/// How long one command of the ingest may hold the database while mints come now and then
/// (within a [`QUIET_SPELL`], not within the last [`MINT_WINDOW`]): a mint then waits for about
/// this long at most. The entries per command follow from the time the commands before took
/// ([`CommandSize`]); a batch's entries sorted by credential keep the counter updates to one or
/// two per command.
pub const COMMAND_BUDGET: Duration = Duration::from_millis(3);

/// The share of the time the ingest's commands take while mints keep coming: after each command
/// it rests for as long as the command took, times (100 − share) / share.
pub const CONTENDED_SHARE_PERCENT: u32 = 5;

/// Why a batch could not be recorded (the gateway retries it).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The ingest's share of the database is taken (writing and waiting batches at their
    /// bounds); the batch was not read.
    #[error("the ingest is busy: {writing} batches writing and {waiting} waiting")]
    Busy { writing: usize, waiting: usize },
}

/// How much of the database the ingest may take, per replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestCapacity {
    /// Batches whose reads and writes run at once.
    pub max_concurrent_writes: usize,
    /// Batches admitted to wait for a writing one to finish; more are refused as busy.
    pub max_waiting_batches: usize,
    /// How long a command of the ingest waits for this replica's mints in flight to end before
    /// it runs anyway (so the ingest still advances when mints never pause). Zero: the ingest
    /// neither waits for mints nor shrinks its commands while they run.
    pub mint_patience: Duration,
}

impl Default for IngestCapacity {
    fn default() -> Self {
        Self {
            max_concurrent_writes: 1,
            max_waiting_batches: 4,
            mint_patience: Duration::from_millis(250),
        }
    }
}

/// What became of each entry of a batch; the counts add up to the entries received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestReport {
    /// Stored and counted.
    pub stored: usize,
    /// Already stored by an earlier post of the same entry; not counted again.
    pub duplicates: usize,
    /// Of a consumer Gatekey did not mint (or whose details do not match its record).
    pub unknown_consumer: usize,
    /// Of no consumer: anonymous, or refused before authentication.
    pub anonymous: usize,
    /// Not a Kong log entry: position in the batch and why.
    pub invalid: Vec<InvalidEntry>,
}

/// An entry that is not a Kong log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidEntry {
    pub index: usize,
    pub reason: String,
}

impl IngestReport {
    /// Entries the batch held.
    pub fn received(&self) -> usize {
        self.stored + self.duplicates + self.unknown_consumer + self.anonymous + self.invalid.len()
    }

    fn count_metrics(&self) {
        for (outcome, count) in [
            ("stored", self.stored),
            ("duplicate", self.duplicates),
            ("unknown_consumer", self.unknown_consumer),
            ("anonymous", self.anonymous),
            ("invalid", self.invalid.len()),
        ] {
            if count > 0 {
                metrics::counter!("gatekey_usage_entries_total", "outcome" => outcome)
                    .increment(count as u64);
            }
        }
    }
}

/// Records the gateway's log entries of minted keys.
#[derive(Debug, Clone)]
pub struct UsageIngest {
    store: Store,
    capacity: IngestCapacity,
    /// Batches writing or waiting to ([`IngestCapacity`]'s two bounds added up).
    admitted: Arc<Semaphore>,
    /// Batches writing.
    writing: Arc<Semaphore>,
    consumers: MintedConsumers,
    /// This replica's mints, which go first.
    mints: MintsInFlight,
    /// Entries per command while no mint is recent.
    command_size: Arc<CommandSize>,
}

/// The entries per command that the database writes within [`COMMAND_BUDGET`], learnt from the
/// commands before: a command that took longer than the budget shrinks the next one in
/// proportion, a quicker one lets it grow, at most doubling, up to [`UNCONTENDED_CHUNK`]. Starts
/// at [`CONTENDED_CHUNK`], so the first command of a replica cannot hold the database long.
#[derive(Debug)]
struct CommandSize {
    entries: AtomicUsize,
}

impl CommandSize {
    fn new() -> Self {
        Self {
            entries: AtomicUsize::new(CONTENDED_CHUNK),
        }
    }

    fn entries(&self) -> usize {
        self.entries.load(Ordering::Relaxed)
    }

    /// Learns from a command of `entries` that took `took`.
    fn observe(&self, entries: usize, took: Duration) {
        let fitting = COMMAND_BUDGET.as_nanos() * entries as u128 / took.as_nanos().max(1);
        let next = usize::try_from(fitting)
            .unwrap_or(usize::MAX)
            .clamp(1, (2 * entries).min(UNCONTENDED_CHUNK));
        self.entries.store(next, Ordering::Relaxed);
    }
}

/// A batch the ingest has room for: its turn at the database is guaranteed, possibly after a
/// wait. Obtained from [`UsageIngest::admit`] before the batch is read.
#[derive(Debug)]
pub struct AdmittedBatch<'a> {
    ingest: &'a UsageIngest,
    _admitted: SemaphorePermit<'a>,
}

impl UsageIngest {
    /// Bounds of zero are raised to one writing batch and no waiting one.
    pub fn new(store: Store, capacity: IngestCapacity, mints: MintsInFlight) -> Self {
        let capacity = IngestCapacity {
            max_concurrent_writes: capacity.max_concurrent_writes.max(1),
            ..capacity
        };
        Self {
            store,
            admitted: Arc::new(Semaphore::new(
                capacity.max_concurrent_writes + capacity.max_waiting_batches,
            )),
            writing: Arc::new(Semaphore::new(capacity.max_concurrent_writes)),
            capacity,
            consumers: MintedConsumers::new(minted::CAPACITY),
            mints,
            command_size: Arc::new(CommandSize::new()),
        }
    }

    /// Waits while this replica has mints in flight, at most [`IngestCapacity::mint_patience`];
    /// counted in `gatekey_usage_ingest_mint_waits_total` when it had to wait.
    async fn let_mints_go_first(&self) {
        if self.capacity.mint_patience.is_zero() {
            return;
        }
        let outcome = match self.mints.wait_for_quiet(self.capacity.mint_patience).await {
            Quiet::Already => return,
            Quiet::AfterWaiting => "mints_ended",
            Quiet::GaveUp => "gave_up",
        };
        metrics::counter!("gatekey_usage_ingest_mint_waits_total", "outcome" => outcome)
            .increment(1);
    }

    /// Stores `entries` as [`gatekey_store::UsageRepo::record`] does, letting mints go first
    /// before each command: after a [`QUIET_SPELL`] without mints (or with the priority off), in
    /// commands of [`UNCONTENDED_CHUNK`] entries; within one, in commands that take about
    /// [`COMMAND_BUDGET`] ([`CommandSize`]); while mints keep coming ([`MINT_WINDOW`]), in commands
    /// of [`CONTENDED_CHUNK`] entries with rests between them ([`CONTENDED_SHARE_PERCENT`]). Also
    /// says how long to rest after the last command. A failure leaves the earlier commands'
    /// entries stored and counted; posted again, they are duplicates.
    async fn record(
        &self,
        entries: &[UsageEntry],
        expiries: &HashMap<IssuanceId, DateTime<Utc>>,
    ) -> Result<(Recorded, Duration), StoreError> {
        let mut recorded = Recorded::default();
        let mut rest = entries;
        let mut pause = Duration::ZERO;
        while !rest.is_empty() {
            tokio::time::sleep(pause).await;
            self.let_mints_go_first().await;
            let priority = !self.capacity.mint_patience.is_zero();
            let contended = priority && self.mints.recently_active(MINT_WINDOW);
            let size = if contended {
                CONTENDED_CHUNK
            } else if priority && self.mints.recently_active(QUIET_SPELL) {
                self.command_size.entries()
            } else {
                UNCONTENDED_CHUNK
            }
            .min(rest.len());
            let (chunk, after) = rest.split_at(size);
            let started = tokio::time::Instant::now();
            let written = self.store.usage().record(chunk, expiries).await?;
            self.command_size.observe(size, started.elapsed());
            recorded.stored += written.stored;
            recorded.duplicates += written.duplicates;
            rest = after;
            pause = if contended {
                let share = CONTENDED_SHARE_PERCENT;
                started.elapsed() * (100 - share) / share
            } else {
                Duration::ZERO
            };
        }
        Ok((recorded, pause))
    }

    /// Room for one more batch, or [`IngestError::Busy`] at once (counted in
    /// `gatekey_usage_ingest_shed_total`) when the writing and waiting batches are at their
    /// bounds.
    pub fn admit(&self) -> Result<AdmittedBatch<'_>, IngestError> {
        let Ok(permit) = self.admitted.try_acquire() else {
            metrics::counter!("gatekey_usage_ingest_shed_total").increment(1);
            return Err(self.busy());
        };
        Ok(AdmittedBatch {
            ingest: self,
            _admitted: permit,
        })
    }

    fn busy(&self) -> IngestError {
        IngestError::Busy {
            writing: self.capacity.max_concurrent_writes,
            waiting: self.capacity.max_waiting_batches,
        }
    }

    /// The consumers Gatekey minted for `ids`: those remembered, and the records of the others
    /// read in one query (and remembered when active). Ids without a record are absent.
    async fn minted_consumers(
        &self,
        ids: &[IssuanceId],
    ) -> Result<HashMap<IssuanceId, MintedConsumer>, IngestError> {
        let (mut known, unknown) = self.consumers.split(ids);
        if !unknown.is_empty() {
            self.let_mints_go_first().await;
            for record in self.store.issuances().get_many(&unknown).await? {
                if let Some(consumer) = self.consumers.remember(&record) {
                    known.insert(record.id, consumer);
                }
            }
        }
        Ok(known)
    }
}

impl AdmittedBatch<'_> {
    /// Keeps the entries of minted consumers and counts them; posting the same batch again
    /// stores and counts nothing more. Waits for a writing slot before touching the database.
    pub async fn ingest(self, batch: LogBatch) -> Result<IngestReport, IngestError> {
        let ingest = self.ingest;
        let mut report = IngestReport::default();
        let mut claimed = Vec::new();
        for (index, entry) in batch.into_iter().enumerate() {
            match entry {
                Err(reason) => report.invalid.push(InvalidEntry { index, reason }),
                Ok(entry) => match claimed_issuance(&entry) {
                    Claim::Anonymous => report.anonymous += 1,
                    Claim::Foreign => report.unknown_consumer += 1,
                    Claim::Issuance(id) => claimed.push((index, id, entry)),
                },
            }
        }
        let mut ids: Vec<IssuanceId> = claimed.iter().map(|(_, id, _)| *id).collect();
        ids.sort_unstable();
        ids.dedup();
        // A batch of no minted consumer's entries has nothing to read or write.
        let writing = if ids.is_empty() {
            None
        } else {
            // The semaphore is never closed, so this only waits.
            let slot = Arc::clone(&ingest.writing).acquire_owned().await;
            Some(slot.map_err(|_| ingest.busy())?)
        };
        let consumers = ingest.minted_consumers(&ids).await?;
        let mut entries = Vec::with_capacity(claimed.len());
        for (index, id, entry) in claimed {
            let Some(consumer) = consumers.get(&id).filter(|minted| minted.logged_in(&entry))
            else {
                report.unknown_consumer += 1;
                continue;
            };
            match usage_entry(consumer.issuance_id, &entry) {
                Ok(usage) => entries.push(usage),
                Err(reason) => report.invalid.push(InvalidEntry { index, reason }),
            }
        }
        // A command counts calls with one statement per credential: entries of one credential
        // side by side make fewer statements per command.
        entries.sort_by_key(|entry| entry.issuance_id);
        let expiries = consumers
            .values()
            .map(|consumer| (consumer.issuance_id, consumer.expires_at))
            .collect();
        let (recorded, pause) = ingest.record(&entries, &expiries).await?;
        // The answer goes now; the writing slot is kept through the pause, so the next batch
        // does not start within it either.
        if let Some(slot) = writing.filter(|_| !pause.is_zero()) {
            tokio::spawn(async move {
                tokio::time::sleep(pause).await;
                drop(slot);
            });
        }
        report.stored = recorded.stored;
        report.duplicates = recorded.duplicates;
        report.invalid.sort_by_key(|invalid| invalid.index);
        report.count_metrics();
        Ok(report)
    }
}

/// The reconciler's hook when it reaps expired credentials: counts those whose key was never
/// used (`gatekey_credentials_unused_at_expiry_total`), from their usage counters in one query.
/// A failed read is logged and costs only the metric, never the reap.
pub(crate) async fn count_unused_at_expiry(store: &Store, expired: &[Issuance]) {
    let ids: Vec<IssuanceId> = expired.iter().map(|issuance| issuance.id).collect();
    match store.usage().summaries(&ids).await {
        Ok(used) => {
            let unused = ids
                .iter()
                .filter(|id| used.get(id).is_none_or(|summary| summary.calls == 0))
                .count();
            metrics::counter!("gatekey_credentials_unused_at_expiry_total")
                .increment(unused as u64);
        }
        Err(err) => {
            tracing::warn!(error = %err, "cannot count expired credentials that were never used");
        }
    }
}

/// Whose credential an entry claims to be a call of, before the record is read.
enum Claim {
    Anonymous,
    /// Not a consumer Gatekey names.
    Foreign,
    Issuance(IssuanceId),
}

fn claimed_issuance(entry: &LogEntry) -> Claim {
    let Some(consumer) = &entry.consumer else {
        return Claim::Anonymous;
    };
    consumer
        .custom_id
        .as_deref()
        .and_then(|custom_id| custom_id.parse().ok())
        .map_or(Claim::Foreign, Claim::Issuance)
}

/// The audit fields of a log entry: no header, no query string.
fn usage_entry(issuance_id: IssuanceId, entry: &LogEntry) -> Result<UsageEntry, String> {
    let at = started_at(entry.started_at)
        .ok_or_else(|| "started_at is not a time in milliseconds since the epoch".to_owned())?;
    let client_ip = entry
        .client_ip
        .as_deref()
        .and_then(|ip| ip.parse::<std::net::IpAddr>().ok())
        .map(|ip| ip.to_string());
    let consumer_id = entry
        .consumer
        .as_ref()
        .map(|consumer| consumer.id.as_str())
        .unwrap_or_default();
    let call = CallIdentity {
        request_id: &entry.request.id,
        started_at_ms: at.timestamp_millis(),
        consumer_id,
        method: &entry.request.method,
        uri: &entry.request.uri,
        client_ip: entry.client_ip.as_deref().unwrap_or_default(),
    };
    Ok(UsageEntry {
        id: entry_id(&call),
        issuance_id,
        at,
        method: truncated(&entry.request.method, MAX_METHOD_BYTES),
        route: entry.route.as_ref().and_then(name_of),
        service: entry.service.as_ref().and_then(name_of),
        path: path_without_query(&entry.request.uri),
        status: entry.response.status,
        latencies: Latencies {
            request_ms: whole_ms(entry.latencies.request).unwrap_or(0),
            upstream_ms: whole_ms(entry.latencies.proxy),
            gateway_ms: whole_ms(entry.latencies.kong).unwrap_or(0),
        },
        client_ip,
    })
}

/// A route's or service's name, or its id when it has none.
fn name_of(entity: &NamedEntity) -> Option<String> {
    entity
        .name
        .as_deref()
        .or(entity.id.as_deref())
        .map(|name| truncated(name, MAX_NAME_BYTES))
}

fn started_at(ms: f64) -> Option<DateTime<Utc>> {
    if !ms.is_finite() || !(0.0..=4.0e15).contains(&ms) {
        return None;
    }
    #[expect(
        clippy::cast_possible_truncation,
        reason = "a finite number of milliseconds between 0 and 4e15, checked above"
    )]
    DateTime::from_timestamp_millis(ms.round() as i64)
}

/// Kong's millisecond latencies as whole milliseconds; `None` for Kong's -1 ("no upstream").
fn whole_ms(ms: f64) -> Option<u32> {
    if !ms.is_finite() || ms < 0.0 {
        return None;
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a finite, non-negative number, clamped to u32"
    )]
    Some(ms.round().min(f64::from(u32::MAX)) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_size_follows_the_time_its_commands_take() {
        let size = CommandSize::new();
        assert_eq!(size.entries(), CONTENDED_CHUNK);
        // Quick commands: the size doubles, up to the largest.
        size.observe(5, COMMAND_BUDGET / 10);
        assert_eq!(size.entries(), 10);
        for _ in 0..10 {
            size.observe(size.entries(), COMMAND_BUDGET / 10);
        }
        assert_eq!(size.entries(), UNCONTENDED_CHUNK);
        // A command four times over the budget: a quarter of its entries next.
        size.observe(100, COMMAND_BUDGET * 4);
        assert_eq!(size.entries(), 25);
        // Exactly on budget: unchanged.
        size.observe(25, COMMAND_BUDGET);
        assert_eq!(size.entries(), 25);
        // However slow the database, a command still writes one entry.
        size.observe(25, Duration::from_secs(10));
        assert_eq!(size.entries(), 1);
        size.observe(1, Duration::ZERO);
        assert_eq!(size.entries(), 2);
    }

    #[test]
    fn latencies_and_start_times_outside_their_range_are_refused_or_absent() {
        assert_eq!(whole_ms(-1.0), None);
        assert_eq!(whole_ms(f64::NAN), None);
        assert_eq!(whole_ms(15.5), Some(16));
        assert_eq!(whole_ms(1e20), Some(u32::MAX));
        assert!(started_at(1_700_000_000_123.0).is_some());
        assert_eq!(started_at(-5.0), None);
        assert_eq!(started_at(f64::INFINITY), None);
        assert_eq!(started_at(1e300), None);
    }
}
