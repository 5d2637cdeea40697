//! Groups from the issuer's userinfo endpoint, for tokens that do not carry them.
//!
//! Backstage user tokens no longer hold the user's ownership refs (`ent`: the user and its groups,
//! `group:default/payments-team`) since auth-backend 0.28; Backstage serves them at
//! `GET <backend>/api/auth/v1/userinfo` (the discovery document's `userinfo_endpoint`) to the
//! bearer of the token, wrapped as `{"claims": {"sub": ..., "ent": [...]}}`. For an issuer
//! configured here, a verified token in which none of the groups claims is present gets its groups
//! from that endpoint, called with the caller's own token. The answer is cached per token (by its
//! SHA-256) until the token expires, so a user's session costs one userinfo call. A token that
//! does carry a groups claim (Backstage with `auth.omitIdentityTokenOwnershipClaim: false`) is
//! used as is. Standard OpenID userinfo answers (claims at the top level) are understood too.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::sync::OnceCell;

use crate::cache::{self, Expiring, TokenHash};
use crate::config::{GroupsClaim, IssuerConfig};
use crate::error::AuthError;
use crate::{VerifiedIdentity, claims};

/// Tokens whose groups are cached at most; the least used are evicted beyond it.
const CACHE_CAPACITY: u64 = 10_000;

/// An issuer whose tokens may lack their groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserinfoIssuer {
    /// Configured name, for errors.
    pub name: String,
    /// Exact `iss`; discovery at `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    /// Where the groups are in the token and in the userinfo claims (`ent` for Backstage).
    pub groups_claims: Vec<GroupsClaim>,
    /// The issuer's `group_prefix`, prepended to the userinfo groups like to the token's.
    pub group_prefix: Option<String>,
}

/// Completes verified identities with groups from userinfo. Cheap to clone; clones share the
/// cache.
#[derive(Debug, Clone)]
pub struct UserinfoGroups {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    issuers: HashMap<String, Endpoint>,
    cache: moka::sync::Cache<TokenHash, Expiring<Arc<Vec<String>>>>,
}

#[derive(Debug)]
struct Endpoint {
    config: IssuerConfig,
    userinfo_url: OnceCell<String>,
}

#[derive(Debug, Deserialize)]
struct Discovery {
    userinfo_endpoint: Option<String>,
}

impl UserinfoGroups {
    /// `http` should not follow redirects and should have timeouts.
    pub fn new(issuers: Vec<UserinfoIssuer>, http: &reqwest::Client) -> Self {
        let issuers = issuers
            .into_iter()
            .map(|issuer| {
                let config = IssuerConfig {
                    name: issuer.name,
                    issuer: issuer.issuer.clone(),
                    groups_claims: issuer.groups_claims,
                    group_prefix: issuer.group_prefix,
                    ..IssuerConfig::default()
                };
                (
                    issuer.issuer,
                    Endpoint {
                        config,
                        userinfo_url: OnceCell::new(),
                    },
                )
            })
            .collect();
        let cache = cache::until_expiry(CACHE_CAPACITY);
        Self {
            inner: Arc::new(Inner {
                http: http.clone(),
                issuers,
                cache,
            }),
        }
    }

    /// Adds the userinfo groups to `identity` when its issuer is configured here and the token
    /// carries none of the groups claims. `token` must be the one `identity` was verified from.
    pub async fn complete(
        &self,
        token: &str,
        mut identity: VerifiedIdentity,
    ) -> Result<VerifiedIdentity, AuthError> {
        let Some(endpoint) = self.inner.issuers.get(&identity.issuer) else {
            return Ok(identity);
        };
        let in_token = endpoint
            .config
            .groups_claims
            .iter()
            .any(|claim| claims::lookup(&identity.claims, &claim.path).is_some());
        if in_token {
            return Ok(identity);
        }
        let key = cache::hash(token);
        let groups = if let Some(cached) = self.inner.cache.get(&key) {
            cached.value
        } else {
            let groups = Arc::new(self.fetch(endpoint, token, &identity).await?);
            self.inner.cache.insert(
                key,
                Expiring::until(Arc::clone(&groups), identity.expires_at),
            );
            groups
        };
        let merged: BTreeSet<String> = identity
            .groups
            .drain(..)
            .chain(groups.iter().cloned())
            .collect();
        identity.groups = merged.into_iter().collect();
        Ok(identity)
    }

    async fn fetch(
        &self,
        endpoint: &Endpoint,
        token: &str,
        identity: &VerifiedIdentity,
    ) -> Result<Vec<String>, AuthError> {
        let unavailable = |detail: String| AuthError::IssuerUnavailable {
            issuer: endpoint.config.name.clone(),
            detail,
        };
        let url = endpoint
            .userinfo_url
            .get_or_try_init(|| self.discover(&endpoint.config.issuer))
            .await
            .map_err(unavailable)?;
        let response = self
            .inner
            .http
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| unavailable(format!("userinfo: {e}")))?;
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(AuthError::UserinfoRefused);
        }
        if !status.is_success() {
            return Err(unavailable(format!("userinfo answered {status}")));
        }
        let body: Value = response
            .json()
            .await
            .map_err(|e| unavailable(format!("userinfo is not JSON: {e}")))?;
        let claims = userinfo_claims(body)
            .ok_or_else(|| unavailable("userinfo holds no claims object".to_owned()))?;
        // The answer must be about the token's subject.
        if claims.get("sub").and_then(Value::as_str)
            != identity.claims.get("sub").and_then(Value::as_str)
        {
            return Err(AuthError::UserinfoRefused);
        }
        Ok(endpoint
            .config
            .qualify_groups(claims::groups(&claims, &endpoint.config)))
    }

    async fn discover(&self, issuer: &str) -> Result<String, String> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let discovery: Discovery = self
            .inner
            .http
            .get(&url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| format!("OpenID discovery for userinfo: {e}"))?
            .json()
            .await
            .map_err(|e| format!("OpenID discovery for userinfo: {e}"))?;
        discovery
            .userinfo_endpoint
            .ok_or_else(|| "the discovery document names no userinfo_endpoint".to_owned())
    }
}

/// Backstage wraps the claims (`{"claims": {...}}`); standard userinfo does not.
fn userinfo_claims(body: Value) -> Option<Map<String, Value>> {
    let Value::Object(mut object) = body else {
        return None;
    };
    match object.remove("claims") {
        Some(Value::Object(claims)) if !object.contains_key("sub") => Some(claims),
        Some(other) => {
            object.insert("claims".to_owned(), other);
            Some(object)
        }
        None => Some(object),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn backstage_envelope_and_standard_userinfo_both_yield_the_claims() {
        let backstage = json!({"claims": {"sub": "user:default/a", "ent": ["group:default/t"]}});
        let standard = json!({"sub": "u1", "groups": ["g"], "claims": "kept"});
        assert_eq!(
            userinfo_claims(backstage).expect("claims")["ent"],
            json!(["group:default/t"])
        );
        let standard = userinfo_claims(standard).expect("claims");
        assert_eq!(standard["sub"], "u1");
        assert_eq!(standard["claims"], "kept");
        assert!(userinfo_claims(json!(["not", "an", "object"])).is_none());
    }
}
