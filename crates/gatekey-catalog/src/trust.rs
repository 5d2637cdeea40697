//! What the platform team decides about catalog entities, as opposed to what an entity's author
//! writes. Anyone who can register a `catalog-info.yaml` writes annotations, so an annotation alone
//! never grants anything: an entity becomes a Gatekey API only when
//!
//! - its namespace and owner are in `catalog.allowed_namespaces` / `catalog.allowed_owners`
//!   (when configured),
//! - its API id is not one the policy file defines (the file always wins),
//! - its `gateway-url` is at or under a base in `gateway.allowed_urls`,
//! - the Kong service it names carries the binding tag `gatekey-entity:<kind>:<namespace>:<name>`
//!   (set in the platform team's decK file; Kong tags cannot hold `/`, so the entity ref's `/`
//!   becomes `:`), and
//! - every ACL group its scopes grant is in the `allow` list of an enabled `acl` plugin on that
//!   service or one of its routes.
//!
//! [`ServiceBindings`] is what Kong says (read by the server each refresh); [`CatalogRules`] is the
//! configuration. Both are plain data, so the rules are tested without a network.

use std::collections::{BTreeMap, BTreeSet};

use gatekey_core::gateway::GatewayAllowList;
use gatekey_core::policy::{ApiPolicy, GroupPrefixes};

use crate::annotations::{PREFIX, Skip, SkipReason};
use crate::entity::Entity;

/// Prefix of the Kong service tag that binds the service to a catalog entity.
pub const BINDING_TAG_PREFIX: &str = "gatekey-entity:";

/// What Kong says about one service: which entities it is bound to and which ACL groups it lets
/// through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BoundService {
    /// The service's tags that start with [`BINDING_TAG_PREFIX`], lowercased.
    pub binding_tags: BTreeSet<String>,
    /// Groups in the `allow` list of an enabled `acl` plugin on the service or one of its routes.
    pub allowed_acl_groups: BTreeSet<String>,
}

/// Kong's services by name, as read during one catalog refresh.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceBindings {
    services: BTreeMap<String, BoundService>,
}

impl ServiceBindings {
    /// Adds (or replaces) the service called `name`.
    pub fn insert(&mut self, name: impl Into<String>, service: BoundService) {
        self.services.insert(name.into(), service);
    }

    /// The service called `name`, if Kong has one.
    pub fn get(&self, name: &str) -> Option<&BoundService> {
        self.services.get(name)
    }
}

/// The configured restrictions on catalog entities.
#[derive(Debug, Clone, Default)]
pub struct CatalogRules {
    /// `gateway.allowed_urls`: where keys may be sent.
    pub gateways: GatewayAllowList,
    /// `catalog.allowed_namespaces`, lowercased; empty allows every namespace.
    pub allowed_namespaces: BTreeSet<String>,
    /// `catalog.allowed_owners` as full entity refs (`group:default/orders-team`), lowercased;
    /// empty allows every owner.
    pub allowed_owners: BTreeSet<String>,
    /// API ids the policy file defines; an entity claiming one is skipped.
    pub policy_file_ids: BTreeSet<String>,
    /// The trusted issuers' group prefixes: with several issuers, every group an entity grants
    /// must start with one (the rule the policy file follows, see [`GroupPrefixes`]).
    pub group_prefixes: GroupPrefixes,
}

