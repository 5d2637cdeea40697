//! The reaper and reconciler: the loop that makes Kong agree with the issuance records, whatever
//! happened to the mints that wrote them (a crash, a lost response, a failed rollback).
//!
//! One replica at a time is the leader, elected through the `reconciler` lease in MongoDB (taken
//! or renewed by compare-and-set on holder and expiry at every pass; released on shutdown). Each
//! pass of the leader:
//!
//! 1. **Stale pending** records (older than `pending_timeout`, so no mint can still be running:
//!    a mint rolls itself back after one request timeout) become `failed` with a reason, free
//!    their live-credential slot, then their consumer is deleted. The record moves first: a mint finishing at the same moment then
//!    fails its own `pending -> active` step and rolls back, so it never hands out a key whose
//!    consumer the reconciler is deleting.
//! 2. Every Kong consumer tagged `gatekey` is matched with its record through its
//!    `gatekey-issuance:<id>` tag. **Expired**: the record is `active` and past `expires_at` (Kong
//!    already refuses the key; the consumer and its ACLs are garbage). **Orphan**: no record, or
//!    a `failed` or `revoked` one, and the consumer is older than `orphan_grace`; the grace keeps
//!    the reconciler away from consumers a mint is creating or rolling back right now.
//!    Consumers of `pending` or live `active` records are left alone.
//!
//! Every deletion is audited (action `expire` or `reconcile`, the kind — `expired`, `orphan` or
//! `stale_pending` — as the reason, the reaping replica in the detail); auditing counts it in
//! `gatekey_reaper_deletions_total{kind}`.

use std::collections::HashMap;
use std::time::Duration;

use gatekey_core::audit::{AuditAction, AuditEvent, AuditEventId, Decision};
use gatekey_core::issuance::{FailureCode, Issuance, IssuanceId, IssuanceState};
use gatekey_kong::{Consumer, KongError, ListQuery};
use gatekey_store::StoreError;
use tokio::sync::watch;

use crate::state::AppState;
use gatekey_app::consumers::{ISSUANCE_TAG_PREFIX, MANAGED_TAG, consumer_username};

/// Name of the lease document that elects the leader.
pub const LEASE_NAME: &str = "reconciler";

/// Why the reaper deleted a consumer (the `kind` label of `gatekey_reaper_deletions_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReapKind {
    /// The credential's lifetime is over.
    Expired,
    /// The consumer has no live record.
    Orphan,
    /// A mint that never finished.
    StalePending,
}

impl ReapKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::Orphan => "orphan",
            Self::StalePending => "stale_pending",
        }
    }

    fn audit_action(self) -> AuditAction {
        match self {
            Self::Expired => AuditAction::Expire,
            Self::Orphan | Self::StalePending => AuditAction::Reconcile,
        }
    }
}

