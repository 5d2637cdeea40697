//! The catalog as Gatekey serves it: the last good set of API entries, when it was read, what
//! went wrong since, and how many entities were skipped and why. A failed refresh never replaces
//! a good catalog; the server keeps serving it and reports its age.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use gatekey_core::policy::{ApiPolicy, GroupPrefixes};

use crate::annotations::{self, Skip, SkipReason};
use crate::client::CatalogClient;
use crate::entity::Entity;
use crate::error::CatalogError;

/// One successful read of the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogSnapshot {
    /// Gatekey API entries from annotated entities, ordered by id.
    pub apis: Vec<ApiPolicy>,
    /// API entities read (managed or not).
    pub entities_read: usize,
    /// Entities skipped in this read, by reason.
    pub skipped: BTreeMap<SkipReason, u64>,
    /// When the read finished.
    pub fetched_at: SystemTime,
}

/// What an operator needs to know about the catalog right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogStatus {
    /// A catalog has been read at least once.
    pub loaded: bool,
    /// Time since the last good read (`gatekey_catalog_age_seconds`); `None` before the first.
    pub age: Option<Duration>,
    /// API entries in the last good catalog.
    pub apis: usize,
    /// Entities skipped in the last good read.
    pub skipped_last_read: u64,
    /// The error of the latest refresh, when it failed (the last good catalog is still served).
    pub last_error: Option<String>,
}

/// The catalog source: fetches, maps, remembers the last good result and counts skips.
#[derive(Debug, Clone)]
pub struct CatalogSource {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: CatalogClient,
    /// The trusted issuers' group prefixes, which every granted group must start with.
    group_prefixes: GroupPrefixes,
    state: RwLock<State>,
    /// `gatekey_catalog_entities_skipped_total{reason}`, indexed like [`SkipReason::ALL`].
    skipped_total: [AtomicU64; SkipReason::ALL.len()],
}

#[derive(Debug, Default)]
struct State {
    snapshot: Option<Arc<CatalogSnapshot>>,
    last_error: Option<String>,
    /// Skips of the previous read by entity ref, so an unchanged problem is warned about once.
    warned: BTreeMap<String, Skip>,
}

