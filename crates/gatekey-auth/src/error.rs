//! Why a token was refused. Descriptions are safe to show the caller: they never include the
//! token or anything from it beyond claim names.

/// A refused token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the token is not a well-formed JWS")]
    Malformed,
    #[error("the token is too large")]
    TooLarge,
    #[error("the token's issuer is not trusted")]
    UntrustedIssuer,
    #[error("the token's signing algorithm is not allowed for its issuer")]
    UnsupportedAlgorithm,
    #[error("the token's type (JOSE typ) is not accepted")]
    DisallowedTokenType,
    #[error("no key of the issuer matches the token's key id")]
    UnknownKey,
    #[error("the token's signature does not verify")]
    InvalidSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token is not meant for this service (audience)")]
    WrongAudience,
    #[error("the token lacks the claim {0}")]
    MissingClaim(String),
    #[error("the token's issuer cannot be reached to verify it: {detail}")]
    IssuerUnavailable { detail: String },
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
        self.to_string()
    }
}