impl CatalogRules {
    /// Namespace and owner restrictions, checked before the annotations are read.
    pub(crate) fn admit_entity(&self, entity: &Entity) -> Result<(), Skip> {
        let namespace = entity.namespace().to_lowercase();
        if !self.allowed_namespaces.is_empty() && !self.allowed_namespaces.contains(&namespace) {
            return Err(Skip::new(
                SkipReason::NamespaceNotAllowed,
                format!("namespace '{namespace}' is not in catalog.allowed_namespaces"),
            ));
        }
        if !self.allowed_owners.is_empty() {
            let owner = entity.owner_ref().map(|owner| owner.to_lowercase());
            if !owner
                .as_ref()
                .is_some_and(|owner| self.allowed_owners.contains(owner))
            {
                return Err(Skip::new(
                    SkipReason::OwnerNotAllowed,
                    format!(
                        "owner {} is not in catalog.allowed_owners",
                        owner.as_deref().unwrap_or("(none)")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The checks of a mapped API against the policy file, the allow-list and Kong.
    pub(crate) fn admit_api(
        &self,
        entity: &Entity,
        api: &ApiPolicy,
        kong: &ServiceBindings,
    ) -> Result<(), Skip> {
        if self.policy_file_ids.contains(&api.id) {
            return Err(Skip::new(
                SkipReason::PolicyFileApiId,
                format!(
                    "API id '{}' is defined in the policy file, which wins",
                    api.id
                ),
            ));
        }
        let unqualified = self.group_prefixes.unqualified_in_api(api, PREFIX);
        if !unqualified.is_empty() {
            let detail = unqualified
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            return Err(Skip::new(SkipReason::UnqualifiedGroup, detail));
        }
        self.gateways.check(&api.gateway_url).map_err(|err| {
            Skip::new(
                SkipReason::GatewayUrlNotAllowed,
                format!("gateway-url: {err}"),
            )
        })?;
        let tag = binding_tag(entity);
        let service = kong.get(&api.kong_service).ok_or_else(|| {
            Skip::new(
                SkipReason::UnboundService,
                format!("Kong has no service named '{}'", api.kong_service),
            )
        })?;
        if !service.binding_tags.contains(&tag) {
            return Err(Skip::new(
                SkipReason::UnboundService,
                format!(
                    "Kong service '{}' does not carry the tag '{tag}' that binds it to this entity",
                    api.kong_service
                ),
            ));
        }
        let foreign: Vec<&str> = api
            .scopes
            .iter()
            .map(|scope| scope.acl_group.as_str())
            .filter(|group| !service.allowed_acl_groups.contains(*group))
            .collect();
        if !foreign.is_empty() {
            return Err(Skip::new(
                SkipReason::AclGroupNotAllowed,
                format!(
                    "ACL group(s) {} not allowed by an acl plugin of Kong service '{}' or its routes",
                    foreign.join(", "),
                    api.kong_service
                ),
            ));
        }
        Ok(())
    }
}

/// The Kong service tag that binds a service to `entity`:
/// `gatekey-entity:<kind>:<namespace>:<name>`, lowercased (Backstage compares refs without
/// case; Kong tags cannot hold `/`, and entity names and namespaces cannot hold `:`).
pub fn binding_tag(entity: &Entity) -> String {
    format!(
        "{BINDING_TAG_PREFIX}{}:{}:{}",
        entity.kind,
        entity.namespace(),
        entity.metadata.name
    )
    .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::annotations::api_from_entity;

    fn entity(namespace: &str, owner: &str, gateway: &str, groups: &[&str]) -> Entity {
        let scopes: Vec<_> = groups
            .iter()
            .enumerate()
            .map(|(n, group)| {
                serde_json::json!({"name": format!("s{n}"), "acl_group": group, "allowed_groups": ["group:default/a"]})
            })
            .collect();
        serde_json::from_value(serde_json::json!({
            "kind": "API",
            "metadata": {"name": "orders", "namespace": namespace, "annotations": {
                "gatekey.dev/kong-service": "orders",
                "gatekey.dev/gateway-url": gateway,
                "gatekey.dev/scopes": serde_json::Value::Array(scopes).to_string(),
            }},
            "spec": {"owner": owner}
        }))
        .expect("entity")
    }

    fn rules() -> CatalogRules {
        CatalogRules {
            gateways: GatewayAllowList::new(&["https://gw.example.com"]).expect("bases"),
            ..CatalogRules::default()
        }
    }

    fn kong(tags: &[&str], groups: &[&str]) -> ServiceBindings {
        let mut kong = ServiceBindings::default();
        kong.insert(
            "orders",
            BoundService {
                binding_tags: tags.iter().map(|t| (*t).to_owned()).collect(),
                allowed_acl_groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            },
        );
        kong
    }

    fn admit(rules: &CatalogRules, entity: &Entity, kong: &ServiceBindings) -> Result<(), Skip> {
        rules.admit_entity(entity)?;
        let api = api_from_entity(entity)?;
        rules.admit_api(entity, &api, kong)
    }

    fn reason(result: Result<(), Skip>) -> Option<SkipReason> {
        result.err().map(|skip| skip.reason)
    }

    const BOUND: &str = "gatekey-entity:api:default:orders";

    #[test]
    fn the_binding_tag_encodes_the_entity_ref_without_slashes() {
        let entity = entity("Team-A", "orders-team", "https://gw.example.com", &[]);
        assert_eq!(binding_tag(&entity), "gatekey-entity:api:team-a:orders");
    }

    #[test]
    fn a_bound_entity_granting_allowed_groups_is_admitted() {
        let orders = entity(
            "default",
            "orders-team",
            "https://gw.example.com/orders",
            &["orders-read"],
        );
        let kong = kong(&[BOUND], &["orders-read", "orders-write"]);
        assert_eq!(reason(admit(&rules(), &orders, &kong)), None);
    }

    #[test]
    fn an_entity_whose_service_is_not_bound_to_it_is_skipped() {
        let orders = entity(
            "default",
            "orders-team",
            "https://gw.example.com/orders",
            &["orders-read"],
        );
        for kong in [
            kong(&[], &["orders-read"]),
            kong(&["gatekey-entity:api:default:billing"], &["orders-read"]),
            ServiceBindings::default(),
        ] {
            assert_eq!(
                reason(admit(&rules(), &orders, &kong)),
                Some(SkipReason::UnboundService)
            );
        }
        // Another namespace's entity of the same name is another entity.
        let elsewhere = entity(
            "attackers",
            "orders-team",
            "https://gw.example.com/orders",
            &["orders-read"],
        );
        assert_eq!(
            reason(admit(
                &rules(),
                &elsewhere,
                &kong(&[BOUND], &["orders-read"])
            )),
            Some(SkipReason::UnboundService)
        );
    }

    #[test]
    fn a_group_the_services_acl_plugins_do_not_allow_is_refused() {
        let greedy = entity(
            "default",
            "orders-team",
            "https://gw.example.com/orders",
            &["orders-read", "billing-write"],
        );
        assert_eq!(
            reason(admit(&rules(), &greedy, &kong(&[BOUND], &["orders-read"]))),
            Some(SkipReason::AclGroupNotAllowed)
        );
    }

    #[test]
    fn gateway_urls_outside_the_allow_list_are_refused() {
        for url in [
            "https://gw.example.com.evil.com/orders",
            "https://gw.example.com@evil.com/orders",
            "http://gw.example.com/orders",
        ] {
            let redirected = entity("default", "orders-team", url, &["orders-read"]);
            assert_eq!(
                reason(admit(
                    &rules(),
                    &redirected,
                    &kong(&[BOUND], &["orders-read"])
                )),
                Some(SkipReason::GatewayUrlNotAllowed),
                "{url}"
            );
        }
    }

    #[test]
    fn policy_file_ids_namespaces_and_owners_are_enforced() {
        let orders = entity(
            "default",
            "orders-team",
            "https://gw.example.com/orders",
            &["orders-read"],
        );
        let kong = kong(&[BOUND], &["orders-read"]);
        let reserved = CatalogRules {
            policy_file_ids: BTreeSet::from(["orders".to_owned()]),
            ..rules()
        };
        assert_eq!(
            reason(admit(&reserved, &orders, &kong)),
            Some(SkipReason::PolicyFileApiId)
        );
        let namespaces = CatalogRules {
            allowed_namespaces: BTreeSet::from(["platform".to_owned()]),
            ..rules()
        };
        assert_eq!(
            reason(admit(&namespaces, &orders, &kong)),
            Some(SkipReason::NamespaceNotAllowed)
        );
        let owners = CatalogRules {
            allowed_owners: BTreeSet::from(["group:default/orders-team".to_owned()]),
            ..rules()
        };
        assert_eq!(reason(admit(&owners, &orders, &kong)), None);
        let other_owner = entity(
            "default",
            "group:default/interns",
            "https://gw.example.com/orders",
            &["orders-read"],
        );
        assert_eq!(
            reason(admit(&owners, &other_owner, &kong)),
            Some(SkipReason::OwnerNotAllowed)
        );
    }

    #[test]
    fn an_entity_granting_a_group_that_names_no_issuer_is_skipped() {
        let prefixed = CatalogRules {
            group_prefixes: GroupPrefixes::new(["backstage:".to_owned(), "idp:".to_owned()]),
            ..rules()
        };
        let kong = kong(&[BOUND], &["orders-read"]);
        let mut orders = entity(
            "default",
            "orders-team",
            "https://gw.example.com/orders",
            &["orders-read"],
        );
        // `entity` grants `group:default/a`, which names neither issuer.
        assert_eq!(
            reason(admit(&prefixed, &orders, &kong)),
            Some(SkipReason::UnqualifiedGroup)
        );
        orders.metadata.annotations.insert(
            "gatekey.dev/scopes".to_owned(),
            r#"[{"name": "s0", "acl_group": "orders-read", "allowed_groups": ["backstage:group:default/a", "idp:a"]}]"#.to_owned(),
        );
        assert_eq!(reason(admit(&prefixed, &orders, &kong)), None);
    }
}
