//! What goes into a token, its compact JWS serialization, and the check of the provider's own
//! tokens for the userinfo endpoint.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use crate::keys::{KeySet, SigningAlg};

/// A token to sign. Build with [`TokenSpec::new`] and the chained setters; every field is public
/// so tests can also set it directly.
#[derive(Debug, Clone)]
pub struct TokenSpec {
    /// `sub`.
    pub subject: String,
    /// `aud`, always serialized as an array.
    pub audience: Vec<String>,
    /// Signing algorithm, RS256 by default.
    pub alg: SigningAlg,
    /// From `iat` to `exp`; one hour by default.
    pub lifetime: Duration,
    /// Seconds added to now for `iat` (negative: issued in the past). `exp` moves with it.
    pub issued_at_offset: i64,
    /// `nbf` as seconds relative to now, when set (positive: not valid yet).
    pub not_before: Option<i64>,
    /// Any further claims, e.g. `groups`. The standard claims above win over these.
    pub extra_claims: Map<String, Value>,
    /// JOSE `typ`; `JWT` when unset.
    pub typ: Option<String>,
    /// Header `kid` to claim instead of the real key's.
    pub kid_override: Option<String>,
    /// `iss` to claim instead of the provider's.
    pub issuer_override: Option<String>,
}

fn seconds(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

impl TokenSpec {
    /// A token for `subject` and `audience`, RS256, issued now, valid for one hour.
    pub fn new<'a>(subject: &str, audience: impl IntoIterator<Item = &'a str>) -> Self {
        Self {
            subject: subject.to_owned(),
            audience: audience.into_iter().map(str::to_owned).collect(),
            alg: SigningAlg::Rs256,
            lifetime: Duration::from_secs(3600),
            issued_at_offset: 0,
            not_before: None,
            extra_claims: Map::new(),
            typ: None,
            kid_override: None,
            issuer_override: None,
        }
    }

    /// Sets the `groups` claim to an array of strings.
    #[must_use]
    pub fn groups<'a>(self, groups: impl IntoIterator<Item = &'a str>) -> Self {
        let groups = groups
            .into_iter()
            .map(|g| Value::String(g.to_owned()))
            .collect();
        self.claim("groups", Value::Array(groups))
    }

    /// Sets any claim.
    #[must_use]
    pub fn claim(mut self, name: &str, value: Value) -> Self {
        self.extra_claims.insert(name.to_owned(), value);
        self
    }

    /// Signs with `alg`.
    #[must_use]
    pub fn alg(mut self, alg: SigningAlg) -> Self {
        self.alg = alg;
        self
    }

    /// Sets the time from `iat` to `exp`.
    #[must_use]
    pub fn expires_in(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// Moves `iat` (and `exp` with it) into the past.
    #[must_use]
    pub fn issued_ago(mut self, ago: Duration) -> Self {
        self.issued_at_offset = -seconds(ago);
        self
    }

    /// Moves `iat` (and `exp` with it) into the future, as a clock running ahead would.
    #[must_use]
    pub fn issued_in(mut self, ahead: Duration) -> Self {
        self.issued_at_offset = seconds(ahead);
        self
    }

    /// Sets `nbf` this far from now.
    #[must_use]
    pub fn not_before_in(mut self, delay: Duration) -> Self {
        self.not_before = Some(seconds(delay));
        self
    }

    /// Sets the JOSE header `typ`.
    #[must_use]
    pub fn typ(mut self, typ: &str) -> Self {
        self.typ = Some(typ.to_owned());
        self
    }

    /// Claims a `kid` other than the signing key's.
    #[must_use]
    pub fn kid(mut self, kid: &str) -> Self {
        self.kid_override = Some(kid.to_owned());
        self
    }

    /// Claims an `iss` other than the provider's.
    #[must_use]
    pub fn issuer(mut self, issuer: &str) -> Self {
        self.issuer_override = Some(issuer.to_owned());
        self
    }
}

fn now() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    seconds(since_epoch)
}

fn encode(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// Signs `spec` with `keys` as issuer `issuer` (unless overridden).
pub(crate) fn sign(keys: &KeySet, issuer: &str, spec: &TokenSpec) -> String {
    let now = now();
    let iat = now.saturating_add(spec.issued_at_offset);
    let mut claims = spec.extra_claims.clone();
    claims.insert(
        "iss".into(),
        json!(spec.issuer_override.as_deref().unwrap_or(issuer)),
    );
    claims.insert("sub".into(), json!(spec.subject));
    claims.insert("aud".into(), json!(spec.audience));
    claims.insert("iat".into(), json!(iat));
    claims.insert(
        "exp".into(),
        json!(iat.saturating_add(seconds(spec.lifetime))),
    );
    claims.insert("jti".into(), json!(uuid::Uuid::new_v4().to_string()));
    if let Some(offset) = spec.not_before {
        claims.insert("nbf".into(), json!(now.saturating_add(offset)));
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

fn decode(part: &str) -> Option<Map<String, Value>> {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
}

/// The claims of `token` if this provider signed it with a current key, as `issuer`, and it has
/// not expired.
pub(crate) fn verify_own(keys: &KeySet, issuer: &str, token: &str) -> Option<Map<String, Value>> {
    let (input, signature) = token.rsplit_once('.')?;
    let (header, payload) = input.split_once('.')?;
    let header = decode(header)?;
    let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
    let alg = header.get("alg")?.as_str()?;
    let kid = header.get("kid")?.as_str()?;
    if !keys.verify(alg, kid, input.as_bytes(), &signature) {
        return None;
    }
    let claims = decode(payload)?;
    let unexpired = claims
        .get("exp")
        .and_then(Value::as_i64)
        .is_some_and(|exp| exp > now());
    let ours = claims.get("iss").and_then(Value::as_str) == Some(issuer);
    (unexpired && ours).then_some(claims)
}
