//! The store against a real MongoDB-protocol server: `MONGODB_URI` when set (CI, or a real
//! mongod), otherwise a `secantusd-py` process per test. Each test uses its own database.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking, with the value or the expectation as its message"
)]

mod audit;
mod group_commit;
mod idempotency;
mod indexes;
mod issuances;
mod leases;
mod limit_counters;
mod revocation_jobs;
mod support;
mod usage;
mod wire;
