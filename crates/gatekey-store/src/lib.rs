//! Gatekey's MongoDB storage: the `issuances` records every credential is reconciled against, the
//! append-only `audit_events` trail, the `idempotency_keys` of mint requests, the `leases` that
//! elect one reconciler (and one worker per revocation job), the `limit_counters` behind the
//! per-caller mint limits, the `usage_entries` and `usage_summaries` of minted keys as the
//! gateway logged their calls, the `revocation_jobs` of bulk revocations and their
//! `revocation_failures`, plus the indexes they need.
//!
//! Every write uses write concern `majority` with journaling, because a credential is handed out
//! only once its record is durable. Documents keep the domain field names, use the ULID text as
//! `_id` (so `_id` order is creation order) and store timestamps as BSON dates, which TTL indexes
//! need. Lifecycle changes are conditional updates guarded on the prior state, so concurrent
//! replicas can never both win a transition.

mod audit;
mod batch;
mod bulk_write_command;
mod error;
mod idempotency;
mod indexes;
mod issuances;
mod leases;
mod limit_counters;
mod page;
mod revocation_jobs;
mod time;
mod update_command;
mod usage;

use std::fmt;
use std::future::IntoFuture;
use std::time::{Duration, Instant};

use mongodb::bson::doc;
use mongodb::options::{Acknowledgment, ClientOptions, WriteConcern};
use mongodb::{Client, Database};

pub use audit::{AuditFilter, AuditRepo};
pub use error::StoreError;
pub use idempotency::{IdempotencyRecord, IdempotencyRepo, Reservation};
pub use issuances::{IssuanceFilter, IssuanceRepo};
pub use leases::{Lease, LeaseRepo};
pub use limit_counters::{LimitCounterRepo, LimitVerdict, LiveSlot, MintLimits, MintSlot};
pub use page::{Page, PageRequest};
pub use revocation_jobs::RevocationJobRepo;
pub use usage::{Recorded, UsageRepo};

/// Name of the collection holding one document per issuance.
pub const ISSUANCES: &str = "issuances";
/// Name of the append-only collection of audit events.
pub const AUDIT_EVENTS: &str = "audit_events";
/// Name of the collection binding `Idempotency-Key`s to issuances (TTL on `expires_at`).
pub const IDEMPOTENCY_KEYS: &str = "idempotency_keys";
/// Name of the collection of singleton-job leases.
pub const LEASES: &str = "leases";
/// Name of the collection counting each caller's mints against the limits (TTL on `expires_at`).
pub const LIMIT_COUNTERS: &str = "limit_counters";
/// Name of the collection of calls made with minted keys (TTL on `at`).
pub const USAGE_ENTRIES: &str = "usage_entries";
/// Name of the collection of per-credential usage counters (TTL on `expires_at`).
pub const USAGE_SUMMARIES: &str = "usage_summaries";

/// Name of the collection of bulk revocation jobs.
pub const REVOCATION_JOBS: &str = "revocation_jobs";
/// Name of the collection of the credentials bulk revocation jobs could not revoke.
pub const REVOCATION_FAILURES: &str = "revocation_failures";

/// How long the driver looks for a usable server before an operation fails.
const SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(5);
/// How long opening one connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the primary waits for a majority to acknowledge a write before reporting failure.
const WRITE_CONCERN_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest retention a TTL index can express: `expireAfterSeconds` is a 32-bit signed integer.
const MAX_RETENTION_DAYS: u32 = (i32::MAX / 86_400).unsigned_abs();

