//! The policy the handlers decide with: the policy file, plus the APIs of the Backstage catalog
//! that the platform side admits. Each refresh reads the catalog and, with it, Kong's services,
//! routes and plugins: the binding tags and `acl` allow lists there decide which entities may
//! define which scopes (`gatekey_catalog::trust`). A failed read of either keeps the last merged
//! policy (the last good catalog), and `/readyz` reports its age and why entities were skipped.
//!
//! Precedence: an API id defined in the policy file is taken from the file as a whole (the
//! catalog source skips an entity claiming it, reason `policy_file_api_id`); admin groups come
//! from the file only.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use gatekey_catalog::{
    BINDING_TAG_PREFIX, BoundService, CatalogError, CatalogSnapshot, CatalogSource, ServiceBindings,
};
use gatekey_core::policy::{POLICY_VERSION, Policy, PolicyDocument, PolicyError};
use gatekey_kong::{KongClient, KongError, ListQuery, Plugin, Route, Service};

/// Kong's largest page: bindings are read in as few calls as possible.
const KONG_PAGE_SIZE: u32 = 1000;

/// The current policy; cheap to read from every request (one atomic load, no lock), swapped
/// whole by the catalog refresh.
#[derive(Debug)]
pub struct PolicyHolder {
    file: Arc<Policy>,
    current: ArcSwap<Policy>,
}

impl PolicyHolder {
    /// Starts with the policy file alone.
    pub fn new(file: Policy) -> Self {
        let file = Arc::new(file);
        Self {
            current: ArcSwap::new(Arc::clone(&file)),
            file,
        }
    }

    /// The policy to decide one request with. Hold on to it for the whole request.
    pub fn current(&self) -> Arc<Policy> {
        self.current.load_full()
    }

    /// Replaces the catalog part with `snapshot`. The entries were validated one by one, so this
    /// only fails on a bug; the previous policy then stays.
    pub fn apply_catalog(&self, snapshot: &CatalogSnapshot) -> Result<(), PolicyError> {
        let merged = merge(&self.file, snapshot)?;
        self.current.store(Arc::new(merged));
        Ok(())
    }
}

/// The file's APIs, then the catalog's (which never reuse a file id: the source skips those).
fn merge(file: &Policy, snapshot: &CatalogSnapshot) -> Result<Policy, PolicyError> {
    PolicyDocument {
        version: POLICY_VERSION,
        admin_groups: file.admin_groups().cloned().collect(),
        apis: file.apis().chain(&snapshot.apis).cloned().collect(),
    }
    .validate()
}

/// Reads every service, route and plugin from Kong (all pages) and reduces them to bindings.
pub async fn read_bindings(kong: &KongClient) -> Result<ServiceBindings, CatalogError> {
    let all = ListQuery {
        size: Some(KONG_PAGE_SIZE),
        ..ListQuery::default()
    };
    let (services, routes, plugins) = tokio::try_join!(
        kong.list_all_services(&all),
        kong.list_all_routes(&all),
        kong.list_all_plugins(&all),
    )
    .map_err(|err: KongError| CatalogError::Kong(err.to_string()))?;
    Ok(bindings_from(&services, &routes, &plugins))
}

/// Each named service with its binding tags and the groups that enabled `acl` plugins on it or
/// on its routes allow. Global plugins bind nothing; `deny` lists grant nothing.
fn bindings_from(services: &[Service], routes: &[Route], plugins: &[Plugin]) -> ServiceBindings {
    let route_service: BTreeMap<&str, &str> = routes
        .iter()
        .filter_map(|route| Some((route.id.as_str(), route.service.as_ref()?.id.as_str())))
        .collect();
    let mut groups_by_service: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for plugin in plugins.iter().filter(|p| p.name == "acl" && p.enabled) {
        let service = match (&plugin.service, &plugin.route) {
            (Some(service), _) => Some(service.id.as_str()),
            (None, Some(route)) => route_service.get(route.id.as_str()).copied(),
            (None, None) => None,
        };
        let Some(service) = service else { continue };
        let allowed = plugin.config["allow"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|group| group.as_str().map(str::to_owned));
        groups_by_service
            .entry(service)
            .or_default()
            .extend(allowed);
    }
    let mut bindings = ServiceBindings::default();
    for service in services {
        let Some(name) = &service.name else { continue };
        bindings.insert(
            name.clone(),
            BoundService {
                binding_tags: service
                    .tags
                    .iter()
                    .map(|tag| tag.to_lowercase())
                    .filter(|tag| tag.starts_with(BINDING_TAG_PREFIX))
                    .collect(),
                allowed_acl_groups: groups_by_service
                    .remove(service.id.as_str())
                    .unwrap_or_default()
                    .into_iter()
                    .collect(),
            },
        );
    }
    bindings
}

