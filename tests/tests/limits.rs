//! Guarantee 5: limits. Per-subject mint rate and the cap on live credentials per subject and API
//! answer 429 with `Retry-After` (and are audited); oversized bodies and headers are refused
//! before any handler runs; replicas see each other's mints within `limits.cache_seconds`;
//! SIGTERM lets an in-flight mint finish and hand out a working key.

use std::time::Duration;

use gatekey_e2e::fault_proxy::Mode;
use gatekey_e2e::rig::Rig;
use gatekey_e2e::{POLICY, Stack};
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

#[tokio::test]
async fn replicas_see_each_others_mints_within_the_count_cache_time() {
    let rig = Rig::start().await.expect("rig");
    let mut settings = rig.settings();
    settings.limits.mints_per_subject_per_minute = 3;
    settings.limits.cache_seconds = 1;
    let a = rig.serve(&settings).await.expect("replica a");
    let b = rig.serve(&settings).await.expect("replica b");
    let token = rig.token("user:default/jane", &["payments-team"]);
    for _ in 0..2 {
        let reply = rig.mint(&a.url, &token, &read(), None).await.expect("mint");
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    // B reads the counts fresh: A's two mints plus this one make three.
    let reply = rig.mint(&b.url, &token, &read(), None).await.expect("mint");
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let reply = rig.mint(&b.url, &token, &read(), None).await.expect("mint");
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        reply.body
    );
    // Once A's cached counts are older than `limits.cache_seconds`, A sees B's mint too.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let reply = rig.mint(&a.url, &token, &read(), None).await.expect("mint");
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        reply.body
    );
    assert_eq!(reply.body["code"], "mint_rate_limited");
    a.stop().await;
    b.stop().await;
}
