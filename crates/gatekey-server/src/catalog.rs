//! The policy the handlers decide with: the policy file, plus the APIs of the Backstage catalog
//! that the file does not define. The catalog is refreshed in the background; a failed refresh
//! keeps the last merged policy (the last good catalog), and `/readyz` reports its age.
//!
//! Precedence: an API id defined in the policy file is taken from the file as a whole (the
//! catalog entity with that id is ignored); catalog APIs with other ids are added; admin groups
//! come from the file only.

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use gatekey_catalog::{CatalogSnapshot, CatalogSource};
use gatekey_core::policy::{POLICY_VERSION, Policy, PolicyDocument, PolicyError};

/// The current policy; cheap to read from every request.
#[derive(Debug)]
pub struct PolicyHolder {
    file: Arc<Policy>,
    current: RwLock<Arc<Policy>>,
}

impl PolicyHolder {
    /// Starts with the policy file alone.
    pub fn new(file: Policy) -> Self {
        let file = Arc::new(file);
        Self {
            current: RwLock::new(Arc::clone(&file)),
            file,
        }
    }

    /// The policy to decide one request with. Hold on to it for the whole request.
    pub fn current(&self) -> Arc<Policy> {
        Arc::clone(&self.current.read().expect("policy lock"))
    }

    /// Replaces the catalog part with `snapshot`. The entries were validated one by one, so this
    /// only fails on a bug; the previous policy then stays.
    pub fn apply_catalog(&self, snapshot: &CatalogSnapshot) -> Result<(), PolicyError> {
        let merged = merge(&self.file, snapshot)?;
        *self.current.write().expect("policy lock") = Arc::new(merged);
        Ok(())
    }
}

/// The file's APIs, then the catalog's APIs whose ids the file does not use.
fn merge(file: &Policy, snapshot: &CatalogSnapshot) -> Result<Policy, PolicyError> {
    let file_ids: BTreeSet<&str> = file.apis().map(|api| api.id.as_str()).collect();
    let mut apis: Vec<_> = file.apis().cloned().collect();
    for api in &snapshot.apis {
        if file_ids.contains(api.id.as_str()) {
            tracing::debug!(api = %api.id, entity = ?api.entity_ref, "the policy file overrides this catalog API");
        } else {
            apis.push(api.clone());
        }
    }
    PolicyDocument {
        version: POLICY_VERSION,
        admin_groups: file.admin_groups().cloned().collect(),
        apis,
    }
    .validate()
}

/// Refreshes `source` now and then every `interval`, merging each good read into `policy`.
pub async fn refresh_forever(source: CatalogSource, policy: Arc<PolicyHolder>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        ticker.tick().await;
        match source.refresh().await {
            Ok(snapshot) => {
                if failing {
                    tracing::info!("the Backstage catalog answers again");
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

    #[test]
    fn the_policy_file_wins_and_catalog_apis_are_added() {
        let holder = PolicyHolder::new(Policy::parse("p.yaml", FILE).expect("file"));
        let snapshot = CatalogSnapshot {
            apis: vec![catalog_api("billing"), catalog_api("orders")],
            entities_read: 2,
            skipped: std::collections::BTreeMap::new(),
            fetched_at: SystemTime::now(),
        };
        holder.apply_catalog(&snapshot).expect("merge");
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
        // A later read without `orders` drops it again.
        holder
            .apply_catalog(&CatalogSnapshot {
                apis: Vec::new(),
                ..snapshot
            })
            .expect("merge");
        assert!(holder.current().api("orders").is_none());
        assert!(holder.current().api("billing").is_some());
    }
}
