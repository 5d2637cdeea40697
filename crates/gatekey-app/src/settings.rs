//! The services' settings, deserialized directly from the `[limits]` and `[audit]` sections of
//! the configuration file: defined here once, next to the code they steer, and validated by the
//! server's configuration check with the rest of the file.

use serde::{Deserialize, Serialize};

/// Per-caller limits on minting, exact across replicas through atomic counters in MongoDB.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    /// Mints one caller (issuer and subject) may start per rolling minute (all APIs); more get
    /// 429.
    pub mints_per_subject_per_minute: u32,
    /// Live (`pending` or `active`, not expired) credentials one caller may hold per API.
    pub live_credentials_per_subject_and_api: u32,
    /// How long an `Idempotency-Key` stays bound to its issuance.
    pub idempotency_key_ttl_seconds: u64,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            mints_per_subject_per_minute: 30,
            live_credentials_per_subject_and_api: 10,
            idempotency_key_ttl_seconds: 24 * 3600,
        }
    }
}

/// How many denials reach the audit trail one by one. Beyond these budgets, denials are counted
/// in summary events (one per kind and window), so callers who verify but hold no grant cannot
/// flood the audit collection; the budgets are per replica, the summaries shared.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// Length of a counting window; windows start at multiples of it since the Unix epoch, so
    /// every replica agrees on them.
    pub deny_window_seconds: u64,
    /// Denials of one caller (issuer and subject) written one by one per window and replica.
    pub denials_per_caller: u32,
    /// Denials of all callers of one issuer written one by one per window and replica.
    pub denials_per_issuer: u32,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            deny_window_seconds: 60,
            denials_per_caller: 10,
            denials_per_issuer: 1000,
        }
    }
}
