//! The effective policy the handlers decide with: the policy file merged with the APIs of the
//! Backstage catalog that the platform side admits, and its revision.
//!
//! Two things change it while the service runs: a new policy file (a changed file or SIGHUP,
//! [`crate::policy_file`]) and a catalog refresh ([`crate::catalog`]). Both go through
//! [`PolicyHolder`], which merges the file with the last catalog entries under one lock and swaps
//! the result in whole: a request reads one policy (one atomic load) and decides with it to the
//! end, so the decision and the revision recorded with it always belong together. Each change
//! of the effective revision is a `policy_load` audit event naming the previous revision and
//! what changed, so any revision found on a record or event leads to the load that made it.
//!
//! Precedence: an API id defined in the policy file is taken from the file as a whole (the
//! catalog source skips an entity claiming one of the ids the file had at start; one the file
//! gains later is dropped here from the catalog's entries); admin groups come from the file only.

use std::sync::Arc;

use arc_swap::{ArcSwap, ArcSwapOption};
use chrono::{DateTime, Utc};
use gatekey_app::{AuditTrail, RevisionInForce};
use gatekey_core::Clock;
use gatekey_core::audit::{AuditAction, AuditEvent, Decision};
use gatekey_core::policy::{ApiPolicy, Policy, PolicyError};
use gatekey_core::policy_diff::PolicyDiff;
use tokio::sync::Mutex;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

/// Most characters of a change summary kept in a `policy_load` event's detail; the full diff is
/// `gatekey policy diff` of the two files.
const MAX_SUMMARY_CHARS: usize = 2_000;

/// Why the effective policy was (re)built: the `reason` of its `policy_load` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadTrigger {
    /// The service started with this policy file.
    Startup,
    /// The policy file's contents changed on disk.
    FileChanged,
    /// The process received SIGHUP.
    Signal,
    /// A catalog refresh changed the catalog's APIs.
    CatalogRefresh,
}

impl LoadTrigger {
    /// The machine-readable reason of the audit event.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Startup => "startup",
            Self::FileChanged => "file_changed",
            Self::Signal => "sighup",
            Self::CatalogRefresh => "catalog_refresh",
        }
    }
}

/// The effective policy with where and when it came from.
#[derive(Debug)]
pub struct LoadedPolicy {
    pub policy: Arc<Policy>,
    /// When this revision took effect in this process.
    pub loaded_at: DateTime<Utc>,
    /// The ids of the APIs that come from the Backstage catalog (the rest are the file's).
    pub catalog_api_ids: Vec<String>,
}

/// A policy file that was refused: the old policy keeps serving until a valid one arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedLoad {
    pub at: DateTime<Utc>,
    /// The file, the place in the document and the reason, as logged.
    pub error: String,
}

/// One change of the effective policy, on its way to the audit trail ([`record_loads`]).
#[derive(Debug, Clone)]
pub struct PolicyLoad {
    pub trigger: LoadTrigger,
    pub at: DateTime<Utc>,
    /// `None` for the first load.
    pub previous: Option<Arc<Policy>>,
    pub loaded: Arc<Policy>,
}

/// What the effective policy is made of.
#[derive(Debug)]
struct Parts {
    file: Arc<Policy>,
    catalog: Vec<ApiPolicy>,
}

/// The current policy; cheap to read from every request (one atomic load, no lock).
#[derive(Debug)]
pub struct PolicyHolder {
    current: ArcSwap<LoadedPolicy>,
    /// Serializes the writers (file loads and catalog refreshes) and their audit events.
    parts: Mutex<Parts>,
    revision_in_force: RevisionInForce,
    /// Every change, in order, for the audit trail.
    loads: UnboundedSender<PolicyLoad>,
    clock: Arc<dyn Clock>,
    refused: ArcSwapOption<RefusedLoad>,
}

impl PolicyHolder {
    /// Starts with the policy file alone; its load is the first sent to `loads`.
    pub fn new(
        file: Policy,
        revision_in_force: RevisionInForce,
        loads: UnboundedSender<PolicyLoad>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let file = Arc::new(file);
        revision_in_force.set(file.revision().digest.clone());
        let holder = Self {
            current: ArcSwap::from_pointee(LoadedPolicy {
                policy: Arc::clone(&file),
                loaded_at: clock.now(),
                catalog_api_ids: Vec::new(),
            }),
            parts: Mutex::new(Parts {
                file: Arc::clone(&file),
                catalog: Vec::new(),
            }),
            revision_in_force,
            loads,
            clock,
            refused: ArcSwapOption::empty(),
        };
        holder.announce(LoadTrigger::Startup, None, file);
        holder
    }

    /// The policy to decide one request with. Hold on to it for the whole request.
    pub fn current(&self) -> Arc<Policy> {
        Arc::clone(&self.current.load().policy)
    }

    /// The policy with when it was loaded and which APIs came from the catalog.
    pub fn loaded(&self) -> Arc<LoadedPolicy> {
        self.current.load_full()
    }

