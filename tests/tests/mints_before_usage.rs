//! Mints before usage (issue 18): the ingest of Kong's log entries lets this replica's mints go
//! first. While a mint is in flight, a batch waits before each of its MongoDB commands, until the
//! mint ends or the ingest's patience runs out, and then writes in small commands. The mint is
//! held in flight by a Kong Admin API that takes requests and never answers.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking, with the value or the expectation as its message"
)]

use std::pin::Pin;
use std::time::{Duration, Instant};

use gatekey_app::usage::{CONTENDED_CHUNK, UNCONTENDED_CHUNK};
use gatekey_e2e::fault_proxy::Mode;
use gatekey_e2e::ingest::{INGEST_PATH, INGEST_SECRET, configure_ingest, kong_log_entry};
use gatekey_e2e::rig::{InProcess, Reply, Rig};
use gatekey_e2e::{metric_sample, operators_metrics};
use reqwest::StatusCode;
use serde_json::{Value, json};

const WAITS: &str = "gatekey_usage_ingest_mint_waits_total";

/// Gatekey on `rig` with the ingest on and `patience_ms` for mints; a mint whose Kong never
/// answers stays in flight for 20 s.
async fn gatekey(rig: &Rig, patience_ms: u64, dir: &std::path::Path) -> InProcess {
    let mut settings = rig.settings();
    configure_ingest(&mut settings, dir);
    let ingest = settings.ingest.as_mut().expect("ingest");
    ingest.mint_patience_ms = patience_ms;
    ingest.max_entries = 1000;
    ingest.body_limit_bytes = 4 * 1024 * 1024;
    settings.kong.request_timeout_ms = 20_000;
    settings.http.request_timeout_seconds = 30;
    rig.serve(&settings).await.expect("gatekey")
}

fn read() -> Value {
    json!({"scopes": ["read"], "ttl_seconds": 600})
}

/// A credential minted through the rig: its id, key and Kong consumer id.
async fn minted(rig: &Rig, gatekey: &InProcess, token: &str) -> (String, String, String) {
    let reply = rig
        .mint(&gatekey.url, token, &read(), None)
        .await
        .expect("mint");
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let id = reply.body["credential"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let key = reply.body["key"].as_str().expect("key").to_owned();
    let consumers = rig.consumers().await.expect("consumers");
    let consumer = consumers
        .iter()
        .find(|consumer| consumer["custom_id"] == id.as_str())
        .expect("the credential's consumer");
    let consumer_id = consumer["id"].as_str().expect("consumer id").to_owned();
    (id, key, consumer_id)
}

/// Posts `entries` calls of the credential to the ingest, as Kong's `http-log` does.
async fn post_calls(
    rig: &Rig,
    gatekey: &InProcess,
    (id, key, consumer_id): &(String, String, String),
    prefix: &str,
    entries: usize,
) -> (StatusCode, Value) {
    let batch: Vec<Value> = (0..entries)
        .map(|n| kong_log_entry(&format!("{prefix}-{n}"), consumer_id, id, key))
        .collect();
    let admin = gatekey.admin_url.as_deref().expect("operators' listener");
    let response = rig
        .http
        .post(format!("{admin}{INGEST_PATH}"))
        .header("X-Gatekey-Ingest-Secret", INGEST_SECRET)
        .json(&batch)
        .send()
        .await
        .expect("ingest post");
    let status = response.status();
    (status, response.json().await.expect("ingest answer"))
}

/// How many ingest commands waited for mints and ended so (`mints_ended`, `gave_up`). The
/// metrics are the process's, shared by this file's tests: each compares before and after.
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "a counter's sample is a small whole number"
)]
async fn waits(rig: &Rig, gatekey: &InProcess, outcome: &str) -> u64 {
    let admin = gatekey.admin_url.as_deref().expect("operators' listener");
    let metrics = operators_metrics(&rig.http, admin).await.expect("metrics");
    metric_sample(&metrics, &format!("{WAITS}{{outcome=\"{outcome}\"}}")).map_or(0, |n| n as u64)
}

/// A mint Kong keeps waiting (it takes requests and never answers), under way in Gatekey.
async fn held_mint<'a>(
    rig: &'a Rig,
    gatekey: &'a InProcess,
    token: &'a str,
) -> Pin<Box<dyn Future<Output = anyhow::Result<Reply>> + 'a>> {
    rig.kong_faults.set(Mode::Blackhole);
    let mut held: Pin<Box<dyn Future<Output = _> + 'a>> =
        Box::pin(async move { rig.mint(&gatekey.url, token, &read(), None).await });
    // Far longer than it takes the mint to reach Gatekey and Kong.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut held)
            .await
            .is_err(),
        "the mint ended although Kong never answered"
    );
    held
}