/// Where the data lives and how long it is kept.
#[derive(Clone)]
pub struct StoreConfig {
    /// A `mongodb://` or `mongodb+srv://` connection string. May carry credentials, so the
    /// `Debug` output hides its user information.
    pub uri: String,
    pub database: String,
    /// Issuance records are deleted this many days after they expire (1 to 24855).
    pub issuance_retention_days: u32,
    /// Audit events are deleted this many days after they happen; `None` keeps them forever.
    pub audit_retention_days: Option<u32>,
    /// Calls made with minted keys are deleted this many days after they happen (1 to 24855);
    /// the per-credential counters stay as long as the issuance record.
    pub usage_retention_days: u32,
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreConfig")
            .field("uri", &redact_uri(&self.uri))
            .field("database", &self.database)
            .field("issuance_retention_days", &self.issuance_retention_days)
            .field("audit_retention_days", &self.audit_retention_days)
            .field("usage_retention_days", &self.usage_retention_days)
            .finish()
    }
}

/// The connection string without its user information (`user:password@`), for `Debug` output
/// of any type holding one.
pub fn redact_uri(uri: &str) -> String {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return "[redacted]".to_owned();
    };
    let host_start = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..host_start].rfind('@') {
        Some(at) => format!("{scheme}://[redacted]@{}", &rest[at + 1..]),
        None => uri.to_owned(),
    }
}

/// Retention in whole days as a TTL index's `expireAfterSeconds`.
fn retention(days: u32, setting: &'static str) -> Result<u32, StoreError> {
    if !(1..=MAX_RETENTION_DAYS).contains(&days) {
        return Err(StoreError::InvalidConfig(format!(
            "{setting} must be between 1 and {MAX_RETENTION_DAYS} days, not {days}"
        )));
    }
    Ok(days * 86_400)
}

/// A handle on Gatekey's database. Cheap to clone: clones share one connection pool and the
/// group commit of audit events, new issuance records, activations and limit reservations
/// ([`batch`]).
#[derive(Debug, Clone)]
pub struct Store {
    db: Database,
    issuance_ttl_secs: u32,
    audit_ttl_secs: Option<u32>,
    usage_ttl_secs: u32,
    issuance_inserts: batch::BatchInserter<issuances::IssuanceDoc>,
    audit_appends: batch::BatchInserter<audit::AuditDoc>,
    issuance_activations: batch::BatchUpdater,
    limit_reservations: batch::BatchUpdater,
}

/// Runs one driver call and records how long it took in
/// `gatekey_mongodb_operation_duration_seconds{operation}`, `operation` being the server command
/// (`insert`, `update`, `findAndModify`, ...). Timed here rather than through the driver's
/// command monitoring, which copies every command and every reply into a `Document` for its
/// listeners: a tenth of a mint's CPU, for one histogram.
pub(crate) async fn metered<F: IntoFuture>(operation: &'static str, call: F) -> F::Output {
    let started = Instant::now();
    let output = call.await;
    metrics::histogram!("gatekey_mongodb_operation_duration_seconds", "operation" => operation)
        .record(started.elapsed().as_secs_f64());
    output
}

impl Store {
    /// Builds the client: write concern `majority` with journaling (10 s timeout), server
    /// selection within 5 s and connections within 3 s unless the URI sets its own timeouts.
    /// Connections are opened lazily, so an unreachable server shows up at the first operation
    /// (call [`Store::ensure_indexes`] or [`Store::ping`] at startup).
    pub async fn connect(config: &StoreConfig) -> Result<Self, StoreError> {
        let issuance_ttl_secs =
            retention(config.issuance_retention_days, "issuance_retention_days")?;
        let audit_ttl_secs = config
            .audit_retention_days
            .map(|days| retention(days, "audit_retention_days"))
            .transpose()?;
        let usage_ttl_secs = retention(config.usage_retention_days, "usage_retention_days")?;
        if config.database.is_empty() {
            return Err(StoreError::InvalidConfig(
                "the database name is empty".to_owned(),
            ));
        }
        let mut options = ClientOptions::parse(&config.uri).await?;
        options.app_name.get_or_insert_with(|| "gatekey".to_owned());
        options
            .server_selection_timeout
            .get_or_insert(SERVER_SELECTION_TIMEOUT);
        options.connect_timeout.get_or_insert(CONNECT_TIMEOUT);
        options.write_concern = Some(
            WriteConcern::builder()
                .w(Acknowledgment::Majority)
                .journal(true)
                .w_timeout(WRITE_CONCERN_TIMEOUT)
                .build(),
        );
        let client = Client::with_options(options)?;
        let db = client.database(&config.database);
        let commit = batch::GroupCommit::start(client, db.clone())?;
        Ok(Self {
            issuance_inserts: batch::BatchInserter::new(commit.clone(), ISSUANCES),
            audit_appends: batch::BatchInserter::new(commit.clone(), AUDIT_EVENTS),
            issuance_activations: batch::BatchUpdater::new(commit.clone(), ISSUANCES),
            limit_reservations: batch::BatchUpdater::new(commit, LIMIT_COUNTERS),
            db,
            issuance_ttl_secs,
            audit_ttl_secs,
            usage_ttl_secs,
        })
    }

