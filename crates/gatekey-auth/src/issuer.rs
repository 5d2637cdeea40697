//! One trusted issuer: its pinned algorithms and accepted token types, its cached discovery +
//! JWKS (fetched with the `openidconnect` crate), and signature and claims verification with
//! `openidconnect`'s ID token verifier against this issuer's keys only.
//!
//! Key fetching is serialized per issuer behind one mutex, so concurrent refreshes coalesce: a
//! caller that waited while another fetched uses that result. An unknown `kid` refreshes the JWKS
//! at most once per `jwks_refresh_min_interval`; failed fetches are not retried for a short
//! backoff, so neither random key ids nor an outage turn into a flood of requests to the IdP.
//!
//! Keys past their maximum age are refreshed in the background: requests keep verifying with the
//! cached keys meanwhile, so a slow or unreachable issuer never holds up a request whose keys are
//! cached. Only a request that cannot be verified without a fetch waits for one, and only on its
//! own issuer: the first token of an issuer (no keys yet) and an unknown `kid` (rate limited as
//! above).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreGenderClaim, CoreJsonWebKey, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AdditionalClaims, ClaimsVerificationError, ClientId, IdTokenVerifier, IssuerUrl,
    JsonWebKeySetUrl, Nonce, NormalizedJsonWebTokenType, SignatureVerificationError,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::{Mutex, RwLock};

use crate::config::{IssuerConfig, ParsedIssuer, VerifierConfig, normalize_jose_type};
use crate::error::AuthError;
use crate::jws::Unverified;

/// Longest wait before a failed discovery or JWKS fetch is tried again.
const MAX_FAILURE_BACKOFF: Duration = Duration::from_secs(5);

/// Every claim `openidconnect` does not model itself (`groups`, `ent`, `repository`, `nbf`...).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct OtherClaims {
    #[serde(flatten)]
    claims: Map<String, Value>,
}

impl AdditionalClaims for OtherClaims {}

/// A bearer token parsed by `openidconnect`, not yet verified.
pub(crate) type BearerToken = openidconnect::IdToken<
    OtherClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// What a successful verification yields.
#[derive(Debug)]
pub(crate) struct Verified {
    pub claims: Map<String, Value>,
    pub expires_at: DateTime<Utc>,
    pub issued_at: DateTime<Utc>,
    /// Generation of the key set the signature was checked with.
    pub key_generation: u64,
}

#[derive(Debug)]
struct Keys {
    jwks_uri: JsonWebKeySetUrl,
    jwks: CoreJsonWebKeySet,
    fetched_at: Instant,
    generation: u64,
}

#[derive(Debug, Clone)]
struct Failure {
    at: Instant,
    detail: String,
}

/// Guarded by the fetch mutex: only its holder fetches.
#[derive(Debug, Default)]
struct FetchLog {
    generation: u64,
    last_unknown_kid_refresh: Option<Instant>,
}

/// The state of an issuer's keys, for readiness probes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyStatus {
    /// Time since the cached keys were fetched; `None` before the first successful fetch.
    pub age: Option<Duration>,
    /// The cached keys are older than the maximum age (a refresh is due or under way).
    pub stale: bool,
    /// Why the latest fetch failed; cleared by the next success.
    pub failure: Option<String>,
}

/// Why keys are being loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// Nothing cached yet.
    Missing,
    /// Cached keys are older than the maximum age (or a readiness check saw a failure); on
    /// failure the cached keys stay in use.
    Stale,
    /// A token names a `kid` the cached keys lack.
    UnknownKid,
}

/// How often keys may be fetched, and for how long they are used.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FetchLimits {
    refresh_min_interval: Duration,
    failure_backoff: Duration,
    max_age: Duration,
}

