//! Issue 14 §1: `gateway_url` is where callers send the keys Gatekey mints, so it must lie under
//! a base the platform approved (`gateway.allowed_urls`). The catalog side is covered in
//! `backstage.rs`; here the policy file: an API pointing anywhere else stops startup with an
//! error naming the API, so no key is ever minted for it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking, with the value or the expectation as its message"
)]

use gatekey_e2e::{GATEWAY_URL, POLICY, Stack};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn a_policy_file_api_outside_the_gateway_allow_list_stops_startup() {
    for (redirect, why) in [
        (
            "http://gateway.example.attacker.test/orders",
            "not at or under",
        ),
        ("http://gateway.example@attacker.test/orders", "userinfo"),
        (
            "http://gateway.example/orders/../../attacker",
            "dot segment",
        ),
        ("https://gateway.example/orders", "not at or under"),
    ] {
        let policy = POLICY.replace("http://gateway.example/orders", redirect);
        let err = Stack::start_with_policy(&policy)
            .await
            .expect_err("startup refused");
        let text = format!("{err:#}");
        assert!(
            text.contains("API 'orders'") && text.contains(why),
            "{redirect}: {text}"
        );
    }
}

#[tokio::test]
async fn apis_under_an_allowed_base_are_served_with_their_gateway_url() {
    let stack = Stack::start_with(POLICY, |settings| {
        settings.gateway.allowed_urls = vec![
            format!("{GATEWAY_URL}/orders"),
            format!("{GATEWAY_URL}/billing/"),
        ];
    })
    .await
    .expect("stack");
    let token = stack.token("alice", &["payments-team"]);
    let (status, minted) = stack
        .call(
            Method::POST,
            "/v1/apis/orders/credentials",
            Some(&token),
            Some(&json!({"scopes": ["read"]})),
        )
        .await
        .expect("mint");
    assert_eq!(status, StatusCode::CREATED, "{minted}");
    assert_eq!(minted["gateway_url"], "http://gateway.example/orders");
    stack.stop().await;
}
