//! Why a caller cannot request a scope, and what would let them: `gatekey policy explain` and
//! the explanation in `GET /v1/apis/{id}`.
//!
//! A denial that only says "no" sends people to a chat channel to ask who owns the group. For
//! APIs the policy marks `discoverable`, the groups that grant each scope are part of the answer
//! ("ask to join payments-team to request write"). For other APIs nothing is revealed beyond
//! what the caller may request already: group names can map an organisation, and the policy
//! author decides whether that is public inside the company.

use serde::Serialize;

use crate::policy::{ApiPolicy, Policy, ScopePolicy};
use crate::principal::Principal;

/// One scope of an API as a caller sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScopeAccess {
    pub scope: String,
    /// Whether the caller may request it now.
    pub requestable: bool,
    /// For a scope the caller cannot request, on a discoverable API: the groups any of which
    /// would let them. Empty otherwise.
    pub granted_by: Vec<String>,
}

/// An API's scopes as one caller sees them, explained where the policy allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiExplanation {
    pub api: String,
    pub discoverable: bool,
    pub scopes: Vec<ScopeAccess>,
}

impl Policy {
    /// The scopes of `api_id` as `principal` sees them; `None` when the API does not exist, or
    /// when the caller may request none of its scopes and the API is not discoverable (the
    /// caller learns nothing, not even that the API exists).
    pub fn explain(&self, principal: &Principal, api_id: &str) -> Option<ApiExplanation> {
        let api = self.api(api_id)?;
        let scopes: Vec<ScopeAccess> = api
            .scopes
            .iter()
            .map(|scope| access(api, scope, principal))
            .collect();
        let any_requestable = scopes.iter().any(|scope| scope.requestable);
        (any_requestable || api.discoverable).then(|| ApiExplanation {
            api: api.id.clone(),
            discoverable: api.discoverable,
            scopes,
        })
    }
}

fn access(api: &ApiPolicy, scope: &ScopePolicy, principal: &Principal) -> ScopeAccess {
    let requestable = scope
        .allowed_groups
        .iter()
        .any(|group| principal.groups.contains(group));
    ScopeAccess {
        scope: scope.name.clone(),
        requestable,
        granted_by: if requestable || !api.discoverable {
            Vec::new()
        } else {
            scope.allowed_groups.clone()
        },
    }
}

impl ApiExplanation {
    /// One line per scope: requestable, or who could grant it (or that the policy does not say).
    pub fn to_text(&self) -> String {
        self.scopes
            .iter()
            .map(|scope| {
                if scope.requestable {
                    format!("{}: you may request it\n", scope.scope)
                } else if scope.granted_by.is_empty() {
                    format!("{}: you may not request it\n", scope.scope)
                } else {
                    format!(
                        "{}: ask to join {} to request it\n",
                        scope.scope,
                        scope.granted_by.join(" or ")
                    )
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(discoverable: bool) -> Policy {
        Policy::parse(
            "p.yaml",
            &format!(
                r"
version: 1
apis:
  - id: orders
    title: Orders
    kong_service: orders
    gateway_url: https://gw.example/orders
    default_ttl_seconds: 600
    max_ttl_seconds: 3600
    discoverable: {discoverable}
    scopes:
      - {{name: read, acl_group: orders-read, allowed_groups: [idp:eng]}}
      - {{name: write, acl_group: orders-write, allowed_groups: [idp:payments, idp:orders-admins]}}
"
            ),
        )
        .unwrap()
    }

    fn caller(groups: &[&str]) -> Principal {
        Principal::new(
            "https://idp",
            "jane",
            groups.iter().map(|g| (*g).to_owned()),
        )
    }

    #[test]
    fn a_discoverable_api_names_the_groups_that_grant_each_missing_scope() {
        let explanation = policy(true)
            .explain(&caller(&["idp:eng"]), "orders")
            .unwrap();
        assert_eq!(
            explanation.to_text(),
            "read: you may request it\nwrite: ask to join idp:payments or idp:orders-admins to request it\n"
        );
        let stranger = policy(true)
            .explain(&caller(&["idp:sales"]), "orders")
            .unwrap();
        assert!(stranger.scopes.iter().all(|scope| !scope.requestable));
        assert_eq!(stranger.scopes[0].granted_by, ["idp:eng"]);
    }

    #[test]
    fn other_apis_reveal_no_group_and_stay_invisible_to_strangers() {
        let explanation = policy(false)
            .explain(&caller(&["idp:eng"]), "orders")
            .unwrap();
        assert!(
            explanation
                .scopes
                .iter()
                .all(|scope| scope.granted_by.is_empty())
        );
        assert_eq!(
            explanation.to_text(),
            "read: you may request it\nwrite: you may not request it\n"
        );
        assert_eq!(
            policy(false).explain(&caller(&["idp:sales"]), "orders"),
            None
        );
        assert_eq!(policy(true).explain(&caller(&["idp:eng"]), "billing"), None);
    }
}
