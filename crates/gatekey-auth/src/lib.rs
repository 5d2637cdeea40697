//! Bearer token verification against several trusted OpenID Connect issuers (Backstage, the
//! company IdP, CI workload identity), and the mapping of their claims to a subject and groups.
//!
//! The issuer is chosen by the token's unverified `iss` (exact match), and only that issuer's keys
//! are tried, so a token of issuer A carrying a `kid` of issuer B fails. Discovery, JWKS and the
//! checks of signature, `iss`, `aud` and `exp` come from the `openidconnect` crate; this crate adds
//! what it lacks for bearer tokens: clock skew (through its time function), `nbf`, a future
//! `iat`, per-issuer algorithm pinning with `none` and HS* always refused, a size limit, rate
//! limited JWKS refresh on unknown key ids, per-issuer required claims (a token of an issuer shared
//! beyond the company, such as a public CI platform, must name the company's own organisation),
//! and claim mapping. Successful verifications are remembered by token hash until the token
//! expires or its issuer's keys change (`cache`).
//!
//! Tokens are never logged and appear in no `Debug` output of this crate.

mod cache;
mod claims;
mod config;
mod error;
mod issuer;
pub mod jws;
mod presets;
mod userinfo;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

pub use config::{
    ConfigError, GroupsClaim, IssuerConfig, MAX_CLOCK_SKEW, RequiredClaim, SUPPORTED_ALGORITHMS,
    VerifierConfig, group_prefix_problems,
};
pub use error::AuthError;
pub use presets::IssuerPreset;
pub use userinfo::{UserinfoGroups, UserinfoIssuer};

use crate::cache::VerifiedCache;
use crate::issuer::{BearerToken, Issuer};
use crate::jws::Unverified;

/// Who a verified token says the caller is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedIdentity {
    /// Value of the issuer's subject claim.
    pub subject: String,
    /// The token's `iss`.
    pub issuer: String,
    /// Name of the configured issuer.
    pub issuer_name: String,
    /// Mapped, prefixed (claim prefixes, then the issuer's `group_prefix`), deduplicated and
    /// sorted.
    pub groups: Vec<String>,
    /// The token's `exp`.
    pub expires_at: DateTime<Utc>,
    /// Every verified claim, for mappers that need more (`aud` always as an array).
    pub claims: Map<String, Value>,
}

/// The state of one issuer's keys, for readiness probes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerHealth {
    /// Configured name.
    pub name: String,
    /// Configured issuer URL.
    pub issuer: String,
    /// Seconds since the keys in use were fetched; `None` before the first successful fetch
    /// (this issuer's tokens are refused until then).
    pub key_age_seconds: Option<u64>,
    /// The keys in use are older than `jwks_max_age`: a refresh is under way or failing.
    pub stale: bool,
    /// Why the latest fetch of discovery or the JWKS failed, for operators; cached keys stay in
    /// use.
    pub error: Option<String>,
}

impl IssuerHealth {
    /// Keys are loaded, fresh, and the latest fetch succeeded.
    pub fn reachable(&self) -> bool {
        self.key_age_seconds.is_some() && !self.stale && self.error.is_none()
    }

    /// Tokens of this issuer can be verified (with fresh or cached keys).
    pub fn has_keys(&self) -> bool {
        self.key_age_seconds.is_some()
    }
}

/// Verifies bearer tokens. Cheap to clone; clones share the key caches.
#[derive(Debug, Clone)]
pub struct TokenVerifier {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// In configuration order; shared with their background key fetches.
    issuers: Vec<Arc<Issuer>>,
    by_iss: HashMap<String, usize>,
    clock_skew: chrono::Duration,
    max_token_bytes: usize,
    verified: VerifiedCache,
}

