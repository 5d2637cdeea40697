//! The audit of denials, bounded. Anyone whose token verifies can be refused as often as they
//! like: on a public CI platform (or with an `environment` or branch name in the subject) that is
//! anybody, under as many subjects as they care to make. Writing each refusal as its own event
//! would let them grow the audit collection without limit. So, per time window (windows start at
//! multiples of `audit.deny_window_seconds` since the Unix epoch, the same on every replica):
//!
//! - a caller's (issuer and subject) first `denials_per_caller` denials are written one by one,
//!   and so are the first `denials_per_issuer` denials of all callers of one issuer;
//! - a caller's further denials are counted in one summary event per (caller, action, reason);
//! - once the issuer's budget is spent, denials of callers not yet over their own budget are
//!   counted in one summary event per (issuer, action, reason), without a subject.
//!
//! A summary is a `deny` event whose `at` is the window's start and whose `count` says how many
//! denials it stands for; its id is derived from the window and its key, and counting is one
//! atomic upsert, so every replica adds to the same summary. The budgets are counted per replica:
//! with R replicas, at most R × `denials_per_caller` single events per caller and window, and
//! R × `denials_per_issuer` per issuer. Every action and reason that was refused appears, singly
//! or in a summary, and the counts add up to the number of denials. API ids are not part of a
//! summary's key because a caller chooses them (an unknown API is a denial too). Metrics count
//! every denial before any of this.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, TimeZone as _, Utc};
use gatekey_core::audit::{AuditEvent, AuditEventId};
use gatekey_store::{AuditRepo, StoreError};

use crate::settings::AuditSettings;

/// What happens to one denial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admission {
    /// Written as its own event.
    Single,
    /// Counted in the caller's summary for its action and reason.
    CallerSummary,
    /// Counted in the issuer's summary for its action and reason.
    IssuerSummary,
}

/// One replica's counts for the current window.
#[derive(Debug, Default)]
struct WindowCounts {
    start_seconds: i64,
    issuers: HashMap<String, IssuerCounts>,
}

#[derive(Debug, Default)]
struct IssuerCounts {
    /// Denials of this issuer's callers written one by one.
    written: u32,
    /// Denials counted in this issuer's summaries.
    summarized: u64,
    /// Denials per subject, for the subjects seen while the issuer's budget lasted (so at most
    /// `denials_per_issuer` entries): written one by one up to the caller budget, summarized
    /// beyond it.
    callers: HashMap<String, u64>,
}

/// The bounded denial audit of one replica. Cheap to share; one short lock per denial.
#[derive(Debug)]
pub(crate) struct DenialAudit {
    window_seconds: i64,
    per_caller: u64,
    per_issuer: u32,
    counts: Mutex<WindowCounts>,
}

impl DenialAudit {
    pub(crate) fn new(settings: &AuditSettings) -> Self {
        Self {
            window_seconds: i64::try_from(settings.deny_window_seconds)
                .unwrap_or(i64::MAX)
                .max(1),
            per_caller: u64::from(settings.denials_per_caller),
            per_issuer: settings.denials_per_issuer,
            counts: Mutex::new(WindowCounts::default()),
        }
    }

    /// Writes `denial` on its own, or counts it in the summary it belongs to.
    pub(crate) async fn record(
        &self,
        audit: &AuditRepo,
        denial: AuditEvent,
    ) -> Result<(), StoreError> {
        let issuer = denial.issuer.clone().unwrap_or_default();
        let subject = denial.subject.clone().unwrap_or_default();
        let window_start = self.window_start(denial.at);
        match self.admit(window_start, &issuer, &subject) {
            Admission::Single => audit.append(&denial).await,
            Admission::CallerSummary => {
                let summary = self.summary(window_start, &denial, Some(subject));
                audit.count_in_summary(&summary).await
            }
            Admission::IssuerSummary => {
                let summary = self.summary(window_start, &denial, None);
                audit.count_in_summary(&summary).await
            }
        }
    }

    /// Start of the window holding `at`, in seconds since the Unix epoch.
    fn window_start(&self, at: DateTime<Utc>) -> i64 {
        at.timestamp().div_euclid(self.window_seconds) * self.window_seconds
    }

    fn admit(&self, window_start: i64, issuer: &str, subject: &str) -> Admission {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if counts.start_seconds != window_start {
            *counts = WindowCounts {
                start_seconds: window_start,
                issuers: HashMap::new(),
            };
        }
        let counts = counts.issuers.entry(issuer.to_owned()).or_default();
        let issuer_has_budget = counts.written < self.per_issuer;
        let admission = match counts.callers.get_mut(subject) {
            Some(seen) if *seen >= self.per_caller => {
                *seen += 1;
                if *seen == self.per_caller + 1 {
                    tracing::warn!(
                        issuer,
                        subject,
                        "denials of this caller exceed the audit budget of the window; counting them in a summary event"
                    );
                }
                Admission::CallerSummary
            }
            Some(seen) if issuer_has_budget => {
                *seen += 1;
                Admission::Single
            }
            None if issuer_has_budget => {
                counts.callers.insert(subject.to_owned(), 1);
                Admission::Single
            }
            Some(_) | None => Admission::IssuerSummary,
        };
        match admission {
            Admission::Single => counts.written += 1,
            Admission::IssuerSummary => {
                counts.summarized += 1;
                if counts.summarized == 1 {
                    tracing::warn!(
                        issuer,
                        "denials of this issuer's callers exceed the audit budget of the window; counting them in summary events"
                    );
                }
            }
            Admission::CallerSummary => {}
        }
        admission
    }