/// Refreshes `source` (with Kong's bindings from `kong`) now and then every `interval`, merging
/// each good read into `policy`.
pub async fn refresh_forever(
    source: CatalogSource,
    kong: KongClient,
    policy: Arc<PolicyHolder>,
    interval: Duration,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        ticker.tick().await;
        match source.refresh(read_bindings(&kong)).await {
            Ok(snapshot) => {
                if failing {
                    tracing::info!("the Backstage catalog and Kong answer again");
                }
                failing = false;
                if let Err(err) = policy.apply_catalog(&snapshot) {
                    tracing::error!(error = %err, "catalog entries do not merge with the policy file; keeping the previous policy");
                } else {
                    tracing::debug!(
                        apis = snapshot.apis.len(),
                        entities = snapshot.entities_read,
                        "catalog refreshed"
                    );
                }
            }
            Err(err) => {
                let age = source.age_seconds();
                if failing {
                    tracing::debug!(error = %err, age_seconds = ?age, "catalog refresh failed again");
                } else {
                    tracing::warn!(error = %err, age_seconds = ?age, "catalog refresh failed; serving the last good catalog");
                }
                failing = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    const FILE: &str = r"
version: 1
admin_groups: [group:default/platform-admins]
apis:
  - id: billing
    title: Billing (file)
    kong_service: billing
    gateway_url: http://gw/billing
    default_ttl_seconds: 60
    max_ttl_seconds: 60
    scopes: [{name: read, acl_group: billing-read, allowed_groups: [group:default/finance]}]
";

    fn catalog_api(id: &str) -> gatekey_core::policy::ApiPolicy {
        let mut api = Policy::parse("p.yaml", FILE)
            .expect("file")
            .api("billing")
            .expect("billing")
            .clone();
        api.id = id.to_owned();
        api.title = format!("{id} (catalog)");
        api.entity_ref = Some(format!("api:default/{id}"));
        api
    }

    fn snapshot(apis: Vec<gatekey_core::policy::ApiPolicy>) -> CatalogSnapshot {
        CatalogSnapshot {
            apis,
            entities_read: 2,
            skipped: BTreeMap::new(),
            skipped_entities: BTreeMap::new(),
            fetched_at: SystemTime::now(),
        }
    }

    #[test]
    fn catalog_apis_are_added_to_the_policy_file_and_a_clash_keeps_the_previous_policy() {
        let holder = PolicyHolder::new(Policy::parse("p.yaml", FILE).expect("file"));
        holder
            .apply_catalog(&snapshot(vec![catalog_api("orders")]))
            .expect("merge");
        let policy = holder.current();
        assert_eq!(
            policy.api("billing").expect("billing").title,
            "Billing (file)"
        );
        assert_eq!(
            policy.api("orders").expect("orders").title,
            "orders (catalog)"
        );
        assert_eq!(
            policy.admin_groups().collect::<Vec<_>>(),
            ["group:default/platform-admins"]
        );
        // The source never hands over a file id; if it did, the merge fails and nothing changes.
        assert!(
            holder
                .apply_catalog(&snapshot(vec![catalog_api("billing")]))
                .is_err()
        );
        assert!(holder.current().api("orders").is_some());
        // A later read without `orders` drops it again.
        holder.apply_catalog(&snapshot(Vec::new())).expect("merge");
        assert!(holder.current().api("orders").is_none());
        assert!(holder.current().api("billing").is_some());
    }

    fn from_json<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
        serde_json::from_value(value).expect("Kong entity")
    }

    #[test]
    fn bindings_hold_each_services_entity_tags_and_the_groups_its_acl_plugins_allow() {
        let service = |id: &str, name: &str, tags: serde_json::Value| -> Service {
            from_json(serde_json::json!({
                "id": id, "name": name, "protocol": "http", "host": "up", "port": 80, "tags": tags
            }))
        };
        let services = vec![
            service(
                "s1",
                "orders",
                serde_json::json!(["gatekey-entity:API:default:orders", "team-orders"]),
            ),
            service("s2", "billing", serde_json::Value::Null),
        ];
        let routes: Vec<Route> = vec![
            from_json(serde_json::json!({"id": "r1", "service": {"id": "s1"}})),
            from_json(serde_json::json!({"id": "r2", "service": {"id": "s2"}})),
        ];
        let plugin = |id: &str,
                      scope: serde_json::Value,
                      config: serde_json::Value,
                      enabled: bool|
         -> Plugin {
            let mut value =
                serde_json::json!({"id": id, "name": "acl", "config": config, "enabled": enabled});
            if let (Some(value), Some(scope)) = (value.as_object_mut(), scope.as_object()) {
                value.extend(scope.clone());
            }
            from_json(value)
        };
        let plugins = vec![
            plugin(
                "p1",
                serde_json::json!({"route": {"id": "r1"}}),
                serde_json::json!({"allow": ["orders-read"]}),
                true,
            ),
            plugin(
                "p2",
                serde_json::json!({"service": {"id": "s1"}}),
                serde_json::json!({"allow": ["orders-write"]}),
                true,
            ),
            // Disabled, deny-only and global plugins allow nothing.
            plugin(
                "p3",
                serde_json::json!({"service": {"id": "s1"}}),
                serde_json::json!({"allow": ["orders-admin"]}),
                false,
            ),
            plugin(
                "p4",
                serde_json::json!({"route": {"id": "r1"}}),
                serde_json::json!({"allow": null, "deny": ["interns"]}),
                true,
            ),
            plugin(
                "p5",
                serde_json::json!({}),
                serde_json::json!({"allow": ["everyone"]}),
                true,
            ),
            plugin(
                "p7",
                serde_json::json!({"route": {"id": "r2"}}),
                serde_json::json!({"allow": ["billing-read"]}),
                true,
            ),
        ];
        let bindings = bindings_from(&services, &routes, &plugins);
        let orders = bindings.get("orders").expect("orders");
        assert_eq!(
            orders.binding_tags.iter().collect::<Vec<_>>(),
            ["gatekey-entity:api:default:orders"]
        );
        assert_eq!(
            orders.allowed_acl_groups.iter().collect::<Vec<_>>(),
            ["orders-read", "orders-write"]
        );
        let billing = bindings.get("billing").expect("billing");
        assert!(billing.binding_tags.is_empty());
        assert_eq!(
            billing.allowed_acl_groups.iter().collect::<Vec<_>>(),
            ["billing-read"]
        );
        assert!(bindings.get("s1").is_none(), "services are found by name");
    }
}