impl CatalogSource {
    /// A source reading through `client`. Every entity granting a group that starts with none
    /// of `group_prefixes` (the rule the policy file follows, see [`GroupPrefixes`]) is skipped as
    /// [`SkipReason::UnqualifiedGroup`].
    pub fn new(client: CatalogClient, group_prefixes: GroupPrefixes) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                group_prefixes,
                state: RwLock::new(State::default()),
                skipped_total: Default::default(),
            }),
        }
    }

    /// Reads the whole catalog. On success the new snapshot replaces the old one and is
    /// returned; on failure the old one stays and the error is remembered for [`Self::status`].
    pub async fn refresh(&self) -> Result<Arc<CatalogSnapshot>, CatalogError> {
        match self.inner.client.api_entities().await {
            Ok(items) => {
                let snapshot = Arc::new(self.map(items));
                let mut state = self.inner.state.write().expect("catalog state lock");
                state.snapshot = Some(Arc::clone(&snapshot));
                state.last_error = None;
                Ok(snapshot)
            }
            Err(err) => {
                self.inner
                    .state
                    .write()
                    .expect("catalog state lock")
                    .last_error = Some(err.to_string());
                Err(err)
            }
        }
    }

    /// The last good catalog, if any.
    pub fn snapshot(&self) -> Option<Arc<CatalogSnapshot>> {
        self.inner
            .state
            .read()
            .expect("catalog state lock")
            .snapshot
            .clone()
    }

    /// Age, size and the latest error.
    pub fn status(&self) -> CatalogStatus {
        let state = self.inner.state.read().expect("catalog state lock");
        let snapshot = state.snapshot.as_deref();
        CatalogStatus {
            loaded: snapshot.is_some(),
            age: snapshot.map(|s| s.fetched_at.elapsed().unwrap_or_default()),
            apis: snapshot.map_or(0, |s| s.apis.len()),
            skipped_last_read: snapshot.map_or(0, |s| s.skipped.values().sum()),
            last_error: state.last_error.clone(),
        }
    }

    /// `gatekey_catalog_age_seconds`: seconds since the last good read, `None` before the first.
    pub fn age_seconds(&self) -> Option<f64> {
        self.status().age.map(|age| age.as_secs_f64())
    }

    /// `gatekey_catalog_entities_skipped_total{reason}` for one reason, since start.
    pub fn skipped_total(&self, reason: SkipReason) -> u64 {
        let index = SkipReason::ALL
            .iter()
            .position(|r| *r == reason)
            .expect("every reason is in ALL");
        self.inner.skipped_total[index].load(Ordering::Relaxed)
    }

    /// Every reason with its total, zeros included (for a metrics exporter).
    pub fn skipped_totals(&self) -> Vec<(SkipReason, u64)> {
        SkipReason::ALL
            .iter()
            .map(|reason| (*reason, self.skipped_total(*reason)))
            .collect()
    }

    /// Counts every skip of every read (a persisting problem keeps the rate above zero) and
    /// warns when an entity's problem is new or changed since the previous read.
    fn record_skips(&self, skips: BTreeMap<String, Skip>) -> BTreeMap<SkipReason, u64> {
        let mut by_reason = BTreeMap::new();
        let mut state = self.inner.state.write().expect("catalog state lock");
        for (entity, skip) in &skips {
            let index = SkipReason::ALL
                .iter()
                .position(|r| *r == skip.reason)
                .expect("every reason is in ALL");
            self.inner.skipped_total[index].fetch_add(1, Ordering::Relaxed);
            *by_reason.entry(skip.reason).or_insert(0) += 1;
            if state.warned.get(entity) == Some(skip) {
                tracing::debug!(entity, reason = %skip.reason, "catalog entity still skipped");
            } else {
                tracing::warn!(entity, reason = %skip.reason, detail = %skip.detail, "catalog entity skipped");
            }
        }
        state.warned = skips;
        by_reason
    }

    /// Maps raw entities to API entries; the first entity (by entity ref) wins a duplicate id.
    fn map(&self, items: Vec<serde_json::Value>) -> CatalogSnapshot {
        let entities_read = items.len();
        let mut skips = BTreeMap::new();
        let mut unnamed = 0_usize;
        let mut skip = |entity: &str, skip: Skip| {
            skips.insert(entity.to_owned(), skip);
        };
        let mut entities = Vec::new();
        for item in items {
            match serde_json::from_value::<Entity>(item) {
                Ok(entity) => entities.push(entity),
                Err(err) => {
                    unnamed += 1;
                    skip(
                        &format!("(entity #{unnamed} without kind or name)"),
                        Skip {
                            reason: SkipReason::MalformedEntity,
                            detail: err.to_string(),
                        },
                    );
                }
            }
        }
        entities.sort_by_key(Entity::entity_ref);
        let mut apis: BTreeMap<String, ApiPolicy> = BTreeMap::new();
        for entity in entities.iter().filter(|e| annotations::is_managed(e)) {
            let entity_ref = entity.entity_ref();
            match annotations::api_from_entity(entity) {
                Ok(api) => {
                    let unqualified = self
                        .inner
                        .group_prefixes
                        .unqualified_in_api(&api, annotations::PREFIX);
                    if !unqualified.is_empty() {
                        let detail = unqualified
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join("; ");
                        skip(
                            &entity_ref,
                            Skip {
                                reason: SkipReason::UnqualifiedGroup,
                                detail,
                            },
                        );
                    } else if let Some(first) = apis.get(&api.id) {
                        let detail = format!(
                            "API id '{}' is already taken by {}",
                            api.id,
                            first.entity_ref.as_deref().unwrap_or_default()
                        );
                        skip(
                            &entity_ref,
                            Skip {
                                reason: SkipReason::DuplicateId,
                                detail,
                            },
                        );
                    } else {
                        apis.insert(api.id.clone(), api);
                    }
                }
                Err(reason) => skip(&entity_ref, reason),
            }
        }
        CatalogSnapshot {
            apis: apis.into_values().collect(),
            entities_read,
            skipped: self.record_skips(skips),
            fetched_at: SystemTime::now(),
        }
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;
    use serde_json::json;

    use super::*;
    use crate::client::CatalogConfig;

    fn api_entity(name: &str, allowed_groups: &str) -> serde_json::Value {
        json!({
            "kind": "API",
            "metadata": {
                "name": name,
                "annotations": {
                    "gatekey.dev/kong-service": name,
                    "gatekey.dev/gateway-url": format!("http://gw.example/{name}"),
                    "gatekey.dev/scopes": format!(
                        "[{{name: read, acl_group: {name}-read, allowed_groups: {allowed_groups}}}]"
                    ),
                },
            },
            "spec": {"owner": "orders-team"},
        })
    }

    #[test]
    fn an_entity_granting_a_group_that_names_no_issuer_is_skipped() {
        let client = CatalogClient::new(&CatalogConfig {
            backend_url: "http://127.0.0.1:7007".parse().expect("url"),
            token: SecretString::from("token".to_owned()),
            page_size: 10,
            request_timeout: Duration::from_secs(1),
        })
        .expect("client");
        let source = CatalogSource::new(
            client,
            GroupPrefixes::new(["backstage:".to_owned(), "idp:".to_owned()]),
        );
        let snapshot = source.map(vec![
            api_entity(
                "orders",
                "[backstage:group:default/orders-team, idp:orders-team]",
            ),
            api_entity(
                "billing",
                "[backstage:group:default/finance, group:default/finance]",
            ),
        ]);
        let ids: Vec<&str> = snapshot.apis.iter().map(|api| api.id.as_str()).collect();
        assert_eq!(ids, ["orders"]);
        assert_eq!(
            snapshot.skipped,
            BTreeMap::from([(SkipReason::UnqualifiedGroup, 1)])
        );
        assert_eq!(source.skipped_total(SkipReason::UnqualifiedGroup), 1);
    }
}