    /// The summary event `denial` is counted in: caller-wide when `subject` is given, else
    /// issuer-wide. Only what every denial it counts shares is kept.
    fn summary(
        &self,
        window_start: i64,
        denial: &AuditEvent,
        subject: Option<String>,
    ) -> AuditEvent {
        let at = Utc
            .timestamp_opt(window_start, 0)
            .single()
            .unwrap_or(denial.at);
        let issuer = denial.issuer.clone().unwrap_or_default();
        let (scope, who) = match &subject {
            Some(subject) => ("caller", subject.as_str()),
            None => ("issuer", ""),
        };
        let id = AuditEventId::derived(
            at,
            &[
                "deny-summary",
                scope,
                &issuer,
                who,
                denial.action.as_str(),
                &denial.reason,
            ],
        );
        let whose = if subject.is_some() {
            "this caller's"
        } else {
            "this issuer's callers'"
        };
        AuditEvent {
            id,
            detail: Some(format!(
                "{whose} denials of this kind beyond the audit budget, counted over the {} s \
                 from `at`",
                self.window_seconds
            )),
            subject,
            issuer: denial.issuer.clone(),
            // The first denial's policy; later ones only add to the count.
            policy_revision: denial.policy_revision.clone(),
            ..AuditEvent::new(denial.action, denial.decision, denial.reason.clone(), at)
        }
    }
}

#[cfg(test)]
mod tests {
    use gatekey_core::audit::{AuditAction, Decision};

    use super::*;

    fn audit(per_caller: u32, per_issuer: u32) -> DenialAudit {
        DenialAudit::new(&AuditSettings {
            deny_window_seconds: 60,
            denials_per_caller: per_caller,
            denials_per_issuer: per_issuer,
        })
    }

    fn admissions(
        audit: &DenialAudit,
        window: i64,
        issuer: &str,
        subject: &str,
        n: usize,
    ) -> Vec<Admission> {
        (0..n)
            .map(|_| audit.admit(window, issuer, subject))
            .collect()
    }

    #[test]
    fn a_callers_denials_beyond_its_budget_go_to_its_summary() {
        let audit = audit(3, 100);
        let seen = admissions(&audit, 0, "ci", "repo:a", 5);
        assert_eq!(
            seen,
            [
                Admission::Single,
                Admission::Single,
                Admission::Single,
                Admission::CallerSummary,
                Admission::CallerSummary,
            ]
        );
        assert_eq!(
            audit.admit(0, "ci", "repo:b"),
            Admission::Single,
            "others keep their budget"
        );
        assert_eq!(
            audit.admit(0, "idp", "repo:a"),
            Admission::Single,
            "the same subject of another issuer is another caller"
        );
    }

    #[test]
    fn the_issuers_budget_bounds_many_callers_together() {
        let audit = audit(3, 4);
        for subject in ["a", "b", "c", "d"] {
            assert_eq!(audit.admit(0, "ci", subject), Admission::Single);
        }
        assert_eq!(
            audit.admit(0, "ci", "e"),
            Admission::IssuerSummary,
            "a new caller"
        );
        assert_eq!(
            audit.admit(0, "ci", "a"),
            Admission::IssuerSummary,
            "a known caller within its own budget"
        );
        assert_eq!(
            audit.admit(0, "other", "e"),
            Admission::Single,
            "another issuer's budget is its own"
        );
    }

    #[test]
    fn a_new_window_starts_with_fresh_budgets() {
        let audit = audit(1, 1);
        assert_eq!(audit.admit(0, "ci", "a"), Admission::Single);
        assert_eq!(audit.admit(0, "ci", "a"), Admission::CallerSummary);
        assert_eq!(audit.admit(60, "ci", "a"), Admission::Single);
    }

    #[test]
    fn windows_are_aligned_to_the_epoch() {
        let audit = audit(1, 1);
        let at = |seconds| Utc.timestamp_opt(seconds, 0).single().expect("valid");
        assert_eq!(audit.window_start(at(119)), 60);
        assert_eq!(audit.window_start(at(120)), 120);
    }

    #[test]
    fn summaries_share_their_id_across_denials_and_replicas_but_not_across_kinds() {
        let one = audit(1, 10);
        let another_replica = audit(1, 10);
        let denial = |reason: &str, subject: &str, api: &str| AuditEvent {
            subject: Some(subject.to_owned()),
            issuer: Some("https://ci.example".to_owned()),
            api_id: Some(api.to_owned()),
            scopes: vec!["write".to_owned()],
            request_id: Some("r1".to_owned()),
            client_addr: Some("10.0.0.1".to_owned()),
            ..AuditEvent::new(
                AuditAction::Mint,
                Decision::Deny,
                reason,
                Utc.timestamp_opt(125, 0).single().expect("valid"),
            )
        };
        let first = one.summary(
            120,
            &denial("scope_not_allowed", "a", "orders"),
            Some("a".to_owned()),
        );
        let same = another_replica.summary(
            120,
            &denial("scope_not_allowed", "a", "made-up"),
            Some("a".to_owned()),
        );
        assert_eq!(
            first, same,
            "API, scopes and request do not split a summary"
        );
        assert_eq!(first.at.timestamp(), 120);
        assert_eq!(first.api_id, None);
        for other in [
            one.summary(
                120,
                &denial("unknown_api", "a", "orders"),
                Some("a".to_owned()),
            ),
            one.summary(
                120,
                &denial("scope_not_allowed", "b", "orders"),
                Some("b".to_owned()),
            ),
            one.summary(120, &denial("scope_not_allowed", "a", "orders"), None),
            one.summary(
                180,
                &denial("scope_not_allowed", "a", "orders"),
                Some("a".to_owned()),
            ),
        ] {
            assert_ne!(first.id, other.id, "{other:?}");
        }
    }
}