    /// Creates the indexes both collections need; safe to call at every startup and from many
    /// replicas at once. A changed retention updates the TTL index in place (`collMod`); unset
    /// audit retention drops the audit TTL index. An index that exists under one of Gatekey's
    /// names with other keys or options is reported as [`StoreError::IndexConflict`].
    pub async fn ensure_indexes(&self) -> Result<(), StoreError> {
        indexes::ensure(
            &self.db,
            self.issuance_ttl_secs,
            self.audit_ttl_secs,
            self.usage_ttl_secs,
        )
        .await
    }

    /// Round trip to the server, for readiness checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.run_command(doc! { "ping": 1 }).await?;
        Ok(())
    }

    /// Issuance records.
    pub fn issuances(&self) -> IssuanceRepo {
        IssuanceRepo::new(
            &self.db,
            self.issuance_inserts.clone(),
            self.issuance_activations.clone(),
        )
    }

    /// The audit trail.
    pub fn audit(&self) -> AuditRepo {
        AuditRepo::new(&self.db, self.audit_appends.clone())
    }

    /// Idempotency keys of mint requests.
    pub fn idempotency_keys(&self) -> IdempotencyRepo {
        IdempotencyRepo::new(&self.db)
    }

    /// Leases of singleton jobs.
    pub fn leases(&self) -> LeaseRepo {
        LeaseRepo::new(&self.db)
    }

    /// Bulk revocation jobs and their failures.
    pub fn revocation_jobs(&self) -> RevocationJobRepo {
        RevocationJobRepo::new(&self.db)
    }

    /// The counters behind the per-caller mint limits.
    pub fn limit_counters(&self) -> LimitCounterRepo {
        LimitCounterRepo::new(&self.db, self.limit_reservations.clone())
    }

    /// Calls made with minted keys and their per-credential counters.
    pub fn usage(&self) -> UsageRepo {
        UsageRepo::new(&self.db)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_credentials_in_the_uri() {
        let config = StoreConfig {
            uri: "mongodb://gatekey:s3cret@db1:27017,db2:27017/?replicaSet=rs0&authSource=a@b"
                .to_owned(),
            database: "gatekey".to_owned(),
            issuance_retention_days: 90,
            audit_retention_days: None,
            usage_retention_days: 30,
        };
        let debug = format!("{config:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(debug.contains("[redacted]@db1:27017,db2:27017/?replicaSet=rs0"));
        assert_eq!(
            redact_uri("mongodb://localhost:27017/?directConnection=true"),
            "mongodb://localhost:27017/?directConnection=true"
        );
    }

    #[test]
    fn retention_must_fit_a_ttl_index() {
        assert_eq!(retention(90, "x").expect("valid"), 90 * 86_400);
        assert!(retention(MAX_RETENTION_DAYS, "x").is_ok());
        assert!(matches!(
            retention(0, "x"),
            Err(StoreError::InvalidConfig(_))
        ));
        assert!(matches!(
            retention(MAX_RETENTION_DAYS + 1, "x"),
            Err(StoreError::InvalidConfig(_))
        ));
    }
}
