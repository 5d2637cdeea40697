//! The Backstage catalog as a source of APIs. Each refresh reads the catalog and, with it, Kong's
//! services, routes and plugins: the binding tags and `acl` allow lists there decide which
//! entities may define which scopes (`gatekey_catalog::trust`). A good read is merged with the
//! policy file by [`PolicyHolder`]; a failed read of either keeps the last merged policy (the last
//! good catalog), and `/readyz` reports its age and why entities were skipped.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use gatekey_catalog::{
    BINDING_TAG_PREFIX, BoundService, CatalogError, CatalogSource, ServiceBindings,
};
use gatekey_kong::{KongClient, KongError, ListQuery, Plugin, Route, Service};

use crate::policy::PolicyHolder;

/// Kong's largest page: bindings are read in as few calls as possible.
const KONG_PAGE_SIZE: u32 = 1000;

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
                if let Err(err) = policy.apply_catalog(&snapshot.apis).await {
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
    use super::*;

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