impl From<&VerifierConfig> for FetchLimits {
    fn from(config: &VerifierConfig) -> Self {
        Self {
            refresh_min_interval: config.jwks_refresh_min_interval,
            failure_backoff: config.jwks_refresh_min_interval.min(MAX_FAILURE_BACKOFF),
            max_age: config.jwks_max_age,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Issuer {
    config: IssuerConfig,
    url: IssuerUrl,
    algorithms: Vec<CoreJwsSigningAlgorithm>,
    jose_types: Vec<NormalizedJsonWebTokenType>,
    http: reqwest::Client,
    limits: FetchLimits,
    keys: RwLock<Option<Arc<Keys>>>,
    fetch: Mutex<FetchLog>,
    /// The latest fetch's failure, readable while another fetch holds `fetch`.
    failure: std::sync::Mutex<Option<Failure>>,
    /// A fetch started by [`Issuer::spawn_fetch`] is under way (one at a time).
    fetching_in_background: AtomicBool,
}

impl Issuer {
    pub(crate) fn new(
        config: IssuerConfig,
        parsed: ParsedIssuer,
        http: reqwest::Client,
        limits: FetchLimits,
    ) -> Self {
        Self {
            config,
            url: parsed.url,
            algorithms: parsed.algorithms,
            jose_types: parsed.jose_types,
            http,
            limits,
            keys: RwLock::new(None),
            fetch: Mutex::new(FetchLog::default()),
            failure: std::sync::Mutex::new(None),
            fetching_in_background: AtomicBool::new(false),
        }
    }

    pub(crate) fn config(&self) -> &IssuerConfig {
        &self.config
    }

    /// Refuses, before any key is fetched, headers this issuer can never accept.
    pub(crate) fn check_header(&self, token: &Unverified) -> Result<(), AuthError> {
        let header = &token.header;
        if header.alg == "none" || header.alg.starts_with("HS") {
            return Err(AuthError::UnsupportedAlgorithm);
        }
        let pinned =
            serde_json::from_value::<CoreJwsSigningAlgorithm>(Value::String(header.alg.clone()))
                .is_ok_and(|alg| self.algorithms.contains(&alg));
        if !pinned {
            return Err(AuthError::UnsupportedAlgorithm);
        }
        if let Some(typ) = &header.typ
            && !normalize_jose_type(typ).is_some_and(|typ| self.jose_types.contains(&typ))
        {
            return Err(AuthError::DisallowedTokenType);
        }
        if header.crit.is_some() || header.cty.is_some() {
            return Err(AuthError::Malformed);
        }
        Ok(())
    }

    /// Verifies signature, issuer, audience and expiry with `openidconnect`, refreshing the JWKS
    /// once (rate limited) when the token's `kid` is unknown.
    pub(crate) async fn verify(
        self: &Arc<Self>,
        token: &BearerToken,
        unverified: &Unverified,
        now: DateTime<Utc>,
        skew: chrono::Duration,
    ) -> Result<Verified, AuthError> {
        // The client id is the configured audience the token names; with none, the first one, so
        // that openidconnect refuses the audience.
        let audiences = unverified.audiences();
        let audience = self
            .config
            .audiences
            .iter()
            .find(|a| audiences.contains(&a.as_str()))
            .or_else(|| self.config.audiences.first())
            .ok_or(AuthError::WrongAudience)?;
        let (keys, just_fetched) = self.current_keys().await?;
        match self.check(token, &keys, audience, now, skew) {
            Err(AuthError::UnknownKey) if unverified.header.kid.is_some() && !just_fetched => {
                match self.load(Some(keys.generation), Need::UnknownKid).await? {
                    Some(newer) => self.check(token, &newer, audience, now, skew),
                    None => Err(AuthError::UnknownKey),
                }
            }
            result => result,
        }
    }

    fn check(
        &self,
        token: &BearerToken,
        keys: &Keys,
        audience: &str,
        now: DateTime<Utc>,
        skew: chrono::Duration,
    ) -> Result<Verified, AuthError> {
        let verifier: IdTokenVerifier<'_, CoreJsonWebKey> = IdTokenVerifier::new_public_client(
            ClientId::new(audience.to_owned()),
            self.url.clone(),
            keys.jwks.clone(),
        )
        .set_allowed_algs(self.algorithms.iter().cloned())
        .set_allowed_jose_types(self.jose_types.iter().cloned())
        // Any other audience may appear next to an accepted one.
        .set_other_audience_verifier_fn(|_| true)
        // openidconnect has no leeway: `exp` is compared with this time.
        .set_time_fn(move || now - skew);
        // Bearer tokens carry no nonce of ours.
        let claims = token
            .claims(&verifier, |_: Option<&Nonce>| Ok(()))
            .map_err(refusal)?;
        let Value::Object(all) = serde_json::to_value(claims).map_err(|_| AuthError::Malformed)?
        else {
            return Err(AuthError::Malformed);
        };
        Ok(Verified {
            claims: all,
            expires_at: claims.expiration(),
            issued_at: claims.issue_time(),
            key_generation: keys.generation,
        })
    }

    /// Generation of the cached key set while it is younger than the maximum age; `None` when
    /// there are no keys or they are due for a re-fetch.
    pub(crate) async fn fresh_key_generation(&self) -> Option<u64> {
        self.keys
            .read()
            .await
            .as_ref()
            .filter(|keys| keys.fetched_at.elapsed() < self.limits.max_age)
            .map(|keys| keys.generation)
    }

    /// The cached keys, whatever their age (past the maximum age a background refresh is
    /// started); only with no keys at all are they loaded now. The flag says they were loaded
    /// during this call, so an unknown `kid` need not trigger another fetch.
    async fn current_keys(self: &Arc<Self>) -> Result<(Arc<Keys>, bool), AuthError> {
        if let Some(keys) = self.keys.read().await.clone() {
            if keys.fetched_at.elapsed() >= self.limits.max_age {
                self.spawn_fetch(Need::Stale);
            }
            return Ok((keys, false));
        }
        let keys = self
            .load(None, Need::Missing)
            .await?
            .ok_or_else(|| self.unavailable("no keys".to_owned()))?;
        Ok((keys, true))
    }

    /// Fetches keys in a task of its own, unless such a fetch is already under way. The handle
    /// lets a readiness probe wait a bounded time for the outcome; the fetch goes on regardless.
    fn spawn_fetch(self: &Arc<Self>, need: Need) -> Option<tokio::task::JoinHandle<()>> {
        if self.fetching_in_background.swap(true, Ordering::AcqRel) {
            return None;
        }
        let issuer = Arc::clone(self);
        Some(tokio::spawn(async move {
            let observed = issuer.keys.read().await.as_ref().map(|k| k.generation);
            // A failure is recorded (and logged) by `load`; the cached keys stay in use.
            let _outcome = issuer.load(observed, need).await;
            issuer
                .fetching_in_background
                .store(false, Ordering::Release);
        }))
    }

    fn last_failure(&self) -> Option<Failure> {
        self.failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn record_failure(&self, failure: Option<Failure>) {
        *self.failure.lock().unwrap_or_else(PoisonError::into_inner) = failure;
    }

    /// Fetches keys unless someone else did since `observed` was seen. `None` only for
    /// [`Need::UnknownKid`] within the refresh interval.
    async fn load(
        &self,
        observed: Option<u64>,
        need: Need,
    ) -> Result<Option<Arc<Keys>>, AuthError> {
        let mut log = self.fetch.lock().await;
        let current = self.keys.read().await.clone();
        if let Some(keys) = &current
            && Some(keys.generation) != observed
        {
            return Ok(Some(Arc::clone(keys)));
        }
        if need == Need::UnknownKid {
            if log
                .last_unknown_kid_refresh
                .is_some_and(|at| at.elapsed() < self.limits.refresh_min_interval)
            {
                return Ok(None);
            }
            log.last_unknown_kid_refresh = Some(Instant::now());
        }
        if let Some(failure) = self.last_failure()
            && failure.at.elapsed() < self.limits.failure_backoff
        {
            return self.after_failure(current, need, failure.detail);
        }
        match self.download(current.as_deref()).await {
            Ok((jwks_uri, jwks)) => {
                log.generation += 1;
                self.record_failure(None);
                tracing::info!(issuer = %self.config.name, keys = jwks.keys().len(), reason = ?need, "fetched JWKS");
                metrics::counter!("gatekey_jwks_refreshes_total", "issuer" => self.config.name.clone())
                    .increment(1);
                let keys = Arc::new(Keys {
                    jwks_uri,
                    jwks,
                    fetched_at: Instant::now(),
                    generation: log.generation,
                });
                *self.keys.write().await = Some(Arc::clone(&keys));
                Ok(Some(keys))
            }
            Err(detail) => {
                tracing::warn!(issuer = %self.config.name, error = %detail, reason = ?need, "fetching the issuer's keys failed");
                self.record_failure(Some(Failure {
                    at: Instant::now(),
                    detail: detail.clone(),
                }));
                self.after_failure(current, need, detail)
            }
        }
    }

    fn after_failure(
        &self,
        current: Option<Arc<Keys>>,
        need: Need,
        detail: String,
    ) -> Result<Option<Arc<Keys>>, AuthError> {
        match (need, current) {
            (Need::Stale, Some(keys)) => Ok(Some(keys)),
            _ => Err(self.unavailable(detail)),
        }
    }

    /// Discovery + JWKS the first time, the JWKS alone afterwards.
    async fn download(
        &self,
        previous: Option<&Keys>,
    ) -> Result<(JsonWebKeySetUrl, CoreJsonWebKeySet), String> {
        if let Some(previous) = previous {
            let jwks = CoreJsonWebKeySet::fetch_async(&previous.jwks_uri, &self.http)
                .await
                .map_err(|e| format!("fetching the JWKS: {}", error_chain(&e)))?;
            return Ok((previous.jwks_uri.clone(), jwks));
        }
        let metadata = CoreProviderMetadata::discover_async(self.url.clone(), &self.http)
            .await
            .map_err(|e| format!("OpenID discovery: {}", error_chain(&e)))?;
        Ok((metadata.jwks_uri().clone(), metadata.jwks().clone()))
    }

    fn unavailable(&self, detail: String) -> AuthError {
        AuthError::IssuerUnavailable {
            issuer: self.config.name.clone(),
            detail,
        }
    }

    /// The state of this issuer's keys. Missing, stale or failed keys start a background fetch
    /// (unless one is under way), whose outcome is awaited for at most `wait`.
    pub(crate) async fn key_status(self: &Arc<Self>, wait: Duration) -> KeyStatus {
        let cached = self.keys.read().await.clone();
        let due = cached
            .as_ref()
            .is_none_or(|keys| keys.fetched_at.elapsed() >= self.limits.max_age);
        if due || self.last_failure().is_some() {
            let need = if cached.is_some() {
                Need::Stale
            } else {
                Need::Missing
            };
            if let Some(fetch) = self.spawn_fetch(need) {
                // Past `wait` the probe answers with what it knows; the fetch goes on.
                let _finished = tokio::time::timeout(wait, fetch).await;
            }
        }
        let age = self
            .keys
            .read()
            .await
            .as_ref()
            .map(|keys| keys.fetched_at.elapsed());
        KeyStatus {
            age,
            stale: age.is_some_and(|age| age >= self.limits.max_age),
            failure: self
                .last_failure()
                .map(|failure| self.unavailable(failure.detail).to_string()),
        }
    }
}

/// Maps `openidconnect`'s verdict to Gatekey's reasons.
fn refusal(err: ClaimsVerificationError) -> AuthError {
    match err {
        ClaimsVerificationError::Expired(_) => AuthError::Expired,
        ClaimsVerificationError::InvalidAudience(_) => AuthError::WrongAudience,
        ClaimsVerificationError::InvalidIssuer(_) => AuthError::UntrustedIssuer,
        ClaimsVerificationError::SignatureVerification(err) => match err {
            SignatureVerificationError::NoMatchingKey
            | SignatureVerificationError::AmbiguousKeyId(_)
            | SignatureVerificationError::InvalidKey(_) => AuthError::UnknownKey,
            SignatureVerificationError::DisallowedAlg(_)
            | SignatureVerificationError::UnsupportedAlg(_) => AuthError::UnsupportedAlgorithm,
            SignatureVerificationError::NoSignature => AuthError::Malformed,
            _ => AuthError::InvalidSignature,
        },
        // Nonce, acr, auth_time checks accept everything; `Unsupported` is a JOSE feature
        // (typ, cty, crit, JWE) that the header check already refused.
        _ => AuthError::Malformed,
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