impl TokenVerifier {
    /// Validates the configuration (every problem is listed in the error). Nothing is fetched
    /// until the first token or readiness check. `http` should not follow redirects.
    pub fn new(config: VerifierConfig, http: &reqwest::Client) -> Result<Self, ConfigError> {
        let parsed = config.validate()?;
        let clock_skew = chrono::Duration::from_std(config.clock_skew)
            .map_err(|e| ConfigError(vec![format!("clock_skew: {e}")]))?;
        let limits = issuer::FetchLimits::from(&config);
        let issuers: Vec<Arc<Issuer>> = config
            .issuers
            .into_iter()
            .zip(parsed)
            .map(|(issuer, parsed)| Arc::new(Issuer::new(issuer, parsed, http.clone(), limits)))
            .collect();
        let by_iss = issuers
            .iter()
            .enumerate()
            .map(|(index, issuer)| (issuer.config().issuer.clone(), index))
            .collect();
        Ok(Self {
            inner: Arc::new(Inner {
                issuers,
                by_iss,
                clock_skew,
                max_token_bytes: config.max_token_bytes,
                verified: VerifiedCache::new(cache::CAPACITY),
            }),
        })
    }

    /// Verifies `bearer_token` (the value after `Bearer `) and maps its claims.
    pub async fn verify(&self, bearer_token: &str) -> Result<VerifiedIdentity, AuthError> {
        let result = self.verify_inner(bearer_token).await;
        if let Err(err) = &result {
            tracing::debug!(reason = %err, "bearer token refused");
        }
        result
    }

    async fn verify_inner(&self, token: &str) -> Result<VerifiedIdentity, AuthError> {
        let inner = &*self.inner;
        if token.len() > inner.max_token_bytes {
            return Err(AuthError::TooLarge);
        }
        let token_hash = cache::hash(token);
        let now = Utc::now();
        if let Some(hit) = inner.verified.get(&token_hash, now)
            && inner.issuers[hit.issuer].fresh_key_generation().await == Some(hit.key_generation)
        {
            return Ok(hit.identity);
        }
        let unverified = Unverified::parse(token)?;
        let (issuer_index, issuer) = unverified
            .issuer()
            .and_then(|iss| inner.by_iss.get(iss))
            .map(|&index| (index, &inner.issuers[index]))
            .ok_or(AuthError::UntrustedIssuer)?;
        issuer.check_header(&unverified)?;
        // openidconnect requires these; name the missing one rather than "malformed".
        for claim in ["sub", "exp", "iat"] {
            if !unverified.claims.contains_key(claim) {
                return Err(AuthError::MissingClaim(claim.to_owned()));
            }
        }
        let parsed: BearerToken = token.parse().map_err(|_| AuthError::Malformed)?;
        let verified = issuer
            .verify(&parsed, &unverified, now, inner.clock_skew)
            .await?;
        claims::check_not_before(&verified.claims, verified.issued_at, now, inner.clock_skew)?;
        let config = issuer.config();
        claims::check_required(&verified.claims, config)?;
        let identity = VerifiedIdentity {
            subject: claims::subject(&verified.claims, config)?,
            issuer: config.issuer.clone(),
            issuer_name: config.name.clone(),
            groups: config.qualify_groups(claims::groups(&verified.claims, config)),
            expires_at: verified.expires_at,
            claims: verified.claims,
        };
        inner.verified.insert(
            token_hash,
            cache::Entry {
                identity: identity.clone(),
                issuer: issuer_index,
                key_generation: verified.key_generation,
            },
        );
        Ok(identity)
    }

    /// The state of every issuer's keys, for readiness probes. Issuers without keys, with stale
    /// keys or with a failed fetch get a fetch in the background; each check waits at most
    /// `wait` for it, all issuers in parallel, so one hanging issuer delays the answer by `wait`
    /// at most and never another issuer's report.
    pub async fn check_issuers(&self, wait: Duration) -> Vec<IssuerHealth> {
        let checks = self.inner.issuers.iter().map(|issuer| async move {
            let status = issuer.key_status(wait).await;
            IssuerHealth {
                name: issuer.config().name.clone(),
                issuer: issuer.config().issuer.clone(),
                key_age_seconds: status.age.map(|age| age.as_secs()),
                stale: status.stale,
                error: status.failure,
            }
        });
        futures::future::join_all(checks).await
    }
}