/// Why a pass stopped early; the next pass starts over.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("Kong: {0}")]
    Kong(#[from] KongError),
    #[error("MongoDB: {0}")]
    Store(#[from] StoreError),
}

/// Timing of the loop.
#[derive(Debug, Clone)]
pub struct ReconcilerConfig {
    pub interval: Duration,
    pub lease: Duration,
    pub orphan_grace: Duration,
    pub pending_timeout: Duration,
    /// This replica's name in the lease and in audit details.
    pub instance: String,
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassReport {
    pub expired: u64,
    pub orphans: u64,
    pub stale_pending: u64,
}

/// The loop of one replica.
#[derive(Debug, Clone)]
pub struct Reconciler {
    state: AppState,
    config: ReconcilerConfig,
}

fn chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

/// The issuance a consumer belongs to, from its `gatekey-issuance:<id>` tag.
fn issuance_of(consumer: &Consumer) -> Option<IssuanceId> {
    consumer
        .tags
        .iter()
        .find_map(|tag| tag.strip_prefix(ISSUANCE_TAG_PREFIX))
        .and_then(|id| id.parse().ok())
}

impl Reconciler {
    pub fn new(state: AppState, config: ReconcilerConfig) -> Self {
        Self { state, config }
    }

    /// A replica name: `$HOSTNAME` (the pod name on Kubernetes), the process id and a random
    /// suffix, so two processes never share one.
    pub fn instance_name() -> String {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "gatekey".to_owned());
        format!("{host}:{}:{}", std::process::id(), ulid::Ulid::new())
    }

    /// Runs passes every interval until `stop` turns true, then releases the lease.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        tracing::info!(instance = %self.config.instance, interval = ?self.config.interval, "reconciler started");
        loop {
            self.tick().await;
            tokio::select! {
                _ = stop.wait_for(|stop| *stop) => break,
                () = tokio::time::sleep(self.config.interval) => {}
            }
        }
        let now = self.state.clock.now();
        if let Err(err) = self
            .state
            .store
            .leases()
            .release(LEASE_NAME, &self.config.instance, now)
            .await
        {
            tracing::warn!(error = %err, "could not release the reconciler lease");
        }
    }

    /// Takes or renews the lease and, when this replica leads, runs one pass. Returns the pass's
    /// report, or `None` when another replica leads or the pass failed.
    pub async fn tick(&self) -> Option<PassReport> {
        let now = self.state.clock.now();
        let leading = self
            .state
            .store
            .leases()
            .try_acquire(
                LEASE_NAME,
                &self.config.instance,
                now,
                now + chrono(self.config.lease),
            )
            .await;
        match leading {
            Ok(true) => {}
            Ok(false) => return None,
            Err(err) => {
                tracing::warn!(error = %err, "cannot reach the reconciler lease; skipping a pass");
                return None;
            }
        }
        match self.pass().await {
            Ok(report) => {
                if report != PassReport::default() {
                    tracing::info!(?report, "reconciler pass");
                }
                Some(report)
            }
            Err(err) => {
                tracing::warn!(error = %err, "reconciler pass stopped early");
                None
            }
        }
    }

    /// One pass: stale pending records, then every `gatekey` consumer in Kong.
    pub async fn pass(&self) -> Result<PassReport, ReconcileError> {
        let stale_pending = self.resolve_stale_pending().await?;
        let (expired, orphans) = self.sweep_consumers().await?;
        Ok(PassReport {
            expired,
            orphans,
            stale_pending,
        })
    }

    async fn resolve_stale_pending(&self) -> Result<u64, ReconcileError> {
        let now = self.state.clock.now();
        let cutoff = now - chrono(self.config.pending_timeout);
        let stale = self
            .state
            .store
            .issuances()
            .list_pending_older_than(cutoff)
            .await?;
        let mut resolved = 0;
        for issuance in stale {
            let reason = format!(
                "abandoned: the mint did not finish within {} s; resolved by the reconciler",
                self.config.pending_timeout.as_secs()
            );
            match self
                .state
                .store
                .issuances()
                .mark_failed(&issuance.id, FailureCode::Abandoned, self.state.clock.now())
                .await
            {
                Ok(_) => {}
                // The mint finished (or another pass resolved it) in the meantime.
                Err(StoreError::InvalidTransition { .. } | StoreError::NotFound { .. }) => continue,
                Err(err) => return Err(err.into()),
            }
            self.state.app.limits.release(&issuance).await;
            // Any consumer left behind goes now; if this fails, the consumer sweep finds it
            // (its record is `failed`).
            self.state
                .kong
                .delete_consumer(&consumer_username(&issuance.id))
                .await?;
            self.reaped(
                ReapKind::StalePending,
                Some(&issuance),
                issuance.id,
                &reason,
            )
            .await;
            resolved += 1;
        }
        Ok(resolved)
    }

    async fn sweep_consumers(&self) -> Result<(u64, u64), ReconcileError> {
        let consumers = self
            .state
            .kong
            .list_all_consumers(&ListQuery {
                size: Some(1000),
                ..ListQuery::tagged_all([MANAGED_TAG])
            })
            .await?;
        let ids: Vec<IssuanceId> = consumers.iter().filter_map(issuance_of).collect();
        let records: HashMap<IssuanceId, Issuance> = self
            .state
            .store
            .issuances()
            .get_many(&ids)
            .await?
            .into_iter()
            .map(|issuance| (issuance.id, issuance))
            .collect();
        let now = self.state.clock.now();
        let grace_cutoff = (now - chrono(self.config.orphan_grace)).timestamp();
        let (mut expired, mut orphans) = (0, 0);
        for consumer in &consumers {
            let id = issuance_of(consumer);
            let record = id.and_then(|id| records.get(&id));
            let (kind, why) = match record.map(|r| (r.state, r.expires_at)) {
                Some((IssuanceState::Pending, _)) => continue,
                Some((IssuanceState::Active, expires_at)) if expires_at > now => continue,
                Some((IssuanceState::Active, expires_at)) => (
                    ReapKind::Expired,
                    format!("the credential expired at {}", expires_at.to_rfc3339()),
                ),
                _ if consumer.created_at > grace_cutoff => continue,
                Some((state, _)) => (
                    ReapKind::Orphan,
                    format!("consumer {} outlived its {state} record", consumer.id),
                ),
                None => (
                    ReapKind::Orphan,
                    format!("consumer {} has no issuance record", consumer.id),
                ),
            };
            self.state.kong.delete_consumer(&consumer.id).await?;
            match id {
                Some(id) => self.reaped(kind, record, id, &why).await,
                None => {
                    tracing::info!(consumer = %consumer.id, "reaped a gatekey consumer without an issuance tag");
                }
            }
            match kind {
                ReapKind::Expired => expired += 1,
                _ => orphans += 1,
            }
        }
        Ok((expired, orphans))
    }

    /// Counts, logs and audits one deletion.
    async fn reaped(&self, kind: ReapKind, record: Option<&Issuance>, id: IssuanceId, why: &str) {
        tracing::info!(issuance = %id, kind = kind.as_str(), "reaped");
        let event = AuditEvent {
            id: AuditEventId::new(),
            at: self.state.clock.now(),
            action: kind.audit_action(),
            decision: Decision::Allow,
            reason: kind.as_str().to_owned(),
            detail: Some(format!("{why}; by {}", self.config.instance)),
            subject: record.map(|r| r.subject.clone()),
            issuer: record.map(|r| r.issuer.clone()),
            api_id: record.map(|r| r.api_id.clone()),
            issuance_id: Some(id),
            scopes: record.map(|r| r.scopes.clone()).unwrap_or_default(),
            request_id: None,
            client_addr: None,
            count: 1,
        };
        if let Err(err) = self.state.app.audit.record(event).await {
            tracing::error!(error = %err, issuance = %id, "could not audit a reaper deletion");
        }
    }
}
