//! Guarantee 5: limits. Per-caller mint rate and the cap on live credentials per caller and API
//! answer 429 with `Retry-After` (and are audited), exactly, even for 200 concurrent mints spread
//! over three replicas; revoking a credential, a mint that fails in Kong and a replica that died
//! mid-mint each free exactly their slot; oversized bodies and headers are refused before any
//! handler runs; SIGTERM lets an in-flight mint finish and hand out a working key.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking, with the value or the expectation as its message"
)]

use std::time::{Duration, Instant};

use chrono::Utc;
use gatekey_e2e::fault_proxy::Mode;
use gatekey_e2e::rig::{InProcess, Reply, Rig};
use gatekey_e2e::{POLICY, Stack};
use gatekey_server::config::Settings;
use gatekey_store::{LimitVerdict, MintLimits, MintSlot};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn read() -> Value {
    json!({"scopes": ["read"], "ttl_seconds": 600})
}

/// Mints `orders` and returns status, `Retry-After` and body.
async fn mint(stack: &Stack, token: &str) -> (StatusCode, Option<u64>, Value) {
    let response = stack
        .http
        .post(format!("{}/v1/apis/orders/credentials", stack.gatekey_url))
        .bearer_auth(token)
        .json(&read())
        .send()
        .await
        .expect("mint call");
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (status, retry_after, response.json().await.expect("JSON"))
}