/// Lets Kong answer again and cuts the held connection: the held mint fails at once.
async fn release(rig: &Rig, held: impl Future<Output = anyhow::Result<Reply>>) {
    rig.kong_faults.set(Mode::Pass);
    rig.kong_faults.cut_all();
    let reply = held.await.expect("the held mint's answer");
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{}", reply.body);
}

#[tokio::test]
async fn a_batch_posted_while_a_mint_is_in_flight_is_stored_once_the_mint_ends() {
    let rig = Rig::start().await.expect("rig");
    let dir = tempfile::tempdir().expect("temp dir");
    let gatekey = gatekey(&rig, 10_000, dir.path()).await;
    let token = rig.token("user:default/jane", &["payments-team"]);
    let credential = minted(&rig, &gatekey, &token).await;
    let ended_before = waits(&rig, &gatekey, "mints_ended").await;

    let held = held_mint(&rig, &gatekey, &token).await;
    let mut post = Box::pin(post_calls(&rig, &gatekey, &credential, "during", 3));
    assert!(
        tokio::time::timeout(Duration::from_secs(1), &mut post)
            .await
            .is_err(),
        "the ingest answered while a mint was in flight"
    );
    release(&rig, held).await;
    let (status, answer) = post.await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["stored"], 3, "{answer}");
    // One wait, before reading the credential's record; the mint had ended by its write.
    assert_eq!(waits(&rig, &gatekey, "mints_ended").await - ended_before, 1);
    gatekey.stop().await;
}

#[tokio::test]
async fn a_mint_that_never_ends_delays_each_ingest_command_by_the_patience_only() {
    let rig = Rig::start().await.expect("rig");
    let dir = tempfile::tempdir().expect("temp dir");
    let gatekey = gatekey(&rig, 300, dir.path()).await;
    let token = rig.token("user:default/jane", &["payments-team"]);
    let credential = minted(&rig, &gatekey, &token).await;
    // With no mint in flight, a batch is stored without giving up on a wait.
    let gave_up = waits(&rig, &gatekey, "gave_up").await;
    let (status, answer) = post_calls(&rig, &gatekey, &credential, "before", 3).await;
    assert_eq!(
        (status, answer["stored"].as_u64()),
        (StatusCode::OK, Some(3))
    );
    assert_eq!(waits(&rig, &gatekey, "gave_up").await, gave_up);

    let held = held_mint(&rig, &gatekey, &token).await;
    let posted = Instant::now();
    // Enough entries for three commands while the mint is in flight.
    let entries = 2 * CONTENDED_CHUNK + 1;
    let (status, answer) = post_calls(&rig, &gatekey, &credential, "held", entries).await;
    let took = posted.elapsed();
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["stored"], entries, "{answer}");
    // The credential is known from the first batch, so no read: three commands, each after
    // 300 ms of waiting.
    assert_eq!(waits(&rig, &gatekey, "gave_up").await - gave_up, 3);
    assert!(took >= Duration::from_millis(900), "{took:?}");
    release(&rig, held).await;
    gatekey.stop().await;
}

#[tokio::test]
async fn a_batch_larger_than_one_command_is_stored_once_whole() {
    let rig = Rig::start().await.expect("rig");
    let dir = tempfile::tempdir().expect("temp dir");
    let gatekey = gatekey(&rig, 250, dir.path()).await;
    let token = rig.token("user:default/jane", &["payments-team"]);
    let credential = minted(&rig, &gatekey, &token).await;
    // A second without mints: the ingest writes commands of about `COMMAND_BUDGET`, and never
    // more than `UNCONTENDED_CHUNK` entries in one.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let entries = 2 * UNCONTENDED_CHUNK + 50;
    let (status, answer) = post_calls(&rig, &gatekey, &credential, "large", entries).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        (answer["stored"].as_u64(), answer["duplicates"].as_u64()),
        (Some(entries as u64), Some(0)),
        "{answer}"
    );
    // Posted again, as Kong does when it did not get the answer: every entry is a duplicate.
    let (status, answer) = post_calls(&rig, &gatekey, &credential, "large", entries).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        (answer["stored"].as_u64(), answer["duplicates"].as_u64()),
        (Some(0), Some(entries as u64)),
        "{answer}"
    );
    // Each command moved the counters of its own entries, once.
    let usage = rig
        .call(
            &gatekey.url,
            reqwest::Method::GET,
            &format!("/v1/credentials/{}/usage", credential.0),
            &token,
        )
        .await
        .expect("usage");
    assert_eq!(usage.status, StatusCode::OK, "{}", usage.body);
    assert_eq!(usage.body["summary"]["calls"], entries, "{}", usage.body);
    gatekey.stop().await;
}