    /// The last refused policy file, while no valid one has replaced it.
    pub fn refused(&self) -> Option<Arc<RefusedLoad>> {
        self.refused.load_full()
    }

    /// Replaces the file part with `file` (already validated); the catalog entries stay.
    pub async fn replace_file(
        &self,
        file: Policy,
        trigger: LoadTrigger,
    ) -> Result<(), PolicyError> {
        let mut parts = self.parts.lock().await;
        let file = Arc::new(file);
        let merged = merge(&file, &parts.catalog)?;
        parts.file = file;
        self.refused.store(None);
        metrics::gauge!("gatekey_policy_file_refused").set(0.0);
        self.install(merged, &parts, trigger);
        Ok(())
    }

    /// Notes a refused policy file: logged, counted and shown by `/readyz`; the old policy stays.
    pub fn refuse(&self, error: String) {
        tracing::error!(error = %error, "policy file refused; the previous policy keeps serving");
        metrics::counter!("gatekey_policy_loads_total", "outcome" => "refused").increment(1);
        metrics::gauge!("gatekey_policy_file_refused").set(1.0);
        self.refused.store(Some(Arc::new(RefusedLoad {
            at: self.clock.now(),
            error,
        })));
    }

    /// Replaces the catalog part with `apis`. The entries were validated one by one, so this
    /// only fails on a bug; the previous policy then stays.
    pub async fn apply_catalog(&self, apis: &[ApiPolicy]) -> Result<(), PolicyError> {
        let mut parts = self.parts.lock().await;
        let merged = merge(&parts.file, apis)?;
        parts.catalog = apis.to_vec();
        self.install(merged, &parts, LoadTrigger::CatalogRefresh);
        Ok(())
    }

    /// Swaps `merged` in when its revision differs from the current one, and records the load.
    fn install(&self, merged: Policy, parts: &Parts, trigger: LoadTrigger) {
        let previous = self.current();
        if previous.revision() == merged.revision() {
            return;
        }
        let merged = Arc::new(merged);
        let catalog_api_ids = parts
            .catalog
            .iter()
            .map(|api| api.id.clone())
            .filter(|id| parts.file.api(id).is_none())
            .collect();
        self.current.store(Arc::new(LoadedPolicy {
            policy: Arc::clone(&merged),
            loaded_at: self.clock.now(),
            catalog_api_ids,
        }));
        self.revision_in_force.set(merged.revision().digest.clone());
        tracing::info!(
            trigger = trigger.as_str(),
            previous = %previous.revision(),
            revision = %merged.revision(),
            "policy loaded"
        );
        self.announce(trigger, Some(previous), merged);
    }

    fn announce(&self, trigger: LoadTrigger, previous: Option<Arc<Policy>>, loaded: Arc<Policy>) {
        metrics::counter!("gatekey_policy_loads_total", "outcome" => "loaded").increment(1);
        let load = PolicyLoad {
            trigger,
            at: self.clock.now(),
            previous,
            loaded,
        };
        if self.loads.send(load).is_err() {
            tracing::error!("the policy load recorder has stopped; this load is not audited");
        }
    }
}

/// Writes each load as a `policy_load` event (the new revision in `policy_revision`, the
/// previous one and a summary of the change in `detail`), in order, until the holder is gone.
/// A failed write is logged: the policy is in force either way.
pub async fn record_loads(mut loads: UnboundedReceiver<PolicyLoad>, audit: AuditTrail) {
    while let Some(load) = loads.recv().await {
        let revision = load.loaded.revision().clone();
        if let Err(err) = audit.record(load_event(&load)).await {
            tracing::error!(error = %err, revision = %revision, "could not audit a policy load");
        }
    }
}

fn load_event(load: &PolicyLoad) -> AuditEvent {
    AuditEvent {
        detail: Some(load_detail(load.previous.as_deref(), &load.loaded)),
        policy_revision: Some(load.loaded.revision().digest.clone()),
        ..AuditEvent::new(
            AuditAction::PolicyLoad,
            Decision::Allow,
            load.trigger.as_str(),
            load.at,
        )
    }
}

/// `source <commit>; previous <digest>; <summary>`: what an auditor needs to tie a revision to
/// its origin and see what it changed.
fn load_detail(previous: Option<&Policy>, loaded: &Policy) -> String {
    let source = loaded
        .revision()
        .source
        .as_deref()
        .map_or_else(String::new, |source| format!("source {source}; "));
    let Some(previous) = previous else {
        return format!("{source}first load: {} APIs", loaded.apis().count());
    };
    let diff = PolicyDiff::between(previous, loaded);
    let mut summary = if diff.is_empty() {
        "no change to access".to_owned()
    } else {
        diff.summary()
    };
    if summary.chars().count() > MAX_SUMMARY_CHARS {
        summary = summary.chars().take(MAX_SUMMARY_CHARS).collect();
        summary.push('…');
    }
    format!("{source}previous {}; {summary}", previous.revision().digest)
}

