//! Guarantees 1 and 2: whatever fails during a mint (Kong down, slow, erroring, a response lost
//! after Kong acted; MongoDB down before or after the Kong calls; the process killed), no usable
//! credential is left behind, or the reconciler removes it within a bounded time, and every Kong
//! consumer Gatekey created belongs to a `pending` or `active` record.
//!
//! Gatekey talks to Kong's Admin API and MongoDB through fault proxies (`support/fault_proxy.rs`);
//! the rig runs a 3 s request timeout and a reconciler pass every second with a 4 s orphan grace
//! and pending timeout, so "bounded" here means within about 10 s.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking, with the value or the expectation as its message"
)]

use std::time::Duration;

use gatekey_e2e::Mongo;
use gatekey_e2e::fault_proxy::Mode;
use gatekey_e2e::rig::{Reply, Rig, eventually};
use gatekey_kong_sim::Fault;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// How long the reconciler may take to clean up after a fault.
const RECONCILE_WITHIN: Duration = Duration::from_secs(15);

fn body() -> Value {
    json!({"scopes": ["read"], "ttl_seconds": 600})
}

fn jane(rig: &Rig) -> String {
    rig.token("user:default/jane", &["payments-team"])
}

async fn record(rig: &Rig, gatekey: &str, id: &str) -> Value {
    rig.records(gatekey)
        .await
        .expect("records")
        .into_iter()
        .find(|r| r["id"] == id)
        .unwrap_or(Value::Null)
}

/// The only record of the rig (each test mints once before looking).
async fn only_record(rig: &Rig, gatekey: &str) -> Value {
    let records = rig.records(gatekey).await.expect("records");
    assert_eq!(records.len(), 1, "{records:?}");
    records[0].clone()
}

async fn no_consumers_within(rig: &Rig, limit: Duration) -> bool {
    eventually(limit, || async {
        rig.consumers().await.is_ok_and(|c| c.is_empty())
    })
    .await
}

/// A successful mint: the key works at the gateway and its record is `active` (guarantee 1:
/// a key is returned only once its record is durable and active).
async fn assert_minted_and_usable(rig: &Rig, gatekey: &str, reply: &Reply) {
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let id = reply.body["credential"]["id"].as_str().expect("id");
    assert_eq!(record(rig, gatekey, id).await["state"], "active");
    let key = reply.body["key"].as_str().expect("key");
    assert_eq!(
        rig.gateway_status(key).await.expect("gateway"),
        StatusCode::OK
    );
}

#[tokio::test]
async fn kong_down_answers_502_and_leaves_a_failed_record_and_no_consumer() {
    let rig = Rig::start().await.expect("rig");
    let gatekey = rig.serve(&rig.settings()).await.expect("gatekey");
    rig.kong_faults.set(Mode::Refuse);
    let reply = rig
        .mint(&gatekey.url, &jane(&rig), &body(), None)
        .await
        .expect("mint");
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{}", reply.body);
    assert!(reply.body.get("key").is_none());
    assert_eq!(only_record(&rig, &gatekey.url).await["state"], "failed");
    assert!(rig.consumers().await.expect("consumers").is_empty());

    rig.kong_faults.set(Mode::Pass);
    let reply = rig
        .mint(&gatekey.url, &jane(&rig), &body(), None)
        .await
        .expect("mint");
    assert_minted_and_usable(&rig, &gatekey.url, &reply).await;
    gatekey.stop().await;
}

#[tokio::test]
async fn kong_5xx_after_a_partial_success_rolls_the_consumer_back() {
    let rig = Rig::start().await.expect("rig");
    let gatekey = rig.serve(&rig.settings()).await.expect("gatekey");
    // The consumer and its ACL group are created; the key-auth credential fails.
    rig.kong.inject_fault(Fault {
        method: Method::PUT,
        path_contains: "/key-auth".to_owned(),
        status: 500,
        times: 1,
    });
    let reply = rig
        .mint(&gatekey.url, &jane(&rig), &body(), None)
        .await
        .expect("mint");
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{}", reply.body);
    let failed = only_record(&rig, &gatekey.url).await;
    assert_eq!(failed["state"], "failed");
    assert_eq!(failed["failure"]["code"], "kong_refused", "{failed}");
    assert!(rig.consumers().await.expect("consumers").is_empty());
    gatekey.stop().await;
}

