//! Guarantee 3: the reaper deletes expired consumers, orphans (after their grace period only) and
//! resolves stale `pending` records (see `faults.rs` for those); one replica leads at a time
//! through the MongoDB lease, and another takes over when the leader dies.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking, with the value or the expectation as its message"
)]

use std::time::Duration;

use gatekey_e2e::rig::{Rig, eventually};
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
    let events = reaped_events(&rig, &gatekey.url, "expire").await;
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
    let events = reaped_events(&rig, &gatekey.url, "reconcile").await;
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
    let events = reaped_events(&rig, &second.url, "reconcile").await;
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
    let events = reaped_events(&rig, &survivor.url, "reconcile").await;
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
