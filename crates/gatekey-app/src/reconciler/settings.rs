//! The `[reconciler]` section of the configuration file, defined next to the loop it steers and
//! checked for the proportions that keep one leader and bounded passes.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Kong's largest page (`size` of a list).
const MAX_BATCH: u32 = 1000;

/// Timing and sizes of the reconciler. Sections written for earlier versions (without the
/// batch, budget and orphan settings) still load: missing fields take their defaults.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReconcilerSettings {
    /// Run the reconciler loop in this process (it still needs the lease to do anything).
    pub enabled: bool,
    /// Time between passes; expired credentials are removed within about one interval.
    pub interval_seconds: u64,
    /// How long the lease lasts from its last renewal on MongoDB's clock; another replica takes
    /// over after it. The leader renews it before every pass and between batches.
    pub lease_seconds: u64,
    /// Longest a pass may run; the rest waits for the next pass. Below `lease_seconds`.
    pub pass_budget_seconds: u64,
    /// Records or consumers handled per batch (and the Kong page size), 1 to 1000.
    pub batch_size: u32,
    /// A new sweep of Kong's `gatekey` consumers for orphans starts at most this often.
    pub orphan_interval_seconds: u64,
    /// Pages of that sweep one pass reads; the next pass continues from where it stopped.
    pub orphan_pages_per_pass: u32,
    /// Live records whose consumer one pass checks in Kong (a walk over all live records, a
    /// batch per pass); 0 turns the check off.
    pub consumer_checks_per_pass: u32,
    /// A Kong consumer tagged `gatekey` younger than this is never treated as an orphan, and an
    /// `active` record is repaired only when its consumer has stayed missing this long.
    pub orphan_grace_seconds: u64,
    /// A `pending` record older than this is a mint that will never finish: it is resolved.
    pub pending_timeout_seconds: u64,
}

impl Default for ReconcilerSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            interval_seconds: 30,
            lease_seconds: 90,
            pass_budget_seconds: 20,
            batch_size: 200,
            orphan_interval_seconds: 300,
            orphan_pages_per_pass: 5,
            consumer_checks_per_pass: 100,
            orphan_grace_seconds: 120,
            pending_timeout_seconds: 120,
        }
    }
}

impl ReconcilerSettings {
    /// Time between passes.
    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.interval_seconds)
    }

    /// The lease's length.
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_seconds)
    }

    /// A pass's time bound.
    pub fn pass_budget(&self) -> Duration {
        Duration::from_secs(self.pass_budget_seconds)
    }

    /// Time between sweeps of Kong for orphans.
    pub fn orphan_interval(&self) -> Duration {
        Duration::from_secs(self.orphan_interval_seconds)
    }

    /// Age below which a consumer is not an orphan and a missing consumer not yet repaired.
    pub fn orphan_grace(&self) -> Duration {
        Duration::from_secs(self.orphan_grace_seconds)
    }

    /// Age above which a `pending` record is abandoned.
    pub fn pending_timeout(&self) -> Duration {
        Duration::from_secs(self.pending_timeout_seconds)
    }

    /// What is wrong with these settings, one sentence each (empty when they are usable), for a
    /// service whose mints run under `mint_deadline`.
    pub fn problems(&self, mint_deadline: Duration) -> Vec<String> {
        let mut problems = Vec::new();
        let mut refuse = |ok: bool, problem: &str| {
            if !ok {
                problems.push(problem.to_owned());
            }
        };
        refuse(
            self.interval_seconds > 0,
            "reconciler.interval_seconds must be above 0",
        );
        refuse(
            self.lease_seconds > self.interval_seconds,
            "reconciler.lease_seconds must exceed reconciler.interval_seconds, or the leader \
             loses its lease between passes",
        );
        refuse(
            self.pass_budget_seconds > 0 && self.pass_budget_seconds < self.lease_seconds,
            "reconciler.pass_budget_seconds must be above 0 and below reconciler.lease_seconds, \
             so a pass ends while its leader still holds the lease",
        );
        refuse(
            (1..=MAX_BATCH).contains(&self.batch_size),
            "reconciler.batch_size must be between 1 and 1000 (Kong's largest page)",
        );
        refuse(
            self.orphan_interval_seconds >= self.interval_seconds,
            "reconciler.orphan_interval_seconds must be at least reconciler.interval_seconds",
        );
        refuse(
            self.orphan_pages_per_pass > 0,
            "reconciler.orphan_pages_per_pass must be above 0",
        );
        // A mint has one deadline for its record, its Kong side and its activation; resolving
        // its `pending` record earlier would fail a mint that can still succeed, and a consumer
        // younger than it may belong to a mint under way.
        refuse(
            self.pending_timeout() > mint_deadline,
            "reconciler.pending_timeout_seconds must exceed http.request_timeout_seconds, or \
             mints still in flight would be resolved as failed",
        );
        refuse(
            self.orphan_grace() > mint_deadline,
            "reconciler.orphan_grace_seconds must exceed http.request_timeout_seconds",
        );
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEADLINE: Duration = Duration::from_secs(10);

    #[test]
    fn the_defaults_are_valid() {
        assert_eq!(
            ReconcilerSettings::default().problems(DEADLINE),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_pass_must_end_within_its_lease() {
        let settings = ReconcilerSettings {
            pass_budget_seconds: 90,
            ..ReconcilerSettings::default()
        };
        let problems = settings.problems(DEADLINE);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("reconciler.pass_budget_seconds"));
    }

    #[test]
    fn each_proportion_is_checked() {
        let settings = ReconcilerSettings {
            enabled: true,
            interval_seconds: 0,
            lease_seconds: 0,
            pass_budget_seconds: 0,
            batch_size: 1001,
            orphan_interval_seconds: 0,
            orphan_pages_per_pass: 0,
            consumer_checks_per_pass: 0,
            orphan_grace_seconds: 10,
            pending_timeout_seconds: 10,
        };
        let problems = settings.problems(DEADLINE);
        let keys: Vec<&str> = problems
            .iter()
            .filter_map(|p| p.split_whitespace().next())
            .collect();
        assert_eq!(
            keys,
            [
                "reconciler.interval_seconds",
                "reconciler.lease_seconds",
                "reconciler.pass_budget_seconds",
                "reconciler.batch_size",
                "reconciler.orphan_pages_per_pass",
                "reconciler.pending_timeout_seconds",
                "reconciler.orphan_grace_seconds",
            ],
            "{problems:?}"
        );
    }
}
