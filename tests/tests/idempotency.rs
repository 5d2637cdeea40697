//! Guarantee 4: `Idempotency-Key` on mint. A retry with the same key and body never issues a
//! second credential (409 `already_issued`, pointing at the first); the same key with another
//! body is refused (422); keys are scoped to the caller, free again after a failed attempt, and
//! expire.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking, with the value or the expectation as its message"
)]

use std::time::Duration;

use gatekey_e2e::{POLICY, Stack};
use gatekey_kong_sim::Fault;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

struct Reply {
    status: StatusCode,
    location: Option<String>,
    body: Value,
}

async fn mint(stack: &Stack, token: &str, key: &str, body: &Value) -> Reply {
    let response = stack
        .http
        .post(format!("{}/v1/apis/orders/credentials", stack.gatekey_url))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .expect("mint call");
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.json().await.expect("JSON body");
    Reply {
        status,
        location,
        body,
    }
}

async fn gatekey_consumers(stack: &Stack) -> usize {
    stack
        .kong_consumers_tagged("gatekey")
        .await
        .expect("consumers")
        .len()
}

fn read() -> Value {
    json!({"scopes": ["read"], "ttl_seconds": 600})
}

#[tokio::test]
async fn a_retry_with_the_same_key_and_body_points_at_the_first_issuance_without_minting_again() {
    let stack = Stack::start().await.expect("stack");
    let jane = stack.token("user:default/jane", &["payments-team"]);
    let first = mint(&stack, &jane, "deploy-42", &read()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let id = first.body["credential"]["id"].as_str().expect("id");

    for _ in 0..3 {
        let retry = mint(&stack, &jane, "deploy-42", &read()).await;
        assert_eq!(retry.status, StatusCode::CONFLICT, "{}", retry.body);
        assert_eq!(retry.body["code"], "already_issued");
        assert!(
            retry.body.get("key").is_none(),
            "a replay must not carry a key"
        );
        assert_eq!(
            retry.location.as_deref(),
            Some(&*format!("/v1/credentials/{id}"))
        );
    }
    assert_eq!(gatekey_consumers(&stack).await, 1, "a retry minted again");
    let (status, credential) = stack
        .call(
            Method::GET,
            &format!("/v1/credentials/{id}"),
            Some(&jane),
            None,
        )
        .await
        .expect("inspect");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(credential["state"], "active");
    stack.stop().await;
}

#[tokio::test]
async fn concurrent_retries_with_one_key_issue_exactly_one_credential() {
    let stack = Stack::start().await.expect("stack");
    let jane = stack.token("user:default/jane", &["payments-team"]);
    let body = read();
    let replies =
        futures::future::join_all((0..6).map(|_| mint(&stack, &jane, "same-click", &body))).await;
    let created = replies
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    assert_eq!(
        created,
        1,
        "{:?}",
        replies.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    for reply in replies.iter().filter(|r| r.status != StatusCode::CREATED) {
        assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
        assert!(
            ["already_issued", "idempotency_key_in_progress"]
                .contains(&reply.body["code"].as_str().unwrap_or_default()),
            "{}",
            reply.body
        );
    }
    assert_eq!(gatekey_consumers(&stack).await, 1);
    stack.stop().await;
}

#[tokio::test]
async fn the_same_key_with_another_body_is_refused_with_422() {
    let stack = Stack::start().await.expect("stack");
    let jane = stack.token("user:default/jane", &["payments-team"]);
    assert_eq!(
        mint(&stack, &jane, "k-1", &read()).await.status,
        StatusCode::CREATED
    );
    let other = mint(
        &stack,
        &jane,
        "k-1",
        &json!({"scopes": ["read"], "ttl_seconds": 60}),
    )
    .await;
    assert_eq!(
        other.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        other.body
    );
    assert_eq!(other.body["code"], "idempotency_key_reused");
    assert_eq!(gatekey_consumers(&stack).await, 1);
    stack.stop().await;
}

#[tokio::test]
async fn keys_belong_to_their_caller() {
    let stack = Stack::start().await.expect("stack");
    let jane = stack.token("user:default/jane", &["payments-team"]);
    let john = stack.token("user:default/john", &["payments-team"]);
    let a = mint(&stack, &jane, "shared-key", &read()).await;
    let b = mint(&stack, &john, "shared-key", &read()).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    assert_eq!(b.status, StatusCode::CREATED, "{}", b.body);
    assert_ne!(a.body["credential"]["id"], b.body["credential"]["id"]);
    stack.stop().await;
}

#[tokio::test]
async fn a_retry_after_a_failed_attempt_mints() {
    let stack = Stack::start().await.expect("stack");
    let jane = stack.token("user:default/jane", &["payments-team"]);
    stack.kong.inject_fault(Fault {
        method: Method::PUT,
        path_contains: "/key-auth".to_owned(),
        status: 500,
        times: 1,
    });
    let failed = mint(&stack, &jane, "retry-me", &read()).await;
    assert_eq!(failed.status, StatusCode::BAD_GATEWAY, "{}", failed.body);
    let retried = mint(&stack, &jane, "retry-me", &read()).await;
    assert_eq!(retried.status, StatusCode::CREATED, "{}", retried.body);
    let key = retried.body["key"].as_str().expect("key");
    assert_eq!(
        stack
            .call_gateway(Method::GET, "/orders", key)
            .await
            .expect("gateway"),
        StatusCode::OK
    );
    stack.stop().await;
}

#[tokio::test]
async fn keys_expire_after_their_ttl() {
    let stack = Stack::start_with(POLICY, |settings| {
        settings.limits.idempotency_key_ttl_seconds = 1;
    })
    .await
    .expect("stack");
    let jane = stack.token("user:default/jane", &["payments-team"]);
    let first = mint(&stack, &jane, "short-lived", &read()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let later = mint(&stack, &jane, "short-lived", &read()).await;
    assert_eq!(later.status, StatusCode::CREATED, "{}", later.body);
    assert_ne!(
        first.body["credential"]["id"],
        later.body["credential"]["id"]
    );
    stack.stop().await;
}

#[tokio::test]
async fn malformed_keys_are_refused_with_400() {
    let stack = Stack::start().await.expect("stack");
    let jane = stack.token("user:default/jane", &["payments-team"]);
    for key in ["", "has space", &"k".repeat(256)] {
        let reply = mint(&stack, &jane, key, &read()).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{key:?}: {}",
            reply.body
        );
        assert_eq!(reply.body["code"], "invalid_idempotency_key");
    }
    assert_eq!(gatekey_consumers(&stack).await, 0);
    stack.stop().await;
}
