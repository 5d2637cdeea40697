//! The reconciler: the loop that makes Kong agree with the issuance records, whatever happened to
//! the mints that wrote them (a crash, a lost response, a failed rollback, a consumer deleted
//! behind Gatekey's back), at any number of credentials.
//!
//! One replica at a time leads, elected through the `reconciler` lease on MongoDB's clock
//! ([`crate::term`]). A pass of the leader is bounded: it stops when its time budget
//! (`pass_budget_seconds`, below the lease) is spent, works in batches of `batch_size`, renews
//! the lease between batches and stops as soon as it is lost; no batch runs past the instant
//! until which the lease is surely held. Whatever a pass leaves undone, the next one continues.
//! A pass, in order:
//!
//! 1. **Stale pending** records (older than `pending_timeout`, so no mint can still be running)
//!    become `failed`, free their slot, then their consumer is deleted. The record moves first:
//!    a mint finishing at the same moment fails its own `pending -> active` step and rolls back.
//! 2. **Expired** `active` records not yet reaped, found by an indexed query on
//!    `(state, reaped_at, expires_at)` against MongoDB's time: their consumer is deleted by id
//!    (absent is fine), the record notes `reaped_at` (it stays `active` and shows as expired),
//!    the slot is freed. No Kong listing is involved.
//! 3. **Missing consumers**: a batch of live `active` records (a walk in id order, resumed next
//!    pass) is checked with a `GET` per consumer. A record whose consumer is still missing after
//!    `orphan_grace` (so a revocation under way is not mistaken for one) is marked `revoked` by
//!    [`CONSUMER_MISSING_BY`], its slot freed: Kong deleted its key before its expiry, which is
//!    what `revoked` means, and no new state is needed.
//! 4. **Orphans**: Kong's consumers tagged `gatekey`, read page by page, a bounded number of
//!    pages per pass; a new sweep starts at most every `orphan_interval`. A consumer older than
//!    `orphan_grace` with no record, or with a `failed` or `revoked` one, is deleted.
//!
//! Every resolution is audited through the application's audit trail (action `expire` or
//! `reconcile`, the [`ReapKind`] as the reason, the replica in the detail).

mod outcomes;
mod settings;
mod steps;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use gatekey_core::Clock;
use gatekey_core::issuance::IssuanceId;
use gatekey_kong::{KongClient, KongError};
use gatekey_store::{Store, StoreError};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::audit::AuditTrail;
use crate::limits::MintLimiter;
use crate::term::Term;
use outcomes::Outcomes;
pub use outcomes::ReapKind;
pub use settings::ReconcilerSettings;

/// Name of the lease document that elects the reconciler's leader.
pub const LEASE_NAME: &str = "reconciler";

/// `revoked_by` of an `active` record whose consumer Kong no longer had.
pub const CONSUMER_MISSING_BY: &str = "gatekey:reconciler:consumer-missing";

/// Kong calls one batch makes at once.
const KONG_CONCURRENCY: usize = 8;

/// Why a pass stopped early; the next pass continues.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("Kong: {0}")]
    Kong(#[from] KongError),
    #[error("MongoDB: {0}")]
    Store(#[from] StoreError),
}

/// How a pass ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassEnd {
    /// Nothing was left to do.
    Done,
    /// The time budget was spent; the next pass continues.
    BudgetSpent,
    /// The lease was lost (or about to run out) between batches.
    LeaseLost,
}

/// What one pass did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassReport {
    pub stale_pending: u64,
    pub expired: u64,
    pub consumers_checked: u64,
    pub consumers_missing: u64,
    pub orphan_pages: u64,
    pub orphans: u64,
    pub end: PassEnd,
    /// From taking the lease to the end of the last batch.
    pub elapsed: Duration,
}

impl PassReport {
    fn new() -> Self {
        Self {
            stale_pending: 0,
            expired: 0,
            consumers_checked: 0,
            consumers_missing: 0,
            orphan_pages: 0,
            orphans: 0,
            end: PassEnd::Done,
            elapsed: Duration::ZERO,
        }
    }

    fn did_something(&self) -> bool {
        self.stale_pending + self.expired + self.consumers_missing + self.orphans > 0
    }
}

/// What the reconciler works with: narrow handles, not the server's state.
#[derive(Debug)]
pub struct ReconcilerParts {
    pub store: Store,
    pub kong: KongClient,
    /// The application's audit trail and limiter, shared with the mint and revoke.
    pub audit: AuditTrail,
    pub limits: MintLimiter,
    /// Timestamps of records and events only; every decision about time uses MongoDB's clock.
    pub clock: Arc<dyn Clock>,
    pub settings: ReconcilerSettings,
    /// This replica's name in the lease and in audit details ([`Reconciler::instance_name`]).
    pub instance: String,
}

/// The immutable half of a reconciler, shared by the steps.
#[derive(Debug)]
struct Context {
    store: Store,
    kong: KongClient,
    clock: Arc<dyn Clock>,
    settings: ReconcilerSettings,
    instance: String,
    outcomes: Outcomes,
}

/// Where the slower, resumable walks stand between passes (in this replica's memory: a new
/// leader starts them over, which costs time, never correctness).
#[derive(Debug, Default)]
struct Progress {
    /// The last live record checked for its consumer; `None` starts the walk over.
    live_cursor: Option<IssuanceId>,
    /// Records whose consumer was missing, and when that was first seen.
    missing_since: HashMap<IssuanceId, Instant>,
    /// Where the orphan sweep stands.
    sweep: Sweep,
    /// When the next orphan sweep may start.
    next_sweep_at: Option<Instant>,
}

