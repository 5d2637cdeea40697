//! Per-subject mint limits: at most N mints per subject per rolling minute, and at most M live
//! (`pending` or `active`, unexpired) credentials per subject and API. Both answer 429 with
//! `Retry-After` set to when the oldest counted record leaves the window or expires.
//!
//! The counts come from the issuance records, so every replica sees every mint and a restart
//! forgets nothing. Reading them on every mint would double a mint's MongoDB work on a busy
//! server, so each replica reads a subject's counts at most once per `limits.cache_seconds` and
//! keeps them current with its own mints, failures and revocations in between. A check and the
//! reservation of the new mint happen under one lock, so one replica never overshoots; mints on
//! other replicas become visible within `limits.cache_seconds`, which bounds the overshoot of a
//! subject spreading its mints over replicas. The limits bound abuse; they are not exact quotas.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use gatekey_core::audit::{AuditAction, Decision};
use gatekey_core::issuance::Issuance;
use moka::sync::Cache;

use crate::config::LimitSettings;
use crate::error::ApiError;
use crate::extract::Caller;
use crate::state::AppState;

/// The rate limit's rolling window.
const RATE_WINDOW: Duration = Duration::from_secs(60);
/// Most subjects (and subject-API pairs) whose counts a replica keeps.
const CACHED_SUBJECTS: u64 = 100_000;

/// Sorted timestamps shared between concurrent mints of one subject (or subject and API).
type Times = Arc<Mutex<Vec<DateTime<Utc>>>>;

/// This replica's view of the counts: issue times of each subject's recent mints, and expiry
/// times of each subject's live credentials per API.
#[derive(Debug, Clone)]
pub struct LimitCounts {
    recent: Option<Cache<String, Times>>,
    live: Option<Cache<(String, String), Times>>,
}

impl LimitCounts {
    /// Counts kept for `ttl` between reads of MongoDB; `None` reads MongoDB on every mint.
    pub fn new(ttl: Option<Duration>) -> Self {
        Self {
            recent: ttl.map(counts_cache),
            live: ttl.map(counts_cache),
        }
    }

    /// Drops what this replica knows of a subject's live credentials for an API, after one of
    /// them was revoked or failed: the next mint reads them again.
    pub fn forget_live(&self, subject: &str, api_id: &str) {
        if let Some(live) = &self.live {
            live.invalidate(&(subject.to_owned(), api_id.to_owned()));
        }
    }
}

fn counts_cache<K>(ttl: Duration) -> Cache<K, Times>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
{
    Cache::builder()
        .max_capacity(CACHED_SUBJECTS)
        .time_to_live(ttl)
        .build()
}

/// Why a mint is refused: the problem code, its detail, and `Retry-After` in seconds.
#[derive(Debug, PartialEq, Eq)]
struct Refusal {
    code: &'static str,
    detail: String,
    retry_after_seconds: u64,
}

/// Whole seconds from `now` until `at`, at least 1 (a `Retry-After` of 0 invites a busy loop).
fn seconds_until(at: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    let millis = u64::try_from((at - now).num_milliseconds()).unwrap_or(0);
    millis.div_ceil(1000).max(1)
}

fn window() -> chrono::Duration {
    chrono::Duration::from_std(RATE_WINDOW).unwrap_or(chrono::Duration::MAX)
}

