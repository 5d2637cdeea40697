//! Bearer tokens at the HTTP edge: who gets in, and what a refused caller is told.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking, with the value or the expectation as its message"
)]

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatekey_dev_idp::TokenSpec;
use gatekey_e2e::{AUDIENCE, Stack};
use reqwest::{Method, StatusCode, header};
use serde_json::json;

async fn refused(stack: &Stack, token: Option<&str>) -> (StatusCode, String, serde_json::Value) {
    let mut request = stack.http.get(format!("{}/v1/me", stack.gatekey_url));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("call");
    let status = response.status();
    let challenge = response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    (
        status,
        challenge,
        response.json().await.expect("problem json"),
    )
}

#[tokio::test]
async fn me_reports_subject_issuer_groups_and_admin() {
    let stack = Stack::start().await.expect("stack");
    let token = stack.token("user:default/root", &["platform-admins", "orders-team"]);
    let (status, me) = stack
        .call(Method::GET, "/v1/me", Some(&token), None)
        .await
        .expect("me");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["subject"], "user:default/root");
    assert_eq!(me["issuer"], stack.idp.issuer());
    assert_eq!(me["issuer_name"], "test-idp");
    assert_eq!(me["groups"], json!(["orders-team", "platform-admins"]));
    assert_eq!(me["admin"], true);
    stack.stop().await;
}

#[tokio::test]
async fn es256_tokens_are_accepted_too() {
    let stack = Stack::start().await.expect("stack");
    let token = stack.idp.sign(
        &TokenSpec::new("user:default/jane", [AUDIENCE])
            .groups(["payments-team"])
            .alg(gatekey_dev_idp::SigningAlg::Es256),
    );
    let (status, me) = stack
        .call(Method::GET, "/v1/me", Some(&token), None)
        .await
        .expect("me");
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["groups"], json!(["payments-team"]));
    stack.stop().await;
}

#[tokio::test]
async fn missing_expired_foreign_and_unsigned_tokens_get_401_with_a_bearer_challenge() {
    let stack = Stack::start().await.expect("stack");
    let (status, challenge, problem) = refused(&stack, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge, "Bearer realm=\"gatekey\"");
    assert_eq!(problem["code"], "missing_token");

    let expired = stack.idp.sign(
        &TokenSpec::new("user:default/jane", [AUDIENCE])
            .expires_in(Duration::ZERO)
            .issued_ago(Duration::from_secs(3600)),
    );
    let wrong_audience = stack
        .idp
        .sign(&TokenSpec::new("user:default/jane", ["someone-else"]));
    let other_idp = gatekey_dev_idp::start(gatekey_dev_idp::DevIdpConfig::default())
        .await
        .expect("idp");
    let wrong_issuer = other_idp.sign(&TokenSpec::new("user:default/jane", [AUDIENCE]));
    let valid = stack.token("user:default/jane", &[]);
    let payload = valid.split('.').nth(1).expect("payload").to_owned();
    let alg_none = format!(
        "{}.{payload}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#)
    );
    for token in [
        expired,
        wrong_audience,
        wrong_issuer,
        alg_none,
        "not-a-jwt".to_owned(),
    ] {
        let (status, challenge, problem) = refused(&stack, Some(&token)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{problem}");
        assert!(
            challenge.starts_with("Bearer realm=\"gatekey\", error=\"invalid_token\""),
            "{challenge}"
        );
        assert_eq!(problem["code"], "invalid_token");
        assert!(
            !problem.to_string().contains(&token),
            "the token must not be echoed"
        );
    }
    other_idp.shutdown().await;
    stack.stop().await;
}