#[tokio::test]
async fn a_failed_rollback_leaves_an_orphan_that_the_reconciler_reaps() {
    let rig = Rig::start().await.expect("rig");
    let gatekey = rig.serve(&rig.settings()).await.expect("gatekey");
    rig.kong.inject_fault(Fault {
        method: Method::PUT,
        path_contains: "/key-auth".to_owned(),
        status: 500,
        times: 1,
    });
    rig.kong.inject_fault(Fault {
        method: Method::DELETE,
        path_contains: "/consumers/".to_owned(),
        status: 500,
        times: 1,
    });
    let reply = rig
        .mint(&gatekey.url, &jane(&rig), &body(), None)
        .await
        .expect("mint");
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{}", reply.body);
    let failed = only_record(&rig, &gatekey.url).await;
    assert_eq!(failed["state"], "failed");
    // The consumer survived the rollback, but it has no key-auth credential: nothing is usable.
    let leftovers = rig.consumers().await.expect("consumers");
    assert_eq!(leftovers.len(), 1);
    assert!(
        no_consumers_within(&rig, RECONCILE_WITHIN).await,
        "the reconciler did not reap the orphan"
    );
    // The reaper deletes the consumer before it audits the deletion: wait for the event too.
    let query = format!("issuance_id={}", failed["id"].as_str().expect("id"));
    let reaped_as_orphan = |events: &[Value]| {
        events
            .iter()
            .any(|e| e["reason"] == "orphan" && e["action"] == "reconcile")
    };
    assert!(
        eventually(RECONCILE_WITHIN, || async {
            rig.audit(&gatekey.url, &query)
                .await
                .is_ok_and(|events| reaped_as_orphan(&events))
        })
        .await,
        "{:?}",
        rig.audit(&gatekey.url, &query).await
    );
    gatekey.stop().await;
}

#[tokio::test]
async fn kong_slower_than_the_request_timeout_answers_503_and_rolls_back() {
    let rig = Rig::start().await.expect("rig");
    let gatekey = rig.serve(&rig.settings()).await.expect("gatekey");
    // Each chunk waits 1.2 s: creating the consumer alone takes 2.4 s of the 3 s deadline, and
    // its children push the mint past it.
    rig.kong_faults
        .set(Mode::Delay(Duration::from_millis(1_200)));
    let reply = rig
        .mint(&gatekey.url, &jane(&rig), &body(), None)
        .await
        .expect("mint");
    assert!(
        matches!(
            reply.status,
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::BAD_GATEWAY
        ),
        "{} {}",
        reply.status,
        reply.body
    );
    assert!(reply.body.get("key").is_none());
    rig.kong_faults.set(Mode::Pass);
    assert!(no_consumers_within(&rig, RECONCILE_WITHIN).await);
    assert!(
        eventually(RECONCILE_WITHIN, || async {
            only_record(&rig, &gatekey.url).await["state"] == "failed"
        })
        .await
    );
    gatekey.stop().await;
}

#[tokio::test]
async fn a_response_lost_after_kong_acted_leaves_nothing_usable() {
    let rig = Rig::start().await.expect("rig");
    let gatekey = rig.serve(&rig.settings()).await.expect("gatekey");
    // Kong creates the consumer, but the answer never reaches Gatekey (and neither do the
    // answers to the rollback).
    rig.kong_faults.set(Mode::DropResponses);
    let reply = rig
        .mint(&gatekey.url, &jane(&rig), &body(), None)
        .await
        .expect("mint");
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{}", reply.body);
    rig.kong_faults.set(Mode::Pass);
    assert!(no_consumers_within(&rig, RECONCILE_WITHIN).await);
    assert_eq!(only_record(&rig, &gatekey.url).await["state"], "failed");
    gatekey.stop().await;
}

