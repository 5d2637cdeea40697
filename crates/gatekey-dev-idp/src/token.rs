//! What goes into a token, and its compact JWS serialization.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use crate::keys::{KeySet, SigningAlg};

/// A token to sign. Build with [`TokenSpec::new`] and the chained setters.
#[derive(Debug, Clone)]
pub struct TokenSpec {
    pub subject: String,
    pub audience: Vec<String>,
    pub alg: SigningAlg,
    /// Seconds from `iat` to `exp`.
    pub lifetime: Duration,
    /// How long ago the token was issued (moves `iat`, and `exp` with it).
    pub issued_ago: Duration,
    /// `nbf` this far after `iat`, when set.
    pub not_before_in: Option<Duration>,
    pub extra_claims: Map<String, Value>,
    /// JOSE `typ`; `JWT` when unset.
    pub typ: Option<String>,
    pub kid_override: Option<String>,
    pub issuer_override: Option<String>,
}

impl TokenSpec {
    pub fn new<'a>(subject: &str, audience: impl IntoIterator<Item = &'a str>) -> Self {
        Self {
            subject: subject.to_owned(),
            audience: audience.into_iter().map(str::to_owned).collect(),
            alg: SigningAlg::Rs256,
            lifetime: Duration::from_secs(3600),
            issued_ago: Duration::ZERO,
            not_before_in: None,
            extra_claims: Map::new(),
            typ: None,
            kid_override: None,
            issuer_override: None,
        }
    }

    /// Sets the `groups` claim.
    #[must_use]
    pub fn groups<'a>(self, groups: impl IntoIterator<Item = &'a str>) -> Self {
        let groups: Vec<Value> = groups
            .into_iter()
            .map(|g| Value::String(g.to_owned()))
            .collect();
        self.claim("groups", Value::Array(groups))
    }

    #[must_use]
    pub fn claim(mut self, name: &str, value: Value) -> Self {
        self.extra_claims.insert(name.to_owned(), value);
        self
    }

    #[must_use]
    pub fn alg(mut self, alg: SigningAlg) -> Self {
        self.alg = alg;
        self
    }

    #[must_use]
    pub fn expires_in(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    #[must_use]
    pub fn issued_ago(mut self, ago: Duration) -> Self {
        self.issued_ago = ago;
        self
    }

    #[must_use]
    pub fn not_before_in(mut self, delay: Duration) -> Self {
        self.not_before_in = Some(delay);
        self
    }

    #[must_use]
    pub fn typ(mut self, typ: &str) -> Self {
        self.typ = Some(typ.to_owned());
        self
    }

    #[must_use]
    pub fn kid(mut self, kid: &str) -> Self {
        self.kid_override = Some(kid.to_owned());
        self
    }

    #[must_use]
    pub fn issuer(mut self, issuer: &str) -> Self {
        self.issuer_override = Some(issuer.to_owned());
        self
    }
}

fn encode(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

pub fn sign(keys: &KeySet, issuer: &str, spec: &TokenSpec) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let iat = now.saturating_sub(spec.issued_ago).as_secs();
    let mut claims = spec.extra_claims.clone();
    claims.insert(
        "iss".into(),
        json!(spec.issuer_override.as_deref().unwrap_or(issuer)),
    );
    claims.insert("sub".into(), json!(spec.subject));
    claims.insert("aud".into(), json!(spec.audience));
    claims.insert("iat".into(), json!(iat));
    claims.insert("exp".into(), json!(iat + spec.lifetime.as_secs()));
    claims.insert("jti".into(), json!(uuid::Uuid::new_v4().to_string()));
    if let Some(delay) = spec.not_before_in {
        claims.insert("nbf".into(), json!(iat + delay.as_secs()));
    }
    let header = json!({
        "alg": spec.alg.name(),
        "typ": spec.typ.as_deref().unwrap_or("JWT"),
        "kid": spec.kid_override.as_deref().unwrap_or(keys.kid(spec.alg)),
    });
    let input = format!("{}.{}", encode(&header), encode(&Value::Object(claims)));
    let signature = keys.sign(spec.alg, input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}