/// Judges one mint against the counts and, when it is allowed, reserves it in them: `recent`
/// holds issue times, `live` expiry times, both sorted. Entries that no longer count are
/// dropped first.
fn judge_and_reserve(
    recent: &mut Vec<DateTime<Utc>>,
    live: &mut Vec<DateTime<Utc>>,
    limits: &LimitSettings,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Option<Refusal> {
    recent.retain(|issued| *issued > now - window());
    live.retain(|expiry| *expiry > now);
    if recent.len() >= limits.mints_per_subject_per_minute as usize {
        return Some(Refusal {
            code: "mint_rate_limited",
            detail: format!(
                "at most {} credentials may be minted per minute",
                limits.mints_per_subject_per_minute
            ),
            retry_after_seconds: seconds_until(recent[0] + window(), now),
        });
    }
    if live.len() >= limits.live_credentials_per_subject_and_api as usize {
        return Some(Refusal {
            code: "too_many_live_credentials",
            detail: format!(
                "at most {} live credentials per API; revoke one or wait for one to expire",
                limits.live_credentials_per_subject_and_api
            ),
            retry_after_seconds: seconds_until(live[0], now),
        });
    }
    recent.push(now);
    let at = live.partition_point(|expiry| *expiry <= expires_at);
    live.insert(at, expires_at);
    None
}

impl AppState {
    /// Refuses the mint of `issuance` with 429 when its caller is over a limit (the refusal is
    /// audited); otherwise counts it.
    pub async fn check_mint_limits(
        &self,
        caller: &Caller,
        issuance: &Issuance,
    ) -> Result<(), ApiError> {
        let limits = &self.reliability.limits;
        let counts = &self.reliability.limit_counts;
        let subject = &issuance.subject;
        let api_key = (subject.clone(), issuance.api_id.clone());
        let now = self.clock.now();
        let cached_recent = counts.recent.as_ref().and_then(|c| c.get(subject));
        let cached_live = counts.live.as_ref().and_then(|c| c.get(&api_key));
        let issuances = self.store.issuances();
        // Whatever is not cached is read at once: one MongoDB round trip at most.
        let (recent, live) = tokio::try_join!(
            async {
                match cached_recent {
                    Some(times) => Ok(times),
                    None => issuances
                        .issued_since(subject, now - window(), limits.mints_per_subject_per_minute)
                        .await
                        .map(|times| remember(counts.recent.as_ref(), subject.clone(), times)),
                }
            },
            async {
                match cached_live {
                    Some(times) => Ok(times),
                    None => issuances
                        .live_expiries(
                            subject,
                            &issuance.api_id,
                            now,
                            limits.live_credentials_per_subject_and_api,
                        )
                        .await
                        .map(|times| remember(counts.live.as_ref(), api_key.clone(), times)),
                }
            },
        )?;
        let refusal = {
            // Always this order (rate, then live), so concurrent mints cannot deadlock.
            let mut recent = recent.lock().unwrap_or_else(PoisonError::into_inner);
            let mut live = live.lock().unwrap_or_else(PoisonError::into_inner);
            judge_and_reserve(&mut recent, &mut live, limits, now, issuance.expires_at)
        };
        let Some(Refusal {
            code,
            detail,
            retry_after_seconds,
        }) = refusal
        else {
            return Ok(());
        };
        let mut event = self.audit_event(caller, AuditAction::Mint, Decision::Deny, code);
        event.detail = Some(detail.clone());
        event.api_id = Some(issuance.api_id.clone());
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

/// Keeps freshly read times in `cache` (when caching), returning the entry to count in; a
/// concurrent read that got there first wins.
fn remember<K>(cache: Option<&Cache<K, Times>>, key: K, times: Vec<DateTime<Utc>>) -> Times
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
{
    let fresh = Arc::new(Mutex::new(times));
    match cache {
        Some(cache) => cache.get_with(key, || fresh),
        None => fresh,
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_000_000 + seconds, 0)
            .single()
            .expect("valid")
    }

    fn limits(rate: u32, live: u32) -> LimitSettings {
        LimitSettings {
            mints_per_subject_per_minute: rate,
            live_credentials_per_subject_and_api: live,
            ..LimitSettings::default()
        }
    }

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        let now = at(0);
        assert_eq!(
            seconds_until(now + chrono::Duration::milliseconds(1_200), now),
            2
        );
        assert_eq!(seconds_until(now + chrono::Duration::seconds(59), now), 59);
        assert_eq!(seconds_until(now - chrono::Duration::seconds(5), now), 1);
    }

    #[test]
    fn allowed_mints_are_counted_until_the_rate_is_reached() {
        let (mut recent, mut live) = (Vec::new(), Vec::new());
        let limits = limits(2, 10);
        for second in [0, 10] {
            assert_eq!(
                judge_and_reserve(&mut recent, &mut live, &limits, at(second), at(600)),
                None
            );
        }
        let refusal = judge_and_reserve(&mut recent, &mut live, &limits, at(20), at(620))
            .expect("third mint in a minute");
        assert_eq!(refusal.code, "mint_rate_limited");
        // The first mint leaves the window at 60 s.
        assert_eq!(refusal.retry_after_seconds, 40);
        assert_eq!(
            (recent.len(), live.len()),
            (2, 2),
            "a refusal reserves nothing"
        );
        // Once the first mint has left the window, one more fits.
        assert_eq!(
            judge_and_reserve(&mut recent, &mut live, &limits, at(61), at(661)),
            None
        );
    }

    #[test]
    fn the_live_cap_frees_up_at_the_earliest_expiry() {
        let (mut recent, mut live) = (Vec::new(), Vec::new());
        let limits = limits(100, 2);
        assert_eq!(
            judge_and_reserve(&mut recent, &mut live, &limits, at(0), at(900)),
            None
        );
        assert_eq!(
            judge_and_reserve(&mut recent, &mut live, &limits, at(1), at(300)),
            None
        );
        assert_eq!(live, vec![at(300), at(900)], "kept sorted by expiry");
        let refusal = judge_and_reserve(&mut recent, &mut live, &limits, at(2), at(600))
            .expect("third live credential");
        assert_eq!(refusal.code, "too_many_live_credentials");
        assert_eq!(refusal.retry_after_seconds, 298);
        assert_eq!(
            judge_and_reserve(&mut recent, &mut live, &limits, at(300), at(900)),
            None,
            "the credential expiring at 300 s no longer counts"
        );
    }
}