#[tokio::test]
async fn mongodb_down_before_the_mint_issues_nothing() {
    let rig = Rig::start().await.expect("rig");
    let gatekey = rig.serve(&rig.settings()).await.expect("gatekey");
    let token = jane(&rig);
    // Warm up the token verifier and the connection pool, then cut MongoDB off.
    let reply = rig
        .call(&gatekey.url, Method::GET, "/v1/credentials", &token)
        .await
        .expect("list");
    assert_eq!(reply.status, StatusCode::OK);
    rig.mongo_faults.set(Mode::Refuse);
    rig.mongo_faults.cut_all();
    let reply = rig
        .mint(&gatekey.url, &token, &body(), None)
        .await
        .expect("mint");
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.body
    );
    assert!(reply.body.get("key").is_none());
    assert!(rig.consumers().await.expect("consumers").is_empty());

    rig.mongo_faults.set(Mode::Pass);
    // The driver reconnects on its own; the first mints may still see the old failure.
    let mut recovered = None;
    for _ in 0..50 {
        let reply = rig
            .mint(&gatekey.url, &token, &body(), None)
            .await
            .expect("mint");
        if reply.status == StatusCode::CREATED {
            recovered = Some(reply);
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_minted_and_usable(&rig, &gatekey.url, &recovered.expect("reply")).await;
    gatekey.stop().await;
}

#[tokio::test]
async fn mongodb_down_after_the_kong_calls_is_resolved_by_the_reconciler() {
    let rig = Rig::start().await.expect("rig");
    let gatekey = rig.serve(&rig.settings()).await.expect("gatekey");
    let token = jane(&rig);
    let reply = rig
        .call(&gatekey.url, Method::GET, "/v1/credentials", &token)
        .await
        .expect("list");
    assert_eq!(reply.status, StatusCode::OK);
    // Kong answers slowly, so MongoDB can be cut off after the pending record was written and
    // before the record becomes active.
    rig.kong_faults.set(Mode::Delay(Duration::from_millis(300)));
    let request = body();
    let mint = rig.mint(&gatekey.url, &token, &request, None);
    let cut = async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        rig.mongo_faults.set(Mode::Refuse);
        rig.mongo_faults.cut_all();
    };
    let (reply, ()) = tokio::join!(mint, cut);
    let reply = reply.expect("mint");
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.body
    );
    assert!(reply.body.get("key").is_none());
    rig.kong_faults.set(Mode::Pass);
    rig.mongo_faults.set(Mode::Pass);
    // The record stayed `pending` (MongoDB was gone for the rollback); the reconciler fails it
    // and makes sure no consumer remains.
    assert!(
        eventually(RECONCILE_WITHIN, || async {
            rig.records(&gatekey.url)
                .await
                .is_ok_and(|records| records.len() == 1 && records[0]["state"] == "failed")
        })
        .await,
        "{:?}",
        rig.records(&gatekey.url).await
    );
    assert!(no_consumers_within(&rig, RECONCILE_WITHIN).await);
    gatekey.stop().await;
}

