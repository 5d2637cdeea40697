//! Regression tests for what schemathesis (`scripts/fuzz.sh`) found: every status the service
//! answers must be in the served OpenAPI document for that operation.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking, with the value or the expectation as its message"
)]

use gatekey_e2e::Stack;
use reqwest::{StatusCode, header};
use serde_json::Value;

async fn documented_statuses(stack: &Stack, path: &str, method: &str) -> Vec<String> {
    let document: Value = stack
        .http
        .get(format!("{}/openapi.json", stack.gatekey_url))
        .send()
        .await
        .expect("openapi")
        .json()
        .await
        .expect("json");
    document["paths"][path][method]["responses"]
        .as_object()
        .expect("responses")
        .keys()
        .cloned()
        .collect()
}

#[tokio::test]
async fn mint_answers_413_and_415_and_documents_both() {
    let stack = Stack::start().await.expect("stack");
    let token = stack.token("user:default/jane", &["payments-team"]);
    let url = format!("{}/v1/apis/orders/credentials", stack.gatekey_url);

    let not_json = stack
        .http
        .post(&url)
        .bearer_auth(&token)
        .body(r#"{"scopes": ["read"]}"#)
        .send()
        .await
        .expect("mint");
    assert_eq!(not_json.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let oversized = stack
        .http
        .post(&url)
        .bearer_auth(&token)
        .header(header::CONTENT_TYPE, "application/json")
        .body(format!(
            r#"{{"scopes": ["read"], "purpose": "{}"}}"#,
            "x".repeat(70_000)
        ))
        .send()
        .await
        .expect("mint");
    assert_eq!(oversized.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let documented = documented_statuses(&stack, "/v1/apis/{id}/credentials", "post").await;
    for status in ["413", "415"] {
        assert!(
            documented.iter().any(|s| s == status),
            "{status} is answered but not documented: {documented:?}"
        );
    }
    stack.stop().await;
}
