//! Bulk revocation (issue 20): one audited job revokes every credential matching a filter, with
//! bounded parallelism against Kong, resumed by another replica when the one running it dies,
//! and ending with every matching credential revoked or reported as failed with a reason.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking, with the value or the expectation as its message"
)]

use std::collections::HashSet;
use std::time::Duration;

use gatekey_e2e::fault_proxy::Mode;
use gatekey_e2e::rig::{Reply, Rig, eventually};
use gatekey_kong_sim::SpreadFault;
use gatekey_server::config::Settings;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const JANE: &str = "user:default/jane";
const BOB: &str = "user:default/bob";
const REASON: &str = "laptop stolen, INC-4711";

/// Settings of the rig with room for many credentials of one caller and a worker that takes
/// over a dead replica's job within seconds.
fn settings(rig: &Rig) -> Settings {
    let mut settings = rig.settings();
    settings.limits.mints_per_subject_per_minute = 10_000;
    settings.limits.live_credentials_per_subject_and_api = 10_000;
    // Room for a thousand mints on a busy machine; the reconciler's pending timeout must exceed
    // the request timeout.
    settings.http.request_timeout_seconds = 30;
    settings.kong.request_timeout_ms = 10_000;
    settings.reconciler.pending_timeout_seconds = 40;
    settings.reconciler.orphan_grace_seconds = 40;
    settings.revocations.lease_seconds = 5;
    settings.revocations.batch_size = 16;
    settings.revocations.poll_interval_seconds = 1;
    settings
}

/// Mints `count` credentials for `subject`, 8 at a time; their ids and keys.
async fn mint_many(rig: &Rig, gatekey: &str, subject: &str, count: usize) -> Vec<(String, String)> {
    let token = rig.token(subject, &["payments-team"]);
    let body = json!({"scopes": ["read"], "ttl_seconds": 3600});
    let mut minted = Vec::with_capacity(count);
    while minted.len() < count {
        let chunk = (count - minted.len()).min(8);
        let replies = rig
            .mint_concurrently(&[gatekey], &token, &body, chunk)
            .await
            .expect("mint");
        for reply in replies {
            assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
            minted.push((
                reply.body["credential"]["id"]
                    .as_str()
                    .expect("id")
                    .to_owned(),
                reply.body["key"].as_str().expect("key").to_owned(),
            ));
        }
    }
    minted
}

async fn start_job(rig: &Rig, gatekey: &str, body: &Value) -> Reply {
    rig.call_json(
        gatekey,
        Method::POST,
        "/v1/credentials/revocations",
        &rig.admin_token(),
        body,
    )
    .await
    .expect("bulk revoke")
}

/// Starts a job that must be accepted: its answer and the `Location` to follow it at.
async fn started_job(rig: &Rig, gatekey: &str, body: &Value) -> (Reply, String) {
    let started = start_job(rig, gatekey, body).await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    let location = started.header("location").expect("Location").to_owned();
    (started, location)
}

fn jane_filter(rig: &Rig) -> Value {
    json!({"issuer": rig.idp.issuer(), "subject": JANE})
}

