//! What `openidconnect` does not check: `nbf` and a future `iat` (with the bounded skew), the
//! issuer's required claims, and the mapping of the configured subject and groups claims.

use std::borrow::Cow;
use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::config::IssuerConfig;
use crate::error::AuthError;

/// Refuses tokens whose `nbf` or `iat` lies beyond `now + skew`.
pub(crate) fn check_not_before(
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

/// A scalar claim as text: a string as is, a number or boolean in its canonical JSON form
/// (`1234567`, `true`). Arrays, objects and `null` have none.
pub(crate) fn scalar_text(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::String(text) => Some(Cow::Borrowed(text)),
        Value::Number(number) => Some(Cow::Owned(number.to_string())),
        Value::Bool(flag) => Some(Cow::Borrowed(if *flag { "true" } else { "false" })),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// Refuses the token unless each of the issuer's required claims holds one of its accepted
/// values. The refusal names the claim, never its value or the accepted ones.
pub(crate) fn check_required(
    claims: &Map<String, Value>,
    issuer: &IssuerConfig,
) -> Result<(), AuthError> {
    for required in &issuer.required_claims {
        let value = lookup(claims, &required.path)
            .filter(|value| !value.is_null())
            .ok_or_else(|| AuthError::MissingClaim(required.path.clone()))?;
        let accepted = scalar_text(value)
            .is_some_and(|text| required.accepted.iter().any(|accepted| *accepted == text));
        if !accepted {
            return Err(AuthError::ClaimNotAccepted(required.path.clone()));
        }
    }
    Ok(())
}

/// The subject at the configured claim path; absent, empty or not a string is refused.
pub(crate) fn subject(
    claims: &Map<String, Value>,
    issuer: &IssuerConfig,
) -> Result<String, AuthError> {
    lookup(claims, &issuer.subject_claim)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| AuthError::MissingClaim(issuer.subject_claim.clone()))
}

/// Groups from every configured claim (a string or an array of strings), prefixed, plus the
/// preset's, deduplicated and sorted. Missing claims and other value types contribute nothing.
pub(crate) fn groups(claims: &Map<String, Value>, issuer: &IssuerConfig) -> Vec<String> {
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::RequiredClaim;

    fn issuer_requiring(required: &[(&str, &[&str])]) -> IssuerConfig {
        IssuerConfig {
            required_claims: required
                .iter()
                .map(|(path, accepted)| RequiredClaim {
                    path: (*path).to_owned(),
                    accepted: accepted.iter().map(|value| (*value).to_owned()).collect(),
                })
                .collect(),
            ..IssuerConfig::default()
        }
    }

    fn claims(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(claims) => claims,
            other => panic!("claims must be an object: {other}"),
        }
    }

    #[test]
    fn a_string_claim_must_equal_the_accepted_value_exactly() {
        let issuer = issuer_requiring(&[("repository_owner_id", &["1234567"])]);
        let check = |value: Value| {
            check_required(&claims(json!({ "repository_owner_id": value })), &issuer)
        };
        assert_eq!(check(json!("1234567")), Ok(()));
        for other in ["7654321", "1234567 ", "01234567", ""] {
            assert_eq!(
                check(json!(other)),
                Err(AuthError::ClaimNotAccepted(
                    "repository_owner_id".to_owned()
                )),
                "{other:?}"
            );
        }
    }

    #[test]
    fn numbers_and_booleans_compare_by_their_canonical_text() {
        let issuer = issuer_requiring(&[("project_id", &["22"]), ("ref_protected", &["true"])]);
        let token = claims(json!({"project_id": 22, "ref_protected": true}));
        assert_eq!(check_required(&token, &issuer), Ok(()));
        let token = claims(json!({"project_id": 22.5, "ref_protected": true}));
        assert_eq!(
            check_required(&token, &issuer),
            Err(AuthError::ClaimNotAccepted("project_id".to_owned()))
        );
        let token = claims(json!({"project_id": "22", "ref_protected": false}));
        assert_eq!(
            check_required(&token, &issuer),
            Err(AuthError::ClaimNotAccepted("ref_protected".to_owned()))
        );
    }

    #[test]
    fn any_value_of_a_list_is_accepted() {
        let issuer = issuer_requiring(&[("namespace_id", &["13", "14"])]);
        for accepted in ["13", "14"] {
            let token = claims(json!({ "namespace_id": accepted }));
            assert_eq!(check_required(&token, &issuer), Ok(()), "{accepted}");
        }
        let token = claims(json!({"namespace_id": "15"}));
        assert!(check_required(&token, &issuer).is_err());
    }

    #[test]
    fn a_missing_or_null_claim_is_named_as_missing() {
        let issuer = issuer_requiring(&[("repository_owner_id", &["1234567"])]);
        for token in [json!({}), json!({"repository_owner_id": null})] {
            assert_eq!(
                check_required(&claims(token), &issuer),
                Err(AuthError::MissingClaim("repository_owner_id".to_owned()))
            );
        }
    }

    #[test]
    fn arrays_and_objects_never_match_even_when_they_contain_an_accepted_value() {
        let issuer = issuer_requiring(&[("repository_owner_id", &["1234567"])]);
        for value in [json!(["1234567"]), json!({"id": "1234567"})] {
            let token = claims(json!({ "repository_owner_id": value }));
            assert_eq!(
                check_required(&token, &issuer),
                Err(AuthError::ClaimNotAccepted(
                    "repository_owner_id".to_owned()
                ))
            );
        }
    }

    #[test]
    fn nested_claims_are_reached_by_dot_paths_and_every_required_claim_must_hold() {
        let issuer = issuer_requiring(&[("ext.org.id", &["acme"]), ("tenant", &["main"])]);
        let token = claims(json!({"ext": {"org": {"id": "acme"}}, "tenant": "main"}));
        assert_eq!(check_required(&token, &issuer), Ok(()));
        let token = claims(json!({"ext": {"org": {"id": "acme"}}, "tenant": "other"}));
        assert_eq!(
            check_required(&token, &issuer),
            Err(AuthError::ClaimNotAccepted("tenant".to_owned()))
        );
        let token = claims(json!({"ext": {"org": "acme"}, "tenant": "main"}));
        assert_eq!(
            check_required(&token, &issuer),
            Err(AuthError::MissingClaim("ext.org.id".to_owned()))
        );
    }

    #[test]
    fn refusals_name_the_claim_but_not_its_value_or_the_accepted_ones() {
        let issuer = issuer_requiring(&[("repository_owner_id", &["1234567"])]);
        let token = claims(json!({"repository_owner_id": "7654321"}));
        let description = check_required(&token, &issuer)
            .expect_err("refused")
            .description();
        assert!(description.contains("repository_owner_id"), "{description}");
        assert!(
            !description.contains("1234567") && !description.contains("7654321"),
            "{description}"
        );
    }
}
