//! Guarantee 3: the reaper deletes expired consumers, orphans (after their grace period only) and
//! resolves stale `pending` records (see `faults.rs` for those); one replica leads at a time
//! through the MongoDB lease, and another takes over when the leader dies.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking, with the value or the expectation as its message"
)]

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use gatekey_app::reconciler::{
    CONSUMER_MISSING_BY, LEASE_NAME, PassEnd, PassReport, Reconciler, ReconcilerParts,
    ReconcilerSettings,
};
use gatekey_app::{AuditSettings, AuditTrail, LimitSettings, MintLimiter, RevisionInForce};
use gatekey_core::audit::{AuditAction, AuditEvent};
use gatekey_core::issuance::IssuanceState;
use gatekey_core::{Clock, SystemClock};
use gatekey_e2e::Mongo;
use gatekey_e2e::rig::{Rig, eventually};
use gatekey_kong::{KongClient, KongConfig};
use gatekey_store::{AuditFilter, PageRequest};
use mongodb::bson::{self, Bson, Document, doc};
use reqwest::StatusCode;
use serde_json::{Value, json};

const WITHIN: Duration = Duration::from_secs(15);

async fn reaped_events(rig: &Rig, gatekey: &str, action: &str) -> Vec<Value> {
    rig.audit(gatekey, &format!("action={action}"))
        .await
        .expect("audit")
        .into_iter()
        .filter(|e| {
            ["expired", "orphan", "stale_pending"].contains(&e["reason"].as_str().unwrap_or(""))
        })
        .collect()
}

/// The reaper deletes a consumer before it audits the deletion: a test that saw the consumer go
/// waits here until at least `count` reaper events of `action` are recorded, and returns them all.
async fn audited_reaps(rig: &Rig, gatekey: &str, action: &str, count: usize) -> Vec<Value> {
    let recorded = eventually(WITHIN, || async {
        reaped_events(rig, gatekey, action).await.len() >= count
    })
    .await;
    assert!(recorded, "fewer than {count} {action} events were audited");
    reaped_events(rig, gatekey, action).await
}

async fn consumer_exists(rig: &Rig, id: &str) -> bool {
    rig.consumers()
        .await
        .expect("consumers")
        .iter()
        .any(|c| c["custom_id"] == id)
}

#[tokio::test]
async fn expired_consumers_are_deleted_and_audited_as_expired() {
    let rig = Rig::start().await.expect("rig");
    let gatekey = rig.serve(&rig.settings()).await.expect("gatekey");
    let token = rig.token("user:default/jane", &["payments-team"]);
    let short = rig
        .mint(
            &gatekey.url,
            &token,
            &json!({"scopes": ["read"], "ttl_seconds": 1}),
            None,
        )
        .await
        .expect("mint");
    assert_eq!(short.status, StatusCode::CREATED, "{}", short.body);
    let long = rig
        .mint(
            &gatekey.url,
            &token,
            &json!({"scopes": ["read"], "ttl_seconds": 600}),
            None,
        )
        .await
        .expect("mint");
    assert_eq!(long.status, StatusCode::CREATED, "{}", long.body);
    let short_id = short.body["credential"]["id"].as_str().expect("id");
    let long_id = long.body["credential"]["id"].as_str().expect("id");

    assert!(
        eventually(WITHIN, || async { !consumer_exists(&rig, short_id).await }).await,
        "the expired consumer was not reaped"
    );
    assert!(
        consumer_exists(&rig, long_id).await,
        "a live consumer was reaped"
    );
    let events = audited_reaps(&rig, &gatekey.url, "expire", 1).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["issuance_id"], short_id);
    assert_eq!(events[0]["subject"], "user:default/jane");
    assert_eq!(events[0]["reason"], "expired");
    gatekey.stop().await;
}

