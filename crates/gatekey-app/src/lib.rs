//! Gatekey's application layer: the operations a caller, an operator or the reconciler asks
//! for (mint, revoke, limits, idempotency, the audit of decisions, usage from the gateway, bulk revocation jobs), written against the adapters
//! (`gatekey-kong`, `gatekey-store`) and the domain (`gatekey-core`), with their own typed
//! errors and no HTTP types, so that routes, background tasks and tests share one code path.
//!
//! [`App`] wires the services once; the HTTP server holds one and maps their errors to
//! problem+json in one place.

pub mod audit;
pub mod caller;
pub mod consumers;
mod denials;
pub mod idempotency;
pub mod limits;
pub mod mint;
pub mod mints_in_flight;
pub mod reconciler;
pub mod revocations;
pub mod revoke;
pub mod settings;
mod term;
#[cfg(test)]
mod test_records;
pub mod usage;

use std::sync::Arc;
use std::time::Duration;

use gatekey_core::Clock;
use gatekey_store::Store;
use tokio_util::task::TaskTracker;

pub use audit::{AuditTrail, RevisionInForce};
pub use caller::{Caller, RequestContext};
pub use idempotency::IdempotencyKeys;
pub use limits::MintLimiter;
pub use mint::{Gateway, MintError, MintOrder, Minted, Minter};
pub use mints_in_flight::MintsInFlight;
pub use revocations::{BulkRevokeError, BulkRevokeOrder, RevocationJobs};
pub use revoke::{RevokeError, Revoker};
pub use settings::{AuditSettings, LimitSettings};
pub use usage::{AdmittedBatch, IngestCapacity, IngestError, IngestReport, UsageIngest};

/// The services, wired to one store, one Kong and one clock; cheap to clone.
#[derive(Debug, Clone)]
pub struct App {
    pub audit: AuditTrail,
    pub limits: MintLimiter,
    pub minter: Minter,
    pub revoker: Revoker,
    pub usage: UsageIngest,
    pub revocations: RevocationJobs,
}

/// What [`App::new`] wires together.
#[derive(Debug)]
pub struct AppParts<'a> {
    pub store: Store,
    pub gateway: Gateway,
    pub clock: Arc<dyn Clock>,
    pub limits: &'a LimitSettings,
    pub audit: &'a AuditSettings,
    /// One mint's deadline (record, Kong side and activation together): the request timeout.
    pub mint_deadline: Duration,
    /// The policy revision in force, kept current by whoever swaps the policy.
    pub policy_revision: RevisionInForce,
    /// The usage ingest's share of the database.
    pub ingest: IngestCapacity,
}

impl App {
    pub fn new(parts: AppParts<'_>) -> Self {
        let AppParts {
            store,
            gateway,
            clock,
            limits,
            audit,
            mint_deadline,
            policy_revision,
            ingest,
        } = parts;
        let audit = AuditTrail::new(store.clone(), Arc::clone(&clock), audit, policy_revision);
        let idempotency_ttl = Duration::from_secs(limits.idempotency_key_ttl_seconds);
        let limits = MintLimiter::new(
            store.clone(),
            Arc::clone(&clock),
            audit.clone(),
            limits.clone(),
            mint_deadline,
        );
        let mints_in_flight = MintsInFlight::default();
        let usage = UsageIngest::new(store.clone(), ingest, mints_in_flight.clone());
        let revocations = RevocationJobs::new(store.clone(), Arc::clone(&clock));
        let revoker = Revoker {
            store: store.clone(),
            kong: gateway.kong.clone(),
            clock: Arc::clone(&clock),
            audit: audit.clone(),
            limits: limits.clone(),
        };
        let minter = Minter::new(mint::MinterParts {
            idempotency: IdempotencyKeys::new(
                store.clone(),
                Arc::clone(&clock),
                idempotency_ttl,
                mint_deadline,
            ),
            store,
            gateway,
            clock,
            audit: audit.clone(),
            limits: limits.clone(),
            deadline: mint_deadline,
            tasks: TaskTracker::new(),
            in_flight: mints_in_flight,
        });
        Self {
            audit,
            limits,
            minter,
            revoker,
            usage,
            revocations,
        }
    }
}

/// A std duration as a chrono one, saturating (for comparing record timestamps).
fn chrono_duration(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}