async fn denials(stack: &Stack, subject: &str) -> Vec<Value> {
    let admin = stack.token("user:default/root", &["platform-admins"]);
    let (status, body) = stack
        .call(
            Method::GET,
            &format!("/v1/audit?subject={subject}&decision=deny"),
            Some(&admin),
            None,
        )
        .await
        .expect("audit");
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn the_per_subject_mint_rate_answers_429_with_retry_after_and_is_audited() {
    let stack = Stack::start_with(POLICY, |settings| {
        settings.limits.mints_per_subject_per_minute = 3;
    })
    .await
    .expect("stack");
    let jane = stack.token("user:default/jane", &["payments-team"]);
    for _ in 0..3 {
        let (status, _, body) = mint(&stack, &jane).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, retry_after, problem) = mint(&stack, &jane).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{problem}");
    assert_eq!(problem["code"], "mint_rate_limited");
    let retry_after = retry_after.expect("Retry-After");
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    // Other callers are not affected.
    let john = stack.token("user:default/john", &["payments-team"]);
    assert_eq!(mint(&stack, &john).await.0, StatusCode::CREATED);
    let refused = denials(&stack, "user:default/jane").await;
    assert!(
        refused.iter().any(|e| e["reason"] == "mint_rate_limited"),
        "{refused:?}"
    );
    assert_eq!(
        stack
            .kong_consumers_tagged("gatekey")
            .await
            .expect("consumers")
            .len(),
        4
    );
    stack.stop().await;
}

#[tokio::test]
async fn the_live_credential_cap_answers_429_until_one_is_revoked() {
    let stack = Stack::start_with(POLICY, |settings| {
        settings.limits.live_credentials_per_subject_and_api = 2;
    })
    .await
    .expect("stack");
    let jane = stack.token("user:default/jane", &["payments-team"]);
    let (_, _, first) = mint(&stack, &jane).await;
    assert_eq!(mint(&stack, &jane).await.0, StatusCode::CREATED);
    let (status, retry_after, problem) = mint(&stack, &jane).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{problem}");
    assert_eq!(problem["code"], "too_many_live_credentials");
    // The earliest live credential expires in ~600 s: that is when the cap frees up.
    let retry_after = retry_after.expect("Retry-After");
    assert!(
        (590..=600).contains(&retry_after),
        "Retry-After {retry_after}"
    );

    let id = first["credential"]["id"].as_str().expect("id");
    let (status, body) = stack
        .call(
            Method::DELETE,
            &format!("/v1/credentials/{id}"),
            Some(&jane),
            None,
        )
        .await
        .expect("revoke");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(mint(&stack, &jane).await.0, StatusCode::CREATED);
    stack.stop().await;
}

#[tokio::test]
async fn an_oversized_body_is_refused_with_413_problem_json() {
    let stack = Stack::start().await.expect("stack");
    let jane = stack.token("user:default/jane", &["payments-team"]);
    let huge = json!({"scopes": ["read"], "purpose": "x".repeat(70 * 1024)});
    let response = stack
        .http
        .post(format!("{}/v1/apis/orders/credentials", stack.gatekey_url))
        .bearer_auth(&jane)
        .json(&huge)
        .send()
        .await
        .expect("call");
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.expect("JSON");
    assert_eq!(problem["status"], 413);
    assert!(
        stack
            .kong_consumers_tagged("gatekey")
            .await
            .expect("consumers")
            .is_empty()
    );
    stack.stop().await;
}

#[tokio::test]
async fn oversized_headers_are_refused_with_431_before_any_handler() {
    let stack = Stack::start().await.expect("stack");
    let jane = stack.token("user:default/jane", &["payments-team"]);
    let response = stack
        .http
        .get(format!("{}/v1/apis", stack.gatekey_url))
        .bearer_auth(&jane)
        .header("x-padding", "p".repeat(40 * 1024))
        .send()
        .await
        .expect("call");
    assert_eq!(
        response.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    let problem: Value = response.json().await.expect("JSON");
    assert_eq!(problem["code"], "headers_too_large");
    stack.stop().await;
}

#[tokio::test]
async fn sigterm_lets_an_in_flight_mint_finish_and_its_key_works() {
    let rig = Rig::start().await.expect("rig");
    let mut gatekey = rig
        .spawn(&rig.settings(), "graceful")
        .await
        .expect("gatekey");
    let token = rig.token("user:default/jane", &["payments-team"]);
    // Every Kong call takes 400 ms, so the mint is mid-flight when SIGTERM arrives.
    rig.kong_faults.set(Mode::Delay(Duration::from_millis(400)));
    let url = gatekey.url.clone();
    let body = read();
    let in_flight = rig.mint(&url, &token, &body, None);
    let terminate = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        gatekey.terminate().expect("SIGTERM");
    };
    let (reply, ()) = tokio::join!(in_flight, terminate);
    let reply = reply.expect("the in-flight mint got its response");
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(
        gatekey.wait_exit(Duration::from_secs(10)).await,
        Some(0),
        "gatekey did not exit cleanly after SIGTERM"
    );
    rig.kong_faults.set(Mode::Pass);
    let key = reply.body["key"].as_str().expect("key");
    assert_eq!(
        rig.gateway_status(key).await.expect("gateway"),
        StatusCode::OK
    );
}

/// Mints one caller starts at once in the replica tests.
const CONCURRENT_MINTS: usize = 200;

/// Settings for replicas taking many concurrent mints: a request timeout long enough for all of
/// them to queue at one MongoDB server, and no reconciler (it has nothing to do here).
fn replica_settings(rig: &Rig, mints_per_minute: u32, live_per_api: u32) -> Settings {
    let mut settings = rig.settings();
    settings.limits.mints_per_subject_per_minute = mints_per_minute;
    settings.limits.live_credentials_per_subject_and_api = live_per_api;
    settings.http.request_timeout_seconds = 60;
    settings.reconciler.enabled = false;
    settings.reconciler.pending_timeout_seconds = 120;
    settings.reconciler.orphan_grace_seconds = 120;
    settings
}

/// Three Gatekey replicas on the rig's stores.
async fn three_replicas(rig: &Rig, settings: &Settings) -> [InProcess; 3] {
    [
        rig.serve(settings).await.expect("replica a"),
        rig.serve(settings).await.expect("replica b"),
        rig.serve(settings).await.expect("replica c"),
    ]
}

fn urls(replicas: &[InProcess]) -> Vec<&str> {
    replicas
        .iter()
        .map(|replica| replica.url.as_str())
        .collect()
}

/// The replies to a burst of concurrent mints, and how long the burst took.
struct Burst {
    replies: Vec<Reply>,
    took: Duration,
}

/// Sends `count` concurrent mints of `orders` over `urls`.
async fn burst(rig: &Rig, urls: &[&str], token: &str, count: usize) -> Burst {
    let started = Instant::now();
    let replies = rig
        .mint_concurrently(urls, token, &read(), count)
        .await
        .expect("mints");
    Burst {
        replies,
        took: started.elapsed(),
    }
}

/// Splits a burst's replies into the 201s and the rest, checking that every other reply is a 429
/// with `code` and a `Retry-After` within `retry_after`, the range for a burst that took no time.
/// A refusal may see a slot counted by a mint that started after it, so the top of the range
/// grows by the burst's duration, rounded up as `Retry-After` is.
fn created_and_refused(
    burst: Burst,
    code: &str,
    retry_after: std::ops::RangeInclusive<u64>,
) -> (Vec<Reply>, usize) {
    let latest = retry_after.end() + burst.took.as_secs() + 1;
    let (created, refused): (Vec<Reply>, Vec<Reply>) = burst
        .replies
        .into_iter()
        .partition(|reply| reply.status == StatusCode::CREATED);
    for reply in &refused {
        assert_eq!(
            reply.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{}",
            reply.body
        );
        assert_eq!(reply.body["code"], code, "{}", reply.body);
        let seconds: u64 = reply
            .header("retry-after")
            .and_then(|value| value.parse().ok())
            .expect("Retry-After in seconds");
        assert!(
            (*retry_after.start()..=latest).contains(&seconds),
            "Retry-After {seconds}, expected {}..={latest}",
            retry_after.start()
        );
    }
    (created, refused.len())
}

/// Live (`pending` or `active`) records of the rig, as an admin lists them.
async fn live_records(rig: &Rig, gatekey: &str) -> usize {
    rig.records(gatekey)
        .await
        .expect("records")
        .iter()
        .filter(|record| matches!(record["state"].as_str(), Some("pending" | "active")))
        .count()
}

async fn stop_all(replicas: [InProcess; 3]) {
    for replica in replicas {
        replica.stop().await;
    }
}

#[tokio::test]
async fn concurrent_mints_over_three_replicas_issue_exactly_the_live_credential_cap() {
    let rig = Rig::start().await.expect("rig");
    // Three `gatekey` processes (the real binary) sharing one MongoDB.
    let settings = replica_settings(&rig, 10_000, 5);
    let mut replicas = Vec::new();
    for name in ["replica-a", "replica-b", "replica-c"] {
        replicas.push(rig.spawn(&settings, name).await.expect("replica"));
    }
    let urls: Vec<&str> = replicas
        .iter()
        .map(|replica| replica.url.as_str())
        .collect();
    let token = rig.token("user:default/jane", &["payments-team"]);
    let minted = burst(&rig, &urls, &token, CONCURRENT_MINTS).await;
    // The earliest of the five credentials expires in ~600 s: that is when the cap frees up.
    let (created, refused) = created_and_refused(minted, "too_many_live_credentials", 590..=600);
    assert_eq!(created.len(), 5);
    assert_eq!(refused, CONCURRENT_MINTS - 5);
    let records = rig.records(&replicas[0].url).await.expect("records");
    assert_eq!(records.len(), 5, "{records:?}");
    assert_eq!(rig.consumers().await.expect("consumers").len(), 5);
    for reply in &created {
        let key = reply.body["key"].as_str().expect("key");
        assert_eq!(
            rig.gateway_status(key).await.expect("gateway"),
            StatusCode::OK
        );
    }
    for replica in &replicas {
        replica.terminate().expect("SIGTERM");
    }
}

#[tokio::test]
async fn concurrent_mints_over_three_replicas_start_exactly_the_mint_rate() {
    let rig = Rig::start().await.expect("rig");
    let replicas = three_replicas(&rig, &replica_settings(&rig, 7, 1_000)).await;
    let token = rig.token("user:default/jane", &["payments-team"]);
    let minted = burst(&rig, &urls(&replicas), &token, CONCURRENT_MINTS).await;
    let (created, refused) = created_and_refused(minted, "mint_rate_limited", 1..=60);
    assert_eq!(created.len(), 7);
    assert_eq!(refused, CONCURRENT_MINTS - 7);
    assert_eq!(
        rig.records(&replicas[0].url).await.expect("records").len(),
        7
    );
    assert_eq!(rig.consumers().await.expect("consumers").len(), 7);
    // The refusals are audited as denials.
    let denied = rig
        .audit(&replicas[0].url, "decision=deny")
        .await
        .expect("audit");
    assert!(
        denied
            .iter()
            .any(|event| event["reason"] == "mint_rate_limited"),
        "{denied:?}"
    );
    stop_all(replicas).await;
}

#[tokio::test]
async fn revoking_one_credential_at_the_cap_frees_exactly_one_slot() {
    let rig = Rig::start().await.expect("rig");
    let replicas = three_replicas(&rig, &replica_settings(&rig, 10_000, 2)).await;
    let token = rig.token("user:default/jane", &["payments-team"]);
    let first = rig
        .mint(&replicas[0].url, &token, &read(), None)
        .await
        .expect("mint");
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let second = rig
        .mint(&replicas[1].url, &token, &read(), None)
        .await
        .expect("mint");
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.body);
    let id = first.body["credential"]["id"].as_str().expect("id");
    let revoked = rig
        .call(
            &replicas[2].url,
            Method::DELETE,
            &format!("/v1/credentials/{id}"),
            &token,
        )
        .await
        .expect("revoke");
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    let minted = burst(&rig, &urls(&replicas), &token, 30).await;
    let (created, refused) = created_and_refused(minted, "too_many_live_credentials", 1..=600);
    assert_eq!((created.len(), refused), (1, 29));
    assert_eq!(live_records(&rig, &replicas[0].url).await, 2);
    stop_all(replicas).await;
}

