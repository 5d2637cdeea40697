//! The generated Rust client (`clients/rust`, progenitor) against the running stack: mint, list
//! and revoke, and a typed problem on a denial.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking, with the value or the expectation as its message"
)]

use std::num::NonZeroU32;

use gatekey_client::types::{EffectiveState, MintCredentialRequest};
use gatekey_client::{Client, Error};
use gatekey_e2e::Stack;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};

fn client(stack: &Stack, token: &str) -> Client {
    let headers = HeaderMap::from_iter([(
        AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).expect("header"),
    )]);
    let http = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("HTTP client");
    Client::new_with_client(&stack.gatekey_url, http)
}

#[tokio::test]
async fn the_generated_rust_client_mints_lists_and_revokes() {
    let stack = Stack::start().await.expect("stack");
    let client = client(
        &stack,
        &stack.token("user:default/jane", &["payments-team"]),
    );

    let minted = client
        .mint_credential()
        .id("orders")
        .idempotency_key("rust-client-test")
        .body(MintCredentialRequest {
            scopes: vec!["read".to_owned()],
            ttl_seconds: NonZeroU32::new(300),
            purpose: Some("rust client".parse().expect("a purpose of 11 characters")),
        })
        .send()
        .await
        .expect("minted");
    assert_eq!(minted.status(), StatusCode::CREATED);
    let minted = minted.into_inner();
    assert_eq!(minted.credential.state, EffectiveState::Active);
    assert_eq!(
        stack
            .call_gateway(Method::GET, "/orders", &minted.key)
            .await
            .expect("gateway"),
        StatusCode::OK
    );

    let page = client
        .list_credentials()
        .api_id("orders")
        .send()
        .await
        .expect("listed")
        .into_inner();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].id, minted.credential.id);
    assert_eq!(page.items[0].purpose.as_deref(), Some("rust client"));

    let revoked = client
        .revoke_credential()
        .id(&minted.credential.id)
        .send()
        .await
        .expect("revoked")
        .into_inner();
    assert_eq!(revoked.state, EffectiveState::Revoked);
    assert_eq!(
        stack
            .call_gateway(Method::GET, "/orders", &minted.key)
            .await
            .expect("gateway"),
        StatusCode::UNAUTHORIZED
    );

    match client
        .mint_credential()
        .id("orders")
        .body(MintCredentialRequest {
            scopes: vec!["write".to_owned()],
            ttl_seconds: None,
            purpose: None,
        })
        .send()
        .await
    {
        Err(Error::ErrorResponse(problem)) => {
            assert_eq!(problem.status(), StatusCode::FORBIDDEN);
            assert_eq!(problem.into_inner().code, "scope_not_allowed");
        }
        other => panic!("expected a typed 403 problem, got {other:?}"),
    }
    stack.stop().await;
}
