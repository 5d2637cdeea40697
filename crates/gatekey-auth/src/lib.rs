//! Bearer token verification against several trusted OpenID Connect issuers (Backstage, the
//! company IdP, CI workload identity), and the mapping of their claims to a subject and groups.
//!
//! The issuer is chosen by the token's `iss`, and only that issuer's keys are tried, so a token
//! of issuer A carrying a `kid` of issuer B fails. Discovery and JWKS come from the `openidconnect`
//! crate and are cached; an unknown `kid` refreshes an issuer's JWKS at most once per interval,
//! with concurrent refreshes coalesced, so a flood of made-up key ids cannot hammer the IdP.
//! Algorithms are pinned per issuer; `none` and HMAC are always refused. `exp`, `nbf`, `iat` are
//! checked with a bounded clock skew, and the audience against the issuer's accepted audiences.

mod claims;
mod config;
mod error;
mod issuer;

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

pub use config::{ConfigError, GroupsClaim, IssuerConfig, VerifierConfig};
pub use error::AuthError;

use crate::issuer::Issuer;

/// Who a verified token says the caller is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedIdentity {
    pub subject: String,
    /// The token's `iss`.
    pub issuer: String,
    /// Name of the configured issuer.
    pub issuer_name: String,
    /// Mapped, prefixed, deduplicated and sorted.
    pub groups: Vec<String>,
    pub expires_at: DateTime<Utc>,
    /// Every claim of the token, for mappers that need more.
    pub claims: Map<String, Value>,
}

/// Reachability of one issuer, for readiness probes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerHealth {
    pub name: String,
    pub issuer: String,
    pub reachable: bool,
    pub error: Option<String>,
}

/// Verifies bearer tokens. Cheap to clone; clones share caches.
#[derive(Debug, Clone)]
pub struct TokenVerifier {
    issuers: Arc<HashMap<String, Issuer>>,
    config: Arc<VerifierConfig>,
}

impl TokenVerifier {
    /// Validates the configuration. Nothing is fetched until the first token or readiness check.
    pub fn new(config: VerifierConfig, http: &reqwest::Client) -> Result<Self, ConfigError> {
        config.validate()?;
        let issuers = config
            .issuers
            .iter()
            .map(|issuer| {
                Ok((
                    issuer.issuer.clone(),
                    Issuer::new(issuer.clone(), http.clone(), &config)?,
                ))
            })
            .collect::<Result<HashMap<_, _>, ConfigError>>()?;
        Ok(Self {
            issuers: Arc::new(issuers),
            config: Arc::new(config),
        })
    }

    /// Verifies `token` and maps its claims.
    pub async fn verify(&self, token: &str) -> Result<VerifiedIdentity, AuthError> {
        if token.len() > self.config.max_token_bytes {
            return Err(AuthError::TooLarge);
        }
        let parts: Vec<&str> = token.split('.').collect();
        let [header, payload, signature] = parts.as_slice() else {
            return Err(AuthError::Malformed);
        };
        let header: Map<String, Value> = decode_json(header)?;
        let claims: Map<String, Value> = decode_json(payload)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| AuthError::Malformed)?;
        let iss = claims
            .get("iss")
            .and_then(Value::as_str)
            .ok_or(AuthError::UntrustedIssuer)?;
        let issuer = self.issuers.get(iss).ok_or(AuthError::UntrustedIssuer)?;
        let signing_input = &token[..header_len(token)];
        issuer
            .verify_signature(&header, signing_input.as_bytes(), &signature)
            .await?;
        claims::check_time_and_audience(
            &claims,
            issuer.config(),
            self.config.clock_skew,
            Utc::now(),
        )?;
        claims::identity(claims, issuer.config())
    }

    /// Discovers every issuer and loads its keys if not cached yet; reports which answer.
    pub async fn check_issuers(&self) -> Vec<IssuerHealth> {
        let mut health = Vec::with_capacity(self.issuers.len());
        for issuer in self
            .config
            .issuers
            .iter()
            .filter_map(|c| self.issuers.get(&c.issuer))
        {
            let result = issuer.ensure_keys().await;
            health.push(IssuerHealth {
                name: issuer.config().name.clone(),
                issuer: issuer.config().issuer.clone(),
                reachable: result.is_ok(),
                error: result.err().map(|e| e.description()),
            });
        }
        health
    }
}

/// Length of `header.payload`, the JWS signing input.
fn header_len(token: &str) -> usize {
    token.rfind('.').unwrap_or(token.len())
}

fn decode_json(part: &str) -> Result<Map<String, Value>, AuthError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| AuthError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| AuthError::Malformed)
}
