//! The `[revocations]` section of the configuration file: how the bulk revocation worker runs.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How many Kong calls a job may have in flight at most.
const MAX_CONCURRENCY: usize = 64;

/// Timing and sizes of the bulk revocation worker.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RevocationSettings {
    /// Run the worker in this process (it still needs a job's lease to work on it). A replica
    /// without it still accepts jobs; another replica runs them.
    pub enabled: bool,
    /// Credentials of one job revoked at once (Kong deletes in flight), 1 to 64.
    pub concurrency: usize,
    /// Records one batch reads; the job's place is saved after each batch, 1 to 1000.
    pub batch_size: u32,
    /// How long a job's lease lasts from its last renewal on MongoDB's clock; when the replica
    /// working on the job dies, another takes it over after this.
    pub lease_seconds: u64,
    /// How often the worker looks for unfinished jobs (it also starts at once on a job this
    /// replica accepted).
    pub poll_interval_seconds: u64,
    /// Attempts per credential (Kong failures) before the job reports it as failed, 1 to 10.
    pub attempts: u32,
}

impl Default for RevocationSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            concurrency: 8,
            batch_size: 200,
            lease_seconds: 30,
            poll_interval_seconds: 5,
            attempts: 4,
        }
    }
}

impl RevocationSettings {
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_seconds)
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_secs(self.poll_interval_seconds)
    }

    /// What is wrong with these settings, one sentence each.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !(1..=MAX_CONCURRENCY).contains(&self.concurrency) {
            problems.push(format!(
                "revocations.concurrency must be between 1 and {MAX_CONCURRENCY}"
            ));
        }
        if !(1..=1000).contains(&self.batch_size) {
            problems.push("revocations.batch_size must be between 1 and 1000".to_owned());
        }
        if !(1..=10).contains(&self.attempts) {
            problems.push("revocations.attempts must be between 1 and 10".to_owned());
        }
        if self.lease_seconds < 2 {
            problems.push("revocations.lease_seconds must be at least 2".to_owned());
        }
        if self.poll_interval_seconds == 0 || self.poll_interval_seconds >= self.lease_seconds {
            problems.push(
                "revocations.poll_interval_seconds must be at least 1 and below lease_seconds"
                    .to_owned(),
            );
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_sound_and_bounds_are_reported() {
        assert!(RevocationSettings::default().problems().is_empty());
        let wrong = RevocationSettings {
            concurrency: 0,
            batch_size: 5000,
            attempts: 0,
            lease_seconds: 5,
            poll_interval_seconds: 5,
            enabled: true,
        };
        assert_eq!(wrong.problems().len(), 4, "{:?}", wrong.problems());
    }
}
