//! Claim checks after the signature holds: time (`exp`, `nbf`, `iat` with bounded skew) and
//! audience, then the mapping of the subject and groups claims.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::VerifiedIdentity;
use crate::config::IssuerConfig;
use crate::error::AuthError;

#[expect(
    clippy::cast_possible_truncation,
    reason = "NumericDate may be fractional; whole seconds are what is compared"
)]
fn seconds(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, AuthError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_i64()
            .or_else(|| value.as_f64().map(|f| f as i64))
            .map(Some)
            .ok_or(AuthError::Malformed),
    }
}

pub fn check_time_and_audience(
    claims: &Map<String, Value>,
    issuer: &IssuerConfig,
    skew: Duration,
    now: DateTime<Utc>,
) -> Result<(), AuthError> {
    let now = now.timestamp();
    let skew = i64::try_from(skew.as_secs()).unwrap_or(i64::MAX);
    let exp = seconds(claims, "exp")?.ok_or_else(|| AuthError::MissingClaim("exp".to_owned()))?;
    if now > exp.saturating_add(skew) {
        return Err(AuthError::Expired);
    }
    for name in ["nbf", "iat"] {
        if let Some(at) = seconds(claims, name)?
            && at > now.saturating_add(skew)
        {
            return Err(AuthError::NotYetValid);
        }
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(aud)) => vec![aud.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => return Err(AuthError::WrongAudience),
    };
    if !audiences
        .iter()
        .any(|aud| issuer.audiences.iter().any(|a| a == aud))
    {
        return Err(AuthError::WrongAudience);
    }
    Ok(())
}

/// Follows a dot path through nested objects.
fn lookup<'a>(claims: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut current = claims.get(parts.next()?)?;
    for part in parts {
        current = current.as_object()?.get(part)?;
    }
    Some(current)
}

pub fn identity(
    claims: Map<String, Value>,
    issuer: &IssuerConfig,
) -> Result<VerifiedIdentity, AuthError> {
    let subject = lookup(&claims, &issuer.subject_claim)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| AuthError::MissingClaim(issuer.subject_claim.clone()))?
        .to_owned();
    let mut groups = BTreeSet::new();
    for claim in &issuer.groups_claims {
        let values: Vec<&str> = match lookup(&claims, &claim.path) {
            Some(Value::String(value)) => vec![value.as_str()],
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        for value in values.into_iter().filter(|v| !v.is_empty()) {
            groups.insert(format!(
                "{}{value}",
                claim.prefix.as_deref().unwrap_or_default()
            ));
        }
    }
    let exp = seconds(&claims, "exp")?.unwrap_or_default();
    Ok(VerifiedIdentity {
        subject,
        issuer: issuer.issuer.clone(),
        issuer_name: issuer.name.clone(),
        groups: groups.into_iter().collect(),
        expires_at: DateTime::from_timestamp(exp, 0).unwrap_or_default(),
        claims,
    })
}