#[tokio::test]
async fn orphan_consumers_are_deleted_only_after_their_grace_period() {
    let rig = Rig::start().await.expect("rig");
    let gatekey = rig.serve(&rig.settings()).await.expect("gatekey");
    let orphan = rig.create_orphan().await.expect("orphan");
    // Several passes run within the 4 s grace: the fresh consumer is left alone.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert!(
        consumer_exists(&rig, &orphan).await,
        "reaped inside its grace period"
    );
    assert!(
        eventually(WITHIN, || async { !consumer_exists(&rig, &orphan).await }).await,
        "the orphan was not reaped"
    );
    let events = audited_reaps(&rig, &gatekey.url, "reconcile", 1).await;
    assert!(
        events
            .iter()
            .any(|e| e["issuance_id"] == orphan.as_str() && e["reason"] == "orphan"),
        "{events:?}"
    );
    gatekey.stop().await;
}

/// The replica named in a reaper event's detail (`...; by <instance>`).
fn reaper_of(event: &Value) -> String {
    event["detail"]
        .as_str()
        .and_then(|d| d.rsplit_once("; by "))
        .map(|(_, by)| by.to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn two_replicas_elect_one_reaper_and_the_survivor_takes_over_after_a_kill() {
    let rig = Rig::start().await.expect("rig");
    let settings = rig.settings();
    let mut first = rig.spawn(&settings, "replica-a").await.expect("replica a");
    let second = rig.spawn(&settings, "replica-b").await.expect("replica b");

    // Orphans over several passes: every one is reaped by the same replica.
    let mut orphans = Vec::new();
    for _ in 0..3 {
        orphans.push(rig.create_orphan().await.expect("orphan"));
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    assert!(
        eventually(WITHIN, || async {
            rig.consumers().await.is_ok_and(|c| c.is_empty())
        })
        .await,
        "orphans were not reaped"
    );
    let events = audited_reaps(&rig, &second.url, "reconcile", orphans.len()).await;
    assert_eq!(
        events.len(),
        orphans.len(),
        "each orphan reaped exactly once: {events:?}"
    );
    let leaders: std::collections::BTreeSet<String> = events.iter().map(reaper_of).collect();
    assert_eq!(
        leaders.len(),
        1,
        "more than one replica reaped: {leaders:?}"
    );
    let leader = leaders.into_iter().next().expect("one leader");
    let leader_pid: u32 = leader
        .split(':')
        .nth(1)
        .and_then(|pid| pid.parse().ok())
        .expect("pid in the instance name");
    assert!(
        leader_pid == first.pid() || leader_pid == second.pid(),
        "{leader} is neither replica"
    );

    // Kill the leader without any shutdown: its lease is not released, it simply expires.
    let (mut survivor, survivor_pid) = if leader_pid == first.pid() {
        first.kill9();
        (second, None)
    } else {
        let pid = first.pid();
        drop(second);
        (first, Some(pid))
    };
    let survivor_pid = survivor_pid.unwrap_or_else(|| survivor.pid());
    let late = rig.create_orphan().await.expect("orphan");
    assert!(
        eventually(WITHIN, || async { !consumer_exists(&rig, &late).await }).await,
        "the survivor did not take over"
    );
    let events = audited_reaps(&rig, &survivor.url, "reconcile", orphans.len() + 1).await;
    let late_event = events
        .iter()
        .find(|e| e["issuance_id"] == late.as_str())
        .expect("the late orphan's event");
    let new_leader = reaper_of(late_event);
    assert!(
        new_leader.split(':').nth(1) == Some(&survivor_pid.to_string()),
        "{new_leader} is not the survivor {survivor_pid}"
    );
    survivor.kill9();
}

// The reconciler in process, on the rig's MongoDB and Kong simulator: leader election on
// MongoDB's clock, bounded passes, expiry without Kong listing, repair and orphan paging, and
// the same at 5,000 live credentials with two replicas.

/// A clock running `skew` ahead of the system's: a replica whose clock is wrong.
#[derive(Debug)]
struct SkewedClock {
    skew: chrono::Duration,
}

impl Clock for SkewedClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.skew
    }
}

/// Settings for in-process reconcilers: 1 s passes under a 3 s lease, 2 s budget.
fn fast_settings() -> ReconcilerSettings {
    ReconcilerSettings {
        interval_seconds: 1,
        lease_seconds: 3,
        pass_budget_seconds: 2,
        batch_size: 100,
        orphan_interval_seconds: 3600,
        orphan_pages_per_pass: 2,
        consumer_checks_per_pass: 0,
        orphan_grace_seconds: 1,
        pending_timeout_seconds: 4,
        ..ReconcilerSettings::default()
    }
}

/// A reconciler named `instance` with its own connection to the rig's MongoDB (as a replica).
async fn reconciler(
    rig: &Rig,
    instance: &str,
    settings: ReconcilerSettings,
    clock: Arc<dyn Clock>,
) -> Reconciler {
    let store = rig.store().await.expect("store");
    store.ensure_indexes().await.expect("indexes");
    let kong = KongClient::new(&KongConfig::new(
        rig.kong.admin_url().parse().expect("admin url"),
    ))
    .expect("kong client");
    let audit = AuditTrail::new(
        store.clone(),
        Arc::clone(&clock),
        &AuditSettings::default(),
        RevisionInForce::default(),
    );
    let limits = MintLimiter::new(
        store.clone(),
        Arc::clone(&clock),
        audit.clone(),
        LimitSettings::default(),
        Duration::from_secs(5),
    );
    Reconciler::new(ReconcilerParts {
        store,
        kong,
        audit,
        limits,
        clock,
        settings,
        instance: instance.to_owned(),
    })
}

fn system_clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

/// Seeds `count` `active` credentials expiring `lives` from now: consumers created in the Kong
/// simulator (16 at a time), records inserted with one `insert_many`. Returns their ids.
async fn seed_active(rig: &Rig, count: usize, lives: chrono::Duration) -> Vec<String> {
    let ids: Vec<String> = (0..count).map(|_| ulid::Ulid::new().to_string()).collect();
    let consumers: Vec<String> = futures::stream::iter(ids.iter().cloned())
        .map(|id| async move {
            let created: Value = rig
                .http
                .post(format!("{}/consumers", rig.kong.admin_url()))
                .json(&json!({
                    "username": format!("gatekey-{id}"),
                    "custom_id": id,
                    "tags": ["gatekey", "gatekey-api:orders", format!("gatekey-issuance:{id}")],
                }))
                .send()
                .await
                .expect("create consumer")
                .json()
                .await
                .expect("consumer");
            created["id"].as_str().expect("consumer id").to_owned()
        })
        .buffered(16)
        .collect()
        .await;
    let now = Utc::now();
    let records: Vec<Document> = ids
        .iter()
        .zip(&consumers)
        .map(|(id, consumer_id)| {
            doc! {
                "_id": id,
                "subject": "user:default/jane",
                "issuer": "https://idp.example",
                "api_id": "orders",
                "scopes": ["read"],
                "acl_groups": ["orders-read"],
                "purpose": Bson::Null,
                "ttl_seconds": 600,
                "state": "active",
                "issued_at": bson_date(now),
                "expires_at": bson_date(now + lives),
                "kong": {
                    "consumer_id": consumer_id,
                    "consumer_username": format!("gatekey-{id}"),
                    "credential_id": ulid::Ulid::new().to_string(),
                },
                "key_fingerprint": "sha256:00",
                "failure_code": Bson::Null,
                "revoked_at": Bson::Null,
                "revoked_by": Bson::Null,
                "request_id": Bson::Null,
                "updated_at": bson_date(now),
            }
        })
        .collect();
    issuances(rig)
        .await
        .insert_many(records)
        .await
        .expect("insert_many");
    ids
}

fn bson_date(at: DateTime<Utc>) -> bson::DateTime {
    bson::DateTime::from_millis(at.timestamp_millis())
}

async fn issuances(rig: &Rig) -> mongodb::Collection<Document> {
    mongodb::Client::with_uri_str(&rig.mongo.uri)
        .await
        .expect("client")
        .database(&rig.database)
        .collection("issuances")
}

/// Makes the given records expire one second ago.
async fn expire_now(rig: &Rig, ids: &[String]) {
    let past = bson_date(Utc::now() - chrono::Duration::seconds(1));
    issuances(rig)
        .await
        .update_many(
            doc! { "_id": { "$in": ids } },
            doc! { "$set": { "expires_at": past } },
        )
        .await
        .expect("expire");
}

async fn consumer_count(rig: &Rig) -> usize {
    let mut count = 0;
    let mut offset: Option<String> = None;
    loop {
        let mut query = vec![("tags", "gatekey".to_owned()), ("size", "1000".to_owned())];
        if let Some(offset) = &offset {
            query.push(("offset", offset.clone()));
        }
        let page: Value = rig
            .http
            .get(format!("{}/consumers", rig.kong.admin_url()))
            .query(&query)
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("page");
        count += page["data"].as_array().map_or(0, Vec::len);
        match page["offset"].as_str() {
            Some(next) => offset = Some(next.to_owned()),
            None => return count,
        }
    }
}

async fn unreaped_expired(rig: &Rig, ids: &[String]) -> u64 {
    issuances(rig)
        .await
        .count_documents(doc! { "_id": { "$in": ids }, "reaped_at": Bson::Null })
        .await
        .expect("count")
}

#[tokio::test]
async fn the_lease_follows_mongodb_clock_so_a_skewed_replica_neither_steals_it_nor_expires_early() {
    let rig = Rig::start().await.expect("rig");
    let live = seed_active(&rig, 3, chrono::Duration::minutes(10)).await;
    let mut honest = reconciler(&rig, "honest", fast_settings(), system_clock()).await;
    let ahead: Arc<dyn Clock> = Arc::new(SkewedClock {
        skew: chrono::Duration::hours(1),
    });
    let mut skewed = reconciler(&rig, "skewed", fast_settings(), ahead).await;

    assert!(honest.tick().await.is_some(), "the first replica leads");
    // A replica clock an hour ahead would see the 3 s lease as long expired; MongoDB does not.
    for _ in 0..4 {
        assert!(
            skewed.tick().await.is_none(),
            "the skewed replica took the lease"
        );
        assert!(honest.tick().await.is_some(), "the leader lost its lease");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let store = rig.store().await.expect("store");
    assert_eq!(
        store
            .leases()
            .get(LEASE_NAME)
            .await
            .expect("lease")
            .expect("held")
            .holder,
        "honest"
    );

    // The leader leaves; the skewed replica leads, and its clock does not expire live records.
    store
        .leases()
        .release(LEASE_NAME, "honest")
        .await
        .expect("release");
    let report = skewed.tick().await.expect("the skewed replica leads");
    assert_eq!(report.expired, 0, "{report:?}");
    assert_eq!(unreaped_expired(&rig, &live).await, 3);
    assert_eq!(consumer_count(&rig).await, 3, "live consumers were deleted");
}

#[tokio::test]
async fn expiry_is_driven_by_mongodb_and_deletes_consumers_without_listing_kong() {
    let rig = Rig::start().await.expect("rig");
    let mut reaper = reconciler(&rig, "reaper", fast_settings(), system_clock()).await;
    // The first pass sweeps Kong once (nothing to find); the next sweep is an hour away.
    let first = reaper.tick().await.expect("leads");
    assert_eq!(first.orphan_pages, 1, "{first:?}");

    let expiring = seed_active(&rig, 30, chrono::Duration::minutes(10)).await;
    let staying = seed_active(&rig, 5, chrono::Duration::minutes(10)).await;
    expire_now(&rig, &expiring).await;
    let before = rig.kong.admin_request_count();
    let report = reaper.tick().await.expect("leads");
    let kong_calls = rig.kong.admin_request_count() - before;
    assert_eq!(report.expired, 30, "{report:?}");
    assert_eq!(report.orphan_pages, 0, "{report:?}");
    assert_eq!(
        kong_calls, 30,
        "one DELETE per expired consumer, no listing"
    );
    assert_eq!(unreaped_expired(&rig, &expiring).await, 0);
    assert_eq!(consumer_count(&rig).await, staying.len());
    let events = rig_audit(&rig, AuditAction::Expire).await;
    assert_eq!(events.len(), 30);
    assert!(events.iter().all(|e| e.reason == "expired"));
    // Handled once: the next pass finds nothing.
    assert_eq!(reaper.tick().await.expect("leads").expired, 0);
}

#[tokio::test]
async fn an_active_record_whose_consumer_was_deleted_behind_gatekeys_back_is_revoked_and_audited() {
    let rig = Rig::start().await.expect("rig");
    let settings = ReconcilerSettings {
        consumer_checks_per_pass: 50,
        ..fast_settings()
    };
    let mut reaper = reconciler(&rig, "reaper", settings, system_clock()).await;
    let ids = seed_active(&rig, 4, chrono::Duration::minutes(10)).await;
    let victim = &ids[2];
    let deleted = rig
        .http
        .delete(format!(
            "{}/consumers/gatekey-{victim}",
            rig.kong.admin_url()
        ))
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);

    // First seen missing: only suspected (a revocation may be under way).
    let first = reaper.tick().await.expect("leads");
    assert_eq!(
        (first.consumers_checked, first.consumers_missing),
        (4, 0),
        "{first:?}"
    );
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let second = reaper.tick().await.expect("leads");
    assert_eq!(second.consumers_missing, 1, "{second:?}");

    let store = rig.store().await.expect("store");
    let record = store
        .issuances()
        .get(&victim.parse().expect("id"))
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(record.state, IssuanceState::Revoked);
    assert_eq!(record.revoked_by.as_deref(), Some(CONSUMER_MISSING_BY));
    let events = rig_audit(&rig, AuditAction::Reconcile).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].reason, "consumer_missing");
    assert_eq!(
        events[0].issuance_id.map(|id| id.to_string()).as_deref(),
        Some(victim.as_str())
    );
    for other in ids.iter().filter(|id| *id != victim) {
        let record = store
            .issuances()
            .get(&other.parse().expect("id"))
            .await
            .expect("get");
        assert_eq!(record.map(|r| r.state), Some(IssuanceState::Active));
    }
}

