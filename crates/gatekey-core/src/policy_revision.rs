//! The revision of an effective policy: which policy made a decision.
//!
//! A platform team reviews policy like code, so an auditor must be able to name the exact policy
//! behind any decision. The revision is the SHA-256 of the policy's canonical form (the file and
//! the admitted catalog entries, merged, with every list whose order carries no meaning sorted),
//! so the same access rules always have the same revision however the file is formatted or the
//! catalog happens to be ordered, and any change to who may get what changes it. The optional
//! source revision (a git commit, from the file's `source_revision` or the environment) says where
//! the rules came from; it does not enter the digest, which describes the rules alone.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::policy::{ApiPolicy, POLICY_VERSION};

/// How a revision digest starts, naming its algorithm.
const DIGEST_PREFIX: &str = "sha256:";

/// The revision of an effective policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyRevision {
    /// `sha256:` and the hex digest of the canonical form.
    pub digest: String,
    /// Where the rules came from (a git commit), when the operator says so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl PolicyRevision {
    /// The revision of the rules `admin_groups` and `apis` (a validated policy's parts; each
    /// [`crate::policy::Policy`] carries its own), with the source revision given, if any.
    pub(crate) fn of(
        admin_groups: &BTreeSet<String>,
        apis: &BTreeMap<String, ApiPolicy>,
        source: Option<String>,
    ) -> Self {
        let canonical = canonical_json(admin_groups, apis);
        Self {
            digest: format!("{DIGEST_PREFIX}{}", hex::encode(Sha256::digest(canonical))),
            source,
        }
    }

    /// The first 12 hex digits of the digest, for logs and tables (like a short git commit).
    pub fn short(&self) -> &str {
        let hex = self
            .digest
            .strip_prefix(DIGEST_PREFIX)
            .unwrap_or(&self.digest);
        hex.get(..12).unwrap_or(hex)
    }
}

impl fmt::Display for PolicyRevision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(source) => write!(f, "{} ({source})", self.short()),
            None => f.write_str(self.short()),
        }
    }
}

/// The canonical form the digest is taken of, serialized: field order fixed by the types,
/// admin groups and APIs already sorted by [`Policy`], scopes sorted by name and each scope's
/// groups sorted (their order never changes a decision).
#[derive(Serialize)]
struct Canonical<'a> {
    version: u32,
    admin_groups: Vec<&'a String>,
    apis: Vec<ApiPolicy>,
}

#[expect(
    clippy::expect_used,
    reason = "serializing structs of strings and integers into memory cannot fail"
)]
fn canonical_json(admin_groups: &BTreeSet<String>, apis: &BTreeMap<String, ApiPolicy>) -> Vec<u8> {
    let apis = apis
        .values()
        .map(|api| {
            let mut api = api.clone();
            api.scopes.sort_by(|a, b| a.name.cmp(&b.name));
            for scope in &mut api.scopes {
                scope.allowed_groups.sort();
                scope.allowed_groups.dedup();
            }
            api
        })
        .collect();
    let canonical = Canonical {
        version: POLICY_VERSION,
        admin_groups: admin_groups.iter().collect(),
        apis,
    };
    serde_json::to_vec(&canonical).expect("the canonical policy serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;

    const POLICY: &str = r"
version: 1
admin_groups: [idp:platform, idp:security]
apis:
  - id: orders
    title: Orders
    kong_service: orders
    gateway_url: https://gw.example/orders
    default_ttl_seconds: 600
    max_ttl_seconds: 3600
    scopes:
      - {name: read, acl_group: orders-read, allowed_groups: [idp:a, idp:b]}
      - {name: write, acl_group: orders-write, allowed_groups: [idp:b]}
  - id: billing
    title: Billing
    kong_service: billing
    gateway_url: https://gw.example/billing
    default_ttl_seconds: 600
    max_ttl_seconds: 3600
    scopes:
      - {name: read, acl_group: billing-read, allowed_groups: [idp:a]}
";

    fn revision(text: &str) -> PolicyRevision {
        Policy::parse("p.yaml", text).unwrap().revision().clone()
    }

    #[test]
    fn order_and_formatting_that_change_no_decision_keep_the_revision() {
        let reordered = r"
version: 1
admin_groups: [idp:security, idp:platform]
apis:
  - id: billing
    title: Billing
    kong_service: billing
    gateway_url: https://gw.example/billing
    default_ttl_seconds: 600
    max_ttl_seconds: 3600
    scopes: [{name: read, acl_group: billing-read, allowed_groups: [idp:a]}]
  - id: orders
    title: Orders
    kong_service: orders
    gateway_url: https://gw.example/orders
    default_ttl_seconds: 600
    max_ttl_seconds: 3600
    scopes:
      - {name: write, acl_group: orders-write, allowed_groups: [idp:b]}
      - {name: read, acl_group: orders-read, allowed_groups: [idp:b, idp:a]}
";
        assert_eq!(revision(POLICY), revision(reordered));
    }

    #[test]
    fn any_change_to_who_gets_what_changes_the_revision() {
        let base = revision(POLICY);
        for changed in [
            POLICY.replace(
                "allowed_groups: [idp:b]}",
                "allowed_groups: [idp:b, idp:c]}",
            ),
            POLICY.replace(
                "max_ttl_seconds: 3600\n    scopes:\n      - {name: read, acl_group: billing",
                "max_ttl_seconds: 7200\n    scopes:\n      - {name: read, acl_group: billing",
            ),
            POLICY.replace("orders-write", "orders-admin"),
            POLICY.replace("https://gw.example/orders", "https://gw2.example/orders"),
            POLICY.replace("[idp:platform, idp:security]", "[idp:platform]"),
        ] {
            assert_ne!(base, revision(&changed), "{changed}");
        }
    }

    fn revision_of_plain_policy() -> String {
        revision(POLICY).digest
    }

    #[test]
    fn the_digest_names_its_algorithm_and_the_short_form_is_twelve_hex_digits() {
        let revision = Policy::parse("p.yaml", &format!("source_revision: 4f2a9c1\n{POLICY}"))
            .unwrap()
            .revision()
            .clone();
        assert_eq!(
            revision.digest,
            revision_of_plain_policy(),
            "the source is not in the digest"
        );
        assert!(revision.digest.starts_with("sha256:"));
        assert_eq!(revision.digest.len(), "sha256:".len() + 64);
        assert_eq!(revision.short().len(), 12);
        assert!(revision.digest.contains(revision.short()));
        assert_eq!(
            revision.to_string(),
            format!("{} (4f2a9c1)", revision.short())
        );
    }
}