#[tokio::test]
async fn mongodb_slower_than_the_request_timeout_issues_nothing_usable() {
    let rig = Rig::start().await.expect("rig");
    let gatekey = rig.serve(&rig.settings()).await.expect("gatekey");
    let token = jane(&rig);
    let reply = rig
        .call(&gatekey.url, Method::GET, "/v1/credentials", &token)
        .await
        .expect("list");
    assert_eq!(reply.status, StatusCode::OK);
    rig.mongo_faults
        .set(Mode::Delay(Duration::from_millis(1_700)));
    let reply = rig
        .mint(&gatekey.url, &token, &body(), None)
        .await
        .expect("mint");
    assert!(
        reply.status.is_server_error(),
        "{} {}",
        reply.status,
        reply.body
    );
    assert!(reply.body.get("key").is_none());
    rig.mongo_faults.set(Mode::Pass);
    assert!(no_consumers_within(&rig, RECONCILE_WITHIN).await);
    assert!(
        eventually(RECONCILE_WITHIN, || async {
            rig.records(&gatekey.url)
                .await
                .is_ok_and(|records| records.iter().all(|r| r["state"] == "failed"))
        })
        .await
    );
    gatekey.stop().await;
}

#[tokio::test]
async fn sigkill_during_a_mint_loop_then_restart_leaves_only_credentials_with_active_records() {
    let rig = Rig::start().await.expect("rig");
    let settings = rig.settings();
    let mut first = rig.spawn(&settings, "first").await.expect("gatekey");
    let token = jane(&rig);
    // Slow Kong down so that several mints are in the middle of their Kong calls at the kill.
    rig.kong_faults.set(Mode::Delay(Duration::from_millis(150)));
    let mut minted = Vec::new();
    for _ in 0..3 {
        let reply = rig
            .mint(&first.url, &token, &body(), None)
            .await
            .expect("mint");
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        minted.push(reply.body["key"].as_str().expect("key").to_owned());
    }
    let in_flight: Vec<_> = (0..4)
        .map(|_| {
            let (rig, url, token) = (&rig, first.url.clone(), token.clone());
            async move { rig.mint(&url, &token, &body(), None).await }
        })
        .collect();
    let kill = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        first.kill9();
    };
    let (replies, ()) = tokio::join!(futures::future::join_all(in_flight), kill);
    let cut_off = replies.iter().filter(|reply| reply.is_err()).count();
    assert!(cut_off > 0, "the kill landed after every mint had finished");
    for reply in replies.into_iter().flatten() {
        // A reply that made it out before the kill carries an active record's key.
        if reply.status == StatusCode::CREATED {
            minted.push(reply.body["key"].as_str().expect("key").to_owned());
        }
    }
    rig.kong_faults.set(Mode::Pass);
    let second = rig.spawn(&settings, "second").await.expect("restart");
    assert!(
        eventually(RECONCILE_WITHIN, || async {
            rig.records(&second.url)
                .await
                .is_ok_and(|records| records.iter().all(|r| r["state"] != "pending"))
        })
        .await,
        "pending records remain: {:?}",
        rig.records(&second.url).await
    );
    // Give the orphan grace time to pass, then check guarantee 1 in Kong.
    assert!(
        eventually(RECONCILE_WITHIN, || async {
            rig.assert_every_consumer_has_a_live_record(&second.url)
                .await
                .is_ok()
        })
        .await,
        "{:?}",
        rig.assert_every_consumer_has_a_live_record(&second.url)
            .await
    );
    // Every key that reached a client still works; nothing else exists.
    let live = rig
        .assert_every_consumer_has_a_live_record(&second.url)
        .await
        .expect("invariant");
    assert_eq!(live.len(), minted.len(), "{live:?}");
    for key in &minted {
        assert_eq!(
            rig.gateway_status(key).await.expect("gateway"),
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn a_client_that_gives_up_mid_mint_leaves_nothing_usable_and_its_retry_mints() {
    let rig = Rig::start().await.expect("rig");
    let gatekey = rig.serve(&rig.settings()).await.expect("gatekey");
    let token = jane(&rig);
    // Every Kong call takes 300 ms; the client waits only 500 ms, then hangs up.
    rig.kong_faults.set(Mode::Delay(Duration::from_millis(300)));
    let abandoned = rig
        .http
        .post(format!("{}/v1/apis/orders/credentials", gatekey.url))
        .bearer_auth(&token)
        .header("Idempotency-Key", "flaky-network")
        .timeout(Duration::from_millis(500))
        .json(&body())
        .send()
        .await;
    assert!(abandoned.is_err(), "the client should have given up");
    // The mint runs on without its client and then undoes itself, since nobody can receive its
    // key: rolled back (`failed`) if the client was gone before the record became active,
    // withdrawn (`revoked` by `gatekey:undelivered`) if it left after.
    assert!(
        eventually(RECONCILE_WITHIN, || async {
            rig.records(&gatekey.url).await.is_ok_and(|records| {
                records.len() == 1
                    && (records[0]["state"] == "failed"
                        || (records[0]["state"] == "revoked"
                            && records[0]["revoked_by"] == "gatekey:undelivered"))
            })
        })
        .await,
        "{:?}",
        rig.records(&gatekey.url).await
    );
    assert!(no_consumers_within(&rig, RECONCILE_WITHIN).await);
    rig.kong_faults.set(Mode::Pass);
    let retry = rig
        .mint(&gatekey.url, &token, &body(), Some("flaky-network"))
        .await
        .expect("retry");
    assert_minted_and_usable(&rig, &gatekey.url, &retry).await;
    gatekey.stop().await;
}

/// Mints for `subject` until the live-credential cap refuses; how many were minted.
async fn mint_until_the_cap(rig: &Rig, gatekey: &str, subject: &str) -> usize {
    let token = rig.token(subject, &["payments-team"]);
    let mut minted = 0;
    loop {
        let reply = rig
            .mint(gatekey, &token, &body(), None)
            .await
            .expect("mint");
        if reply.status != StatusCode::CREATED {
            assert_eq!(
                reply.status,
                StatusCode::TOO_MANY_REQUESTS,
                "{}",
                reply.body
            );
            assert_eq!(reply.body["code"], "too_many_live_credentials");
            return minted;
        }
        minted += 1;
    }
}

/// Freezes MongoDB when a new consumer shows in Kong: that mint has its `pending` record (record
/// before key) and is still creating the consumer's children, which Kong answers slowly from now
/// on (100 ms a chunk), so its activation meets the frozen server. Mints move through the store
/// in batches, all at the same step, so a freeze at a fixed time could catch every mint before
/// its record and leave nothing to roll back.
async fn freeze_once_a_mint_is_past_its_record(rig: &Rig) {
    rig.kong_faults.set(Mode::Delay(Duration::from_millis(100)));
    let before = rig.consumers().await.expect("consumers").len();
    let give_up = std::time::Instant::now() + RECONCILE_WITHIN;
    while rig.consumers().await.expect("consumers").len() <= before {
        assert!(std::time::Instant::now() < give_up, "no mint reached Kong");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    rig.mongo.freeze().expect("SIGSTOP");
}

/// MongoDB frozen (SIGSTOP) while 8 callers mint, for longer than a mint's deadline: the
/// activations of the mints in flight queue in the frozen server and land when it resumes, after
/// the mints have given up. Whatever the order in which the queued writes and the rollbacks land,
/// every record ends `failed`, `active` with its consumer in Kong, or withdrawn (`revoked`, its
/// caller gone before the key was ready); none is `active` without a consumer; and a failed
/// record does not count against its caller's live-credential cap.
#[tokio::test]
async fn a_frozen_mongodb_never_leaves_an_active_record_without_its_consumer() {
    const CALLERS: usize = 8;
    const CAP: u32 = 30;
    let rig = Rig::start_on(Mongo::start_private().expect("private mongo"))
        .await
        .expect("rig");
    let mut settings = rig.settings();
    settings.limits.live_credentials_per_subject_and_api = CAP;
    settings.limits.mints_per_subject_per_minute = 10_000;
    let gatekey = rig.serve(&settings).await.expect("gatekey");
    let subjects: Vec<String> = (0..CALLERS)
        .map(|n| format!("user:default/minter-{n}"))
        .collect();
    let thawed = std::sync::atomic::AtomicBool::new(false);
    let callers = subjects.iter().map(|subject| {
        let (rig, url, thawed) = (&rig, gatekey.url.clone(), &thawed);
        let token = rig.token(subject, &["payments-team"]);
        async move {
            let mut statuses = Vec::new();
            while !thawed.load(std::sync::atomic::Ordering::SeqCst) {
                let reply = rig.mint(&url, &token, &body(), None).await.expect("mint");
                statuses.push(reply.status);
            }
            statuses
        }
    });
    // The request timeout (and so a mint's deadline) is 3 s; the freeze outlasts it.
    let freeze = async {
        tokio::time::sleep(Duration::from_millis(700)).await;
        freeze_once_a_mint_is_past_its_record(&rig).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        rig.mongo.thaw().expect("SIGCONT");
        rig.kong_faults.set(Mode::Pass);
        thawed.store(true, std::sync::atomic::Ordering::SeqCst);
    };
    let (statuses, ()) = tokio::join!(futures::future::join_all(callers), freeze);
    let thawed_at = std::time::Instant::now();
    let statuses: Vec<StatusCode> = statuses.into_iter().flatten().collect();
    assert!(
        statuses.contains(&StatusCode::CREATED),
        "nothing was minted before the freeze: {statuses:?}"
    );
    assert!(
        statuses.contains(&StatusCode::SERVICE_UNAVAILABLE),
        "the freeze caught no mint in flight: {statuses:?}"
    );

    // Once the rollbacks and the reconciler are done, no record is left in between.
    assert!(
        eventually(RECONCILE_WITHIN, || async {
            rig.records(&gatekey.url)
                .await
                .is_ok_and(|records| records.iter().all(|r| r["state"] != "pending"))
        })
        .await,
        "pending records remain: {:?}",
        rig.records(&gatekey.url).await
    );
    let records = rig.records(&gatekey.url).await.expect("records");
    let consumers: Vec<String> = rig
        .consumers()
        .await
        .expect("consumers")
        .iter()
        .filter_map(|c| c["custom_id"].as_str().map(str::to_owned))
        .collect();
    assert!(
        records.iter().any(|r| r["state"] == "failed"),
        "{records:?}"
    );
    for record in &records {
        let id = record["id"].as_str().expect("id");
        match record["state"].as_str() {
            Some("failed") => {}
            // Activated after its request had given up: nobody got the key, so it was withdrawn.
            Some("revoked") => assert_eq!(record["revoked_by"], "gatekey:undelivered"),
            Some("active") => assert!(
                consumers.iter().any(|c| c == id),
                "record {id} is active but Kong has no consumer for it"
            ),
            other => panic!("record {id} ended {other:?}: {record}"),
        }
    }

    // And Kong holds no consumer without a live record.
    assert!(
        eventually(RECONCILE_WITHIN, || async {
            rig.assert_every_consumer_has_a_live_record(&gatekey.url)
                .await
                .is_ok()
        })
        .await,
        "{:?}",
        rig.assert_every_consumer_has_a_live_record(&gatekey.url)
            .await
    );

    // Each caller can still mint exactly up to the cap: its failed mints hold no slot. A slot
    // counted for a request that timed out before its mint wrote a record (the counter update was
    // queued in the frozen server) is given back once no record can come any more: two mint
    // deadlines after it was counted, so the check waits that long after the thaw.
    let record_deadline = settings.request_timeout() * 2;
    tokio::time::sleep(record_deadline.saturating_sub(thawed_at.elapsed())).await;
    for subject in &subjects {
        let active = records
            .iter()
            .filter(|r| r["subject"] == subject.as_str() && r["state"] == "active")
            .count();
        let minted = mint_until_the_cap(&rig, &gatekey.url, subject).await;
        assert_eq!(active + minted, CAP as usize, "{subject}: {active} active");
    }
}
