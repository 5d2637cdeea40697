//! Shared secrets that callers present in a header (the Backstage proxy secret, Kong's ingest
//! secret), kept only as SHA-256 digests. A presented value is hashed and compared with every
//! digest in constant time, so neither the time an answer takes nor any `Debug` output tells
//! anything about the secrets (digests also hide their length). One implementation, so both
//! checks refuse the same things: a missing header, and a header sent twice (a second value could
//! be a caller's own next to the one the proxy or gateway set).

use axum::http::{HeaderMap, HeaderName};
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// The accepted secrets (typically the current one and, during a rotation, the previous one).
#[derive(Clone)]
pub struct SecretDigests(Vec<[u8; 32]>);

impl std::fmt::Debug for SecretDigests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretDigests")
            .field("accepted_secrets", &self.0.len())
            .finish()
    }
}

impl SecretDigests {
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a SecretString>) -> Self {
        Self(
            secrets
                .into_iter()
                .map(|secret| Sha256::digest(secret.expose_secret().as_bytes()).into())
                .collect(),
        )
    }

    /// How many secrets are accepted.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `headers` carry exactly one value of `header` and it is an accepted secret.
    pub fn presented_in(&self, headers: &HeaderMap, header: &HeaderName) -> bool {
        let mut values = headers.get_all(header).iter();
        let (Some(presented), None) = (values.next(), values.next()) else {
            return false;
        };
        let presented: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let matches = self
            .0
            .iter()
            .fold(subtle::Choice::from(0), |found, digest| {
                found | digest[..].ct_eq(&presented[..])
            });
        bool::from(matches)
    }
}