#[tokio::test]
async fn orphans_are_swept_a_few_pages_per_pass_resuming_where_the_last_pass_stopped() {
    let rig = Rig::start().await.expect("rig");
    let settings = ReconcilerSettings {
        batch_size: 10,
        orphan_pages_per_pass: 2,
        orphan_grace_seconds: 0,
        ..fast_settings()
    };
    let mut reaper = reconciler(&rig, "reaper", settings, system_clock()).await;
    let live = seed_active(&rig, 5, chrono::Duration::minutes(10)).await;
    for _ in 0..40 {
        rig.create_orphan().await.expect("orphan");
    }
    tokio::time::sleep(Duration::from_millis(1_100)).await;

    let mut pages = Vec::new();
    let mut orphans = 0;
    for _ in 0..4 {
        let report = reaper.tick().await.expect("leads");
        pages.push(report.orphan_pages);
        orphans += report.orphans;
    }
    // 45 consumers in pages of 10: two pages a pass, then the last, then no new sweep for an
    // hour (orphan_interval).
    assert_eq!(pages, [2, 2, 1, 0], "pages per pass");
    assert_eq!(
        consumer_count(&rig).await,
        live.len() + (40 - usize::try_from(orphans).expect("small"))
    );
    assert!(orphans >= 20, "{orphans}");
}

