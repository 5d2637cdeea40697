//! The unverified view of a compact JWS: enough of the header and payload to pick the issuer and
//! refuse obviously unacceptable tokens before any key is fetched. Nothing read here is trusted;
//! the `openidconnect` verifier checks the same token again with the issuer's keys. Public so the
//! fuzz target `token_header` (`fuzz/`) can feed it arbitrary bytes; the verifier is its only
//! other user.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::AuthError;

/// The JOSE header fields Gatekey looks at.
#[derive(Debug, Deserialize)]
pub struct Header {
    pub alg: String,
    pub typ: Option<String>,
    pub kid: Option<String>,
    pub crit: Option<Value>,
    pub cty: Option<Value>,
}

/// Header and claims as sent, not yet verified.
#[derive(Debug)]
pub struct Unverified {
    pub header: Header,
    pub claims: Map<String, Value>,
}

impl Unverified {
    /// Splits a compact JWS and decodes its header and payload; `Malformed` on anything else.
    pub fn parse(token: &str) -> Result<Self, AuthError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(_signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::Malformed);
        };
        Ok(Self {
            header: decode(header)?,
            claims: decode(payload)?,
        })
    }

    /// The `iss` claim, if it is a string.
    pub fn issuer(&self) -> Option<&str> {
        self.claims.get("iss").and_then(Value::as_str)
    }

    /// The `aud` claim as a list (it may be a string or an array).
    pub fn audiences(&self) -> Vec<&str> {
        match self.claims.get("aud") {
            Some(Value::String(aud)) => vec![aud.as_str()],
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }
}

fn decode<T: serde::de::DeserializeOwned>(segment: &str) -> Result<T, AuthError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| AuthError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| AuthError::Malformed)
}