#[tokio::test]
async fn a_mint_that_fails_in_kong_frees_its_slot() {
    let rig = Rig::start().await.expect("rig");
    let replicas = three_replicas(&rig, &replica_settings(&rig, 10_000, 2)).await;
    let token = rig.token("user:default/jane", &["payments-team"]);
    rig.kong_faults.set(Mode::Refuse);
    for replica in &replicas {
        let reply = rig
            .mint(&replica.url, &token, &read(), None)
            .await
            .expect("mint");
        assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{}", reply.body);
    }
    rig.kong_faults.set(Mode::Pass);
    // Three failed mints hold no slot: the whole cap of two is still there, and no more.
    let minted = burst(&rig, &urls(&replicas), &token, 30).await;
    let (created, refused) = created_and_refused(minted, "too_many_live_credentials", 590..=600);
    assert_eq!((created.len(), refused), (2, 28));
    assert_eq!(rig.consumers().await.expect("consumers").len(), 2);
    stop_all(replicas).await;
}

#[tokio::test]
async fn a_slot_counted_by_a_replica_that_died_before_recording_its_mint_is_reclaimed() {
    let rig = Rig::start().await.expect("rig");
    let settings = replica_settings(&rig, 10_000, 1);
    let gatekey = rig.serve(&settings).await.expect("gatekey");
    // A replica counted a mint ten minutes ago, for a credential of an hour, and died before
    // writing its record: the slot is still counted, with no record behind it.
    let store = rig.store().await.expect("store");
    let ten_minutes_ago = Utc::now() - chrono::Duration::minutes(10);
    let ghost = store
        .limit_counters()
        .reserve(
            &MintSlot {
                issuer: &rig.idp.issuer(),
                subject: "user:default/jane",
                api_id: "orders",
                issuance_id: gatekey_core::issuance::IssuanceId::new(),
                expires_at: ten_minutes_ago + chrono::Duration::hours(1),
            },
            &MintLimits {
                mints_per_window: 10_000,
                window: chrono::Duration::seconds(60),
                live_per_api: 1,
            },
            ten_minutes_ago,
        )
        .await
        .expect("reserve");
    assert_eq!(ghost, LimitVerdict::Reserved);
    let token = rig.token("user:default/jane", &["payments-team"]);
    let reply = rig
        .mint(&gatekey.url, &token, &read(), None)
        .await
        .expect("mint");
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    // The reclaimed slot is the only one: the cap of one is full again.
    let reply = rig
        .mint(&gatekey.url, &token, &read(), None)
        .await
        .expect("mint");
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        reply.body
    );
    gatekey.stop().await;
}