/// The orphan sweep between passes.
#[derive(Debug, Default, Clone)]
enum Sweep {
    /// No sweep under way; the next starts at `next_sweep_at`.
    #[default]
    Idle,
    /// A sweep under way: Kong's offset of its next page (`None` for the first page).
    Reading { offset: Option<String> },
}

/// The loop of one replica.
#[derive(Debug)]
pub struct Reconciler {
    context: Context,
    progress: Progress,
}

impl Reconciler {
    pub fn new(parts: ReconcilerParts) -> Self {
        let ReconcilerParts {
            store,
            kong,
            audit,
            limits,
            clock,
            settings,
            instance,
        } = parts;
        let outcomes = Outcomes {
            audit,
            limits,
            clock: Arc::clone(&clock),
            instance: instance.clone(),
        };
        Self {
            context: Context {
                store,
                kong,
                clock,
                settings,
                instance,
                outcomes,
            },
            progress: Progress::default(),
        }
    }

    /// A replica name: `$HOSTNAME` (the pod name on Kubernetes), the process id and a random
    /// suffix, so two processes never share one.
    pub fn instance_name() -> String {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "gatekey".to_owned());
        format!("{host}:{}:{}", std::process::id(), ulid::Ulid::new())
    }

    /// This replica's name.
    pub fn instance(&self) -> &str {
        &self.context.instance
    }

    /// Runs passes every interval until `stop` turns true, then releases the lease.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let interval = self.context.settings.interval();
        tracing::info!(instance = %self.context.instance, ?interval, "reconciler started");
        loop {
            self.tick().await;
            tokio::select! {
                _ = stop.wait_for(|stop| *stop) => break,
                () = tokio::time::sleep(interval) => {}
            }
        }
        if let Err(err) = self
            .context
            .store
            .leases()
            .release(LEASE_NAME, &self.context.instance)
            .await
        {
            tracing::warn!(error = %err, "could not release the reconciler lease");
        }
    }

    /// Takes or renews the lease and, when this replica leads, runs one pass. Returns the pass's
    /// report, or `None` when another replica leads or the pass failed.
    pub async fn tick(&mut self) -> Option<PassReport> {
        let started = Instant::now();
        let term = Term::begin(
            self.context.store.leases(),
            LEASE_NAME,
            &self.context.instance,
            self.context.settings.lease(),
        )
        .await;
        let mut term = match term {
            Ok(Some(term)) => term,
            Ok(None) => return None,
            Err(err) => {
                tracing::warn!(error = %err, "cannot reach the reconciler lease; skipping a pass");
                return None;
            }
        };
        let mut report = PassReport::new();
        let result = self.pass(&mut term, started, &mut report).await;
        report.elapsed = started.elapsed();
        match result {
            Ok(end) => {
                report.end = end;
                if report.did_something() || end != PassEnd::Done {
                    tracing::info!(?report, "reconciler pass");
                }
                Some(report)
            }
            Err(err) => {
                tracing::warn!(error = %err, ?report, "reconciler pass stopped early");
                None
            }
        }
    }

    /// The four steps in order, each in batches, within the pass's bounds.
    async fn pass(
        &mut self,
        term: &mut Term,
        started: Instant,
        report: &mut PassReport,
    ) -> Result<PassEnd, ReconcileError> {
        let bounds = Bounds {
            budget_ends: started + self.context.settings.pass_budget(),
        };
        let context = &self.context;
        let progress = &mut self.progress;
        if let Some(end) = steps::stale_pending(context, term, &bounds, report).await? {
            return Ok(end);
        }
        if let Some(end) = steps::expired(context, term, &bounds, report).await? {
            return Ok(end);
        }
        if let Some(end) =
            steps::missing_consumers(context, progress, term, &bounds, report).await?
        {
            return Ok(end);
        }
        Ok(steps::orphans(context, progress, term, &bounds, report)
            .await?
            .unwrap_or(PassEnd::Done))
    }
}

/// A pass's time bound.
#[derive(Debug)]
struct Bounds {
    budget_ends: Instant,
}

impl Bounds {
    /// Before a batch: whether the pass may run one more, renewing the lease first. `Some`
    /// says why it must stop.
    async fn before_batch(&self, term: &mut Term) -> Result<Option<PassEnd>, StoreError> {
        if Instant::now() >= self.budget_ends {
            return Ok(Some(PassEnd::BudgetSpent));
        }
        if !term.renew().await? {
            tracing::warn!("the reconciler lease was lost during a pass; stopping it");
            return Ok(Some(PassEnd::LeaseLost));
        }
        Ok(None)
    }

    /// Runs one batch, cut off at the earlier of the budget's end and the instant until which
    /// the lease is surely held (a cut batch is retried by the next pass).
    async fn run<T>(
        &self,
        term: &Term,
        batch: impl Future<Output = Result<T, ReconcileError>>,
    ) -> Result<Result<T, PassEnd>, ReconcileError> {
        let lease_ends = term.held_until();
        let cutoff = self.budget_ends.max(Instant::now()).min(lease_ends);
        match tokio::time::timeout_at(cutoff, batch).await {
            Ok(result) => result.map(Ok),
            Err(_) if cutoff == lease_ends => Ok(Err(PassEnd::LeaseLost)),
            Err(_) => Ok(Err(PassEnd::BudgetSpent)),
        }
    }
}