#[tokio::test]
async fn five_thousand_credentials_two_replicas_one_leader_bounded_passes_and_prompt_expiry() {
    const LIVE: usize = 5_000;
    const EXPIRING: usize = 400;
    // A MongoDB server of its own: the size is measured, not the other tests' load.
    let mongo = Mongo::start_private().expect("private mongo");
    let rig = Rig::start_on(mongo).await.expect("rig");
    let started = std::time::Instant::now();
    let ids = seed_active(&rig, LIVE, chrono::Duration::minutes(10)).await;
    tracing::info!(seconds = started.elapsed().as_secs_f64(), "seeded");
    let settings = ReconcilerSettings {
        interval_seconds: 5,
        lease_seconds: 15,
        pass_budget_seconds: 4,
        batch_size: 200,
        orphan_interval_seconds: 5,
        orphan_pages_per_pass: 2,
        consumer_checks_per_pass: 100,
        orphan_grace_seconds: 60,
        ..ReconcilerSettings::default()
    };
    let interval = settings.interval();
    let budget = settings.pass_budget();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut replicas = Vec::new();
    for name in ["replica-a", "replica-b"] {
        let replica = reconciler(&rig, name, settings.clone(), system_clock()).await;
        replicas.push(tokio::spawn(run_passes(replica, interval, stopped.clone())));
    }
    let store = rig.store().await.expect("store");
    let sampler = tokio::spawn(sample_lease_holders(store, stopped));

    // A few passes at full size, then a batch expires and must be gone within one interval
    // plus one pass.
    tokio::time::sleep(interval * 2).await;
    let expiring = &ids[..EXPIRING];
    expire_now(&rig, expiring).await;
    let expired_at = std::time::Instant::now();
    let mut removed_within = None;
    while expired_at.elapsed() < (interval + budget) * 3 {
        if unreaped_expired(&rig, expiring).await == 0 {
            removed_within = Some(expired_at.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop.send(true);
    let holders = sampler.await.expect("sampler");
    let mut reports = Vec::new();
    for replica in replicas {
        reports.push(replica.await.expect("replica"));
    }

    let removed_within = removed_within.expect("the expired credentials were not all removed");
    assert!(
        removed_within <= interval + budget,
        "removed after {removed_within:?}, beyond one interval and one pass"
    );
    assert_eq!(
        consumer_count(&rig).await,
        LIVE - EXPIRING,
        "expired consumers left in Kong"
    );
    let leaders: std::collections::BTreeSet<&str> =
        holders.iter().map(|(h, _)| h.as_str()).collect();
    assert_eq!(leaders.len(), 1, "lease holders over time: {leaders:?}");
    let renewals: std::collections::BTreeSet<_> =
        holders.iter().filter_map(|(_, at)| *at).collect();
    assert!(
        renewals.len() >= 5,
        "the lease was renewed {} times",
        renewals.len()
    );
    let passes: Vec<&PassReport> = reports.iter().flatten().collect();
    assert!(
        reports.iter().filter(|r| !r.is_empty()).count() == 1,
        "both replicas ran passes"
    );
    assert!(passes.len() >= 3, "{passes:?}");
    for pass in &passes {
        assert!(
            pass.elapsed <= budget + Duration::from_millis(500),
            "{pass:?}"
        );
        assert_ne!(pass.end, PassEnd::LeaseLost, "{pass:?}");
    }
    assert_eq!(
        passes.iter().map(|p| p.expired).sum::<u64>(),
        u64::try_from(EXPIRING).expect("small")
    );
    assert!(
        started.elapsed() < Duration::from_secs(90),
        "the size test took {:?}",
        started.elapsed()
    );
}

/// Runs `replica`'s passes every `interval` until `stopped`; its reports.
async fn run_passes(
    mut replica: Reconciler,
    interval: Duration,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) -> Vec<PassReport> {
    let mut reports = Vec::new();
    while !*stopped.borrow() {
        if let Some(report) = replica.tick().await {
            reports.push(report);
        }
        tokio::select! {
            _ = stopped.wait_for(|stop| *stop) => {}
            () = tokio::time::sleep(interval) => {}
        }
    }
    reports
}

/// Who holds the reconciler lease and when MongoDB last renewed it, every 100 ms until
/// `stopped`.
async fn sample_lease_holders(
    store: gatekey_store::Store,
    stopped: tokio::sync::watch::Receiver<bool>,
) -> Vec<(String, Option<DateTime<Utc>>)> {
    let mut holders = Vec::new();
    while !*stopped.borrow() {
        if let Ok(Some(lease)) = store.leases().get(LEASE_NAME).await {
            holders.push((lease.holder, lease.renewed_at));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    holders
}

/// The rig's audit events of `action`, read from the store.
async fn rig_audit(rig: &Rig, action: AuditAction) -> Vec<AuditEvent> {
    let store = rig.store().await.expect("store");
    let filter = AuditFilter {
        action: Some(action),
        ..AuditFilter::default()
    };
    let page = PageRequest {
        limit: 100,
        cursor: None,
    };
    store
        .audit()
        .query(&filter, &page)
        .await
        .expect("audit")
        .items
}
