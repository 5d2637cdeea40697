//! Per-subject mint limits, counted from the issuance records so every replica enforces the same
//! totals and a restart forgets nothing: at most N mints per subject per rolling minute, and at
//! most M live (`pending` or `active`, unexpired) credentials per subject and API. Both answer 429
//! with `Retry-After` set to when the oldest counted record leaves the window or expires.
//!
//! The counts are read before the new record is written, so concurrent mints of one subject may
//! overshoot a limit by the number of requests in flight; the limits bound abuse, not exact quotas.

use std::time::Duration;

use chrono::{DateTime, Utc};
use gatekey_core::audit::{AuditAction, Decision};

use crate::error::ApiError;
use crate::extract::Caller;
use crate::state::AppState;

/// The rate limit's rolling window.
const RATE_WINDOW: Duration = Duration::from_secs(60);

/// Whole seconds from `now` until `at`, at least 1 (a `Retry-After` of 0 invites a busy loop).
fn seconds_until(at: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    let millis = u64::try_from((at - now).num_milliseconds()).unwrap_or(0);
    millis.div_ceil(1000).max(1)
}

impl AppState {
    /// Refuses the mint with 429 when the caller is over a limit; the refusal is audited.
    pub async fn check_mint_limits(&self, caller: &Caller, api_id: &str) -> Result<(), ApiError> {
        let limits = &self.reliability.limits;
        let subject = &caller.principal.subject;
        let now = self.clock.now();
        let window = chrono::Duration::from_std(RATE_WINDOW).unwrap_or(chrono::Duration::MAX);
        // Both counts are read at once: under the limits (the common case) a mint pays for one
        // MongoDB round trip here, not two.
        let issuances = self.store.issuances();
        let (recent, live) = tokio::try_join!(
            issuances.issued_since(subject, now - window, limits.mints_per_subject_per_minute),
            issuances.live_expiries(
                subject,
                api_id,
                now,
                limits.live_credentials_per_subject_and_api,
            ),
        )?;
        let refusal = if recent.len() >= limits.mints_per_subject_per_minute as usize {
            Some((
                "mint_rate_limited",
                format!(
                    "at most {} credentials may be minted per minute",
                    limits.mints_per_subject_per_minute
                ),
                seconds_until(recent[0] + window, now),
            ))
        } else if live.len() >= limits.live_credentials_per_subject_and_api as usize {
            Some((
                "too_many_live_credentials",
                format!(
                    "at most {} live credentials per API; revoke one or wait for one to expire",
                    limits.live_credentials_per_subject_and_api
                ),
                seconds_until(live[0], now),
            ))
        } else {
            None
        };
        let Some((code, detail, retry_after_seconds)) = refusal else {
            return Ok(());
        };
        let mut event = self.audit_event(caller, AuditAction::Mint, Decision::Deny, code);
        event.detail = Some(detail.clone());
        event.api_id = Some(api_id.to_owned());
        if let Err(err) = self.audit(event).await {
            tracing::error!(error = %err, "could not record a limit refusal in the audit trail");
        }
        Err(ApiError::LimitReached {
            code,
            detail,
            retry_after_seconds,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        let now = Utc.timestamp_opt(1_000, 0).single().expect("valid");
        assert_eq!(
            seconds_until(now + chrono::Duration::milliseconds(1_200), now),
            2
        );
        assert_eq!(seconds_until(now + chrono::Duration::seconds(59), now), 59);
        assert_eq!(seconds_until(now - chrono::Duration::seconds(5), now), 1);
    }
}
