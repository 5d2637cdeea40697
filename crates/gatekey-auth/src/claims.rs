//! What `openidconnect` does not check: `nbf` and a future `iat` (with the bounded skew), and the
//! mapping of the configured subject and groups claims.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::config::IssuerConfig;
use crate::error::AuthError;

/// Refuses tokens whose `nbf` or `iat` lies beyond `now + skew`.
pub fn check_not_before(
    claims: &Map<String, Value>,
    issued_at: DateTime<Utc>,
    now: DateTime<Utc>,
    skew: chrono::Duration,
) -> Result<(), AuthError> {
    let latest = now + skew;
    if issued_at > latest {
        return Err(AuthError::NotYetValid);
    }
    match claims.get("nbf") {
        None | Some(Value::Null) => Ok(()),
        Some(nbf) => {
            let nbf = nbf.as_f64().ok_or(AuthError::Malformed)?;
            #[expect(
                clippy::cast_precision_loss,
                reason = "NumericDate values are far below 2^52 seconds"
            )]
            let latest = latest.timestamp() as f64;
            if nbf > latest {
                Err(AuthError::NotYetValid)
            } else {
                Ok(())
            }
        }
    }
}

/// Follows a dot path through nested objects.
pub(crate) fn lookup<'a>(claims: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut current = claims.get(parts.next()?)?;
    for part in parts {
        current = current.as_object()?.get(part)?;
    }
    Some(current)
}

/// The subject at the configured claim path; absent, empty or not a string is refused.
pub fn subject(claims: &Map<String, Value>, issuer: &IssuerConfig) -> Result<String, AuthError> {
    lookup(claims, &issuer.subject_claim)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| AuthError::MissingClaim(issuer.subject_claim.clone()))
}

/// Groups from every configured claim (a string or an array of strings), prefixed, plus the
/// preset's, deduplicated and sorted. Missing claims and other value types contribute nothing.
pub fn groups(claims: &Map<String, Value>, issuer: &IssuerConfig) -> Vec<String> {
    let mut groups = BTreeSet::new();
    for claim in &issuer.groups_claims {
        let values: Vec<&str> = match lookup(claims, &claim.path) {
            Some(Value::String(value)) => vec![value.as_str()],
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let prefix = claim.prefix.as_deref().unwrap_or_default();
        for value in values.into_iter().filter(|v| !v.is_empty()) {
            groups.insert(format!("{prefix}{value}"));
        }
    }
    if let Some(preset) = issuer.preset {
        groups.extend(preset.groups(claims));
    }
    groups.into_iter().collect()
}
