//! The catalog as Gatekey serves it: the last good set of API entries, when it was read, what
//! went wrong since, and which entities were skipped and why. Every refresh reads the catalog and
//! Kong's service bindings together and admits an entity only by the rules in [`crate::trust`];
//! when either read fails, the last good catalog stays (it was checked against the Kong of its
//! time) and nothing is ever served unchecked.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, SystemTime};

use gatekey_core::policy::ApiPolicy;

use crate::annotations::{self, Skip, SkipReason};
use crate::client::CatalogClient;
use crate::entity::Entity;
use crate::error::CatalogError;
use crate::trust::{CatalogRules, ServiceBindings};

/// Skipped entities `/readyz` lists by name; the rest are counted only.
pub const LISTED_SKIPS: usize = 50;

/// One successful read of the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogSnapshot {
    /// Gatekey API entries from annotated entities, ordered by id.
    pub apis: Vec<ApiPolicy>,
    /// API entities read (managed or not).
    pub entities_read: usize,
    /// Entities skipped in this read, by reason.
    pub skipped: BTreeMap<SkipReason, u64>,
    /// Entity refs skipped in this read with their reason, by entity ref.
    pub skipped_entities: BTreeMap<String, SkipReason>,
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
    /// Those skips by reason.
    pub skipped_by_reason: BTreeMap<SkipReason, u64>,
    /// The first [`LISTED_SKIPS`] skipped entity refs (by ref) with their reason.
    pub skipped_entities: Vec<(String, SkipReason)>,
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
    rules: CatalogRules,
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
    pub fn new(client: CatalogClient, rules: CatalogRules) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                rules,
                state: RwLock::new(State::default()),
                skipped_total: Default::default(),
            }),
        }
    }

    /// Reads the whole catalog and, at the same time, Kong's service bindings (`kong`). When
    /// both succeed the new snapshot replaces the old one and is returned; otherwise the old one
    /// stays and the error is remembered for [`Self::status`].
    pub async fn refresh(
        &self,
        kong: impl Future<Output = Result<ServiceBindings, CatalogError>>,
    ) -> Result<Arc<CatalogSnapshot>, CatalogError> {
        let (items, kong) = tokio::join!(self.inner.client.api_entities(), kong);
        match items.and_then(|items| kong.map(|kong| (items, kong))) {
            Ok((items, kong)) => {
                let snapshot = Arc::new(self.map(items, &kong));
                let mut state = self.write_state();
                state.snapshot = Some(Arc::clone(&snapshot));
                state.last_error = None;
                Ok(snapshot)
            }
            Err(err) => {
                self.write_state().last_error = Some(err.to_string());
                Err(err)
            }
        }
    }

    /// The state is replaced by whole-field assignments, so a writer that panicked cannot have
    /// left it half-updated: a poisoned lock is still safe to read and write.
    fn read_state(&self) -> RwLockReadGuard<'_, State> {
        self.inner
            .state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write_state(&self) -> RwLockWriteGuard<'_, State> {
        self.inner
            .state
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The last good catalog, if any.
    pub fn snapshot(&self) -> Option<Arc<CatalogSnapshot>> {
        self.read_state().snapshot.clone()
    }

    /// Age, size and the latest error.
    pub fn status(&self) -> CatalogStatus {
        let state = self.read_state();
        let snapshot = state.snapshot.as_deref();
        CatalogStatus {
            loaded: snapshot.is_some(),
            age: snapshot.map(|s| s.fetched_at.elapsed().unwrap_or_default()),
            apis: snapshot.map_or(0, |s| s.apis.len()),
            skipped_last_read: snapshot.map_or(0, |s| s.skipped.values().sum()),
            skipped_by_reason: snapshot.map(|s| s.skipped.clone()).unwrap_or_default(),
            skipped_entities: snapshot
                .map(|s| {
                    s.skipped_entities
                        .iter()
                        .take(LISTED_SKIPS)
                        .map(|(entity, reason)| (entity.clone(), *reason))
                        .collect()
                })
                .unwrap_or_default(),
            last_error: state.last_error.clone(),
        }
    }

    /// `gatekey_catalog_age_seconds`: seconds since the last good read, `None` before the first.
    pub fn age_seconds(&self) -> Option<f64> {
        self.status().age.map(|age| age.as_secs_f64())
    }

    /// `gatekey_catalog_entities_skipped_total{reason}` for one reason, since start.
    pub fn skipped_total(&self, reason: SkipReason) -> u64 {
        self.inner.skipped_total[reason.index()].load(Ordering::Relaxed)
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
        let mut state = self.write_state();
        for (entity, skip) in &skips {
            self.inner.skipped_total[skip.reason.index()].fetch_add(1, Ordering::Relaxed);
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

    /// Maps raw entities to API entries, admitting each by the rules, then drops every API id
    /// that more than one admitted entity claims.
    fn map(&self, items: Vec<serde_json::Value>, kong: &ServiceBindings) -> CatalogSnapshot {
        let entities_read = items.len();
        let mut skips = BTreeMap::new();
        let mut unnamed = 0_usize;
        let mut entities = Vec::new();
        for item in items {
            match serde_json::from_value::<Entity>(item) {
                Ok(entity) => entities.push(entity),
                Err(err) => {
                    unnamed += 1;
                    skips.insert(
                        format!("(entity #{unnamed} without kind or name)"),
                        Skip::new(SkipReason::MalformedEntity, err.to_string()),
                    );
                }
            }
        }
        let rules = &self.inner.rules;
        let mut claims: BTreeMap<String, Vec<(String, ApiPolicy)>> = BTreeMap::new();
        for entity in entities.iter().filter(|e| annotations::is_managed(e)) {
            let admitted = rules.admit_entity(entity).and_then(|()| {
                let api = annotations::api_from_entity(entity)?;
                rules.admit_api(entity, &api, kong)?;
                Ok(api)
            });
            match admitted {
                Ok(api) => claims
                    .entry(api.id.clone())
                    .or_default()
                    .push((entity.entity_ref(), api)),
                Err(skip) => {
                    skips.insert(entity.entity_ref(), skip);
                }
            }
        }
        let mut apis = Vec::new();
        for (id, mut claimants) in claims {
            if claimants.len() == 1
                && let Some((_, api)) = claimants.pop()
            {
                apis.push(api);
                continue;
            }
            let refs: Vec<String> = claimants.iter().map(|(r, _)| r.clone()).collect();
            for entity_ref in &refs {
                let detail = format!(
                    "API id '{id}' is claimed by {}; none of them is served until one remains",
                    refs.join(", ")
                );
                skips.insert(
                    entity_ref.clone(),
                    Skip::new(SkipReason::DuplicateApiId, detail),
                );
            }
        }
        let skipped_entities = skips
            .iter()
            .map(|(entity, skip)| (entity.clone(), skip.reason))
            .collect();
        CatalogSnapshot {
            apis,
            entities_read,
            skipped: self.record_skips(skips),
            skipped_entities,
            fetched_at: SystemTime::now(),
        }
    }
}
