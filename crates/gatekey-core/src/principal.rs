//! Who is calling: the identity a verified token resolved to, in the shape policy decisions need.
//! Adapters (token verification, Backstage userinfo) produce it; nothing here knows about tokens.

use std::collections::BTreeSet;

/// A verified caller. Two principals are the same person only when issuer AND subject match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Issuer URL of the token (`iss`).
    pub issuer: String,
    /// Subject as mapped by the issuer's claim mapping.
    pub subject: String,
    /// Groups after claim mapping and prefixing.
    pub groups: BTreeSet<String>,
}

impl Principal {
    pub fn new(
        issuer: impl Into<String>,
        subject: impl Into<String>,
        groups: impl IntoIterator<Item = String>,
    ) -> Self {
        Self {
            issuer: issuer.into(),
            subject: subject.into(),
            groups: groups.into_iter().collect(),
        }
    }
}