async fn progress(rig: &Rig, gatekey: &str, location: &str) -> Value {
    let reply = rig
        .call(gatekey, Method::GET, location, &rig.admin_token())
        .await
        .expect("progress");
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

/// Waits until the job is `done` (on any of `replicas`); its last progress.
async fn wait_done(rig: &Rig, gatekey: &str, location: &str, within: Duration) -> Value {
    let done = eventually(within, || async {
        progress(rig, gatekey, location).await["state"] == "done"
    })
    .await;
    let last = progress(rig, gatekey, location).await;
    assert!(done, "the job did not end: {last}");
    last
}

/// Ids of the consumers Kong still has for these credentials.
async fn consumers_left(rig: &Rig, ids: &HashSet<String>) -> Vec<String> {
    rig.consumers()
        .await
        .expect("consumers")
        .iter()
        .filter_map(|c| c["custom_id"].as_str())
        .filter(|id| ids.contains(*id))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn a_thousand_credentials_of_one_subject_are_revoked_and_nobody_elses() {
    let rig = Rig::start().await.expect("rig");
    let gatekey = rig.serve(&settings(&rig)).await.expect("gatekey");
    let jane = mint_many(&rig, &gatekey.url, JANE, 1000).await;
    let bob = mint_many(&rig, &gatekey.url, BOB, 1).await;

    let dry = start_job(
        &rig,
        &gatekey.url,
        &json!({"filter": jane_filter(&rig), "reason": REASON, "dry_run": true}),
    )
    .await;
    assert_eq!(dry.status, StatusCode::OK, "{}", dry.body);
    assert_eq!(dry.body["count"], 1000);
    let first_page = dry.body["credentials"].as_array().expect("page");
    assert_eq!(first_page.len(), 50);
    assert!(first_page.iter().all(|c| c["subject"] == JANE));
    assert_eq!(
        rig.gateway_status(&jane[0].1).await.expect("gateway"),
        StatusCode::OK,
        "a dry run revoked something"
    );

    let (started, location) = started_job(
        &rig,
        &gatekey.url,
        &json!({"filter": jane_filter(&rig), "reason": REASON}),
    )
    .await;
    assert_eq!(started.body["state"], "running");
    // A credential minted for the filter while the job runs is included.
    let late = mint_many(&rig, &gatekey.url, JANE, 1).await;
    assert_eq!(
        progress(&rig, &gatekey.url, &location).await["state"],
        "running",
        "the job ended before the late mint; the test proves nothing"
    );

    let done = wait_done(&rig, &gatekey.url, &location, Duration::from_secs(600)).await;
    assert_eq!(done["revoked"], 1001, "{done}");
    assert_eq!(done["failed"], 0, "{done}");
    assert_eq!(done["remaining"], 0, "{done}");
    assert!(done["ended_at"].is_string(), "{done}");

    let jane_ids: HashSet<String> = jane.iter().chain(&late).map(|(id, _)| id.clone()).collect();
    assert_eq!(consumers_left(&rig, &jane_ids).await, Vec::<String>::new());
    for (id, key) in jane.iter().chain(&late) {
        assert_eq!(
            rig.gateway_status(key).await.expect("gateway"),
            StatusCode::UNAUTHORIZED,
            "credential {id} still works"
        );
    }
    assert_eq!(
        rig.gateway_status(&bob[0].1).await.expect("gateway"),
        StatusCode::OK,
        "another subject's key stopped working"
    );

    // "Who revoked jane's keys, and why?" is one query.
    let why = rig
        .audit(
            &gatekey.url,
            &format!("action=bulk_revoke&owner_subject={JANE}"),
        )
        .await
        .expect("audit");
    assert_eq!(why.len(), 1, "{why:?}");
    assert_eq!(why[0]["subject"], "user:default/admin");
    assert_eq!(why[0]["count"], 1001);
    let detail = why[0]["detail"].as_str().expect("detail");
    assert!(
        detail.contains(REASON) && detail.contains("1001 revoked, 0 failed"),
        "{detail}"
    );
    let job_id = started.body["id"].as_str().expect("job id");
    let per_credential = rig
        .audit_all(&gatekey.url, &format!("action=revoke&owner_subject={JANE}"))
        .await
        .expect("audit");
    assert_eq!(per_credential.len(), 1001);
    assert!(
        per_credential
            .iter()
            .all(|e| e["job_id"] == job_id && e["subject"] == "user:default/admin")
    );
    gatekey.stop().await;
}

#[tokio::test]
async fn another_replica_finishes_the_job_of_one_killed_with_sigkill() {
    let rig = Rig::start().await.expect("rig");
    let mut settings = settings(&rig);
    // Two deletes at a time through a slowed Kong: the job is surely half-way at the kill.
    settings.revocations.concurrency = 2;
    let mut replicas = vec![
        rig.spawn(&settings, "first").await.expect("first"),
        rig.spawn(&settings, "second").await.expect("second"),
    ];
    let jane = mint_many(&rig, &replicas[0].url, JANE, 300).await;
    rig.kong_faults.set(Mode::Delay(Duration::from_millis(30)));
    let (started, location) = started_job(
        &rig,
        &replicas[0].url,
        &json!({"filter": jane_filter(&rig), "reason": REASON}),
    )
    .await;
    let job_id = started.body["id"].as_str().expect("id").to_owned();
    let url = replicas[0].url.clone();
    assert!(
        eventually(Duration::from_secs(30), || async {
            let now = progress(&rig, &url, &location).await;
            now["revoked"].as_u64().unwrap_or(0) >= 20
        })
        .await,
        "the job did not start"
    );
    // Kill whichever replica holds the job's lease (its holder name carries the process id).
    let store = rig.store().await.expect("store");
    let lease = store
        .leases()
        .get(&format!("revocation-job:{job_id}"))
        .await
        .expect("lease")
        .expect("the job has a lease");
    let holder = replicas
        .iter()
        .position(|r| lease.holder.contains(&format!(":{}:", r.pid())))
        .expect("a replica holds the lease");
    replicas[holder].kill9();
    let survivor = replicas.remove(1 - holder);
    let at_kill = progress(&rig, &survivor.url, &location).await;
    assert_eq!(
        at_kill["state"], "running",
        "the job ended before the kill: {at_kill}"
    );
    rig.kong_faults.set(Mode::Pass);

    let done = wait_done(&rig, &survivor.url, &location, Duration::from_secs(300)).await;
    assert_eq!(done["revoked"], 300, "{done}");
    assert_eq!(done["failed"], 0, "{done}");
    let ids: HashSet<String> = jane.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(consumers_left(&rig, &ids).await, Vec::<String>::new());
    // Nothing revoked twice: one `revoke` event per credential, all of this job.
    let events = rig
        .audit_all(&survivor.url, &format!("job_id={job_id}&action=revoke"))
        .await
        .expect("audit");
    let revoked: HashSet<&str> = events
        .iter()
        .filter_map(|e| e["issuance_id"].as_str())
        .collect();
    assert_eq!(events.len(), 300, "duplicate or missing events");
    assert_eq!(revoked.len(), 300);
    assert!(revoked.iter().all(|id| ids.contains(*id)));
    let summary = rig
        .audit(
            &survivor.url,
            &format!("job_id={job_id}&action=bulk_revoke"),
        )
        .await
        .expect("audit");
    assert_eq!(summary.len(), 1, "{summary:?}");
    for (id, key) in &jane {
        assert_eq!(
            rig.gateway_status(key).await.expect("gateway"),
            StatusCode::UNAUTHORIZED,
            "credential {id} still works"
        );
    }
}

#[tokio::test]
async fn with_kong_failing_30_percent_every_credential_ends_revoked_or_failed_with_a_reason() {
    let rig = Rig::start().await.expect("rig");
    let mut settings = settings(&rig);
    // Two attempts per credential, so that some run out of them under this failure rate.
    settings.revocations.attempts = 2;
    let gatekey = rig.serve(&settings).await.expect("gatekey");
    let jane = mint_many(&rig, &gatekey.url, JANE, 200).await;
    rig.kong.set_spread_faults(vec![SpreadFault {
        method: reqwest::Method::DELETE,
        path_contains: "/consumers/".to_owned(),
        status: 500,
        percent: 30,
        delay: Duration::ZERO,
    }]);
    let (_, location) = started_job(
        &rig,
        &gatekey.url,
        &json!({"filter": jane_filter(&rig), "reason": REASON}),
    )
    .await;
    let done = wait_done(&rig, &gatekey.url, &location, Duration::from_secs(300)).await;
    rig.kong.set_spread_faults(Vec::new());

    let revoked = done["revoked"].as_u64().expect("revoked");
    let failed = done["failed"].as_u64().expect("failed");
    assert_eq!(revoked + failed, 200, "{done}");
    assert!(revoked > 0, "{done}");
    let failures = done["failures"].as_array().expect("failures");
    assert_eq!(failures.len() as u64, failed.min(100));
    assert!(
        failures
            .iter()
            .all(|f| f["reason"] == "the Kong Admin API answered 500 (attempt 2)"),
        "{failures:?}"
    );
    // Kong keeps exactly the failed ones, and those are still honestly live.
    let ids: HashSet<String> = jane.iter().map(|(id, _)| id.clone()).collect();
    let left: HashSet<String> = consumers_left(&rig, &ids).await.into_iter().collect();
    let reported: HashSet<String> = failures
        .iter()
        .map(|f| f["credential_id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(left.len() as u64, failed);
    assert!(reported.is_subset(&left));

    // Run again once Kong is healthy: the rest goes.
    let (_, location) = started_job(
        &rig,
        &gatekey.url,
        &json!({"filter": jane_filter(&rig), "reason": "retry INC-4711"}),
    )
    .await;
    let done = wait_done(&rig, &gatekey.url, &location, Duration::from_secs(300)).await;
    assert_eq!(done["revoked"].as_u64(), Some(failed), "{done}");
    assert_eq!(consumers_left(&rig, &ids).await, Vec::<String>::new());
    gatekey.stop().await;
}

#[tokio::test]
async fn bad_orders_get_precise_problems() {
    let rig = Rig::start().await.expect("rig");
    let gatekey = rig.serve(&settings(&rig)).await.expect("gatekey");
    let cases = [
        (
            json!({"filter": {}, "reason": REASON}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty_filter",
        ),
        (
            json!({"reason": REASON}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty_filter",
        ),
        (
            json!({"filter": {"subject": JANE}, "all": true, "reason": REASON}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "all_with_filter",
        ),
        (
            json!({"filter": {"subject": JANE, "issued_after": "2026-11-30T12:00:00Z",
                "issued_before": "2026-11-30T11:00:00Z"}, "reason": REASON}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty_time_range",
        ),
        (
            json!({"filter": {"subjet": JANE}, "reason": REASON}),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            json!({"filter": {"subject": JANE}, "reason": REASON, "force": true}),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            json!({"filter": {"issued_before": "yesterday"}, "reason": REASON}),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            json!({"filter": {"subject": JANE}}),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            json!({"filter": {"api_id": ""}, "reason": REASON}),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            json!({"filter": {"subject": JANE}, "reason": "  "}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "blank_reason",
        ),
    ];
    for (body, status, code) in cases {
        let reply = start_job(&rig, &gatekey.url, &body).await;
        assert_eq!(reply.status, status, "{body} -> {}", reply.body);
        assert_eq!(reply.body["code"], code, "{body} -> {}", reply.body);
    }
    let unknown = start_job(
        &rig,
        &gatekey.url,
        &json!({"filter": {"subjet": JANE}, "reason": REASON}),
    )
    .await;
    assert!(
        unknown.body["detail"]
            .as_str()
            .expect("detail")
            .contains("subjet"),
        "{}",
        unknown.body
    );
    let malformed = start_job(
        &rig,
        &gatekey.url,
        &json!({"filter": {"issued_before": "yesterday"}, "reason": REASON}),
    )
    .await;
    assert!(
        malformed.body["detail"]
            .as_str()
            .expect("detail")
            .contains("filter.issued_before"),
        "{}",
        malformed.body
    );

    // Everything: only with `all`, and a dry run says how much that is.
    let everything = start_job(
        &rig,
        &gatekey.url,
        &json!({"all": true, "reason": REASON, "dry_run": true}),
    )
    .await;
    assert_eq!(everything.status, StatusCode::OK, "{}", everything.body);
    assert_eq!(everything.body["count"], 0);
    gatekey.stop().await;
}

/// A job whose filter matches nothing still runs, ends, and is audited: its `bulk_revoke` event
/// counts 0 revoked, which the published schema allows (the fuzzer found it once refused 0).
#[tokio::test]
async fn a_job_that_matches_nothing_ends_with_an_event_that_counts_zero() {
    let rig = Rig::start().await.expect("rig");
    let gatekey = rig.serve(&settings(&rig)).await.expect("gatekey");
    let (_, location) = started_job(
        &rig,
        &gatekey.url,
        &json!({"filter": {"subject": "user:default/nobody"}, "reason": REASON}),
    )
    .await;
    let done = wait_done(&rig, &gatekey.url, &location, Duration::from_secs(30)).await;
    assert_eq!(done["revoked"], 0, "{done}");
    assert_eq!(done["failed"], 0, "{done}");
    let events = rig
        .audit(
            &gatekey.url,
            "action=bulk_revoke&owner_subject=user:default/nobody",
        )
        .await
        .expect("audit");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["count"], 0);
    let document: Value =
        serde_json::from_str(include_str!("../../openapi/gatekey.json")).expect("OpenAPI JSON");
    assert_eq!(
        document["components"]["schemas"]["AuditEvent"]["properties"]["count"]["minimum"], 0,
        "the schema must allow the count this event carries"
    );
    gatekey.stop().await;
}

#[tokio::test]
async fn non_admins_and_unknown_jobs_are_refused() {
    let rig = Rig::start().await.expect("rig");
    let gatekey = rig.serve(&settings(&rig)).await.expect("gatekey");
    let not_admin = rig
        .call_json(
            &gatekey.url,
            Method::POST,
            "/v1/credentials/revocations",
            &rig.token(JANE, &["payments-team"]),
            &json!({"filter": {"subject": BOB}, "reason": REASON}),
        )
        .await
        .expect("call");
    assert_eq!(
        not_admin.status,
        StatusCode::FORBIDDEN,
        "{}",
        not_admin.body
    );
    assert_eq!(not_admin.body["code"], "not_admin");
    let denied = rig
        .audit(&gatekey.url, "action=bulk_revoke&decision=deny")
        .await
        .expect("audit");
    assert_eq!(denied.len(), 1, "{denied:?}");
    let unknown_job = rig
        .call(
            &gatekey.url,
            Method::GET,
            "/v1/credentials/revocations/01JDQ3V7Z8K4M2N6P0R5S9T1W3",
            &rig.admin_token(),
        )
        .await
        .expect("call");
    assert_eq!(unknown_job.status, StatusCode::NOT_FOUND);
    let bad_id = rig
        .call(
            &gatekey.url,
            Method::GET,
            "/v1/credentials/revocations/nope",
            &rig.admin_token(),
        )
        .await
        .expect("call");
    assert_eq!(bad_id.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_id.body["code"], "invalid_path");
    let bad_job_filter = rig
        .call(
            &gatekey.url,
            Method::GET,
            "/v1/audit?job_id=nope",
            &rig.admin_token(),
        )
        .await
        .expect("call");
    assert_eq!(bad_job_filter.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_job_filter.body["code"], "invalid_query");
    gatekey.stop().await;
}

#[tokio::test]
async fn a_turn_cut_short_by_a_lost_lease_counts_each_credential_once_when_resumed() {
    let rig = Rig::start().await.expect("rig");
    let mut settings = settings(&rig);
    // One credential at a time, one attempt each, and a lease a slow Kong outlives.
    settings.revocations.concurrency = 1;
    settings.revocations.attempts = 1;
    settings.revocations.lease_seconds = 2;
    let gatekey = rig.serve(&settings).await.expect("gatekey");
    let mut ids: Vec<String> = mint_many(&rig, &gatekey.url, JANE, 2)
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    // The walk's order.
    ids.sort();
    let consumers = rig.consumers().await.expect("consumers");
    let consumer_of = |id: &str| {
        consumers
            .iter()
            .find(|consumer| consumer["custom_id"] == id)
            .and_then(|consumer| consumer["id"].as_str())
            .expect("the credential's consumer")
            .to_owned()
    };
    // The first turn: Kong refuses the first credential (reported as failed) and answers the
    // second only after the lease has run out, which cuts the batch short before its place is
    // saved.
    rig.kong.set_spread_faults(vec![
        SpreadFault {
            method: reqwest::Method::DELETE,
            path_contains: consumer_of(&ids[0]),
            status: 500,
            percent: 100,
            delay: Duration::ZERO,
        },
        SpreadFault {
            method: reqwest::Method::DELETE,
            path_contains: consumer_of(&ids[1]),
            status: 500,
            percent: 100,
            delay: Duration::from_secs(4),
        },
    ]);
    let (_, location) = started_job(
        &rig,
        &gatekey.url,
        &json!({"filter": jane_filter(&rig), "reason": REASON}),
    )
    .await;
    let failed_once = eventually(Duration::from_secs(30), || async {
        progress(&rig, &gatekey.url, &location).await["failed"] == 1
    })
    .await;
    assert!(
        failed_once,
        "{}",
        progress(&rig, &gatekey.url, &location).await
    );
    // The lease runs out while Kong holds the second delete; then Kong recovers.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let cut_short = progress(&rig, &gatekey.url, &location).await;
    assert_eq!(
        (cut_short["state"].as_str(), cut_short["revoked"].as_u64()),
        (Some("running"), Some(0)),
        "{cut_short}"
    );
    rig.kong.set_spread_faults(Vec::new());

    // A later turn walks the batch again from the saved place: both are revoked now, and the
    // first no longer counts as failed.
    let done = wait_done(&rig, &gatekey.url, &location, Duration::from_secs(60)).await;
    assert_eq!(
        (done["revoked"].as_u64(), done["failed"].as_u64()),
        (Some(2), Some(0)),
        "{done}"
    );
    assert_eq!(done["failures"], json!([]), "{done}");
    let ids: HashSet<String> = ids.into_iter().collect();
    assert_eq!(consumers_left(&rig, &ids).await, Vec::<String>::new());
    gatekey.stop().await;
}
