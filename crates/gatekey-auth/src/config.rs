//! Trusted issuers and verification limits, checked once at startup.

use std::collections::HashSet;
use std::time::Duration;

/// Largest clock skew the configuration may allow.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(300);

/// Algorithms an issuer may be pinned to (asymmetric only).
pub const SUPPORTED_ALGORITHMS: [&str; 6] = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"];

/// A claim holding groups, and the prefix added to each value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupsClaim {
    /// Dot path into the claims, e.g. `groups` or `realm_access.roles`.
    pub path: String,
    pub prefix: Option<String>,
}

/// One trusted issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerConfig {
    pub name: String,
    /// Exact `iss`.
    pub issuer: String,
    /// At least one must appear in `aud`.
    pub audiences: Vec<String>,
    /// Pinned signing algorithms.
    pub algorithms: Vec<String>,
    /// Dot path of the subject claim.
    pub subject_claim: String,
    pub groups_claims: Vec<GroupsClaim>,
    /// JOSE `typ` values accepted besides `JWT`, e.g. `vnd.backstage.user`.
    pub allowed_jose_types: Vec<String>,
}

/// The verifier's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierConfig {
    pub issuers: Vec<IssuerConfig>,
    pub clock_skew: Duration,
    /// An unknown `kid` refreshes an issuer's JWKS at most this often.
    pub jwks_refresh_min_interval: Duration,
    /// Keys older than this are re-fetched on next use.
    pub jwks_max_age: Duration,
    pub max_token_bytes: usize,
}

impl Default for VerifierConfig {
    fn default() -> Self {
        Self {
            issuers: Vec::new(),
            clock_skew: Duration::from_secs(60),
            jwks_refresh_min_interval: Duration::from_secs(30),
            jwks_max_age: Duration::from_secs(3600),
            max_token_bytes: 16 * 1024,
        }
    }
}

/// A configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid token verification settings:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigError(pub Vec<String>);

impl VerifierConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        if self.issuers.is_empty() {
            problems.push("no trusted issuer is configured".to_owned());
        }
        if self.clock_skew > MAX_CLOCK_SKEW {
            problems.push(format!(
                "clock skew must be at most {} s",
                MAX_CLOCK_SKEW.as_secs()
            ));
        }
        let mut seen = HashSet::new();
        for issuer in &self.issuers {
            let at = format!("issuer '{}'", issuer.name);
            if !seen.insert(issuer.issuer.as_str()) {
                problems.push(format!("{at}: {} is configured twice", issuer.issuer));
            }
            if !(issuer.issuer.starts_with("https://") || issuer.issuer.starts_with("http://")) {
                problems.push(format!("{at}: issuer must be an http(s) URL"));
            }
            if issuer.audiences.is_empty() {
                problems.push(format!("{at}: list at least one accepted audience"));
            }
            if issuer.algorithms.is_empty() {
                problems.push(format!("{at}: pin at least one algorithm"));
            }
            for alg in &issuer.algorithms {
                if !SUPPORTED_ALGORITHMS.contains(&alg.as_str()) {
                    problems.push(format!(
                        "{at}: algorithm {alg} is not supported (use one of {})",
                        SUPPORTED_ALGORITHMS.join(", ")
                    ));
                }
            }
            if issuer.subject_claim.is_empty() {
                problems.push(format!("{at}: subject_claim must not be empty"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(problems))
        }
    }
}