/// The file's APIs, then the catalog's, except those whose id the file defines (the file wins).
fn merge(file: &Policy, catalog: &[ApiPolicy]) -> Result<Policy, PolicyError> {
    let mut document = file.to_document();
    document.apis.extend(
        catalog
            .iter()
            .filter(|api| file.api(&api.id).is_none())
            .cloned(),
    );
    document.validate()
}

#[cfg(test)]
mod tests {
    use gatekey_core::SystemClock;
    use tokio::sync::mpsc;

    use super::*;

    const FILE: &str = r"
version: 1
source_revision: 4f2a9c1
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

    fn file(text: &str) -> Policy {
        Policy::parse("p.yaml", text).expect("file")
    }

    fn catalog_api(id: &str) -> ApiPolicy {
        let mut api = file(FILE).api("billing").expect("billing").clone();
        api.id = id.to_owned();
        api.title = format!("{id} (catalog)");
        api.entity_ref = Some(format!("api:default/{id}"));
        api
    }

    fn holder() -> (
        PolicyHolder,
        RevisionInForce,
        mpsc::UnboundedReceiver<PolicyLoad>,
    ) {
        let (sender, loads) = mpsc::unbounded_channel();
        let revision = RevisionInForce::default();
        let holder = PolicyHolder::new(file(FILE), revision.clone(), sender, Arc::new(SystemClock));
        (holder, revision, loads)
    }

    fn triggers(loads: &mut mpsc::UnboundedReceiver<PolicyLoad>) -> Vec<LoadTrigger> {
        std::iter::from_fn(|| loads.try_recv().ok())
            .map(|load| load.trigger)
            .collect()
    }

    #[tokio::test]
    async fn catalog_apis_are_added_to_the_file_which_wins_on_a_shared_id() {
        let (holder, _, mut loads) = holder();
        holder
            .apply_catalog(&[catalog_api("orders"), catalog_api("billing")])
            .await
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
        assert_eq!(holder.loaded().catalog_api_ids, ["orders"]);
        assert_eq!(
            policy.admin_groups().collect::<Vec<_>>(),
            ["group:default/platform-admins"]
        );
        assert_eq!(policy.revision().source.as_deref(), Some("4f2a9c1"));
        // A later read without `orders` drops it again; the same read twice changes nothing.
        holder.apply_catalog(&[]).await.expect("merge");
        holder.apply_catalog(&[]).await.expect("merge");
        assert!(holder.current().api("orders").is_none());
        assert!(holder.current().api("billing").is_some());
        assert_eq!(
            triggers(&mut loads),
            [
                LoadTrigger::Startup,
                LoadTrigger::CatalogRefresh,
                LoadTrigger::CatalogRefresh
            ]
        );
    }

    #[tokio::test]
    async fn a_new_file_keeps_the_catalog_entries_and_each_load_names_the_one_before() {
        let (holder, revision, mut loads) = holder();
        holder
            .apply_catalog(&[catalog_api("orders")])
            .await
            .expect("merge");
        let before = holder.current();
        let wider = FILE.replace(
            "allowed_groups: [group:default/finance]",
            "allowed_groups: [group:default/finance, group:default/sales]",
        );
        holder
            .replace_file(file(&wider), LoadTrigger::FileChanged)
            .await
            .expect("merge");
        let after = holder.current();
        assert_ne!(before.revision(), after.revision());
        assert!(after.api("orders").is_some(), "the catalog entries stay");
        assert_eq!(
            revision.get().as_deref(),
            Some(after.revision().digest.as_str())
        );
        let load = std::iter::from_fn(|| loads.try_recv().ok())
            .last()
            .expect("a load");
        assert_eq!(load.trigger, LoadTrigger::FileChanged);
        let event = load_event(&load);
        assert_eq!(event.action, AuditAction::PolicyLoad);
        assert_eq!(event.reason, "file_changed");
        assert_eq!(
            event.policy_revision.as_deref(),
            Some(after.revision().digest.as_str())
        );
        assert_eq!(
            event.detail.as_deref(),
            Some(
                format!(
                    "source 4f2a9c1; previous {}; group:default/sales gained billing/read",
                    before.revision().digest
                )
                .as_str()
            )
        );
        // The same rules again (reformatted): no new revision, no event.
        holder
            .replace_file(
                file(&format!("# reformatted\n{wider}")),
                LoadTrigger::Signal,
            )
            .await
            .expect("merge");
        assert!(loads.try_recv().is_err());
    }

    #[tokio::test]
    async fn a_refusal_is_kept_until_a_valid_file_arrives() {
        let (holder, _, _loads) = holder();
        holder.refuse(
            "policy file p.yaml: apis[0] (billing).scopes: an API needs at least one scope"
                .to_owned(),
        );
        assert!(
            holder
                .refused()
                .is_some_and(|refused| refused.error.contains("apis[0] (billing).scopes"))
        );
        holder
            .replace_file(file(FILE), LoadTrigger::Signal)
            .await
            .expect("merge");
        assert!(holder.refused().is_none());
    }
}
