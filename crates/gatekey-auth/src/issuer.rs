//! One trusted issuer: its pinned algorithms, accepted token types, and cached discovery + JWKS
//! (fetched with the `openidconnect` crate), refreshed on an unknown `kid` at most once per
//! interval, with concurrent refreshes coalesced behind one lock.

use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreJsonWebKey, CoreJsonWebKeySet, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{IssuerUrl, JsonWebKey as _, JsonWebKeyAlgorithm, JsonWebKeySetUrl};
use serde_json::{Map, Value};
use tokio::sync::{Mutex, RwLock};

use crate::config::{ConfigError, IssuerConfig, VerifierConfig};
use crate::error::AuthError;

#[derive(Debug, Clone)]
struct Keys {
    jwks_uri: JsonWebKeySetUrl,
    jwks: CoreJsonWebKeySet,
    fetched_at: Instant,
}

#[derive(Debug)]
pub struct Issuer {
    config: IssuerConfig,
    algorithms: Vec<(String, CoreJwsSigningAlgorithm)>,
    jose_types: Vec<String>,
    http: reqwest::Client,
    keys: RwLock<Option<Keys>>,
    /// When keys were last fetched; held while fetching so concurrent refreshes coalesce.
    last_fetch: Mutex<Option<Instant>>,
    refresh_min_interval: Duration,
    max_age: Duration,
}

/// `typ` values compare case-insensitively and without the `application/` prefix (RFC 7515 4.1.9).
fn normalize_typ(typ: &str) -> String {
    let lower = typ.to_ascii_lowercase();
    lower
        .strip_prefix("application/")
        .unwrap_or(&lower)
        .to_owned()
}

impl Issuer {
    pub fn new(
        config: IssuerConfig,
        http: reqwest::Client,
        verifier: &VerifierConfig,
    ) -> Result<Self, ConfigError> {
        let algorithms = config
            .algorithms
            .iter()
            .map(|name| {
                serde_json::from_value::<CoreJwsSigningAlgorithm>(Value::String(name.clone()))
                    .map(|alg| (name.clone(), alg))
                    .map_err(|_| ConfigError(vec![format!("unknown algorithm {name}")]))
            })
            .collect::<Result<Vec<_>, _>>()?;
        IssuerUrl::new(config.issuer.clone())
            .map_err(|e| ConfigError(vec![format!("issuer '{}': bad URL: {e}", config.name)]))?;
        let mut jose_types: Vec<String> = config
            .allowed_jose_types
            .iter()
            .map(|t| normalize_typ(t))
            .collect();
        jose_types.push("jwt".to_owned());
        Ok(Self {
            config,
            algorithms,
            jose_types,
            http,
            keys: RwLock::new(None),
            last_fetch: Mutex::new(None),
            refresh_min_interval: verifier.jwks_refresh_min_interval,
            max_age: verifier.jwks_max_age,
        })
    }

    pub fn config(&self) -> &IssuerConfig {
        &self.config
    }

    /// Discovery + JWKS, fetched when missing or older than the maximum age.
    pub async fn ensure_keys(&self) -> Result<CoreJsonWebKeySet, AuthError> {
        if let Some(keys) = self.keys.read().await.as_ref()
            && keys.fetched_at.elapsed() < self.max_age
        {
            return Ok(keys.jwks.clone());
        }
        self.refresh(true).await
    }

    /// Fetches keys again unless that happened within the refresh interval (then returns the
    /// cached ones). `force` skips the interval when nothing is cached yet or keys are stale.
    async fn refresh(&self, force: bool) -> Result<CoreJsonWebKeySet, AuthError> {
        let mut last = self.last_fetch.lock().await;
        let cached = self.keys.read().await.clone();
        let recently = last.is_some_and(|at| at.elapsed() < self.refresh_min_interval);
        if let Some(keys) = &cached
            && (recently || (force && keys.fetched_at.elapsed() < self.max_age))
        {
            return Ok(keys.jwks.clone());
        }
        if cached.is_none() && recently && !force {
            return Err(AuthError::UnknownKey);
        }
        *last = Some(Instant::now());
        let fetched = if let Some(keys) = cached {
            let jwks = CoreJsonWebKeySet::fetch_async(&keys.jwks_uri, &self.http)
                .await
                .map_err(|e| unavailable(&e))?;
            Keys {
                jwks_uri: keys.jwks_uri,
                jwks,
                fetched_at: Instant::now(),
            }
        } else {
            let issuer = IssuerUrl::new(self.config.issuer.clone()).map_err(|e| unavailable(&e))?;
            let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
                .await
                .map_err(|e| unavailable(&e))?;
            Keys {
                jwks_uri: metadata.jwks_uri().clone(),
                jwks: metadata.jwks().clone(),
                fetched_at: Instant::now(),
            }
        };
        tracing::info!(issuer = %self.config.name, keys = fetched.jwks.keys().len(), "fetched JWKS");
        let jwks = fetched.jwks.clone();
        *self.keys.write().await = Some(fetched);
        Ok(jwks)
    }

    /// Checks algorithm, token type and signature against this issuer's keys only.
    pub async fn verify_signature(
        &self,
        header: &Map<String, Value>,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Result<(), AuthError> {
        let alg_name = header
            .get("alg")
            .and_then(Value::as_str)
            .ok_or(AuthError::Malformed)?;
        let alg = self
            .algorithms
            .iter()
            .find(|(name, _)| name == alg_name)
            .map(|(_, alg)| alg.clone())
            .ok_or(AuthError::UnsupportedAlgorithm)?;
        if let Some(typ) = header.get("typ") {
            let typ = typ.as_str().ok_or(AuthError::Malformed)?;
            if !self.jose_types.contains(&normalize_typ(typ)) {
                return Err(AuthError::DisallowedTokenType);
            }
        }
        let kid = header.get("kid").and_then(Value::as_str);
        let jwks = self.ensure_keys().await?;
        let jwks = if find_keys(&jwks, kid, &alg).is_empty() && kid.is_some() {
            // An unknown kid: the issuer may have rotated. Refresh (rate limited) and look again.
            self.refresh(false).await?
        } else {
            jwks
        };
        let candidates = find_keys(&jwks, kid, &alg);
        if candidates.is_empty() {
            return Err(AuthError::UnknownKey);
        }
        if candidates
            .iter()
            .any(|key| key.verify_signature(&alg, signing_input, signature).is_ok())
        {
            Ok(())
        } else {
            Err(AuthError::InvalidSignature)
        }
    }
}

fn find_keys<'a>(
    jwks: &'a CoreJsonWebKeySet,
    kid: Option<&str>,
    alg: &CoreJwsSigningAlgorithm,
) -> Vec<&'a CoreJsonWebKey> {
    jwks.keys()
        .iter()
        .filter(|key| kid.is_none_or(|kid| key.key_id().is_some_and(|id| id.as_str() == kid)))
        .filter(|key| match key.signing_alg() {
            JsonWebKeyAlgorithm::Algorithm(key_alg) => key_alg == alg,
            JsonWebKeyAlgorithm::Unspecified => true,
            JsonWebKeyAlgorithm::Unsupported => false,
        })
        .collect()
}

fn unavailable(err: &dyn std::fmt::Display) -> AuthError {
    AuthError::IssuerUnavailable {
        detail: err.to_string(),
    }
}
