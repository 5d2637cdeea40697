//! Why a token was refused. [`AuthError::description`] is safe to show the caller: it never
//! includes the token, anything read from it beyond claim names, or internal addresses.

/// A refused token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Not three base64url JSON segments, a claim of the wrong type, or an unsupported JOSE
    /// feature (`crit`, `cty`, encryption).
    #[error("the token is not a well-formed signed JWT")]
    Malformed,
    /// Longer than `max_token_bytes`; refused before any parsing.
    #[error("the token is too large")]
    TooLarge,
    /// `iss` missing or not exactly one of the configured issuers.
    #[error("the token's issuer is not trusted")]
    UntrustedIssuer,
    /// `alg` is `none`, symmetric (HS*), or not pinned for the token's issuer.
    #[error("the token's signing algorithm is not allowed for its issuer")]
    UnsupportedAlgorithm,
    /// JOSE `typ` other than JWT and not in the issuer's `allowed_jose_types`.
    #[error("the token's type (JOSE typ) is not accepted")]
    DisallowedTokenType,
    /// No key of the token's issuer matches its `kid` and algorithm, even after a refresh.
    #[error("no key of the token's issuer matches its key id")]
    UnknownKey,
    /// The signature does not verify with the issuer's key.
    #[error("the token's signature does not verify")]
    InvalidSignature,
    /// `exp` is past, beyond the allowed clock skew.
    #[error("the token has expired")]
    Expired,
    /// `nbf` or `iat` is in the future, beyond the allowed clock skew.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// None of the issuer's accepted audiences is in `aud`.
    #[error("the token is not meant for this service (audience)")]
    WrongAudience,
    /// A required claim (named) is absent or empty.
    #[error("the token lacks the claim {0}")]
    MissingClaim(String),
    /// A claim the issuer requires (named) holds a value that is not accepted.
    #[error("the token's claim {0} does not hold a value accepted for its issuer")]
    ClaimNotAccepted(String),
    /// The issuer's userinfo endpoint refused the token (401/403), or answered for another
    /// subject.
    #[error("the token's issuer refused to describe its user (userinfo)")]
    UserinfoRefused,
    /// Discovery or the JWKS of the token's issuer could not be fetched; the token may be fine.
    #[error("issuer '{issuer}' cannot be reached to verify the token: {detail}")]
    IssuerUnavailable {
        /// Configured name of the issuer.
        issuer: String,
        /// What failed, for logs and readiness reports (not for callers).
        detail: String,
    },
}

impl AuthError {
    /// The RFC 6750 `error` code for `WWW-Authenticate`.
    pub fn oauth_error_code(&self) -> &'static str {
        match self {
            Self::IssuerUnavailable { .. } => "temporarily_unavailable",
            _ => "invalid_token",
        }
    }

    /// A sentence safe to return to the caller.
    pub fn description(&self) -> String {
        match self {
            Self::IssuerUnavailable { .. } => {
                "the token's issuer cannot be reached right now; try again later".to_owned()
            }
            other => other.to_string(),
        }
    }
}
